package io.warren.cluster;

import org.apache.ratis.io.MD5Hash;
import org.apache.ratis.proto.RaftProtos.LogEntryProto;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.protocol.TermIndex;
import org.apache.ratis.server.raftlog.RaftLog;
import org.apache.ratis.server.storage.FileInfo;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.statemachine.TransactionContext;
import org.apache.ratis.statemachine.impl.BaseStateMachine;
import org.apache.ratis.statemachine.impl.SimpleStateMachineStorage;
import org.apache.ratis.statemachine.impl.SingleFileSnapshotInfo;
import org.apache.ratis.util.LifeCycle;
import org.apache.ratis.util.MD5FileUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.File;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.NavigableMap;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;

/**
 * The Ratis state machine of a group whose log holds opaque records: it hands each committed
 * record to the member's {@link ReplicatedState}, takes and restores snapshots through it, and
 * tells {@link #whenApplied} waiters when their record has been applied on this member.
 *
 * <p>Threads: Ratis calls apply, snapshot and reload on its one state-machine updater thread
 * (start-up's restore runs before that thread starts); {@link #whenApplied} is called from any
 * thread, so the waiters are guarded by their own lock.
 *
 * <p>A subclass ({@link QueueGroup}'s) sees more of each entry through {@link #apply(LogEntryProto, byte[])}
 * and hears of a snapshot installed from the leader through {@link #reloaded}.
 */
class RecordStateMachine extends BaseStateMachine {
    private static final Logger log = LoggerFactory.getLogger(RecordStateMachine.class);

    private final ReplicatedState state;
    private final SimpleStateMachineStorage storage = new SimpleStateMachineStorage();
    /** Waiters by the log index they wait for; guarded by itself. */
    private final NavigableMap<Long, CompletableFuture<Void>> waiters = new TreeMap<>();
    /**
     * The highest index applied here (records, Raft's own entries, or a restored snapshot); guarded
     * by waiters. Raft's first index is 0.
     */
    private long applied = RaftLog.INVALID_LOG_INDEX;
    /** Set once by {@link #close}: later waiters fail at once. Guarded by waiters. */
    private boolean closed;

    RecordStateMachine(ReplicatedState state) {
        this.state = state;
    }

    @Override public void initialize(RaftServer server, RaftGroupId groupId, RaftStorage raftStorage) throws IOException {
        getLifeCycle().startAndTransition(() -> {
            super.initialize(server, groupId, raftStorage);
            storage.init(raftStorage);
            restore(storage.loadLatestSnapshot());
        });
    }

    /** What this member answers to a read (see {@link MetadataGroup#ask}); null: nothing. */
    private volatile java.util.function.Function<String, CompletableFuture<byte[]>> answer;

    void answer(java.util.function.Function<String, CompletableFuture<byte[]>> a) {
        this.answer = a;
    }

    /** The question "have you applied index N" ({@link MetadataGroup#applied}), followed by N. */
    static final String APPLIED = "applied ";
    /** How long the member waits to have applied the index asked about before it answers no. */
    static final long APPLIED_WAIT_MS = 1000;
    private static final Message YES = Message.valueOf(
            org.apache.ratis.thirdparty.com.google.protobuf.ByteString.copyFrom(new byte[] {1}));
    private static final Message NO = Message.valueOf(
            org.apache.ratis.thirdparty.com.google.protobuf.ByteString.copyFrom(new byte[] {0}));

    /**
     * A read sent to this very member: "applied N" is answered once this member has applied
     * index N (yes, one byte 1), or after {@link #APPLIED_WAIT_MS} (no, 0); any other question
     * gets its {@link #answer} (what its node's AMQP listener is, who leads a queue group).
     */
    @Override public CompletableFuture<Message> query(Message request) {
        String question = request.getContent().toStringUtf8();
        if (question.startsWith(APPLIED)) {
            long index;
            try {
                index = Long.parseLong(question.substring(APPLIED.length()));
            } catch (NumberFormatException e) {
                return CompletableFuture.completedFuture(NO);
            }
            // a future of its own: the waiter whenApplied hands out is shared
            return whenApplied(index).thenApply(v -> YES).completeOnTimeout(NO, APPLIED_WAIT_MS,
                    java.util.concurrent.TimeUnit.MILLISECONDS).exceptionally(e -> NO);
        }
        java.util.function.Function<String, CompletableFuture<byte[]>> a = answer;
        CompletableFuture<byte[]> bytes = a == null ? null : a.apply(question);
        if (bytes == null) {
            bytes = CompletableFuture.completedFuture(null);
        }
        return bytes.thenApply(b -> Message.valueOf(
                org.apache.ratis.thirdparty.com.google.protobuf.ByteString.copyFrom(b == null ? new byte[0] : b)));
    }

    @Override public SimpleStateMachineStorage getStateMachineStorage() {
        return storage;
    }

    /** Before the leader's snapshot is installed: Ratis requires the PAUSED state for the reload that follows. */
    @Override public void pause() {
        LifeCycle lc = getLifeCycle();
        if (lc.getCurrentState() == LifeCycle.State.RUNNING) {
            lc.transition(LifeCycle.State.PAUSING);
            lc.transition(LifeCycle.State.PAUSED);
        }
    }

    /** After a snapshot from the leader was installed in the storage: load it. */
    @Override public void reinitialize() throws IOException {
        long index = restore(storage.loadLatestSnapshot());
        if (index != RaftLog.INVALID_LOG_INDEX) {
            reloaded(index);
        }
        LifeCycle lc = getLifeCycle();
        if (lc.getCurrentState() == LifeCycle.State.PAUSED) {
            lc.transition(LifeCycle.State.STARTING);
            lc.transition(LifeCycle.State.RUNNING);
        }
    }

    /** Called on the apply thread after a snapshot sent by the leader replaced the state (not at start-up). */
    void reloaded(long index) {
    }

    /** Restores {@code snapshot} into the state; its index, or {@link RaftLog#INVALID_LOG_INDEX} when there is none. */
    private long restore(SingleFileSnapshotInfo snapshot) throws IOException {
        if (snapshot == null) {
            return RaftLog.INVALID_LOG_INDEX;
        }
        File file = snapshot.getFile().getPath().toFile();
        MD5Hash md5 = snapshot.getFile().getFileDigest();
        if (md5 != null) {
            MD5FileUtil.verifySavedMD5(file, md5);
        }
        TermIndex last = SimpleStateMachineStorage.getTermIndexFromSnapshotFile(file);
        long bytes = SnapshotFile.read(file.toPath(), last.getIndex(),
                (in, length) -> state.restore(last.getIndex(), in, length));
        // Unconditionally: a reload may go back to an older index than a failed attempt reached.
        setLastAppliedTermIndex(last);
        advance(last.getIndex());
        log.info("{}: restored the snapshot at {} ({} bytes)", getId(), last, bytes);
        return last.getIndex();
    }

    @Override public CompletableFuture<Message> applyTransaction(TransactionContext trx) {
        LogEntryProto entry = trx.getLogEntry();
        byte[] record = entry.getStateMachineLogEntry().getLogData().toByteArray();
        try {
            apply(entry, record);
            return CompletableFuture.completedFuture(Message.EMPTY);
        } catch (RuntimeException e) {
            // The index is applied all the same (a record that cannot be applied here cannot be
            // applied on the others either); the submitter hears of the failure from the leader.
            log.error("{}: applying the record at index {} failed", getId(), entry.getIndex(), e);
            return CompletableFuture.failedFuture(e);
        } finally {
            updateLastAppliedTermIndex(entry.getTerm(), entry.getIndex());
            advance(entry.getIndex());
        }
    }

    /** Hands one committed record to the state; a subclass may look at the rest of the entry (its client id). */
    void apply(LogEntryProto entry, byte[] record) {
        state.apply(entry.getIndex(), record);
    }

    /** Raft's own entries (configuration, a new leader's first entry) move the applied index too. */
    @Override public void notifyTermIndexUpdated(long term, long index) {
        super.notifyTermIndexUpdated(term, index);
        advance(index);
    }

    @Override public long takeSnapshot() throws IOException {
        TermIndex last = getLastAppliedTermIndex();
        if (last == null || last.getIndex() < RaftLog.LEAST_VALID_LOG_INDEX || !state.snapshotDue()) {
            return RaftLog.INVALID_LOG_INDEX; // Ratis keeps the log and asks again after the next entries
        }
        File file = storage.getSnapshotFile(last.getTerm(), last.getIndex());
        SnapshotFile.write(file.toPath(), last.getIndex(), state::snapshot);
        MD5Hash md5 = MD5FileUtil.computeAndSaveMd5ForFile(file);
        storage.updateLatestSnapshot(new SingleFileSnapshotInfo(new FileInfo(file.toPath(), md5), last));
        return last.getIndex();
    }

    /** Completes (on the apply thread) once the entry at {@code index} has been applied on this member. */
    CompletableFuture<Void> whenApplied(long index) {
        synchronized (waiters) {
            if (applied >= index) {
                return CompletableFuture.completedFuture(null);
            }
            if (closed) {
                return CompletableFuture.failedFuture(new IllegalStateException("the member is stopped"));
            }
            return waiters.computeIfAbsent(index, i -> new CompletableFuture<>());
        }
    }

    /** The highest log index applied on this member. */
    long appliedIndex() {
        synchronized (waiters) {
            return applied;
        }
    }

    private void advance(long index) {
        List<CompletableFuture<Void>> done;
        synchronized (waiters) {
            applied = Math.max(applied, index);
            NavigableMap<Long, CompletableFuture<Void>> due = waiters.headMap(applied, true);
            if (due.isEmpty()) {
                return;
            }
            done = new ArrayList<>(due.values());
            due.clear();
        }
        done.forEach(f -> f.complete(null));
    }

    @Override public void close() throws IOException {
        List<CompletableFuture<Void>> left;
        synchronized (waiters) {
            closed = true;
            left = new ArrayList<>(waiters.values());
            waiters.clear();
        }
        IllegalStateException stopped = new IllegalStateException("the member stopped before the record was applied here");
        left.forEach(f -> f.completeExceptionally(stopped));
        super.close();
    }
}
