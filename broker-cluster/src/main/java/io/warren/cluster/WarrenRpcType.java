package io.warren.cluster;

import org.apache.ratis.conf.Parameters;
import org.apache.ratis.grpc.GrpcFactory;
import org.apache.ratis.grpc.server.GrpcLogAppender;
import org.apache.ratis.proto.RaftProtos.AppendEntriesRequestProto;
import org.apache.ratis.rpc.RpcFactory;
import org.apache.ratis.rpc.RpcType;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.leader.FollowerInfo;
import org.apache.ratis.server.leader.LeaderState;
import org.apache.ratis.server.leader.LogAppender;
import org.apache.ratis.server.leader.LogAppenderBase;
import org.apache.ratis.server.protocol.TermIndex;
import org.apache.ratis.server.raftlog.RaftLog;
import org.apache.ratis.server.raftlog.RaftLogIOException;
import org.apache.ratis.statemachine.SnapshotInfo;
import org.apache.ratis.util.DataQueue;
import org.apache.ratis.util.Timestamp;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.reflect.Field;

/**
 * Ratis' gRPC transport, as {@code SupportedRpcType.GRPC} is, with one change on the leader's
 * side ({@link Appender}). Set as the RPC type of every warren member and client
 * ({@code RaftConfigKeys.Rpc.setType}: Ratis reads a type it does not know as a class name and
 * makes it with this no-argument constructor).
 */
public final class WarrenRpcType implements RpcType {
    private static final Logger log = LoggerFactory.getLogger(WarrenRpcType.class);
    /** How long a sender that failed waits before its next round. */
    private static final long FAILED_SENDER_PAUSE_MILLIS = 10;

    @Override public String name() {
        return WarrenRpcType.class.getName();
    }

    @Override public RpcFactory newFactory(Parameters parameters) {
        return new Factory(parameters);
    }

    /** gRPC's factory with warren's log appender. */
    static final class Factory extends GrpcFactory {
        Factory(Parameters parameters) {
            super(parameters);
        }

        @Override public LogAppender newLogAppender(RaftServer.Division server, LeaderState state, FollowerInfo f) {
            return new Appender(server, state, f);
        }
    }

    /**
     * The leader's sender to one follower: Ratis' gRPC appender, except that it sends a snapshot
     * only to a follower that lacks the snapshot's last entry, sends one to a follower whose next
     * entry's predecessor is gone from the leader's log, and goes on after a round fails ({@link #run}).
     *
     * <p>Ratis 3.2.2 sends a snapshot only to a follower whose next index is below the log's
     * first index. When it is exactly the first index, and the snapshot the log was purged to lies
     * past it (the purged segment ended mid-way; warren purges up to each snapshot), the entry
     * before it is in neither the log nor the snapshot: the appender cannot say which term that
     * entry had, fails an assertion ("Previous TermIndex not found for firstIndex = N"), stops,
     * and is never restarted ("is not running: skipping restart"). The follower then hears
     * nothing from that leader: with pre-vote it cannot depose it either, so it stays behind for
     * the whole term, and a publisher on its node gets no confirm (a put is confirmed once the
     * member it went through applied it). Seen in bench/quorum.sh with 5 MB messages (snapshots
     * every few seconds, segments of a few entries). Here such a follower gets the snapshot,
     * after which its next entry's predecessor is the snapshot's last. (Ratis' master checks
     * the same in its own {@code shouldInstallSnapshot}, unreleased as of 2026-12.)
     *
     * <p>The leader's next index for a follower is only its guess: it goes down on an
     * inconsistency or a failed stream and up with the follower's replies, so a follower it
     * would send a snapshot to may already hold the snapshot's entries and more (replies lost,
     * or not yet handled). Installing a snapshot at S on a Ratis 3.2.2 follower whose log holds
     * entries past S sets its log writer's last written index back to S, and the next entry it
     * appends after its log's real end fails the writer ("lastWrittenIndex == S, entry == ...
     * index: S+2"): Ratis closes that member (warren opens it again, RaftNode#reopen). So before
     * the first snapshot at an index is sent, the sender moves the next index to the entry after
     * the snapshot's last (whose predecessor Ratis names from the snapshot): a follower that has
     * it takes the entries and needs no snapshot; one that lacks it answers with its own next
     * index, at or below the snapshot's, and gets the snapshot in a round after that answer (a
     * follower that is down gets heartbeats until it answers). A member just added (Ratis'
     * bootstrapping) gets the snapshot at once: its log is empty.
     */
    static final class Appender extends GrpcLogAppender {
        /** {@code LogAppenderBase.buffer}, the entries of the request being built (null if this Ratis has no such field). */
        private static final Field BUFFER = bufferField();

        private static Field bufferField() {
            try {
                Field f = LogAppenderBase.class.getDeclaredField("buffer");
                f.setAccessible(true);
                return DataQueue.class.isAssignableFrom(f.getType()) ? f : null;
            } catch (ReflectiveOperationException | RuntimeException e) {
                log.warn("Ratis' log sender has no buffer field ({}): a sender that fails stops for the leader's term",
                        e.toString());
                return null;
            }
        }

        /** The index of the last snapshot this sender asked the follower about (see the class comment); the sender's thread only. */
        private long askedAbout = RaftLog.INVALID_LOG_INDEX;
        /** When it asked. */
        private Timestamp askedAt = Timestamp.currentTime();
        /** Counts for tests and the log: written by the sender's thread only. */
        private volatile long questions;
        private volatile long snapshotsForPurgedPrevious;
        private volatile long failuresSurvived;

        Appender(RaftServer.Division server, LeaderState leaderState, FollowerInfo f) {
            super(server, leaderState, f);
        }

        /** How often this sender asked its follower for a snapshot's last entry before it would send the snapshot. */
        long questions() {
            return questions;
        }

        /** How often it sent a snapshot because its follower's previous entry was purged. */
        long snapshotsForPurgedPrevious() {
            return snapshotsForPurgedPrevious;
        }

        /** How often a round of it failed and it went on. */
        long failuresSurvived() {
            return failuresSurvived;
        }

        /** The snapshot to send when the follower's previous entry is purged and the snapshot is past it, else null. */
        private SnapshotInfo snapshotForPurgedPrevious() {
            FollowerInfo f = getFollower();
            long next = f.getNextIndex();
            RaftLog raftLog = getRaftLog();
            if (next <= RaftLog.LEAST_VALID_LOG_INDEX || next >= raftLog.getNextIndex()
                    || next == f.getSnapshotIndex() + 1) {
                return null;
            }
            TermIndex previous = raftLog.getTermIndex(next - 1);
            if (previous != null) {
                return null;
            }
            SnapshotInfo snapshot = getServer().getStateMachine().getLatestSnapshot();
            return snapshot != null && snapshot.getIndex() >= next ? snapshot : null;
        }

        @Override public SnapshotInfo shouldInstallSnapshot() {
            FollowerInfo f = getFollower();
            SnapshotInfo snapshot = super.shouldInstallSnapshot();
            boolean purgedPrevious = false;
            if (snapshot == null) {
                snapshot = snapshotForPurgedPrevious();
                if (snapshot == null) {
                    return null;
                }
                purgedPrevious = true;
            } else if (getLeaderState().isFollowerBootstrapping(f)) {
                return snapshot; // a member just added: its log is empty
            }
            long index = snapshot.getIndex();
            if (askedAbout != index) {
                // first ask whether it has the snapshot's last entry: entries from the one after it
                askedAbout = index;
                askedAt = Timestamp.currentTime();
                questions++;
                log.debug("{}: {}'s next is {} and the snapshot is at {}: sending from {} first", getServer().getMemberId(),
                        getFollowerId(), f.getNextIndex(), index, index + 1);
                f.setNextIndex(index + 1);
                return null;
            }
            if (f.getLastRpcResponseTime().compareTo(askedAt) <= 0) {
                return null; // no answer yet: it may be down (it gets heartbeats meanwhile)
            }
            if (purgedPrevious) {
                snapshotsForPurgedPrevious++;
                log.info("{}: the entry before {}'s next ({}) is purged and the snapshot at {} is past it: sending the "
                        + "snapshot", getServer().getMemberId(), getFollowerId(), f.getNextIndex(), index);
            }
            return snapshot;
        }

        /**
         * Ratis' sending loop, started again when a round throws. In Ratis 3.2.2 a sender whose
         * loop throws is never replaced: the daemon asks for a restart, and the restart is skipped
         * because that same daemon no longer counts as working ("is not running: skipping
         * restart"; Ratis' master checks for closing instead). The follower then gets nothing
         * more from this leader for the rest of its term. What throws in practice is the check
         * that a request's entries follow its previous entry: the request reads the follower's
         * next index twice, and a reply handled meanwhile on a gRPC thread can move it (a late
         * success raising it after a failed stream or an inconsistency lowered it). Reading an
         * entry throws when the log was purged up to a new snapshot between the check that the
         * follower needs no snapshot and the read (warren purges up to each snapshot, whatever
         * the followers have). Both throw while the request is built, before anything is sent or
         * recorded; the entries read so far are dropped ({@link #newAppendEntriesRequest}), so the
         * next round starts from a consistent state. Where that cannot be done (a Ratis without
         * the field), a failure ends the sender as before.
         */
        @Override public void run() throws IOException {
            while (true) {
                try {
                    super.run();
                    return;
                } catch (RuntimeException | RaftLogIOException e) {
                    if (!isRunning() || BUFFER == null) {
                        throw e;
                    }
                    long n = ++failuresSurvived;
                    if (Long.bitCount(n) == 1) { // the 1st, 2nd, 4th, 8th, ...: a repeating failure does not flood the log
                        log.warn("{}: a round of sending failed ({} so far); going on: {}", this, n, e.toString());
                    }
                    try {
                        Thread.sleep(FAILED_SENDER_PAUSE_MILLIS);
                    } catch (InterruptedException interrupted) {
                        Thread.currentThread().interrupt();
                        throw new InterruptedIOException("interrupted after a failed round: " + e);
                    }
                }
            }
        }

        @Override public AppendEntriesRequestProto newAppendEntriesRequest(long callId, boolean heartbeat)
                throws RaftLogIOException {
            try {
                // Entries purged from the log, or whose predecessor cannot be named (which would
                // fail Ratis' assertion): send none now, a heartbeat still goes. This round did not
                // send the snapshot because it asked first, or waits for the answer.
                if (!heartbeat && (getFollower().getNextIndex() < getRaftLog().getStartIndex()
                        || snapshotForPurgedPrevious() != null)) {
                    return super.newAppendEntriesRequest(callId, true);
                }
                return super.newAppendEntriesRequest(callId, heartbeat);
            } catch (RuntimeException | RaftLogIOException e) {
                // Ratis gathers the entries in a buffer it empties only on success, and asserts
                // that it is empty when the next request begins
                if (BUFFER != null) {
                    try {
                        ((DataQueue<?>) BUFFER.get(this)).clear();
                    } catch (IllegalAccessException unexpected) {
                        e.addSuppressed(unexpected);
                    }
                }
                throw e;
            }
        }
    }
}
