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
 * <p>Non-durable definitions go through the log too ({@link #keepsTransient}): every node sees
 * every exchange, queue (exclusive ones too) and binding, as in RabbitMQ. Each entry names the
 * run of the node that made it (a node's run is one process's life). They end as RabbitMQ's do:
 * a non-durable queue with its node's run (the next run's {@link #NODE_STARTED} record removes
 * it, or the metadata leader's {@link #NODE_DOWN} once the node has been down a while), an
 * exclusive one with its connection too (the holder deletes it), and a non-durable exchange
 * with the whole cluster (the first node to start after every node had stopped removes it).
 *
 * <p>{@link #sync} calls back once the change is committed, applied here and, through the
 * {@link Spread} set, applied by the other running nodes: a reply to a client then means every
 * node that runs has the change.
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

    /**
     * A queue's definition (durable or not, exclusive or not), the node that holds it and that
     * node's run that declared it (0 for a durable queue declared before runs were recorded).
     */
    public record HomedQueue(QueueDef queue, String home, long run) {}

    /** The marker that the default vhost and user exist (the seeded flag), as a change. */
    public static final Object SEEDED = DefinitionEncoding.SEEDED_ENTRY;

    /** Records in the log: a version byte, the origin, then one ChangeLog payload (type and data). */
    private static final byte VERSION = 1;
    /** A queue's definition with its home node: home (UTF) then DefinitionEncoding.queue bytes. */
    static final byte PUT_HOMED_QUEUE = 10;
    /** Carries nothing: its commit tells that this node has applied everything before it. */
    static final byte BARRIER = 11;
    /** An exchange, durable or not: a durable flag, then DefinitionEncoding.exchange bytes. */
    static final byte PUT_EXCHANGE_ENTRY = 12;
    /** A queue held by the record's origin: its kind ({@link #DURABLE} ...), then DefinitionEncoding.queue bytes. */
    static final byte PUT_QUEUE_ENTRY = 13;
    /**
     * A run of the origin node started: a boolean, true when no other node was running then,
     * followed by the runs the others had in the starting node's model (a count, then node
     * (UTF) and run (long) each). Earlier runs of that node are over: their non-durable queues
     * are removed. When no other node ran, the whole cluster had stopped: the runs listed are
     * over too, and every non-durable exchange of an ended run goes (a run that started after the
     * check has a start record later than the list, so none of its exchanges is taken).
     */
    static final byte NODE_STARTED = 14;
    /** A node was seen down for a while (its name, the run): that run's non-durable queues are removed. */
    static final byte NODE_DOWN = 15;
    /**
     * The node list the cluster was formed with (a count, then NAME@HOST:PORT each, in the
     * configs' order): where quorum queues place their members. The first in the log stays.
     */
    static final byte NODE_LIST = 16;
    /** A node joined the running cluster (join_cluster): its name (UTF) and address (UTF, HOST:PORT). */
    static final byte NODE_JOINED = 17;
    /**
     * A change of a quorum queue's members as an operator makes it (add_member, delete_member,
     * grow, shrink): the queue's id (long), add (1) or remove (0) (byte), the node (UTF), then
     * the members the change was made from (a count and the node names, UTF), which count when
     * no earlier record set the queue's members (until then they are derived from the node
     * list). Changes apply to the members as the log has them, so two made at once on two nodes
     * both take effect; a removal that would leave none is dropped.
     */
    static final byte QUEUE_MEMBERS = 18;

    /** Kinds of queue: kept across restarts; not; not, and owned by one connection. */
    static final byte DURABLE = 0;
    static final byte TRANSIENT = 1;
    static final byte EXCLUSIVE = 2;
    /** At most this many records in flight: Ratis' client blocks its caller past 100. */
    static final int MAX_IN_FLIGHT = 64;

    private final String node;
    /** This run's id: records of an earlier run of this node are another node's to this one. */
    private final long incarnation = new SecureRandom().nextLong();
    private final Submitter submitter;

    // ---- the model: guarded by this ----
    /** Exchange key -> entry: durable (boolean), origin (UTF), run (long), exchange bytes; a durable one's origin is "" and run 0. */
    private final TreeMap<String, byte[]> exchanges = new TreeMap<>();
    /** Queue key -> entry: home (UTF), kind (byte), run (long), queue bytes. */
    private final TreeMap<String, byte[]> queues = new TreeMap<>();
    /** Each node's current run, as its last {@link #NODE_STARTED} record said. */
    private final TreeMap<String, Long> runs = new TreeMap<>();
    /** The first {@link #NODE_LIST}: NAME@HOST:PORT each; empty until one is in the log. */
    private final List<String> nodeList = new ArrayList<>();
    /** The nodes that joined since, in log order: name -> HOST:PORT. */
    private final java.util.LinkedHashMap<String, String> joined = new java.util.LinkedHashMap<>();
    private final TreeSet<byte[]> bindings = new TreeSet<>(Arrays::compare);
    private final TreeMap<String, byte[]> access = new TreeMap<>();
    private final Set<Long> queueIds = new HashSet<>();
    /** Durable queue id -> its members as the last {@link #QUEUE_MEMBERS} record set them. */
    private final TreeMap<Long, List<String>> queueMembers = new TreeMap<>();
    /** Told (id, members) once a {@link #QUEUE_MEMBERS} record or a snapshot changed a queue's members; apply thread. */
    private volatile java.util.function.BiConsumer<Long, List<String>> membersListener;
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

    /** Says whether no other node was running (its start record committed) when this one started; null: no start record. */
    private final java.util.function.BooleanSupplier alone;
    private final CompletableFuture<Void> started = new CompletableFuture<>();
    /** Completed by {@link #ready}: the model has what this node's copy of the log holds. */
    private final CompletableFuture<Void> ready = new CompletableFuture<>();

    public ReplicatedDefinitionStore(String node, Submitter submitter) {
        this(node, submitter, null);
    }

    /**
     * As above; the first record this run sends is its {@link #NODE_STARTED} record, retried
     * until a majority commits it, {@code alone} asked before each try. Every change of this run
     * comes after it in the log, so a clean-up of earlier runs never takes one of this run's.
     */
    public ReplicatedDefinitionStore(String node, Submitter submitter, java.util.function.BooleanSupplier alone) {
        this.node = node;
        this.submitter = submitter;
        this.alone = alone;
        if (alone == null) {
            started.complete(null);
        }
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

    /**
     * The model has applied what this node's copy of the log holds (its log replayed): the
     * start record may be sent, naming the runs it knows.
     */
    public void ready() {
        ready.complete(null);
    }

    /** Completes once this run's start record is committed and applied here. */
    public CompletableFuture<Void> started() {
        return started;
    }

    /** Whether no other node runs (asked of them); false when they cannot be asked. */
    private boolean firstRunning() {
        try {
            return alone.getAsBoolean();
        } catch (RuntimeException e) {
            return false;
        }
    }

    private void sendStart() {
        try {
            ready.get();
        } catch (InterruptedException | java.util.concurrent.ExecutionException e) {
            return;
        }
        long pause = 200;
        while (!closed && !started.isDone()) {
            // The runs known before the others are asked: one that starts meanwhile is not among them.
            Map<String, Long> others;
            synchronized (this) {
                others = new TreeMap<>(runs);
            }
            others.remove(node);
            boolean first = firstRunning();
            byte[] data = write(out -> {
                out.writeBoolean(first);
                if (first) {
                    writeRuns(out, others);
                }
            });
            try {
                submitter.submit(record(NODE_STARTED, null, data)).get();
                started.complete(null);
                return;
            } catch (java.util.concurrent.ExecutionException e) {
                log.info("waiting for a majority of the cluster's nodes to record this node's start ({})",
                        String.valueOf(unwrap(e)));
            } catch (InterruptedException e) {
                return;
            }
            try {
                Thread.sleep(pause);
            } catch (InterruptedException e) {
                return;
            }
            pause = Math.min(pause * 2, 2000);
        }
    }

    private void sendLoop() {
        if (alone != null) {
            sendStart();
        }
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
        CompletableFuture.allOf(waiting.toArray(CompletableFuture[]::new)).whenComplete((v, e) -> {
            Spread s = spread;
            if (e != null || s == null) {
                done.done(e == null ? null : unwrap(e));
                return;
            }
            // Committed and applied here: the reply waits until the other nodes have it too, so a
            // client's next step through any node finds it (RabbitMQ's metadata is the same on
            // every node once a declare-ok is sent).
            s.appliedEverywhere(appliedIndex()).whenComplete((x, y) -> done.done(null));
        });
    }

    /** Waits for the other running nodes to apply the log up to an index (never fails: a node that does not answer is not waited for). */
    @FunctionalInterface
    public interface Spread {
        CompletableFuture<?> appliedEverywhere(long index);
    }

    private volatile Spread spread;

    /** From now on, {@link #sync} calls back once the other running nodes have applied the changes too. */
    public void spread(Spread s) {
        this.spread = s;
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
        byte[] x = DefinitionEncoding.exchange(d);
        send("x" + DefinitionEncoding.key(d.vhost(), d.name()), PUT_EXCHANGE_ENTRY, write(out -> {
            out.writeBoolean(d.durable());
            out.write(x);
        }));
    }

    @Override public void removeExchange(String vhost, String name) {
        String key = DefinitionEncoding.key(vhost, name);
        send("x" + key, ChangeLog.REMOVE_EXCHANGE, key.getBytes(StandardCharsets.UTF_8));
    }

    @Override public void putQueue(QueueDef d) {
        byte[] q = DefinitionEncoding.queue(d);
        byte kind = d.durable() ? DURABLE : d.exclusive() ? EXCLUSIVE : TRANSIENT;
        send("q" + DefinitionEncoding.key(d.vhost(), d.name()), PUT_QUEUE_ENTRY, write(out -> {
            out.writeByte(kind);
            out.write(q);
        }));
    }

    /** A cluster's store carries non-durable exchanges and queues too: every node sees them. */
    @Override public boolean keepsTransient() {
        return true;
    }

    /** Tells the cluster that {@code run} of node {@code down} is over: its non-durable queues go. */
    public CompletableFuture<?> nodeDown(String down, long run) {
        return submitter.submit(record(NODE_DOWN, null, write(out -> {
            out.writeUTF(down);
            out.writeLong(run);
        })));
    }

    /** The runs of node {@code home} that non-durable queues in the model belong to (the leader ends those of a node gone). */
    public synchronized Set<Long> transientRunsOf(String home) {
        Set<Long> found = new TreeSet<>();
        for (byte[] e : queues.values()) {
            HomedQueue h = homedQueue(e);
            if (h.home().equals(home) && !h.queue().durable()) {
                found.add(h.run());
            }
        }
        return found;
    }

    /** This run's id (another run of this node is another node's to this one). */
    public long run() {
        return incarnation;
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
        List<Object> changes = new ArrayList<>(1);
        Map.Entry<Long, List<String>> membersChanged = null;
        boolean removal = false;
        boolean cleanup = false;
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
                // A durable exchange's entry names no run (none ends it), so that it is the same
                // bytes whoever declared it and however a node got it (log or snapshot).
                case ChangeLog.PUT_EXCHANGE -> putExchangeEntry(exchangeEntry(true, "", 0, data), changes);
                case PUT_EXCHANGE_ENTRY -> {
                    boolean durable = data[0] != 0;
                    putExchangeEntry(exchangeEntry(durable, durable ? "" : origin, durable ? 0 : originRun,
                            Arrays.copyOfRange(data, 1, data.length)), changes);
                }
                case ChangeLog.REMOVE_EXCHANGE -> {
                    byte[] old = exchanges.remove(new String(data, StandardCharsets.UTF_8));
                    if (old != null) {
                        changes.add(exchangeOf(old));
                    }
                    removal = true;
                }
                case PUT_HOMED_QUEUE -> putQueueEntry(legacyQueueEntry(data), changes);
                case PUT_QUEUE_ENTRY -> putQueueEntry(queueEntry(origin, data[0], originRun,
                        Arrays.copyOfRange(data, 1, data.length)), changes);
                case ChangeLog.REMOVE_QUEUE -> {
                    byte[] old = queues.remove(new String(data, StandardCharsets.UTF_8));
                    if (old != null) {
                        HomedQueue h = homedQueue(old);
                        queueIds.remove(h.queue().id());
                        queueMembers.remove(h.queue().id());
                        changes.add(h);
                    }
                    removal = true;
                }
                case ChangeLog.PUT_BINDING -> {
                    changes.add(DefinitionEncoding.binding(data));
                    bindings.add(data);
                }
                case ChangeLog.REMOVE_BINDING -> {
                    if (bindings.remove(data)) {
                        changes.add(DefinitionEncoding.binding(data));
                    }
                    removal = true;
                }
                case ChangeLog.PUT_ACCESS -> {
                    Object change = DefinitionEncoding.access(data);
                    access.put(DefinitionEncoding.accessKey(change), data);
                    changes.add(change);
                }
                case ChangeLog.REMOVE_ACCESS -> {
                    byte[] old = access.remove(new String(data, StandardCharsets.UTF_8));
                    if (old != null) {
                        changes.add(DefinitionEncoding.access(old));
                    }
                    removal = true;
                }
                case NODE_STARTED -> {
                    removal = true;
                    cleanup = true;
                    boolean alone = data.length > 0 && data[0] != 0;
                    Map<String, Long> ended = alone ? read(data, record(index), d -> {
                        d.readBoolean();
                        return readRuns(d);
                    }) : Map.of();
                    runs.put(origin, originRun);
                    dropQueues(h -> h.home().equals(origin) && !h.queue().durable() && h.run() != originRun,
                            changes);
                    if (alone) {
                        // No node ran when this one started: the cluster had stopped, and what was
                        // not durable is gone (RabbitMQ keeps non-durable exchanges until then).
                        dropExchanges(x -> !x.def().durable() && (Long.valueOf(x.run()).equals(ended.get(x.origin()))
                                || !Long.valueOf(x.run()).equals(runs.get(x.origin()))), changes);
                    }
                }
                case NODE_LIST -> {
                    if (nodeList.isEmpty()) {
                        nodeList.addAll(strings(index, data));
                    }
                }
                case NODE_JOINED -> {
                    List<String> nameAndAddress = strings(index, data);
                    joined.put(nameAndAddress.get(0), nameAndAddress.get(1));
                }
                case QUEUE_MEMBERS -> {
                    Map.Entry<Long, List<String>> changed = read(data, record(index), d -> {
                        long id = d.readLong();
                        boolean add = d.readBoolean();
                        String n = d.readUTF();
                        List<String> base = new ArrayList<>();
                        for (int k = d.readInt(); k > 0; k--) {
                            base.add(d.readUTF());
                        }
                        List<String> names = new ArrayList<>(queueMembers.getOrDefault(id, base));
                        if (add && !names.contains(n)) {
                            names.add(n);
                        } else if (!add) {
                            names.remove(n);
                        }
                        return Map.entry(id, List.copyOf(names));
                    });
                    long id = changed.getKey();
                    // a queue deleted since the record was sent keeps nothing; a queue keeps a member
                    if (queueIds.contains(id) && !changed.getValue().isEmpty()
                            && !changed.getValue().equals(queueMembers.put(id, changed.getValue()))) {
                        membersChanged = changed;
                    }
                }
                case NODE_DOWN -> {
                    removal = true;
                    cleanup = true;
                    Map<String, Long> down = read(data, record(index), d -> Map.of(d.readUTF(), d.readLong()));
                    dropQueues(h -> !h.queue().durable() && Long.valueOf(h.run()).equals(down.get(h.home())), changes);
                }
                default -> throw new StoreException("cluster definitions record " + index + " has unknown type "
                        + type);
            }
            if (changes.isEmpty() || follower == null) {
                target = null;
            } else if (!cleanup && (mine || pending.containsKey(key))) {
                // A clean-up is every node's to apply, its origin's too (the removals are the log's own).
                target = null;
            } else {
                target = follower;
            }
        }
        if (membersChanged != null) {
            tellMembers(Map.of(membersChanged.getKey(), membersChanged.getValue()));
        }
        if (target == null) {
            return;
        }
        // Outside the lock: the broker's own locks come next, and its calls back here are ignored.
        applying.set(true);
        try {
            for (Object change : changes) {
                if (removal) {
                    target.removed(change);
                } else {
                    target.put(change);
                }
            }
        } catch (RuntimeException e) {
            log.error("applying a definition change from another node failed (log index {}): {}", index, changes, e);
        } finally {
            applying.set(false);
        }
    }

    private static List<String> strings(long index, byte[] data) {
        return read(data, record(index), in -> {
            List<String> out = new ArrayList<>();
            for (int n = in.readInt(); n > 0; n--) {
                out.add(in.readUTF());
            }
            return out;
        });
    }

    private static String record(long index) {
        return "cluster definitions record " + index;
    }

    /** Runs as records and snapshots carry them: a count, then node (UTF) and run (long) each. */
    private static void writeRuns(DataOutputStream out, Map<String, Long> runs) throws IOException {
        out.writeInt(runs.size());
        for (Map.Entry<String, Long> r : runs.entrySet()) {
            out.writeUTF(r.getKey());
            out.writeLong(r.getValue());
        }
    }

    private static TreeMap<String, Long> readRuns(DataInputStream in) throws IOException {
        TreeMap<String, Long> runs = new TreeMap<>();
        for (int n = in.readInt(); n > 0; n--) {
            runs.put(in.readUTF(), in.readLong());
        }
        return runs;
    }

    private static byte[] strings(List<String> l) {
        return write(out -> {
            out.writeInt(l.size());
            for (String e : l) {
                out.writeUTF(e);
            }
        });
    }

    /** Records the node list the cluster was formed with (NAME@HOST:PORT each), unless the log has one. */
    public CompletableFuture<?> recordNodeList(List<String> nodes) {
        return submitter.submit(record(NODE_LIST, null, strings(nodes)));
    }

    /** Records that node {@code name}, reached at {@code address} (HOST:PORT), joined the cluster. */
    public CompletableFuture<?> recordJoined(String name, String address) {
        return submitter.submit(record(NODE_JOINED, null, strings(List.of(name, address))));
    }

    /** The node list the cluster was formed with, as the log has it (NAME@HOST:PORT each); empty when it has none yet. */
    public synchronized List<String> nodeList() {
        return List.copyOf(nodeList);
    }

    /**
     * Records that quorum queue {@code id} gains ({@code add}) or loses node {@code node}'s
     * member, as add_member and friends do; {@code current} is its members as the caller knows
     * them, which count when no earlier record set them. Applied to the members as the log has
     * them then; a record for a queue deleted meanwhile is dropped.
     */
    public CompletableFuture<?> recordQueueMember(long id, boolean add, String node, List<String> current) {
        byte[] names = strings(current);
        return submitter.submit(record(QUEUE_MEMBERS, null, write(out -> {
            out.writeLong(id);
            out.writeBoolean(add);
            out.writeUTF(node);
            out.write(names);
        })));
    }

    /** Quorum queue {@code id}'s members as the last record set them, or null when none did (they are derived). */
    public synchronized List<String> queueMembers(long id) {
        return queueMembers.get(id);
    }

    /**
     * Sets what is told (queue id, members) whenever a record or a snapshot changes a quorum
     * queue's recorded members; called on the log's apply thread, outside this store's lock.
     */
    public void membersListener(java.util.function.BiConsumer<Long, List<String>> l) {
        this.membersListener = l;
    }

    private void tellMembers(Map<Long, List<String>> changed) {
        java.util.function.BiConsumer<Long, List<String>> l = membersListener;
        if (l == null) {
            return;
        }
        changed.forEach((id, names) -> {
            try {
                l.accept(id, names);
            } catch (RuntimeException e) {
                log.error("applying the members {} of quorum queue {} failed", names, id, e);
            }
        });
    }

    /** The nodes that joined the cluster, in the order they did: name -> HOST:PORT. */
    public synchronized Map<String, String> joinedNodes() {
        return new java.util.LinkedHashMap<>(joined);
    }

    /** An exchange entry of the model, decoded: {@code def.durable()} says whether it is kept across restarts. */
    record ExchangeEntry(ExchangeDef def, String origin, long run) {}

    private void putExchangeEntry(byte[] entry, List<Object> changes) {
        ExchangeDef d = exchangeOf(entry);
        exchanges.put(DefinitionEncoding.key(d.vhost(), d.name()), entry);
        changes.add(d);
    }

    private void putQueueEntry(byte[] entry, List<Object> changes) {
        HomedQueue h = homedQueue(entry);
        String qkey = DefinitionEncoding.key(h.queue().vhost(), h.queue().name());
        byte[] existing = queues.get(qkey);
        if (existing != null) {
            HomedQueue e = homedQueue(existing);
            if (!e.home().equals(h.home()) && !over(e)) {
                // The first declaration holds the queue (see the class comment).
                log.error("queue '{}' in vhost '{}' was declared on node {} while node {} holds it:"
                        + " the cluster keeps the queue of node {}", h.queue().name(), h.queue().vhost(),
                        h.home(), e.home(), e.home());
                return;
            }
            queueIds.remove(e.queue().id());
        }
        queues.put(qkey, entry);
        if (h.queue().durable()) {
            queueIds.add(h.queue().id());
        }
        changes.add(h);
    }

    /** A non-durable queue of a run of its node that is over (that node started again since). */
    private boolean over(HomedQueue h) {
        Long current = runs.get(h.home());
        return !h.queue().durable() && current != null && current != h.run();
    }

    /** Removes the queues {@code which} picks, and the bindings to them. */
    private void dropQueues(java.util.function.Predicate<HomedQueue> which, List<Object> changes) {
        Set<String> gone = new HashSet<>();
        for (var it = queues.values().iterator(); it.hasNext(); ) {
            HomedQueue h = homedQueue(it.next());
            if (which.test(h)) {
                it.remove();
                queueIds.remove(h.queue().id());
                gone.add(DefinitionEncoding.key(h.queue().vhost(), h.queue().name()));
                changes.add(h);
            }
        }
        if (!gone.isEmpty()) {
            bindings.removeIf(b -> {
                BindingDef d = DefinitionEncoding.binding(b);
                return d.toQueue() && gone.contains(DefinitionEncoding.key(d.vhost(), d.destination()));
            });
        }
    }

    /** Removes the exchanges {@code which} picks, and the bindings from and to them. */
    private void dropExchanges(java.util.function.Predicate<ExchangeEntry> which, List<Object> changes) {
        Set<String> gone = new HashSet<>();
        for (var it = exchanges.values().iterator(); it.hasNext(); ) {
            ExchangeEntry x = exchangeEntry(it.next());
            if (which.test(x)) {
                it.remove();
                gone.add(DefinitionEncoding.key(x.def().vhost(), x.def().name()));
                changes.add(x.def());
            }
        }
        if (!gone.isEmpty()) {
            bindings.removeIf(b -> {
                BindingDef d = DefinitionEncoding.binding(b);
                return gone.contains(DefinitionEncoding.key(d.vhost(), d.source()))
                        || !d.toQueue() && gone.contains(DefinitionEncoding.key(d.vhost(), d.destination()));
            });
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

    /** Whether a durable queue with id {@code id} is in the model (a quorum queue's group names its id). */
    public synchronized boolean hasQueue(long id) {
        return queueIds.contains(id);
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
        exchanges.values().forEach(e -> xs.add(exchangeOf(e)));
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

    /**
     * The cluster snapshot's header: after it, the length of the nodes table, the table (the
     * runs: a count, then node (UTF) and run (long) each; the node list: a count, then UTF each;
     * the nodes joined: a count, then name and address (UTF) each; the quorum queues' recorded
     * members: a count, then the queue id (long), a count and the node names (UTF) each), its
     * CRC32C, then a {@link SnapshotFile} whose entries are this store's (exchange and queue
     * entries, binding and access bytes). The second format ({@code /2}) has no members table. A
     * snapshot without the header is the first format: a SnapshotFile of durable definitions
     * only, its exchanges DefinitionEncoding bytes and its queues home (UTF) and DefinitionEncoding bytes.
     */
    private static final byte[] SNAPSHOT_MAGIC = "warren-cluster-definitions/3\n".getBytes(StandardCharsets.US_ASCII);
    /** The second format: the table without the queues' members. */
    private static final byte[] SNAPSHOT_MAGIC_2 = "warren-cluster-definitions/2\n".getBytes(StandardCharsets.US_ASCII);

    /** The whole model, for the log's snapshot. */
    public synchronized byte[] snapshot() {
        byte[] table = write(out -> {
            writeRuns(out, runs);
            out.writeInt(nodeList.size());
            for (String n : nodeList) {
                out.writeUTF(n);
            }
            out.writeInt(joined.size());
            for (Map.Entry<String, String> j : joined.entrySet()) {
                out.writeUTF(j.getKey());
                out.writeUTF(j.getValue());
            }
            out.writeInt(queueMembers.size());
            for (Map.Entry<Long, List<String>> m : queueMembers.entrySet()) {
                out.writeLong(m.getKey());
                out.write(strings(m.getValue()));
            }
        });
        byte[] rest = SnapshotFile.encode(new SnapshotFile.Snapshot(0, new ArrayList<>(exchanges.values()),
                new ArrayList<>(queues.values()), new ArrayList<>(bindings), new ArrayList<>(access.values())));
        return write(out -> {
            out.write(SNAPSHOT_MAGIC);
            out.writeInt(table.length);
            out.write(table);
            out.writeInt(crc(table));
            out.write(rest);
        });
    }

    private static int crc(byte[] b) {
        java.util.zip.CRC32C c = new java.util.zip.CRC32C();
        c.update(b);
        return (int) c.getValue();
    }

    /**
     * Replaces the model with a snapshot's (start-up, or a snapshot sent by the leader to a node
     * that fell behind). A broker following the log gets what changed as changes.
     */
    public void restore(long index, byte[] bytes) {
        TreeMap<String, Long> rs = new TreeMap<>();
        List<String> list = new ArrayList<>();
        java.util.LinkedHashMap<String, String> js = new java.util.LinkedHashMap<>();
        TreeMap<Long, List<String>> ms = new TreeMap<>();
        boolean third = bytes.length >= SNAPSHOT_MAGIC.length
                && Arrays.equals(bytes, 0, SNAPSHOT_MAGIC.length, SNAPSHOT_MAGIC, 0, SNAPSHOT_MAGIC.length);
        boolean current = third || bytes.length >= SNAPSHOT_MAGIC_2.length
                && Arrays.equals(bytes, 0, SNAPSHOT_MAGIC_2.length, SNAPSHOT_MAGIC_2, 0, SNAPSHOT_MAGIC_2.length);
        if (current) {
            try {
                DataInputStream in = new DataInputStream(new java.io.ByteArrayInputStream(bytes, SNAPSHOT_MAGIC.length,
                        bytes.length - SNAPSHOT_MAGIC.length));
                byte[] table = new byte[in.readInt()];
                in.readFully(table);
                if (in.readInt() != crc(table)) {
                    throw new StoreException("cluster snapshot " + index + " is damaged: its runs table fails its"
                            + " checksum");
                }
                DataInputStream t = new DataInputStream(new java.io.ByteArrayInputStream(table));
                rs.putAll(readRuns(t));
                for (int n = t.readInt(); n > 0; n--) {
                    list.add(t.readUTF());
                }
                for (int n = t.readInt(); n > 0; n--) {
                    js.put(t.readUTF(), t.readUTF());
                }
                for (int n = third ? t.readInt() : 0; n > 0; n--) {
                    long id = t.readLong();
                    List<String> names = new ArrayList<>();
                    for (int k = t.readInt(); k > 0; k--) {
                        names.add(t.readUTF());
                    }
                    ms.put(id, names);
                }
                bytes = in.readAllBytes();
            } catch (IOException | NegativeArraySizeException e) {
                throw new StoreException("cluster snapshot " + index + " is damaged: " + e, e);
            }
        }
        SnapshotFile.Snapshot s = SnapshotFile.decode(Path.of("cluster snapshot " + index), bytes);
        if (!current) {
            // The first format: durable definitions, entries without kind or run.
            s = new SnapshotFile.Snapshot(s.idCeiling(),
                    s.exchanges().stream().map(e -> exchangeEntry(true, "", 0, e)).toList(),
                    s.queues().stream().map(ReplicatedDefinitionStore::legacyQueueEntry).toList(),
                    s.bindings(), s.access());
        }
        Changes target;
        List<Object> removed = new ArrayList<>();
        List<Object> added = new ArrayList<>();
        Map<Long, List<String>> membersChanged = new TreeMap<>();
        synchronized (this) {
            TreeMap<String, byte[]> xs = new TreeMap<>();
            s.exchanges().forEach(e -> {
                ExchangeDef d = exchangeOf(e);
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
                    removed.add(exchangeOf(v));
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
                    added.add(exchangeOf(v));
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
            qs.values().stream().map(e -> homedQueue(e).queue()).filter(QueueDef::durable)
                    .forEach(q -> queueIds.add(q.id()));
            runs.clear();
            runs.putAll(rs);
            nodeList.clear();
            nodeList.addAll(list);
            joined.clear();
            joined.putAll(js);
            ms.keySet().retainAll(queueIds);
            ms.forEach((id, names) -> {
                if (!names.equals(queueMembers.get(id))) {
                    membersChanged.put(id, names);
                }
            });
            queueMembers.clear();
            queueMembers.putAll(ms);
            bindings.clear();
            bindings.addAll(bs);
            access.clear();
            access.putAll(as);
            appliedIndex = index;
            target = follower;
        }
        if (target != null) {
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
        // after the queues: a queue whose members changed is there to be told
        tellMembers(membersChanged);
    }

    /** A queue entry of the model. */
    static byte[] queueEntry(String home, byte kind, long run, byte[] queue) {
        return write(out -> {
            out.writeUTF(home);
            out.writeByte(kind);
            out.writeLong(run);
            out.write(queue);
        });
    }

    /** The entry of a durable queue in the first format: home (UTF), then DefinitionEncoding bytes. */
    static byte[] legacyQueueEntry(byte[] homed) {
        return read(homed, QUEUE_ENTRY, in -> queueEntry(in.readUTF(), DURABLE, 0, in.readAllBytes()));
    }

    private static final String QUEUE_ENTRY = "a queue definition in the cluster's definitions";

    static HomedQueue homedQueue(byte[] b) {
        return read(b, QUEUE_ENTRY, in -> {
            String home = in.readUTF();
            byte kind = in.readByte();
            long run = in.readLong();
            QueueDef q = DefinitionEncoding.queue(in.readAllBytes());
            return new HomedQueue(new QueueDef(q.vhost(), q.name(), q.id(), q.autoDelete(), q.arguments(),
                    kind == DURABLE, kind == EXCLUSIVE), home, run);
        });
    }

    /** An exchange entry of the model. */
    static byte[] exchangeEntry(boolean durable, String origin, long run, byte[] exchange) {
        return write(out -> {
            out.writeBoolean(durable);
            out.writeUTF(origin);
            out.writeLong(run);
            out.write(exchange);
        });
    }

    static ExchangeEntry exchangeEntry(byte[] b) {
        return read(b, "an exchange definition in the cluster's definitions", in -> {
            boolean durable = in.readBoolean();
            String origin = in.readUTF();
            long run = in.readLong();
            ExchangeDef x = DefinitionEncoding.exchange(in.readAllBytes());
            return new ExchangeEntry(new ExchangeDef(x.vhost(), x.name(), x.type(), x.autoDelete(), x.internal(),
                    x.arguments(), durable), origin, run);
        });
    }

    static ExchangeDef exchangeOf(byte[] entry) {
        return exchangeEntry(entry).def();
    }

    private interface Writer {
        void write(DataOutputStream out) throws IOException;
    }

    private interface Reader<T> {
        T read(DataInputStream in) throws IOException;
    }

    /** Reads {@code b}; a StoreException saying that {@code what} is damaged when it cannot. */
    private static <T> T read(byte[] b, String what, Reader<T> r) {
        try {
            return r.read(new DataInputStream(new java.io.ByteArrayInputStream(b)));
        } catch (IOException e) {
            throw new StoreException(what + " is damaged: " + e, e);
        }
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
