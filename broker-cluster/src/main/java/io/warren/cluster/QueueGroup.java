package io.warren.cluster;

import org.apache.ratis.client.RaftClient;
import org.apache.ratis.proto.RaftProtos.LogEntryProto;
import org.apache.ratis.protocol.ClientId;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftClientRequest;
import org.apache.ratis.protocol.RaftGroup;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftGroupMemberId;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.statemachine.TransactionContext;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;
import org.apache.ratis.thirdparty.com.google.protobuf.UnsafeByteOperations;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.AbstractMap;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * This node's member of one quorum queue group: a Raft group of its own (like a RabbitMQ quorum
 * queue), hosted by the node's {@link RaftNode} beside the metadata group, whose replicated state
 * is an ordered map {@code long key -> byte[] value}. Nothing here knows about queues: the broker
 * chooses what keys and values mean (a message id and its bytes, say).
 *
 * <p><b>Writes.</b> {@link #put} and {@link #remove} append a record to the group's log from any
 * member (its client forwards to the leader; a member that leads hands its entries to its own
 * server directly, see {@link #submitHere}). The future completes with the record's log index
 * once a majority has it <em>and</em> this member applied it; it fails with a
 * {@link java.util.concurrent.TimeoutException} after {@link RaftSettings#submitTimeout} (found by
 * a sweep every tenth of it, at most a second: see {@link #scheduleSweep}), and the
 * outcome is then unknown (the record may still commit). Records from one member commit in call
 * order. Neither method blocks: at most {@value #MAX_IN_FLIGHT} log entries of a member are in
 * flight (under Ratis' client window of 100, past which Ratis would block the caller), each carrying
 * the records that waited together (see {@link #drain}); the rest wait in an unbounded queue in call
 * order, and one whose future timed out before it was sent is dropped.
 * The futures complete on other threads: the apply thread (usually), a Ratis client thread (a
 * failure, or a record already applied when its reply came), or the node's sender thread (a
 * timeout); chain work with the async variants or hand it to an event loop.
 *
 * <p><b>State.</b> Entries in log order: a put of a new key appends it, a put of an existing key
 * replaces its value in place, a remove drops the keys. {@link #entries()} copies them under the
 * state's lock. Values are shared, not copied: neither the caller nor a listener may change them.
 *
 * <p><b>Memory.</b> The values of all groups on a node share one budget in memory
 * ({@link #residentBudget}, 64 MiB); a value applied past it (and at least {@value #SPILL_MIN}
 * bytes long) goes to the group's spill file ({@link SpillFile}) instead, so a backlog's head stays
 * in memory and its tail on disk, as a classic queue pages out its tail. {@link #get} and the
 * entries of {@link #entries()} read such a value back from disk when asked (not on an event
 * loop; {@link #onDisk} tells). The file needs no sync and no recovery: at every start the group
 * is rebuilt from its snapshot and log, and its spill file made anew.
 *
 * <p><b>Listener threads.</b> {@link Listener#applied}, {@link Listener#restored} and
 * {@link Listener#leaderReady} are called on the group's apply thread (Ratis' state-machine
 * updater of this division); {@link Listener#leaderLost} on the Ratis thread that saw the
 * leadership go (a vote or append handler, the leader's own thread) or on the thread that stops
 * the node or leaves the group; the first call after {@link #listen} on the caller's thread. All
 * calls are made under the state's lock, so they never overlap each other or an {@link #entries()}
 * copy, and they must return quickly (hand work to an event loop).
 *
 * <p><b>Snapshots.</b> Every {@link RaftSettings#snapshotEvery} entries the map is written to a
 * snapshot ({@link SnapshotFile}) and the log before it purged; a map of {@link #snapshotFloor}
 * bytes or more waits until the records logged since its last snapshot are as large as it
 * ({@link #snapshotDue}). A member that fell behind the
 * purged log installs the leader's snapshot: its map is replaced and the listener hears
 * {@link Listener#restored} (no {@code applied} calls for the difference): read {@link #entries()}
 * again there.
 *
 * <p><b>Name.</b> The group id is a name-based UUID of the broker's name for the group; the name is
 * also written to {@code warren-queue-group.name} in the group's storage dir, so a group recovered
 * at start is known by name again.
 */
public final class QueueGroup {
    private static final Logger log = LoggerFactory.getLogger(QueueGroup.class);

    /**
     * Log entries of one member in flight at once. Few, so that the records that arrive while
     * they are out wait and go together as one entry (group commit): each entry costs the leader
     * and every follower a round of thread hand-offs, an RPC, an append and its share of an
     * fsync, whatever its size. bench/quorum.sh 60 on 2 cores (2026-12-02, through the leader /
     * publish-only through a follower, msg/s at CPU-s per million): 64 in flight 6,918 at 220 /
     * 3,174 at 529; 8: 6,434 at 241; 4: 9,260 at 164 / 4,725 at 352; 2: 8,881 at 173 and 10,224
     * at 146 / 5,671 at 285; 1: 8,139 at 186 / 5,530 at 292. (Ratis' client would block its
     * caller past 100.)
     */
    static final int MAX_IN_FLIGHT = 2;
    /** Records it takes to send an entry while another is in flight; see {@link #sendable}. */
    static final int PIPELINE_MIN_RECORDS = 64;
    /**
     * A busy group's entries leave at least this long after one another (unless a full batch
     * waits), so that the records of those milliseconds go together: on a 2-core machine an
     * entry's cost is mostly thread hand-offs (about 27 context switches a message across the
     * three nodes when each message was an entry of its own, measured at 1,000 msg/s), whatever
     * its size, and the cluster spent all the CPU it had on entries of a few records.
     * Measured on 2 cores (2026-12-03; bench/quorum.sh's PerfTest flags, 25 s runs, seconds 8 to
     * 22, confirmed msg/s at the three nodes' CPU-s per million, two runs each; the spacing held
     * every entry then): none, through the leader 13,773 at 104 and 11,849 at 120, through a
     * follower 8,667 at 180 and 9,908 at 152; 5 ms: 18,104 at 75 and 17,627 at 76 / 12,026 at
     * 125 and 11,464 at 132; 10 ms: 15,905 at 82 and 16,063 at 82 / 12,457 at 119 and 6,179 at 243.
     */
    static volatile long spacingNanos = TimeUnit.MILLISECONDS.toNanos(5); // tests set it
    /**
     * The spacing holds records back only after an entry of at least this many records: a group
     * that is not busy (a publisher that waits for each confirm, a trickle of acks) sends each
     * record as it comes, as before, and pays no wait.
     */
    static final int SPACED_AFTER_RECORDS = 16;
    /**
     * A busy group's entries that carry removes only (acks) leave at least this long after the
     * entry before: nobody waits for a remove's commit (a consumer's ack has no answer), and when
     * a relayed consumer's acks reached a leader in a stream of their own (its follower's node put
     * the publishes in entries of its own) they went as fast as the entries in flight let them,
     * most of the log's entries. Records count by what they carry here: a remove by its keys
     * ({@link #weight}), so that a remove of 80 acks counts as busy.
     */
    static volatile long removeSpacingNanos = TimeUnit.MILLISECONDS.toNanos(20); // tests set it
    /** Keys (or records) waiting past which an entry leaves whatever the spacing: see {@link #weight}. */
    static final int MAX_BATCH_WEIGHT = 4096;
    static final String NAME_FILE = "warren-queue-group.name";
    private static final byte PUT = 1;
    private static final byte REMOVE = 2;
    private static final byte BATCH = 3;
    /**
     * A part of a value too large for one log entry: {@code nonce} (int64, one large put's own),
     * key (int64), the whole value's length (int32), this part's offset in it (int32), then the
     * part's bytes. See {@link #putInParts}.
     */
    private static final byte PART = 4;
    private static final int PART_HEADER = 1 + 8 + 8 + 4 + 4;
    /**
     * A large value's parts go to the log one after another; one whose first part is this many
     * log entries behind the entry applied is given up (its put fails: see {@link #putInParts}),
     * so that parts a failed put left behind are not kept for ever.
     */
    static final int MAX_PART_SPAN = 1000;
    /** At most this many records go in one log entry. */
    static final int MAX_BATCH_RECORDS = 512;
    /** A batch stops taking records once it holds this many bytes (one record may be larger). */
    static final int MAX_BATCH_BYTES = 1 << 20;
    /**
     * The most record bytes one entry carries ({@link RaftSettings#MAX_RECORD_BYTES}: with the
     * batch's framing and Ratis' own, every entry stays within 1 MiB; see there why). A put of a
     * larger value goes in parts ({@link #putInParts}); a record larger than this is refused at
     * once; one that would take a batch past it waits for the next entry, so the records beside
     * it are not refused with it.
     */
    static final int MAX_RECORD_BYTES = RaftSettings.MAX_RECORD_BYTES;
    /** The most keys one remove record carries (a longer remove is split): it fits in an entry. */
    static final int MAX_REMOVE_KEYS = (MAX_RECORD_BYTES - 5) / 8;
    /** The most value bytes one {@link #PART} record carries. */
    static final int MAX_PART_BYTES = MAX_RECORD_BYTES - PART_HEADER;

    /** What the broker hears of the group on this member; see the class comment for the threads. */
    public interface Listener {
        /**
         * One key changed by the record at {@code index}, in log order: {@code value} is the new
         * value of a put, or null when a remove dropped the key (a remove of absent keys calls
         * nothing). {@code local}: this member's own {@link QueueGroup} object sent the record
         * (not another member, nor this node before a restart).
         */
        void applied(long index, long key, byte[] value, boolean local);

        /** A snapshot from the leader replaced the whole state, as of {@code index}: read {@link #entries()} again. */
        void restored(long index);

        /**
         * This member leads the group and has applied everything committed before its term:
         * {@link #entries()} is the whole committed state.
         */
        void leaderReady();

        /**
         * This member is not the leader (any more): after {@link #leaderReady}, or as the first call
         * after {@link #listen} when it does not lead. {@code newLeaderId} is the member now
         * leading, or null when not known yet.
         */
        void leaderLost(String newLeaderId);
    }

    /**
     * Bytes of values all queue groups of this JVM hold in memory ({@link #store}); past
     * {@link #residentBudget}, new values go to their group's spill file instead. One node's
     * groups share one budget, so a node with many quorum queues holds no more than one with few.
     */
    private static final java.util.concurrent.atomic.AtomicLong RESIDENT = new java.util.concurrent.atomic.AtomicLong();
    /**
     * The memory budget of a node's queue-group values: 64 MiB, the bound a classic queue's ready
     * messages have in memory before it pages out. Tests lower it.
     */
    static volatile long residentBudget = 64L << 20;
    /** Values shorter than this stay in memory whatever the budget (a delivery count is 4 bytes). */
    static final int SPILL_MIN = 64;
    /**
     * A state this large or larger (values and about 48 bytes a key) is snapshotted only once the
     * records logged since its last snapshot are as large as it ({@link #snapshotDue}); a smaller one
     * at every {@link RaftSettings#snapshotEvery} entries. Tests lower it.
     */
    static volatile long snapshotFloor = 4L << 20;
    /**
     * Bytes logged since the last snapshot past which (and past the state's size) the group asks
     * Ratis for a snapshot itself, without waiting for {@link RaftSettings#snapshotEvery} entries:
     * 10,000 entries of large messages would be gigabytes of log. Tests lower it.
     */
    static volatile long logBytesMax = 64L << 20;

    /** A value on disk: {@code length} bytes at {@code offset} of {@code file}. */
    private record Spilled(SpillFile file, long offset, int length) {}

    /** A record to send; {@code deadline} is the {@link System#nanoTime} past which its future fails. */
    private record Pending(byte[] record, CompletableFuture<Long> result, long deadline) {}

    private final RaftNode node;
    private final RaftGroupId groupId;
    private volatile String name;
    private final ClientId clientId = ClientId.randomId();
    private final ByteString clientIdBytes = clientId.toByteString();
    /** What the group's Ratis state machine builds: this object's state (see {@link #reopenMachine}). */
    private final ReplicatedState replicated;
    /** The Ratis state machine: replaced when this member reopens after a failure ({@link #reopenMachine}). */
    private volatile Machine machine;

    /** Guards entries, listener and leading. */
    private final Object lock = new Object();
    /** Each key's value: a byte[] in memory, or {@link Spilled}. */
    private final LinkedHashMap<Long, Object> entries = new LinkedHashMap<>();
    /** Bytes of this group's values in memory (its share of {@link #RESIDENT}). Guarded by lock. */
    private long resident;
    /** The group's dir, where its spill files go; null until Ratis initializes the group here. */
    private Path spillDir;
    /** Where new values go past the budget; null until initialized. Guarded by lock. */
    private SpillFile spill;
    /** Every spill file some value may be in (the current one; an older one while compaction failed). */
    private final List<SpillFile> spillFiles = new ArrayList<>();
    private int spillGeneration;
    private long lastSpillWarning;
    /** Bytes of records applied since the last snapshot was taken or restored. Guarded by lock. */
    private long loggedSinceSnapshot;
    /** Whether a snapshot asked of Ratis ({@link #logBytesMax}) is on its way. Guarded by lock. */
    private boolean snapshotAsked;
    /**
     * About the sizes of the two snapshots Ratis keeps ({@code setRetentionFileNum}), the newest
     * and the one before; once the state is far smaller than the larger, smaller snapshots replace
     * them. Guarded by lock.
     */
    private long snapshotBytes;
    private long olderSnapshotBytes;
    /** How often this member asked Ratis for a snapshot (tests). Guarded by lock. */
    private long snapshotsAsked;
    private Listener listener;
    /** Between notifyLeaderReady and the leadership's loss. */
    private boolean leading;
    /**
     * The large values being put part by part, by nonce, as the log has them so far (the same on
     * every member at each index; in the snapshot with {@link #appliedTerm}). Guarded by lock.
     */
    private final Map<Long, Partial> partials = new java.util.HashMap<>();
    /** The term of the last entry applied. Guarded by lock. */
    private long appliedTerm;
    /** Nonces of this member's own large puts whose last part completed the value at apply. */
    private final java.util.Set<Long> assembled = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /** A large value's parts so far: {@code filled} bytes of {@code value}, from the entry at {@code since}. */
    private static final class Partial {
        final long key;
        final byte[] value;
        final long since;
        int filled;

        Partial(long key, byte[] value, long since) {
            this.key = key;
            this.value = value;
            this.since = since;
        }
    }

    /** Guards the fields below it. */
    private final Object sendLock = new Object();
    private final ArrayDeque<Pending> waiting = new ArrayDeque<>();
    private int inFlight;
    /** The batches sent whose futures are not all complete yet (sent, committed, applied), for the timeout sweep. */
    private final List<List<Pending>> outstanding = new ArrayList<>(MAX_IN_FLIGHT);
    /** Whether a timeout sweep is scheduled: while anything waits or is in flight. */
    private boolean sweeping;
    /** When the last entry was sent (System.nanoTime) and the {@link #weight} of its records: see {@link #spacingNanos}. */
    private long lastSentNanos;
    private int lastSentWeight;
    /** The {@link #weight} of the waiting records, and how many of them are not removes. */
    private int waitingWeight;
    private int waitingPuts;
    /** Whether a timer will send the records that wait out the spacing. */
    private boolean spacingTimer;
    /** When that timer fires (System.nanoTime). */
    private long spacingDue;
    /** How long the last entry this member sent took from its send to its commit (the reply). */
    private volatile long commitLatencyNanos;
    /** Whether the entries in flight went straight to this member's own server (it leads), not through the client. */
    private boolean direct;
    private RaftClient client;
    private boolean stopped;

    QueueGroup(RaftNode node, RaftGroupId groupId, String name) {
        this.node = node;
        this.groupId = groupId;
        this.name = name;
        this.replicated = new ReplicatedState() {
            @Override public void apply(long index, byte[] record) {
                throw new AssertionError("Machine.apply(entry, record) handles every record");
            }

            @Override public byte[] snapshot() {
                java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
                try {
                    snapshot(out);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
                return out.toByteArray();
            }

            @Override public void snapshot(java.io.OutputStream out) throws IOException {
                writeSnapshot(out);
            }

            @Override public boolean snapshotDue() {
                return QueueGroup.this.snapshotDue();
            }

            @Override public void restore(long index, byte[] snapshot) {
                try {
                    readSnapshot(new java.io.ByteArrayInputStream(snapshot));
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }

            @Override public void restore(long index, java.io.InputStream in, long length) throws IOException {
                readSnapshot(in);
            }
        };
        this.machine = new Machine(replicated);
    }

    Machine machine() {
        return machine;
    }

    /**
     * A state machine for this member's division opened again, after Ratis closed the one before
     * (see {@link RaftNode#reopen}): the state starts empty and is rebuilt, as at a start, from
     * the member's snapshot and log, and what this member hears goes on to the same listener.
     * The closed machine's waiters have failed (their puts' futures with them).
     */
    Machine reopenMachine() {
        synchronized (lock) {
            releaseAll();
            partials.clear();
            appliedTerm = 0;
            loggedSinceSnapshot = 0;
            snapshotAsked = false;
            snapshotBytes = 0;
            olderSnapshotBytes = 0;
            leading = false;
        }
        machine = new Machine(replicated);
        return machine;
    }

    /** Whether this member's division has stopped (Ratis closed it after a failure, or it is leaving). */
    boolean divisionDown() {
        try {
            return AppendChainGuard.down(node.server().getDivision(groupId));
        } catch (IOException e) {
            return false; // not hosted (any more)
        }
    }

    /** Whether {@link #closeClient} ran: the group is being left, or the node stops. */
    boolean stopped() {
        synchronized (sendLock) {
            return stopped;
        }
    }

    /** The broker's name for the group, or null for a group recovered without one (see {@link RaftNode#queueGroups()}). */
    public String name() {
        return name;
    }

    RaftGroupId groupId() {
        return groupId;
    }

    // ---- writes

    /** Appends "key := value" to the log; see the class comment. Never blocks. */
    public CompletableFuture<Long> put(long key, byte[] value) {
        CompletableFuture<Long> f = putLater(key, value);
        flush();
        return f;
    }

    /** Appends "remove these keys" to the log; see the class comment. Never blocks. */
    public CompletableFuture<Long> remove(long[] keys) {
        CompletableFuture<Long> f = removeLater(keys);
        flush();
        return f;
    }

    /**
     * {@link #put} without waking the sender: the record waits for the next {@link #flush} (or
     * for a reply of an entry in flight, which sends what waits). A caller that makes many
     * records in a row (an event loop reading a socket full of publishes) flushes once after
     * them, so they leave as one log entry and the sender wakes once, not once per record: see
     * {@link #MAX_IN_FLIGHT}.
     */
    public CompletableFuture<Long> putLater(long key, byte[] value) {
        if (1 + 8 + value.length > MAX_RECORD_BYTES) {
            return putInParts(key, value);
        }
        ByteBuffer b = ByteBuffer.allocate(1 + 8 + value.length);
        b.put(PUT).putLong(key).put(value);
        return submit(b.array());
    }

    /**
     * A value larger than a log entry may be (a message of more than about 960 KiB) goes as
     * {@link #PART} records of up to {@link #MAX_PART_BYTES}, one after another; every member
     * puts the value when the part that completes it is applied, all of its parts in order, in one
     * term and within {@link #MAX_PART_SPAN} entries of the first. Otherwise (a leader change in
     * the middle, a part lost or repeated) the parts are dropped on every member alike, and this
     * put fails: its future succeeds only once this member applied the value whole, so a failure
     * is never taken for a put (the publisher gets a nack, never a confirm for a message that is
     * not there). The future completes with the index of the last part.
     */
    private CompletableFuture<Long> putInParts(long key, byte[] value) {
        long nonce;
        do {
            nonce = java.util.concurrent.ThreadLocalRandom.current().nextLong();
        } while (nonce == 0);
        List<CompletableFuture<Long>> parts = new ArrayList<>();
        for (int offset = 0; offset < value.length; offset += MAX_PART_BYTES) {
            int length = Math.min(MAX_PART_BYTES, value.length - offset);
            ByteBuffer b = ByteBuffer.allocate(PART_HEADER + length);
            b.put(PART).putLong(nonce).putLong(key).putInt(value.length).putInt(offset).put(value, offset, length);
            parts.add(submit(b.array()));
        }
        CompletableFuture<Long> last = parts.get(parts.size() - 1);
        long id = nonce;
        return CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new)).handle((v, e) -> {
            boolean whole = assembled.remove(id);
            if (e != null) {
                throw e instanceof java.util.concurrent.CompletionException c ? c
                        : new java.util.concurrent.CompletionException(e);
            }
            if (!whole) {
                throw new java.util.concurrent.CompletionException(new IOException("queue group " + name
                        + ": a value of " + value.length + " bytes was not put whole (its parts were interrupted, a "
                        + "leader change in the middle)"));
            }
            return last.join();
        });
    }

    /** {@link #remove} without waking the sender; see {@link #putLater}. */
    public CompletableFuture<Long> removeLater(long[] keys) {
        if (keys.length > MAX_REMOVE_KEYS) {
            // a purge of a long queue: records a log entry can hold, one after another
            CompletableFuture<Long> last = null;
            List<CompletableFuture<Long>> all = new ArrayList<>();
            for (int from = 0; from < keys.length; from += MAX_REMOVE_KEYS) {
                last = removeLater(java.util.Arrays.copyOfRange(keys, from, Math.min(keys.length, from + MAX_REMOVE_KEYS)));
                all.add(last);
            }
            CompletableFuture<Long> end = last;
            return CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).thenCompose(v -> end);
        }
        ByteBuffer b = ByteBuffer.allocate(1 + 4 + 8 * keys.length);
        b.put(REMOVE).putInt(keys.length);
        for (long k : keys) {
            b.putLong(k);
        }
        return submit(b.array());
    }

    /** Sends the records that wait (on the node's sender thread), unless the entries in flight are at the limit. */
    public void flush() {
        synchronized (sendLock) {
            // With MAX_IN_FLIGHT entries out, a drain could send nothing: the reply that brings
            // inFlight down schedules one (after its decrement, under this lock), so no record is
            // left behind.
            if (!sendable()) {
                return;
            }
        }
        scheduleDrain();
    }

    /**
     * Whether a drain would send an entry now (under sendLock): records wait, fewer than
     * MAX_IN_FLIGHT entries are out, and a second entry goes out beside one in flight only with
     * at least {@value #PIPELINE_MIN_RECORDS} puts (removes never make one). A few records wait
     * for the entry in flight instead and leave with everything that came meanwhile: each entry
     * costs every member dozens of thread hand-offs, and when entries of a record or two went out
     * two at a time a leader spent its CPU on them and fell to a few thousand messages a second.
     * After an entry of {@value #SPACED_AFTER_RECORDS} records or more, a remove counting by its
     * keys (a busy group), the next leaves {@link #spacingNanos} after it at the earliest, or
     * {@link #removeSpacingNanos} when only removes wait, unless a full batch waits; a timer
     * sends what waits then.
     */
    private boolean sendable() {
        if (waiting.isEmpty() || inFlight >= MAX_IN_FLIGHT
                || (inFlight > 0 && waitingPuts < PIPELINE_MIN_RECORDS)) {
            return false;
        }
        if (lastSentWeight < SPACED_AFTER_RECORDS || waiting.size() >= MAX_BATCH_RECORDS
                || waitingWeight >= MAX_BATCH_WEIGHT) {
            return true;
        }
        long wait = lastSentNanos + (waitingPuts > 0 ? spacingNanos : removeSpacingNanos) - System.nanoTime();
        if (wait <= 0) {
            return true;
        }
        // Busy: the records wait out the spacing; one timer per gap sends them then (another, earlier
        // one when a put comes while removes wait out their longer spacing).
        long due = System.nanoTime() + wait;
        if (!spacingTimer || due - spacingDue < 0) {
            spacingTimer = true;
            spacingDue = due;
            CompletableFuture.delayedExecutor(wait, TimeUnit.NANOSECONDS, node.sender()).execute(this::spacingOver);
        }
        return false;
    }

    /** What a record counts for in {@link #sendable}: a remove its keys, any other record 1. */
    private static int weight(byte[] record) {
        return record[0] == REMOVE ? Math.max(1, ByteBuffer.wrap(record, 1, 4).getInt()) : 1;
    }

    /** The first waiting record, off the counts. Holds sendLock. */
    private Pending pollWaiting() {
        Pending p = waiting.poll();
        waitingWeight -= weight(p.record());
        if (p.record()[0] != REMOVE) {
            waitingPuts--;
        }
        return p;
    }

    /** On the sender thread, once the spacing is over. */
    private void spacingOver() {
        synchronized (sendLock) {
            spacingTimer = false;
        }
        drain();
    }

    private CompletableFuture<Long> submit(byte[] record) {
        CompletableFuture<Long> result = new CompletableFuture<>();
        if (record.length > MAX_RECORD_BYTES) {
            result.completeExceptionally(new IllegalArgumentException("queue group " + name + ": a record of "
                    + record.length + " bytes is larger than a log entry may be (" + MAX_RECORD_BYTES + " bytes)"));
            return result;
        }
        long deadline = System.nanoTime() + node.settings().submitTimeout().toNanos();
        synchronized (sendLock) {
            if (stopped) {
                result.completeExceptionally(new IllegalStateException("queue group " + name + " is stopped on this member"));
                return result;
            }
            waiting.add(new Pending(record, result, deadline));
            waitingWeight += weight(record);
            if (record[0] != REMOVE) {
                waitingPuts++;
            }
            if (!sweeping) {
                sweeping = true;
                scheduleSweep();
            }
        }
        return result;
    }

    /**
     * Records time out through one sweep per group every {@link #sweepMillis} while any record waits
     * or is in flight, not a timer each: a timer per record (CompletableFuture.orTimeout) cost the
     * JDK's delay queue an insert and a removal per publish, 1-2% of a leader's CPU under
     * bench/quorum.sh. A record's future so fails between its deadline and one sweep later.
     */
    private void scheduleSweep() {
        CompletableFuture.delayedExecutor(sweepMillis(), TimeUnit.MILLISECONDS, node.sender()).execute(this::sweep);
    }

    /** A tenth of the submit timeout, between 10 ms and a second. */
    private long sweepMillis() {
        return Math.max(10, Math.min(1000, node.settings().submitTimeout().toMillis() / 10));
    }

    private void sweep() {
        List<Pending> expired = new ArrayList<>();
        synchronized (sendLock) {
            long now = System.nanoTime();
            // waiting is in call order, so in deadline order
            while (!waiting.isEmpty() && now - waiting.peek().deadline() >= 0) {
                expired.add(pollWaiting());
            }
            for (List<Pending> batch : outstanding) {
                for (Pending p : batch) {
                    if (now - p.deadline() >= 0 && !p.result().isDone()) {
                        expired.add(p);
                    }
                }
            }
            sweeping = !waiting.isEmpty() || !outstanding.isEmpty();
            if (sweeping) {
                try {
                    scheduleSweep();
                } catch (java.util.concurrent.RejectedExecutionException e) {
                    sweeping = false; // the node stops
                }
            }
        }
        for (Pending p : expired) {
            p.result().completeExceptionally(new java.util.concurrent.TimeoutException(
                    "queue group " + name + ": not committed within " + node.settings().submitTimeout().toMillis() + " ms"));
        }
    }

    /** The batch's futures are complete: the sweep no longer looks at it. */
    private void settled(List<Pending> batch) {
        synchronized (sendLock) {
            for (int i = 0; i < outstanding.size(); i++) {
                if (outstanding.get(i) == batch) {
                    outstanding.remove(i);
                    return;
                }
            }
        }
    }

    private final java.util.concurrent.atomic.AtomicBoolean drainScheduled =
            new java.util.concurrent.atomic.AtomicBoolean();

    private void scheduleDrain() {
        if (drainScheduled.compareAndSet(false, true)) {
            node.sender().execute(this::drain);
        }
    }

    /**
     * Sends waiting records while fewer than MAX_IN_FLIGHT entries are in flight, in call order, on
     * the node's sender thread. Records that waited together go as one log entry (a batch of at most
     * {@value #MAX_BATCH_RECORDS} records and about {@value #MAX_BATCH_BYTES} bytes): a Raft entry
     * costs a round trip to the leader, an append on every member and its share of an fsync, whatever
     * its size, so under load one entry carries many puts. Ratis' client is never called under
     * sendLock: its replies complete under its own window lock, and a reply's callback takes
     * sendLock, so calling it under sendLock deadlocked (and blocked the event loop that called put).
     */
    private void drain() {
        drainScheduled.set(false);
        while (true) {
            List<Pending> batch = new ArrayList<>();
            RaftClient c;
            synchronized (sendLock) {
                if (stopped || !sendable()) {
                    return;
                }
                int bytes = 0;
                while (!waiting.isEmpty() && batch.size() < MAX_BATCH_RECORDS && bytes < MAX_BATCH_BYTES) {
                    if (!batch.isEmpty() && bytes + waiting.peek().record().length > MAX_RECORD_BYTES) {
                        break; // a large record goes in the next entry, not over Ratis' limit with this one's
                    }
                    Pending p = pollWaiting();
                    if (!p.result().isDone()) { // one that timed out before it was sent is never sent
                        batch.add(p);
                        bytes += p.record().length;
                    }
                }
                if (batch.isEmpty()) {
                    return;
                }
                // The path changes only when nothing is in flight, so that records keep their call order.
                if (inFlight == 0) {
                    direct = leadsReady() != null;
                }
                c = null;
                if (!direct) {
                    try {
                        c = client();
                    } catch (IOException | RuntimeException e) {
                        node.sender().execute(() -> batch.forEach(p -> p.result().completeExceptionally(e)));
                        continue;
                    }
                }
                inFlight++;
                lastSentNanos = System.nanoTime();
                int w = 0;
                for (Pending p : batch) {
                    w += weight(p.record());
                }
                lastSentWeight = w;
                outstanding.add(batch);
            }
            CompletableFuture<RaftClientReply> sent;
            long sentAt = System.nanoTime();
            try {
                // The records are never changed once made: wrapped, not copied again.
                Message m = Message.valueOf(UnsafeByteOperations.unsafeWrap(batch.size() == 1
                        ? batch.get(0).record() : batchRecord(batch)));
                sent = c != null ? c.async().send(m) : submitHere(m);
            } catch (RuntimeException | IOException e) {
                synchronized (sendLock) {
                    inFlight--;
                }
                settle(batch, e);
                continue;
            }
            sent.whenComplete((reply, error) -> {
                synchronized (sendLock) {
                    inFlight--;
                }
                scheduleDrain();
                if (error != null) {
                    settle(batch, error);
                } else if (!reply.isSuccess()) {
                    settle(batch, reply.getException());
                } else {
                    commitLatencyNanos = System.nanoTime() - sentAt;
                    long index = reply.getLogIndex();
                    machine.whenApplied(index).whenComplete((v, e) -> {
                        if (e != null) {
                            settle(batch, e);
                        } else {
                            for (Pending p : batch) {
                                p.result().complete(index);
                            }
                            settled(batch);
                        }
                    });
                }
            });
        }
    }

    private void settle(List<Pending> batch, Throwable e) {
        for (Pending p : batch) {
            p.result().completeExceptionally(e);
        }
        settled(batch);
    }

    /** This member's division when it leads the group and is ready (its term's first entry applied), else null. */
    private RaftServer.Division leadsReady() {
        try {
            RaftServer.Division d = node.server().getDivision(groupId);
            return d.getInfo().isLeader() && d.getInfo().isLeaderReady() ? d : null;
        } catch (IOException e) {
            return null;
        }
    }

    /**
     * Hands an entry to this member's own server, which leads: Ratis' client would send it to the
     * same process over gRPC and TLS, a serialisation, an encryption and several thread hand-offs
     * per entry for nothing. It is appended in call order on this (the sender) thread. Should the
     * member have stopped leading meanwhile, the reply is a failure (NotLeaderException) and the
     * records' futures fail: unlike the client, nothing here retries (the record may still be
     * committed by the next leader, so the outcome is unknown, as for a timeout).
     */
    private CompletableFuture<RaftClientReply> submitHere(Message m) throws IOException {
        RaftServer.Division d = node.server().getDivision(groupId);
        RaftClientRequest request = RaftClientRequest.newBuilder()
                .setClientId(clientId)
                .setServerId(d.getId())
                .setGroupId(groupId)
                .setCallId(org.apache.ratis.rpc.CallId.getAndIncrement()) // unique beside the client's own calls
                .setMessage(m)
                .setType(RaftClientRequest.writeRequestType())
                .build();
        return ((org.apache.ratis.protocol.RaftClientAsynchronousProtocol) d).submitClientRequestAsync(request);
    }

    /** {@code BATCH | int32 n}, then n times {@code int32 length | record}. */
    private static byte[] batchRecord(List<Pending> batch) {
        int size = 1 + 4;
        for (Pending p : batch) {
            size += 4 + p.record().length;
        }
        ByteBuffer b = ByteBuffer.allocate(size);
        b.put(BATCH).putInt(batch.size());
        for (Pending p : batch) {
            b.putInt(p.record().length).put(p.record());
        }
        return b.array();
    }

    /** This member's client, made on first use from the group's members as this division knows them. Holds sendLock. */
    private RaftClient client() throws IOException {
        if (client == null) {
            RaftGroup group = node.server().getDivision(groupId).getGroup();
            if (group.getPeers().isEmpty()) {
                throw new IOException("queue group " + name + ": no members known on this node");
            }
            client = node.newClient(group, clientId);
        }
        return client;
    }

    /** Stops sending: waiting records fail; the client closes (its records in flight fail). */
    void closeClient() {
        RaftClient c;
        List<Pending> left;
        synchronized (sendLock) {
            stopped = true;
            left = new ArrayList<>(waiting);
            waiting.clear();
            waitingWeight = 0;
            waitingPuts = 0;
            c = client;
            client = null;
        }
        IllegalStateException e = new IllegalStateException("queue group " + name + " stopped on this member");
        left.forEach(p -> p.result().completeExceptionally(e));
        if (c != null) {
            try {
                c.close();
            } catch (IOException | RuntimeException ex) {
                log.warn("closing the client of queue group {} failed", name, ex);
            }
        }
    }

    // ---- state

    /**
     * The entries in log order, copied under the state's lock on the caller's thread. A value
     * that went to disk is read when its entry's {@code getValue} is called (from disk: not on an
     * event loop), as {@link #get} reads it then: null if the key was removed meanwhile.
     */
    public List<Map.Entry<Long, byte[]>> entries() {
        synchronized (lock) {
            List<Map.Entry<Long, byte[]>> copy = new ArrayList<>(entries.size());
            entries.forEach((k, v) -> copy.add(v instanceof byte[] b ? new AbstractMap.SimpleImmutableEntry<>(k, b)
                    : new OnDisk(k)));
            return copy;
        }
    }

    /** An entry of {@link #entries()} whose value is on disk. */
    private final class OnDisk implements Map.Entry<Long, byte[]> {
        private final long key;

        OnDisk(long key) {
            this.key = key;
        }

        @Override public Long getKey() {
            return key;
        }

        @Override public byte[] getValue() {
            return get(key);
        }

        @Override public byte[] setValue(byte[] value) {
            throw new UnsupportedOperationException();
        }
    }

    /**
     * The value of {@code key}, or null when the map has none (shared: do not change it). A value
     * on disk is read from there: not for an event loop. Throws UncheckedIOException when it
     * cannot be read.
     */
    public byte[] get(long key) {
        synchronized (lock) {
            return load(entries.get(key));
        }
    }

    /** Whether {@code key}'s value is on disk (a {@link #get} of it reads the disk). */
    public boolean onDisk(long key) {
        synchronized (lock) {
            return entries.get(key) instanceof Spilled;
        }
    }

    /** Bytes of this group's values on disk now. */
    public long bytesOnDisk() {
        synchronized (lock) {
            long n = 0;
            for (SpillFile f : spillFiles) {
                n += f.live();
            }
            return n;
        }
    }

    // ---- values in memory or on disk (all under lock)

    /** What the map keeps for {@code value}: itself, or past the node's budget its place in the spill file. */
    private Object store(byte[] value, SpillFile into) {
        if (value.length >= SPILL_MIN && into != null && RESIDENT.get() + value.length > residentBudget) {
            try {
                return new Spilled(into, into.append(value), value.length);
            } catch (IOException e) {
                long now = System.nanoTime();
                if (now - lastSpillWarning > TimeUnit.MINUTES.toNanos(1) || lastSpillWarning == 0) {
                    lastSpillWarning = now;
                    log.warn("queue group {}: cannot write a value to its spill file, kept in memory: {}", name,
                            e.toString());
                }
            }
        }
        resident += value.length;
        RESIDENT.addAndGet(value.length);
        return value;
    }

    /** A value the map no longer holds. */
    private void release(Object v) {
        if (v instanceof byte[] b) {
            resident -= b.length;
            RESIDENT.addAndGet(-b.length);
        } else if (v instanceof Spilled s) {
            s.file().drop(s.length());
        }
    }

    private static byte[] load(Object v) {
        if (!(v instanceof Spilled s)) {
            return (byte[]) v;
        }
        try {
            return s.file().read(s.offset(), s.length());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private SpillFile newSpill() throws IOException {
        SpillFile f = new SpillFile(spillDir.resolve(SPILL_PREFIX + (++spillGeneration)));
        spillFiles.add(f);
        return f;
    }

    static final String SPILL_PREFIX = "warren-spill-";

    /** After removes: an empty spill file is emptied on disk, a mostly dead one compacted. */
    private void tidySpill() {
        if (spill == null || spillFiles.size() != 1) {
            return;
        }
        try {
            if (spill.live() == 0) {
                if (spill.length() > 0) {
                    spill.reset();
                }
            } else if (spill.wantsCompaction()) {
                compact();
            }
        } catch (IOException e) {
            log.warn("queue group {}: cannot tidy its spill file: {}", name, e.toString());
        }
    }

    /** Copies the values on disk to a new spill file and deletes the old one. */
    private void compact() throws IOException {
        SpillFile old = spill;
        SpillFile next = newSpill();
        spill = next; // new values go there from now on, whatever happens below
        for (Map.Entry<Long, Object> e : entries.entrySet()) {
            if (e.getValue() instanceof Spilled s && s.file() == old) {
                e.setValue(new Spilled(next, next.append(old.read(s.offset(), s.length())), s.length()));
            }
        }
        spillFiles.remove(old);
        old.close();
    }

    /**
     * Whether Ratis should snapshot now (asked once the entries since the last snapshot reached
     * the threshold): a small state yes; a large one once the records logged since its last
     * snapshot are as large as it. A large backlog is then written whole once for every as many
     * bytes logged, and the log on disk stays within about the state's size.
     */
    private boolean snapshotDue() {
        synchronized (lock) {
            long state = stateBytes();
            return state < snapshotFloor || loggedSinceSnapshot >= state
                    || state < Math.max(snapshotBytes, olderSnapshotBytes) / 4;
        }
    }

    /** About what a snapshot of the map takes: its values, and 48 bytes a key. Holds lock. */
    private long stateBytes() {
        long state = resident + entries.size() * 48L;
        for (SpillFile f : spillFiles) {
            state += f.live();
        }
        return state;
    }

    /**
     * Asks Ratis for a snapshot of this member now: the log since the last one is past
     * {@link #logBytesMax} (and the state's size), or a snapshot it keeps is that large and the
     * state a quarter of it or less (a drained backlog: smaller snapshots replace the large ones,
     * the second one freeing the older of the two Ratis keeps).
     * Ratis takes it on the apply thread once the next entry is applied (its updater sleeps until
     * one is committed), asking {@link #snapshotDue} as always. Holds lock; the request goes from
     * another thread.
     */
    private void askSnapshot() {
        snapshotAsked = true;
        snapshotsAsked++;
        CompletableFuture.runAsync(() -> {
            try {
                node.server().snapshotManagementAsync(org.apache.ratis.protocol.SnapshotManagementRequest.newCreate(
                                clientId, RaftPeerId.valueOf(node.self().id()), groupId,
                                org.apache.ratis.rpc.CallId.getAndIncrement(), node.settings().requestTimeout().toMillis(), 1))
                        .whenComplete((reply, e) -> snapshotAnswered(e != null ? e
                                : reply.isSuccess() ? null : reply.getException()));
            } catch (RuntimeException e) {
                snapshotAnswered(e);
            }
        });
    }

    private void snapshotAnswered(Throwable failure) {
        synchronized (lock) {
            snapshotAsked = false;
        }
        if (failure != null) {
            log.debug("queue group {}: the snapshot asked for failed: {}", name, failure.toString());
        }
    }

    /** The node stops or leaves the group: its values are no longer held here (a start rebuilds them). */
    private void releaseAll() {
        synchronized (lock) {
            entries.clear();
            RESIDENT.addAndGet(-resident);
            resident = 0;
            for (SpillFile f : spillFiles) {
                try {
                    f.close();
                } catch (IOException e) {
                    log.warn("queue group {}: cannot delete its spill file: {}", name, e.toString());
                }
            }
            spillFiles.clear();
            spill = null;
        }
    }

    public long size() {
        synchronized (lock) {
            return entries.size();
        }
    }

    /** How often this member asked Ratis for a snapshot of its own (tests). */
    long snapshotsAsked() {
        synchronized (lock) {
            return snapshotsAsked;
        }
    }

    /** The index of this member's latest snapshot; -1 when it has none. */
    long snapshotIndex() {
        org.apache.ratis.statemachine.SnapshotInfo info = machine.getLatestSnapshot();
        return info == null ? -1 : info.getIndex();
    }

    /** The highest log index applied on this member. */
    public long appliedIndex() {
        return machine.appliedIndex();
    }

    /**
     * Sets the listener (null removes it) and tells it at once, on this thread, where leadership
     * stands: {@link Listener#leaderReady} if this member leads and is ready, otherwise
     * {@link Listener#leaderLost} with the current leader (or null). Returns the entries as of
     * that moment; every later change reaches the listener.
     */
    public List<Map.Entry<Long, byte[]>> listen(Listener l) {
        String leader = leaderId();
        synchronized (lock) {
            listener = l;
            if (l != null) {
                if (leading) {
                    call(() -> l.leaderReady());
                } else {
                    call(() -> l.leaderLost(node.self().id().equals(leader) ? null : leader));
                }
            }
            return entries();
        }
    }

    /** Whether this member leads the group right now (it may learn otherwise a moment later). */
    public boolean isLeader() {
        try {
            return node.server().getDivision(groupId).getInfo().isLeader();
        } catch (IOException e) {
            return false;
        }
    }

    /** The member this one believes leads, or null when it knows of none. */
    public String leaderId() {
        try {
            RaftPeerId id = node.server().getDivision(groupId).getInfo().getLeaderId();
            return id == null ? null : id.toString();
        } catch (IOException e) {
            return null;
        }
    }

    /**
     * Asks the group's leader to hand the lead to member {@code memberId} (Ratis' leadership
     * transfer: the leader catches it up, then has it stand for election at once). True once that
     * member leads; false when the leader refused or the transfer did not finish within
     * {@code timeout}. Blocks for about that long at most; not for an event loop.
     */
    public boolean transferLeadership(String memberId, java.time.Duration timeout) {
        RaftServer.Division d;
        try {
            d = node.server().getDivision(groupId);
        } catch (IOException e) {
            return false;
        }
        return node.transferLeadership(d.getGroup(), memberId, timeout);
    }

    /** The member ids of the group's current configuration as this member's log has it (see {@link #members}). */
    public java.util.Set<String> memberIds() {
        return node.currentMembers(groupId);
    }

    /**
     * Removes member {@code memberId} from the group (its node was forgotten): see
     * {@link RaftNode#removeMember}. Blocks; not for an event loop.
     */
    public void removeMember(String memberId) throws IOException {
        node.removeMember(groupId, memberId);
    }

    /**
     * Has the group take this node's member into its configuration as it is now (no other member
     * dropped), {@code members} naming where it is reached: see {@link RaftNode#addSelf}.
     * Blocks; not for an event loop.
     */
    public void addSelf(List<Member> members) throws IOException {
        node.addSelf(groupId, members);
    }

    /**
     * This member's Raft figures, RabbitMQ's {@code rabbitmq_raft_*} metrics of a quorum queue:
     * its term, the index of its newest snapshot, of the last entry it applied, of the last
     * committed one and of the last one on its disk (flushed), and how long the last entry this
     * member sent took to commit (0 before its first). Null when the group is not (or no longer)
     * hosted here. Reads Ratis' own counters; any thread.
     */
    public RaftStats raftStats() {
        try {
            RaftServer.Division d = node.server().getDivision(groupId);
            org.apache.ratis.server.raftlog.RaftLog raftLog = d.getRaftLog();
            return new RaftStats(d.getInfo().getCurrentTerm(), Math.max(0, raftLog.getSnapshotIndex()),
                    Math.max(0, d.getInfo().getLastAppliedIndex()), Math.max(0, raftLog.getLastCommittedIndex()),
                    Math.max(0, raftLog.getFlushIndex()), commitLatencyNanos);
        } catch (IOException | RuntimeException e) {
            return null; // not hosted here, or closing
        }
    }

    /** See {@link #raftStats()}. */
    public record RaftStats(long term, long snapshotIndex, long lastAppliedIndex, long commitIndex,
                            long lastWrittenIndex, long commitLatencyNanos) {}

    /** The group's members as this member's configuration has them. */
    public List<Member> members() {
        try {
            return node.server().getDivision(groupId).getGroup().getPeers().stream()
                    .map(p -> new Member(p.getId().toString(), p.getAddress())).toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    @Override public String toString() {
        return "QueueGroup[" + name + " " + groupId.getUuid() + " on " + node.self().id() + "]";
    }

    /** Calls the listener; one that throws is logged, the group goes on. Holds lock. */
    private void call(Runnable r) {
        try {
            r.run();
        } catch (RuntimeException e) {
            log.error("the listener of queue group {} failed", name, e);
        }
    }

    private void apply(long index, long term, byte[] record, boolean local) {
        synchronized (lock) {
            if (!partials.isEmpty()) {
                // parts of a put that cannot be completed any more: a new term (the leader that
                // sent them may be gone), or too long ago; the same on every member
                if (term != appliedTerm) {
                    partials.clear();
                } else {
                    partials.values().removeIf(p -> index - p.since > MAX_PART_SPAN);
                }
            }
            appliedTerm = term;
            loggedSinceSnapshot += record.length;
            if (record.length > 0 && record[0] == BATCH) {
                ByteBuffer b = ByteBuffer.wrap(record, 1, record.length - 1);
                int n = b.getInt();
                for (int i = 0; i < n; i++) {
                    int length = b.getInt();
                    applyOne(index, record, b.position(), length, local);
                    b.position(b.position() + length);
                }
            } else {
                applyOne(index, record, 0, record.length, local);
            }
            // with the record's effect on the state: a drained backlog asks at its last remove
            long kept = Math.max(snapshotBytes, olderSnapshotBytes);
            if (!snapshotAsked && (loggedSinceSnapshot >= logBytesMax || kept >= logBytesMax)) {
                long state = stateBytes();
                if (loggedSinceSnapshot >= logBytesMax && loggedSinceSnapshot >= state
                        || kept >= logBytesMax && state < kept / 4) {
                    askSnapshot();
                }
            }
        }
    }

    /** Applies the put or remove at {@code record[offset, offset + length)}. Holds lock. */
    private void applyOne(long index, byte[] record, int offset, int length, boolean local) {
        ByteBuffer b = ByteBuffer.wrap(record, offset, length);
        byte type = b.get();
        Listener l = listener;
        if (type == PUT) {
            long key = b.getLong();
            put(index, key, Arrays.copyOfRange(record, offset + 9, offset + length), local);
        } else if (type == PART) {
            long nonce = b.getLong();
            long key = b.getLong();
            int total = b.getInt();
            int at = b.getInt();
            int n = length - PART_HEADER;
            Partial p = partials.get(nonce);
            if (at == 0 && total > 0 && n <= total) {
                p = new Partial(key, new byte[total], index);
                partials.put(nonce, p);
            } else if (p == null || p.key != key || p.filled != at || p.value.length != total || at + n > total) {
                partials.remove(nonce); // a part missing, repeated or out of order: the put fails
                return;
            }
            System.arraycopy(record, offset + PART_HEADER, p.value, at, n);
            p.filled += n;
            if (p.filled == total) {
                partials.remove(nonce);
                put(index, key, p.value, local);
                if (local) {
                    assembled.add(nonce);
                }
            }
        } else if (type == REMOVE) {
            int n = b.getInt();
            for (int i = 0; i < n; i++) {
                long key = b.getLong();
                Object old = entries.remove(key);
                if (old != null) {
                    release(old);
                    if (l != null) {
                        call(() -> l.applied(index, key, null, local));
                    }
                }
            }
            tidySpill();
        } else {
            throw new IllegalArgumentException("queue group " + name + ": unknown record type " + type + " at " + index);
        }
    }

    /** Puts {@code key := value} as the entry at {@code index} says. Holds lock. */
    private void put(long index, long key, byte[] value, boolean local) {
        Object old = entries.put(key, store(value, spill));
        if (old != null) {
            release(old);
        }
        Listener l = listener;
        if (l != null) {
            call(() -> l.applied(index, key, value, local));
        }
    }

    /**
     * {@code int n}, then n times {@code int64 key | int32 length | bytes}, in log order, streamed:
     * the values are taken (not copied) under the state's lock, then written outside it. They are
     * never changed in place (a put replaces a key's array), and Ratis takes snapshots on the apply
     * thread, so the map does not change meanwhile either. Readers ({@link #get}) are not held up.
     * A value on disk is read when its turn comes (under the lock, which guards the spill file).
     * Then {@code int64 term} (of the last entry applied) and {@code int32 p}, then p times
     * {@code int64 nonce | int64 key | int64 since | int32 total | int32 filled | bytes[filled]}:
     * the large values in parts so far ({@link #partials}; filled in place only by the apply
     * thread, which this runs on).
     */
    private void writeSnapshot(java.io.OutputStream out) throws IOException {
        long[] keys;
        Object[] values;
        long term;
        List<Map.Entry<Long, Partial>> parts;
        synchronized (lock) {
            term = appliedTerm;
            parts = new ArrayList<>(partials.entrySet());
            loggedSinceSnapshot = 0;
            olderSnapshotBytes = snapshotBytes;
            snapshotBytes = stateBytes();
            keys = new long[entries.size()];
            values = new Object[entries.size()];
            int i = 0;
            for (Map.Entry<Long, Object> e : entries.entrySet()) {
                keys[i] = e.getKey();
                values[i++] = e.getValue();
            }
        }
        java.io.DataOutputStream d = new java.io.DataOutputStream(out);
        d.writeInt(keys.length);
        for (int i = 0; i < keys.length; i++) {
            byte[] value;
            if (values[i] instanceof byte[] b) {
                value = b;
            } else {
                synchronized (lock) {
                    try {
                        value = load(values[i]);
                    } catch (java.io.UncheckedIOException e) {
                        throw e.getCause();
                    }
                }
            }
            values[i] = null; // read once, then let go
            d.writeLong(keys[i]);
            d.writeInt(value.length);
            d.write(value);
        }
        // then (since 2026-12-04; a snapshot without them has none) the term of the last entry
        // applied and the large values in parts so far: the rules that drop parts look at both,
        // so a member restored from this snapshot goes on exactly as the others
        d.writeLong(term);
        d.writeInt(parts.size());
        for (Map.Entry<Long, Partial> e : parts) {
            Partial p = e.getValue();
            d.writeLong(e.getKey());
            d.writeLong(p.key);
            d.writeLong(p.since);
            d.writeInt(p.value.length);
            d.writeInt(p.filled);
            d.write(p.value, 0, p.filled);
        }
        d.flush();
    }

    /**
     * Replaces the map with a snapshot's, streamed: past the node's budget its values go to a new
     * spill file as they are read, and the old map's values (and spill files) go once it is read.
     */
    private void readSnapshot(java.io.InputStream in) throws IOException {
        java.io.DataInputStream d = new java.io.DataInputStream(in);
        int n = d.readInt();
        LinkedHashMap<Long, Object> restored = new LinkedHashMap<>();
        Map<Long, Partial> restoredParts = new java.util.HashMap<>();
        long term = 0;
        SpillFile into;
        long before;
        List<SpillFile> old;
        synchronized (lock) {
            old = new ArrayList<>(spillFiles);
            into = spillDir == null ? null : newSpill();
            before = resident;
        }
        try {
            for (int i = 0; i < n; i++) {
                long key = d.readLong();
                int length = d.readInt();
                if (length < 0) {
                    throw new IOException("queue group " + name + ": a snapshot entry of " + length + " bytes");
                }
                byte[] value = new byte[length];
                d.readFully(value);
                synchronized (lock) {
                    Object was = restored.put(key, store(value, into));
                    if (was != null) {
                        release(was);
                    }
                }
            }
            int first = d.read();
            if (first >= 0) { // a snapshot of 2026-12-04 or later: the term and the values in parts
                term = first;
                for (int k = 0; k < 7; k++) {
                    term = term << 8 | d.readUnsignedByte();
                }
                int p = d.readInt();
                for (int i = 0; i < p; i++) {
                    long nonce = d.readLong();
                    long key = d.readLong();
                    long since = d.readLong();
                    int total = d.readInt();
                    int filled = d.readInt();
                    if (total <= 0 || filled < 0 || filled > total) {
                        throw new IOException("queue group " + name + ": a snapshot's value in parts of " + filled
                                + " bytes of " + total);
                    }
                    Partial part = new Partial(key, new byte[total], since);
                    d.readFully(part.value, 0, filled);
                    part.filled = filled;
                    restoredParts.put(nonce, part);
                }
            }
        } catch (IOException | RuntimeException e) {
            synchronized (lock) {
                restored.values().forEach(this::release);
                if (into != null) {
                    spillFiles.remove(into);
                    into.close();
                }
            }
            throw e;
        }
        synchronized (lock) {
            // resident now counts the old map (before) and the restored one
            RESIDENT.addAndGet(-before);
            resident -= before;
            entries.clear();
            entries.putAll(restored);
            partials.clear();
            partials.putAll(restoredParts);
            appliedTerm = term;
            loggedSinceSnapshot = 0;
            olderSnapshotBytes = snapshotBytes; // this member's own may still be kept beside it
            snapshotBytes = stateBytes();
            for (SpillFile f : old) {
                spillFiles.remove(f);
                f.close();
            }
            spill = into;
        }
    }

    private void leaderLost(String newLeader) {
        synchronized (lock) {
            if (!leading) {
                return;
            }
            leading = false;
            Listener l = listener;
            if (l != null) {
                call(() -> l.leaderLost(newLeader));
            }
        }
    }

    /** The name in the group's dir: written when known (a join), read when not (a recovered group). */
    private void nameFile(Path groupDir) throws IOException {
        Path file = groupDir.resolve(NAME_FILE);
        if (name != null) {
            if (!Files.exists(file)) {
                Path tmp = groupDir.resolve(NAME_FILE + ".tmp");
                Files.write(tmp, name.getBytes(StandardCharsets.UTF_8));
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            }
        } else if (Files.exists(file)) {
            String found = Files.readString(file, StandardCharsets.UTF_8);
            if (!RaftNode.queueGroupId(found).equals(groupId)) {
                log.warn("queue group {}: {} names '{}', whose group id is another", groupId, file, found);
            } else {
                name = found;
            }
        } else {
            log.warn("queue group {} recovered without its name ({} is missing)", groupId, file);
        }
    }

    /** The group's Ratis state machine: the records' apply, the leader events, the name file. */
    final class Machine extends RecordStateMachine {
        Machine(ReplicatedState snapshots) {
            super(snapshots);
        }

        @Override public void initialize(RaftServer server, RaftGroupId id, RaftStorage storage) throws IOException {
            Path dir = storage.getStorageDir().getRoot().toPath();
            nameFile(dir);
            synchronized (lock) {
                // Spill files of an earlier run: the state is rebuilt from the snapshot and the log.
                try (java.util.stream.Stream<Path> files = Files.list(dir)) {
                    for (Path f : files.filter(f -> f.getFileName().toString().startsWith(SPILL_PREFIX)).toList()) {
                        Files.deleteIfExists(f);
                    }
                }
                spillDir = dir;
                spill = newSpill();
            }
            super.initialize(server, id, storage);
        }

        @Override void apply(LogEntryProto entry, byte[] record) {
            QueueGroup.this.apply(entry.getIndex(), entry.getTerm(), record,
                    entry.getStateMachineLogEntry().getClientId().equals(clientIdBytes));
        }

        @Override void reloaded(long index) {
            synchronized (lock) {
                Listener l = listener;
                if (l != null) {
                    call(() -> l.restored(index));
                }
            }
        }

        /** Ratis calls it on the apply thread once the new leader's first entry of its term is applied. */
        @Override public void notifyLeaderReady() {
            try {
                CommitMarkers.off(node.server().getDivision(groupId));
            } catch (IOException e) {
                // the division is gone (the group is being left): nothing to turn off
            }
            synchronized (lock) {
                if (leading) {
                    return;
                }
                leading = true;
                Listener l = listener;
                if (l != null) {
                    call(l::leaderReady);
                }
            }
        }

        /** The leader steps down (Ratis does not report a change to "no leader" through notifyLeaderChanged). */
        @Override public void notifyNotLeader(Collection<TransactionContext> pending) throws IOException {
            super.notifyNotLeader(pending);
            String leader = leaderId();
            leaderLost(node.self().id().equals(leader) ? null : leader);
        }

        @Override public void notifyLeaderChanged(RaftGroupMemberId member, RaftPeerId newLeader) {
            super.notifyLeaderChanged(member, newLeader);
            if (newLeader != null && !newLeader.equals(member.getPeerId())) {
                leaderLost(newLeader.toString());
            }
        }

        /** The node stops or the group is left: a leading listener hears the loss. */
        @Override public void close() throws IOException {
            leaderLost(null);
            super.close();
            releaseAll();
        }
    }
}
