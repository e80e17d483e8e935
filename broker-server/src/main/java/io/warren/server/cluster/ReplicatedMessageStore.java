package io.warren.server.cluster;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.internal.ThreadExecutorMap;
import io.warren.core.store.MessageStore;
import io.warren.core.store.StoreException;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.ToIntFunction;

/**
 * The messages of one quorum queue in a cluster, kept by the queue's own replicated log (its
 * Raft group, {@link Log}) instead of this node's journal: an append is a put of the message
 * under its store reference, and it is safe (a publisher's confirm) once a majority of the
 * queue's members has it; an ack is a remove. Every member holds the queue's unsettled
 * messages; the leader's queue delivers them.
 *
 * <p>References are unique within the queue across nodes and restarts: this node's index in
 * the cluster in the top bits, then a counter that starts at the start time in microseconds.
 *
 * <p>Changes made on an event loop (publishes, acks: what a client's socket brings) are
 * queued and sent once the loop has handled what its sockets gave it ({@link #flushSoon}), so
 * the records of one read go to the log as one entry and wake the log's sender once. Made on
 * any other thread, a put is sent at once and removes are gathered for a millisecond.
 *
 * <p>Delivery counts go through the log too (as RabbitMQ's quorum queues log each return): a
 * message returned after a delivery puts its count under the message's reference with the top
 * bit set ({@link #countKey}; references never have it), so the next leader delivers it with the
 * count it had and {@code x-delivery-limit} holds across leaders. The count goes with the message.
 */
public final class ReplicatedMessageStore implements MessageStore {
    /** The queue's replicated log: what the Raft group of the queue offers. */
    public interface Log {
        /** Queues "key := value"; it goes to the log at the next {@link #flush} at the latest. */
        CompletableFuture<?> put(long key, byte[] value);

        /** Queues "remove these keys"; it goes to the log at the next {@link #flush} at the latest. */
        CompletableFuture<?> remove(long[] keys);

        /** Sends what is queued. */
        void flush();

        /** The unsettled messages, in log order. */
        List<Map.Entry<Long, byte[]>> entries();

        /** One message's bytes, or null when settled; read from disk when {@link #onDisk} (not for an event loop). */
        byte[] get(long key);

        /** Whether a {@link #get} of {@code key} reads the disk (the node's queue groups keep the rest in memory). */
        default boolean onDisk(long key) {
            return false;
        }

        /** This member's Raft figures (the metrics endpoint's), or null before it joined its group. */
        default io.warren.cluster.QueueGroup.RaftStats raftStats() {
            return null;
        }
    }

    /** The key of a message's delivery count: its reference with the top bit set. */
    static long countKey(long ref) {
        return ref | Long.MIN_VALUE;
    }

    /** Puts in flight past which publishers are paused (they resume at half). */
    static final int MAX_IN_FLIGHT = 2048;
    private static final ScheduledExecutorService FLUSHER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "warren-quorum-settle");
        t.setDaemon(true);
        return t;
    });

    /** Where loads of messages on disk read them: never the queue's event loop. */
    private static final java.util.concurrent.ExecutorService READER = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "warren-quorum-reader");
        t.setDaemon(true);
        return t;
    });

    private final Log log;
    private final long queueId;
    private final ToIntFunction<ByteBuf> priorities;
    private final AtomicLong next;
    private final AtomicInteger inFlight = new AtomicInteger();
    /**
     * The last put or remove queued: sync waits for it (the log commits one member's records in
     * the order they were queued). Set under {@link #order} with the queueing itself: two threads
     * that queued a remove and a put, then set this field the other way round, had a later sync
     * wait for the remove only, and so answer (a transaction's commit-ok) before the put committed.
     */
    private volatile CompletableFuture<?> last = CompletableFuture.completedFuture(null);
    private final Object order = new Object();
    private final java.util.concurrent.ConcurrentLinkedQueue<Long> settling = new java.util.concurrent.ConcurrentLinkedQueue<>();
    private final AtomicInteger settlingCount = new AtomicInteger();
    private final List<Runnable> drainWaiters = new ArrayList<>();
    private volatile boolean closed;
    /** Whether the queue is live here (this node leads it): its publishes are enqueued at once. */
    private volatile java.util.function.BooleanSupplier live = () -> false;
    /**
     * Puts made while the queue was live here, with the leadership they were made in: enqueued
     * already, not again when the log applies them, if this node still leads as it did then.
     */
    private final Map<Long, Long> enqueued = new java.util.concurrent.ConcurrentHashMap<>();
    /**
     * Counts this node's losses of the lead. A put that saw the queue live just before a loss may
     * record itself after {@link #leading}(false) cleared the others; should this node lead again
     * and the log apply that put then, it must not pass for one this (new) leadership enqueued.
     */
    private final AtomicLong leadership = new AtomicLong();
    /** References whose delivery count is in the log: their settle removes the count too. */
    private final java.util.Set<Long> counted = java.util.concurrent.ConcurrentHashMap.newKeySet();

    public ReplicatedMessageStore(Log log, long queueId, int nodeIndex, ToIntFunction<ByteBuf> priorities) {
        this.log = log;
        this.queueId = queueId;
        this.priorities = priorities;
        long micros = TimeUnit.MILLISECONDS.toMicros(System.currentTimeMillis());
        this.next = new AtomicLong(((long) nodeIndex << 53) | (micros & ((1L << 53) - 1)));
    }

    /** This node's member's Raft figures (rabbitmq_raft_* metrics), or null before it joined its group. */
    public io.warren.cluster.QueueGroup.RaftStats raftStats() {
        return log.raftStats();
    }

    @Override public long append(String exchange, String routingKey, ByteBuf properties, ByteBuf body, long[] queueIds,
                                 Durable durable) {
        return append(exchange, routingKey, properties, body, queueIds, System.currentTimeMillis(), -1, durable);
    }

    @Override public long append(String exchange, String routingKey, ByteBuf properties, ByteBuf body, long[] queueIds,
                                 long publishedAt, long ttl, Durable durable) {
        if (queueIds.length != 1 || queueIds[0] != queueId) {
            throw new IllegalArgumentException("a quorum queue's log keeps that queue's messages only");
        }
        if (closed) {
            throw new StoreException("quorum queue log closed");
        }
        long ref = next.incrementAndGet();
        long term = leadership.get(); // before the look at live: a loss between them makes the mark stale
        if (live.getAsBoolean()) {
            enqueued.put(ref, term);
        }
        byte[] record = encode(exchange, routingKey, properties, body, publishedAt, ttl);
        inFlight.incrementAndGet();
        CompletableFuture<?> f = put(ref, record);
        flushSoon();
        f.whenComplete((v, e) -> {
            if (inFlight.decrementAndGet() == MAX_IN_FLIGHT / 2) {
                drained();
            }
            durable.done(e == null ? null : unwrap(e));
        });
        return ref;
    }

    /** Tells the store how to know whether its queue is live here. */
    public void liveWhen(java.util.function.BooleanSupplier live) {
        this.live = live;
    }

    /** Whether the publish put under {@code ref} was enqueued here when it was made (asked once per put). */
    boolean enqueuedHere(long ref) {
        Long term = enqueued.remove(ref);
        return term != null && term == leadership.get();
    }

    /** The queue stopped being live here: puts still on their way are the new leader's to enqueue. */
    void leading(boolean leading) {
        if (!leading) {
            leadership.incrementAndGet();
            enqueued.clear();
        }
    }

    private static Throwable unwrap(Throwable e) {
        return e instanceof java.util.concurrent.CompletionException && e.getCause() != null ? e.getCause() : e;
    }

    @Override public void returned(long ref, int deliveryCount) {
        if (closed) {
            return;
        }
        counted.add(ref);
        put(countKey(ref), ByteBuffer.allocate(4).putInt(deliveryCount).array());
        flushSoon();
    }

    @Override public void remove(long ref) {
        if (closed) {
            return;
        }
        if (counted.remove(ref)) {
            settle(countKey(ref));
        }
        settle(ref);
    }

    /**
     * Queues one key for the next settle flush; each key is counted right after it is queued, so
     * a flush never misses one. On an event loop the flush runs once the loop has handled its
     * sockets' input (every ack of a read, one remove); elsewhere a millisecond later.
     */
    private void settle(long key) {
        settling.add(key);
        if (settlingCount.getAndIncrement() == 0) {
            EventExecutor loop = ThreadExecutorMap.currentExecutor();
            try {
                if (loop != null) {
                    loop.execute(this::flushSettles);
                    return;
                }
            } catch (java.util.concurrent.RejectedExecutionException e) {
                // the loop shuts down: the flusher sends it
            }
            FLUSHER.schedule(this::flushSettles, 1, TimeUnit.MILLISECONDS);
        }
    }

    private void flushSettles() {
        List<Long> batch = new ArrayList<>();
        for (Long r; (r = settling.poll()) != null; ) {
            batch.add(r);
        }
        if (batch.isEmpty()) {
            return;
        }
        if (settlingCount.addAndGet(-batch.size()) > 0) {
            FLUSHER.schedule(this::flushSettles, 1, TimeUnit.MILLISECONDS);
        }
        long[] keys = batch.stream().mapToLong(Long::longValue).toArray();
        synchronized (order) {
            last = log.remove(keys);
        }
        log.flush();
    }

    /** Queues a put and makes it {@link #last}, together. */
    private CompletableFuture<?> put(long key, byte[] value) {
        synchronized (order) {
            CompletableFuture<?> f = log.put(key, value);
            last = f;
            return f;
        }
    }

    private final java.util.concurrent.atomic.AtomicBoolean flushQueued = new java.util.concurrent.atomic.AtomicBoolean();

    /**
     * Sends the log's queued changes: on an event loop once the loop has handled what its sockets
     * gave it (a task it runs after this round of reads; one per round however many publishes
     * the round held), on any other thread at once. Waking the log's sender per publish cost a
     * round of thread hand-offs per message whenever the sender caught up, and on this 2-core
     * machine those context switches were half of a leader's CPU at a few thousand messages a
     * second (async-profiler, bench/quorum.sh, 2026-12-02).
     */
    private void flushSoon() {
        EventExecutor loop = ThreadExecutorMap.currentExecutor();
        if (loop == null) {
            log.flush();
        } else if (flushQueued.compareAndSet(false, true)) {
            // A change queued by another loop while this task waits is sent by it too: the flag
            // is cleared before the flush, and a change queued after the clear queues a task again.
            try {
                loop.execute(() -> {
                    flushQueued.set(false);
                    log.flush();
                });
            } catch (java.util.concurrent.RejectedExecutionException e) { // the loop shuts down
                flushQueued.set(false);
                log.flush();
            }
        }
    }

    @Override public void sync(Durable durable) {
        // Settles still gathered (a transaction's acks, queued by its commit just before) go
        // first, so that the wait covers them too.
        flushSettles();
        last.whenComplete((v, e) -> durable.done(e == null ? null : unwrap(e)));
    }

    @Override public boolean overloaded() {
        return inFlight.get() > MAX_IN_FLIGHT;
    }

    @Override public void whenDrained(java.util.concurrent.Executor executor, Runnable callback) {
        synchronized (drainWaiters) {
            if (inFlight.get() > MAX_IN_FLIGHT / 2) {
                drainWaiters.add(() -> executor.execute(callback));
                return;
            }
        }
        executor.execute(callback);
    }

    private void drained() {
        List<Runnable> ready;
        synchronized (drainWaiters) {
            ready = new ArrayList<>(drainWaiters);
            drainWaiters.clear();
        }
        ready.forEach(Runnable::run);
    }

    /** Whether a key of the log is a delivery count (see {@link #countKey}), not a message. */
    static boolean isCount(long key) {
        return key < 0;
    }

    /** Every unsettled message of the queue, in log order, with its delivery count: what a new leader delivers. */
    @Override public void recover(RecoveryVisitor visitor) {
        List<Map.Entry<Long, byte[]>> entries = log.entries();
        Map<Long, Integer> counts = new java.util.HashMap<>();
        for (Map.Entry<Long, byte[]> e : entries) {
            if (isCount(e.getKey()) && e.getValue() != null && e.getValue().length == 4) {
                counts.put(e.getKey() & Long.MAX_VALUE, ByteBuffer.wrap(e.getValue()).getInt());
            }
        }
        for (Map.Entry<Long, byte[]> e : entries) {
            if (!isCount(e.getKey())) {
                byte[] record = e.getValue(); // from disk for a message there
                if (record == null) {
                    continue; // settled since the entries were listed
                }
                Integer count = counts.remove(e.getKey());
                if (count != null) {
                    counted.add(e.getKey());
                }
                visitor.slot(queueId, stored(e.getKey(), record, count == null ? 0 : count));
            }
        }
        if (!counts.isEmpty() && !closed) {
            // counts whose message is gone: nothing reads them any more
            log.remove(counts.keySet().stream().mapToLong(ReplicatedMessageStore::countKey).toArray());
            flushSoon();
        }
    }

    /** The routing and size of a message as its log holds it. */
    MessageStore.StoredMessage stored(long ref, byte[] record, int deliveryCount) {
        Decoded d = decode(record);
        int priority = priorities == null ? 0 : priorities.applyAsInt(Unpooled.wrappedBuffer(d.properties));
        return new StoredMessage(ref, d.exchange, d.routingKey, d.body.length, priority, d.publishedAt, d.ttl,
                deliveryCount);
    }

    /** A message in memory is loaded at once, one on disk on the reader thread. */
    @Override public void load(long ref, LoadSink sink) {
        if (log.onDisk(ref)) {
            READER.execute(() -> loadNow(ref, sink));
        } else {
            loadNow(ref, sink);
        }
    }

    private void loadNow(long ref, LoadSink sink) {
        byte[] record;
        try {
            record = log.get(ref);
        } catch (UncheckedIOException e) {
            sink.loaded(null, null, new StoreException("message " + ref + " of the quorum queue cannot be read: "
                    + e.getCause().getMessage()));
            return;
        }
        if (record == null) {
            sink.loaded(null, null, new StoreException.Settled("message " + ref + " is no longer in the quorum queue's log"));
            return;
        }
        Decoded d = decode(record);
        sink.loaded(Unpooled.wrappedBuffer(d.properties), Unpooled.wrappedBuffer(d.body), null);
    }

    @Override public void close() {
        closed = true;
        flushSettles();
    }

    record Decoded(String exchange, String routingKey, byte[] properties, byte[] body, long publishedAt, long ttl) {}

    static byte[] encode(String exchange, String routingKey, ByteBuf properties, ByteBuf body, long publishedAt,
                         long ttl) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(64 + properties.readableBytes() + body.readableBytes());
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeByte(1);
            out.writeUTF(exchange);
            out.writeUTF(routingKey);
            out.writeLong(publishedAt);
            out.writeLong(ttl);
            out.writeInt(properties.readableBytes());
            properties.getBytes(properties.readerIndex(), out, properties.readableBytes());
            out.writeInt(body.readableBytes());
            body.getBytes(body.readerIndex(), out, body.readableBytes());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    static Decoded decode(byte[] record) {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(record))) {
            if (in.readByte() != 1) {
                throw new StoreException("quorum queue log entry of an unknown version");
            }
            String exchange = in.readUTF();
            String routingKey = in.readUTF();
            long publishedAt = in.readLong();
            long ttl = in.readLong();
            byte[] properties = new byte[in.readInt()];
            in.readFully(properties);
            byte[] body = new byte[in.readInt()];
            in.readFully(body);
            return new Decoded(exchange, routingKey, properties, body, publishedAt, ttl);
        } catch (IOException e) {
            throw new StoreException("damaged quorum queue log entry: " + e, e);
        }
    }
}
