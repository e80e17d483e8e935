package io.warren.store.definitions;

import io.warren.core.store.DefinitionStore;
import io.warren.core.store.MessageStore;
import io.warren.core.store.StoreException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The definitions of a cluster node: the same records as {@link SnapshotDefinitionStore}'s
 * change log, carried through the cluster's replicated log (the metadata Raft group) instead of
 * a local file, so every node applies every change in one order, like RabbitMQ's Khepri.
 *
 * <p>A change made on this node ({@code put*} / {@code remove*}, called from event loops) is
 * queued and sent to the log by the thread "warren-metadata-submit"; {@link #sync} calls back once
 * every change made before it is committed by a majority and applied here, so the broker's
 * declare-ok and friends are sent after that. The model this store keeps ({@link #load},
 * {@link #loadAccess}, {@link #loadPolicies}, snapshots) changes only by {@link #apply}, in log
 * order, on every node alike.
 *
 * <p>Changes made on other nodes reach this node's broker through the {@link Changes} set by
 * {@link #follow}: the broker applies them to its live vhosts and access control. While it does,
 * on the apply thread, the store ignores the {@code put*} / {@code remove*} calls that this
 * causes (the log already has them).
 *
 * <p>Concurrent changes of one definition on two nodes: each node applied its own at once, and
 * the log orders them. A node skips another node's change of a definition while a change of
 * its own to it is still on its way to the log (its own comes later in the log, so it is the
 * last word everywhere): both nodes end as the log's last change says. Queues are the
 * exception: the first declaration in the log holds the queue on its node, and a later one
 * from another node is dropped from the model (logged); that node's own queue stays until its
 * restart. Two clients declaring one durable queue on two nodes in the same instant is the
 * only way there, and a known limit.
 *
 * <p>Threads: the model is guarded by this object; the sender thread submits outside the lock.
 */
public final class ReplicatedDefinitionStore implements DefinitionStore {
    private static final Logger log = LoggerFactory.getLogger(ReplicatedDefinitionStore.class);

    /** Sends one record to the replicated log; completes once it is committed and applied here. */
    @FunctionalInterface
    public interface Submitter {
        CompletableFuture<?> submit(byte[] record);
    }

    /**
     * A change another node made, applied here in log order (on the log's apply thread). Each
     * argument is one of DefinitionStore's records, or {@link HomedQueue} for a queue; removals
     * pass what was removed.
     */
    public interface Changes {
        void put(Object definition);

        void removed(Object definition);
    }

    /** A durable queue's definition and the node that holds it. */
    public record HomedQueue(QueueDef queue, String home) {}

    /** The marker that the default vhost and user exist (the seeded flag), as a change. */
    public static final Object SEEDED = DefinitionEncoding.SEEDED_ENTRY;

    /** Records in the log: a version byte, the origin, then one ChangeLog payload (type and data). */
    private static final byte VERSION = 1;
    /** A queue's definition with its home node: home (UTF) then DefinitionEncoding.queue bytes. */
    static final byte PUT_HOMED_QUEUE = 10;
    /** Carries nothing: its commit tells that this node has applied everything before it. */
    static final byte BARRIER = 11;
    /** At most this many records in flight: Ratis' client blocks its caller past 100. */
    static final int MAX_IN_FLIGHT = 64;

    private final String node;
    /** This run's id: records of an earlier run of this node are another node's to this one. */
    private final long incarnation = new SecureRandom().nextLong();
    private final Submitter submitter;

    // ---- the model: guarded by this ----
    private final TreeMap<String, byte[]> exchanges = new TreeMap<>();
    /** Queue key -> home (UTF) + queue bytes. */
    private final TreeMap<String, byte[]> queues = new TreeMap<>();
    private final TreeSet<byte[]> bindings = new TreeSet<>(Arrays::compare);
    private final TreeMap<String, byte[]> access = new TreeMap<>();
    private final Set<Long> queueIds = new HashSet<>();
    /** Changes of this run not yet applied, per definition key: another node's change to those waits. */
    private final Map<String, Integer> pending = new HashMap<>();
    private Changes follower;
    private long appliedIndex;

    // ---- the way to the log ----
    private final LinkedBlockingQueue<Outgoing> outgoing = new LinkedBlockingQueue<>();
    private final ConcurrentSkipListMap<Long, CompletableFuture<?>> inFlight = new ConcurrentSkipListMap<>();
    private final AtomicLong sequence = new AtomicLong();
    private final Semaphore window = new Semaphore(MAX_IN_FLIGHT);
    private final Thread sender;
    private volatile boolean closed;
    /** Set on the apply thread while another node's change is applied to the broker. */
    private final ThreadLocal<Boolean> applying = ThreadLocal.withInitial(() -> false);

    private record Outgoing(long seq, byte[] record, CompletableFuture<Object> done) {}

    public ReplicatedDefinitionStore(String node, Submitter submitter) {
        this.node = node;
        this.submitter = submitter;
        this.sender = new Thread(this::sendLoop, "warren-metadata-submit");
        sender.setDaemon(true);
        sender.start();
    }

    public String node() {
        return node;
    }

    // ---- changes made here ---------------------------------------------------------------------

    private void send(String key, byte type, byte[] data) {
        if (applying.get()) {
            return; // the broker applying another node's change: the log has it already
        }
        if (closed) {
            throw new StoreException("the cluster's definitions are closed");
        }
        synchronized (this) {
            if (key != null) {
                pending.merge(key, 1, Integer::sum);
            }
        }
        long seq = sequence.incrementAndGet();
        CompletableFuture<Object> done = new CompletableFuture<>();
        inFlight.put(seq, done);
        outgoing.add(new Outgoing(seq, record(type, key, data), done));
    }

    private byte[] record(byte type, String key, byte[] data) {
        return write(out -> {
            out.writeByte(VERSION);
            out.writeUTF(node);
            out.writeLong(incarnation);
            out.writeUTF(key == null ? "" : key);
            out.writeByte(type);
            out.writeInt(data.length);
            out.write(data);
        });
    }

    private void sendLoop() {
        while (!closed) {
            Outgoing o;
            try {
                o = outgoing.take();
                window.acquire();
            } catch (InterruptedException e) {
                break;
            }
            CompletableFuture<?> f;
            try {
                f = submitter.submit(o.record());
            } catch (RuntimeException e) {
                f = CompletableFuture.failedFuture(e);
            }
            f.whenComplete((v, e) -> {
                window.release();
                inFlight.remove(o.seq());
                if (e != null) {
                    o.done().completeExceptionally(e);
                } else {
                    o.done().complete(null);
                }
            });
        }
        StoreException stopped = new StoreException("the cluster's definitions are closed");
        for (Outgoing o; (o = outgoing.poll()) != null; ) {
            inFlight.remove(o.seq());
            o.done().completeExceptionally(stopped);
        }
    }

    @Override public void sync(MessageStore.Durable done) {
        if (applying.get()) {
            done.done(null);
            return;
        }
        long last = sequence.get();
        List<CompletableFuture<?>> waiting = new ArrayList<>(inFlight.headMap(last, true).values());
        if (waiting.isEmpty()) {
            done.done(null);
            return;
        }
        CompletableFuture.allOf(waiting.toArray(CompletableFuture[]::new))
                .whenComplete((v, e) -> done.done(e == null ? null : unwrap(e)));
    }

    private static Throwable unwrap(Throwable e) {
        return e instanceof java.util.concurrent.CompletionException && e.getCause() != null ? e.getCause() : e;
    }

    /**
     * Completes once this node has applied everything the log had committed when it was called
     * (a record of no content goes through the log); fails when no majority answers in time.
     */
    public CompletableFuture<?> barrier() {
        return submitter.submit(record(BARRIER, null, new byte[0]));
    }

    @Override public void putExchange(ExchangeDef d) {
        send("x" + DefinitionEncoding.key(d.vhost(), d.name()), ChangeLog.PUT_EXCHANGE, DefinitionEncoding.exchange(d));
    }

    @Override public void removeExchange(String vhost, String name) {
        String key = DefinitionEncoding.key(vhost, name);
        send("x" + key, ChangeLog.REMOVE_EXCHANGE, key.getBytes(StandardCharsets.UTF_8));
    }

    @Override public void putQueue(QueueDef d) {
        byte[] q = DefinitionEncoding.queue(d);
        send("q" + DefinitionEncoding.key(d.vhost(), d.name()), PUT_HOMED_QUEUE, homed(node, q));
    }

    @Override public void removeQueue(String vhost, String name) {
        String key = DefinitionEncoding.key(vhost, name);
        send("q" + key, ChangeLog.REMOVE_QUEUE, key.getBytes(StandardCharsets.UTF_8));
    }

    @Override public void putBinding(BindingDef d) {
        byte[] b = DefinitionEncoding.binding(d);
        send(bindingKey(b), ChangeLog.PUT_BINDING, b);
    }

    @Override public void removeBinding(BindingDef d) {
        byte[] b = DefinitionEncoding.binding(d);
        send(bindingKey(b), ChangeLog.REMOVE_BINDING, b);
    }

    private static String bindingKey(byte[] b) {
        return "b" + new String(b, StandardCharsets.ISO_8859_1);
    }

    private void putAccess(Object d) {
        send("a" + DefinitionEncoding.accessKey(d), ChangeLog.PUT_ACCESS, DefinitionEncoding.access(d));
    }

    private void removeAccess(String key) {
        send("a" + key, ChangeLog.REMOVE_ACCESS, key.getBytes(StandardCharsets.UTF_8));
    }

    @Override public void putVhost(VhostDef d) {
        putAccess(d);
    }

    @Override public void removeVhost(String name) {
        removeAccess(DefinitionEncoding.vhostKey(name));
    }

    @Override public void putUser(UserDef d) {
        putAccess(d);
    }

    @Override public void removeUser(String name) {
        removeAccess(DefinitionEncoding.userKey(name));
    }

    @Override public void putPermission(PermissionDef d) {
        putAccess(d);
    }

    @Override public void removePermission(String user, String vhost) {
        removeAccess(DefinitionEncoding.permissionKey(user, vhost));
    }

    @Override public void putTopicPermission(TopicPermissionDef d) {
        putAccess(d);
    }

    @Override public void removeTopicPermission(String user, String vhost, String exchange) {
        removeAccess(DefinitionEncoding.topicPermissionKey(user, vhost, exchange));
    }

    @Override public void putPolicy(PolicyDef d) {
        putAccess(d);
    }

    @Override public void removePolicy(String vhost, String name, boolean operator) {
        removeAccess(DefinitionEncoding.policyKey(vhost, name, operator));
    }

    @Override public void markSeeded() {
        putAccess(DefinitionEncoding.SEEDED_ENTRY);
    }

    /**
     * A queue id no queue in the model has: a random one (ids only name a queue's messages in
     * its own node's message store, so they need no counter shared through the log).
     */
    @Override public synchronized long nextQueueId() {
        SecureRandom r = new SecureRandom();
        long id;
        do {
            id = r.nextLong() & Long.MAX_VALUE;
        } while (id == 0 || queueIds.contains(id));
        return id;
    }

    // ---- the model: what the log built ---------------------------------------------------------

    /**
     * Applies the record at {@code index} of the log (every node, log order, one thread). Another
     * node's change also goes to the {@link Changes} set by {@link #follow}, unless a change of
     * this node's to the same definition is still to come.
     */
    public void apply(long index, byte[] record) {
        Object change = null;
        boolean removal = false;
        Changes target;
        synchronized (this) {
            appliedIndex = index;
            DataInputStream in = new DataInputStream(new java.io.ByteArrayInputStream(record));
            String origin;
            long originRun;
            String key;
            byte type;
            byte[] data;
            try {
                byte version = in.readByte();
                if (version != VERSION) {
                    throw new StoreException("cluster definitions record " + index + " has version " + version
                            + ", this broker reads " + VERSION);
                }
                origin = in.readUTF();
                originRun = in.readLong();
                key = in.readUTF();
                type = in.readByte();
                data = new byte[in.readInt()];
                in.readFully(data);
            } catch (IOException e) {
                throw new StoreException("cluster definitions record " + index + " is damaged: " + e, e);
            }
            boolean mine = origin.equals(node) && originRun == incarnation;
            if (mine && !key.isEmpty()) {
                pending.computeIfPresent(key, (k, n) -> n == 1 ? null : n - 1);
            }
            switch (type) {
                case BARRIER -> { }
                case ChangeLog.PUT_EXCHANGE -> {
                    ExchangeDef d = DefinitionEncoding.exchange(data);
                    exchanges.put(DefinitionEncoding.key(d.vhost(), d.name()), data);
                    change = d;
                }
                case ChangeLog.REMOVE_EXCHANGE -> {
                    byte[] old = exchanges.remove(new String(data, StandardCharsets.UTF_8));
                    change = old == null ? null : DefinitionEncoding.exchange(old);
                    removal = true;
                }
                case PUT_HOMED_QUEUE -> {
                    HomedQueue h = homedQueue(data);
                    String qkey = DefinitionEncoding.key(h.queue().vhost(), h.queue().name());
                    byte[] existing = queues.get(qkey);
                    if (existing != null && !homedQueue(existing).home().equals(h.home())) {
                        // The first declaration holds the queue (see the class comment).
                        log.error("durable queue '{}' in vhost '{}' was declared on node {} while node {} holds it:"
                                + " the cluster keeps the queue of node {}", h.queue().name(), h.queue().vhost(),
                                h.home(), homedQueue(existing).home(), homedQueue(existing).home());
                        break;
                    }
                    if (existing != null) {
                        queueIds.remove(homedQueue(existing).queue().id());
                    }
                    queues.put(qkey, data);
                    queueIds.add(h.queue().id());
                    change = h;
                }
                case ChangeLog.REMOVE_QUEUE -> {
                    byte[] old = queues.remove(new String(data, StandardCharsets.UTF_8));
                    if (old != null) {
                        HomedQueue h = homedQueue(old);
                        queueIds.remove(h.queue().id());
                        change = h;
                    }
                    removal = true;
                }
                case ChangeLog.PUT_BINDING -> {
                    change = DefinitionEncoding.binding(data);
                    bindings.add(data);
                }
                case ChangeLog.REMOVE_BINDING -> {
                    change = bindings.remove(data) ? DefinitionEncoding.binding(data) : null;
                    removal = true;
                }
                case ChangeLog.PUT_ACCESS -> {
                    change = DefinitionEncoding.access(data);
                    access.put(DefinitionEncoding.accessKey(change), data);
                }
                case ChangeLog.REMOVE_ACCESS -> {
                    byte[] old = access.remove(new String(data, StandardCharsets.UTF_8));
                    change = old == null ? null : DefinitionEncoding.access(old);
                    removal = true;
                }
                default -> throw new StoreException("cluster definitions record " + index + " has unknown type "
                        + type);
            }
            if (mine || change == null || follower == null || pending.containsKey(key)) {
                return;
            }
            target = follower;
        }
        // Outside the lock: the broker's own locks come next, and its calls back here are ignored.
        applying.set(true);
        try {
            if (removal) {
                target.removed(change);
            } else {
                target.put(change);
            }
        } catch (RuntimeException e) {
            log.error("applying a definition change from another node failed (log index {}): {}", index, change, e);
        } finally {
            applying.set(false);
        }
    }

    /**
     * From now on, another node's changes go to {@code changes}; {@code load} runs first under
     * the same lock, so no change falls between what it loads and what follows.
     */
    public synchronized void follow(Changes changes, Runnable load) {
        load.run();
        this.follower = changes;
    }

    /** Stops handing changes to the broker (stop_app); the model goes on following the log. */
    public synchronized void unfollow() {
        this.follower = null;
    }

    public synchronized long appliedIndex() {
        return appliedIndex;
    }

    /** The node that holds a durable queue, or null when the queue is this node's (or unknown). */
    @Override public synchronized String remoteHome(String vhost, String name) {
        byte[] q = queues.get(DefinitionEncoding.key(vhost, name));
        if (q == null) {
            return null;
        }
        String home = homedQueue(q).home();
        return home.equals(node) ? null : home;
    }

    @Override public synchronized Definitions load() {
        List<ExchangeDef> xs = new ArrayList<>();
        exchanges.values().forEach(e -> xs.add(DefinitionEncoding.exchange(e)));
        List<QueueDef> qs = new ArrayList<>();
        queues.values().forEach(e -> qs.add(homedQueue(e).queue()));
        List<BindingDef> bs = new ArrayList<>();
        bindings.forEach(e -> bs.add(DefinitionEncoding.binding(e)));
        return new Definitions(xs, qs, bs);
    }

    @Override public synchronized AccessDefinitions loadAccess() {
        return DefinitionEncoding.accessDefinitions(access.values());
    }

    @Override public synchronized List<PolicyDef> loadPolicies() {
        return DefinitionEncoding.policies(access.values());
    }

    /** The whole model, for the log's snapshot. */
    public synchronized byte[] snapshot() {
        return SnapshotFile.encode(new SnapshotFile.Snapshot(0, new ArrayList<>(exchanges.values()),
                new ArrayList<>(queues.values()), new ArrayList<>(bindings), new ArrayList<>(access.values())));
    }

    /**
     * Replaces the model with a snapshot's (start-up, or a snapshot sent by the leader to a node
     * that fell behind). A broker following the log gets what changed as changes.
     */
    public void restore(long index, byte[] bytes) {
        SnapshotFile.Snapshot s = SnapshotFile.decode(Path.of("cluster snapshot " + index), bytes);
        Changes target;
        List<Object> removed = new ArrayList<>();
        List<Object> added = new ArrayList<>();
        synchronized (this) {
            TreeMap<String, byte[]> xs = new TreeMap<>();
            s.exchanges().forEach(e -> {
                ExchangeDef d = DefinitionEncoding.exchange(e);
                xs.put(DefinitionEncoding.key(d.vhost(), d.name()), e);
            });
            TreeMap<String, byte[]> qs = new TreeMap<>();
            s.queues().forEach(e -> {
                QueueDef d = homedQueue(e).queue();
                qs.put(DefinitionEncoding.key(d.vhost(), d.name()), e);
            });
            TreeSet<byte[]> bs = new TreeSet<>(Arrays::compare);
            bs.addAll(s.bindings());
            TreeMap<String, byte[]> as = new TreeMap<>();
            s.access().forEach(e -> as.put(DefinitionEncoding.accessKey(DefinitionEncoding.access(e)), e));
            // What the broker must change: removals first (bindings, then queues and exchanges,
            // then access), then additions in the order a start-up recovers them.
            bindings.stream().filter(b -> !bs.contains(b)).forEach(b -> removed.add(DefinitionEncoding.binding(b)));
            queues.forEach((k, v) -> {
                if (!Arrays.equals(qs.get(k), v)) {
                    removed.add(homedQueue(v));
                }
            });
            exchanges.forEach((k, v) -> {
                if (!Arrays.equals(xs.get(k), v)) {
                    removed.add(DefinitionEncoding.exchange(v));
                }
            });
            access.forEach((k, v) -> {
                if (!as.containsKey(k)) {
                    removed.add(DefinitionEncoding.access(v));
                }
            });
            as.forEach((k, v) -> {
                if (!Arrays.equals(access.get(k), v)) {
                    added.add(DefinitionEncoding.access(v));
                }
            });
            xs.forEach((k, v) -> {
                if (!Arrays.equals(exchanges.get(k), v)) {
                    added.add(DefinitionEncoding.exchange(v));
                }
            });
            qs.forEach((k, v) -> {
                if (!Arrays.equals(queues.get(k), v)) {
                    added.add(homedQueue(v));
                }
            });
            bs.stream().filter(b -> !bindings.contains(b)).forEach(b -> added.add(DefinitionEncoding.binding(b)));
            exchanges.clear();
            exchanges.putAll(xs);
            queues.clear();
            queues.putAll(qs);
            queueIds.clear();
            qs.values().forEach(e -> queueIds.add(homedQueue(e).queue().id()));
            bindings.clear();
            bindings.addAll(bs);
            access.clear();
            access.putAll(as);
            appliedIndex = index;
            target = follower;
        }
        if (target == null) {
            return;
        }
        applying.set(true);
        try {
            for (Object d : removed) {
                target.removed(d);
            }
            for (Object d : added) {
                target.put(d);
            }
        } catch (RuntimeException e) {
            log.error("applying the cluster's definitions snapshot {} to the broker failed", index, e);
        } finally {
            applying.set(false);
        }
    }

    static byte[] homed(String home, byte[] queue) {
        return write(out -> {
            out.writeUTF(home);
            out.write(queue);
        });
    }

    static HomedQueue homedQueue(byte[] b) {
        try {
            DataInputStream in = new DataInputStream(new java.io.ByteArrayInputStream(b));
            String home = in.readUTF();
            byte[] rest = in.readAllBytes();
            return new HomedQueue(DefinitionEncoding.queue(rest), home);
        } catch (IOException e) {
            throw new StoreException("damaged queue definition in the cluster's definitions: " + e, e);
        }
    }

    private interface Writer {
        void write(DataOutputStream out) throws IOException;
    }

    private static byte[] write(Writer w) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(64);
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            w.write(out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    /** Stops sending: changes not yet committed fail their {@link #sync} callbacks. */
    @Override public void close() {
        closed = true;
        sender.interrupt();
        StoreException stopped = new StoreException("the cluster's definitions are closed");
        inFlight.values().forEach(f -> f.completeExceptionally(stopped));
    }
}
