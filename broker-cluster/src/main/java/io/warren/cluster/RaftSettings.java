package io.warren.cluster;

import org.apache.ratis.client.RaftClientConfigKeys;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.server.RaftServerConfigKeys;
import org.apache.ratis.util.SizeInBytes;
import org.apache.ratis.util.TimeDuration;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Every Ratis timeout and log-retention setting warren uses, in one place. Nothing else sets a
 * Ratis property; whatever is not here is Ratis' default. No configuration key reaches these
 * yet (the group is not wired into the broker); {@link #DEFAULT} is what a broker would run.
 *
 * @param electionTimeoutMin   a follower that hears nothing from a leader for a random time in
 *                             [min, max] starts an election; the leader sends heartbeats at half
 *                             of min. Ratis' 150 ms is tuned for idle machines: on a loaded 2-core
 *                             machine a GC pause or a starved thread of that length is common, and
 *                             each one would depose a healthy leader. 1 s keeps fail-over (leader
 *                             gone to new leader elected) around 1 to 2 s.
 * @param electionTimeoutMax   the top of that range; twice min so that two followers rarely time
 *                             out together and split the vote.
 * @param requestTimeout       how long one RPC (append, vote, a client's request) waits for its
 *                             answer before it is retried; Ratis' default, stated.
 * @param retryInterval        how long a member's client waits before it retries a request that
 *                             failed (no leader yet, leader unreachable): Ratis' default client
 *                             retries at once, forever, which spins while a majority is down.
 * @param submitTimeout        how long {@link MetadataGroup#submit} waits for its record to be
 *                             committed and applied here before it reports a timeout.
 * @param snapshotEvery        take a snapshot once this many entries were applied since the last
 *                             one; the log before a snapshot is then deleted, so the log holds at
 *                             most about this many entries plus one segment.
 * @param segmentSize          the size at which a log segment file is closed; only closed
 *                             segments can be deleted after a snapshot.
 */
public record RaftSettings(Duration electionTimeoutMin, Duration electionTimeoutMax, Duration requestTimeout,
                           Duration retryInterval, Duration submitTimeout, long snapshotEvery, long segmentSize) {

    public static final RaftSettings DEFAULT = new RaftSettings(Duration.ofMillis(1000), Duration.ofMillis(2000),
            Duration.ofSeconds(3), Duration.ofMillis(100), Duration.ofSeconds(15),
            // Definition records are about 100 bytes: 10,000 of them are a snapshot of about 1 MB
            // and a log that a restarted member replays in well under a second.
            10_000, 4L << 20);

    public RaftSettings {
        if (electionTimeoutMin.isNegative() || electionTimeoutMin.isZero()
                || electionTimeoutMax.compareTo(electionTimeoutMin) <= 0) {
            throw new IllegalArgumentException("election timeouts: need 0 < min < max, got " + electionTimeoutMin
                    + " and " + electionTimeoutMax);
        }
        if (snapshotEvery < 1 || segmentSize < 1024) {
            throw new IllegalArgumentException("snapshotEvery must be at least 1 and segmentSize at least 1 KiB");
        }
    }

    public RaftSettings withSnapshotEvery(long entries, long segmentBytes) {
        return new RaftSettings(electionTimeoutMin, electionTimeoutMax, requestTimeout, retryInterval, submitTimeout,
                entries, segmentBytes);
    }

    public RaftSettings withSubmitTimeout(Duration timeout) {
        return new RaftSettings(electionTimeoutMin, electionTimeoutMax, requestTimeout, retryInterval, timeout,
                snapshotEvery, segmentSize);
    }

    /** Writes these settings into a member's (server and client) Ratis properties. */
    void applyTo(RaftProperties p) {
        RaftServerConfigKeys.Rpc.setTimeoutMin(p, ratis(electionTimeoutMin));
        RaftServerConfigKeys.Rpc.setTimeoutMax(p, ratis(electionTimeoutMax));
        // A member that has not yet seen a leader since it started (a new queue's group, a node
        // that restarts) stands for election after a fifth to a half of that: a quorum queue
        // declare waits for its group's first leader, which took the whole 1-2 s before. Ratis'
        // pre-vote (on by default) keeps a restarted member that times out this early from
        // deposing a leader the others still hear. (A tenth to three tenths was faster still, but
        // a new group's first leader was then sometimes deposed by a member that had not heard
        // from it yet: QueueGroupTest saw a group's leader change under it.)
        RaftServerConfigKeys.Rpc.setFirstElectionTimeoutMin(p, ratis(electionTimeoutMin.dividedBy(5)));
        RaftServerConfigKeys.Rpc.setFirstElectionTimeoutMax(p, ratis(electionTimeoutMin.dividedBy(2)));
        RaftServerConfigKeys.Rpc.setRequestTimeout(p, ratis(requestTimeout));
        RaftClientConfigKeys.Rpc.setRequestTimeout(p, ratis(requestTimeout));
        // A leader that lost its majority waits this long before it stands for election again
        // (Ratis: 10 s). When it holds the longest log nobody else can win meanwhile, so a queue
        // or the metadata stalled for 10 s after a partition healed; one election timeout is enough.
        RaftServerConfigKeys.LeaderElection.setLeaderStepDownWaitTime(p, ratis(electionTimeoutMax));
        // How long the leader waits before it tries again to reach a member it failed to reach:
        // Ratis' "1ms,10, 1s,20, 5s,1000" moves to 5 s waits after a few seconds of a member being
        // down, so a member that comes back hears nothing for up to 5 s. Every 500 ms (randomised
        // by Ratis between 250 and 750 ms) costs the leader nothing worth saving and brings a
        // returning member in within a heartbeat or so; the count is "forever" (15 years).
        RaftServerConfigKeys.Log.Appender.setRetryPolicy(p, "1ms,10, 100ms,20, 500ms,1000000000");

        // Ratis' log-metadata entries (the commit index, appended each time it moves) stay on:
        // they are what carries a new commit index to the followers at once. Without them a
        // follower learned it from the next append or heartbeat (half a second when idle), so a
        // publish through a follower and a topology reply waiting for every node took that long
        // (MetadataGroupTest caught it); the benchmark gained nothing measurable from turning
        // them off.
        RaftServerConfigKeys.Snapshot.setAutoTriggerEnabled(p, true);
        RaftServerConfigKeys.Snapshot.setAutoTriggerThreshold(p, snapshotEvery);
        // The newest snapshot is the one that matters; one older is kept while the newest is
        // being sent to a follower.
        RaftServerConfigKeys.Snapshot.setRetentionFileNum(p, 2);
        // Purge the log up to each snapshot even when a member is behind (it gets the snapshot
        // instead): otherwise one member that is down keeps the whole log on the others' disks.
        RaftServerConfigKeys.Log.setPurgeUptoSnapshotIndex(p, true);
        RaftServerConfigKeys.Log.setPurgeGap(p, 1);
        RaftServerConfigKeys.Log.setSegmentSizeMax(p, SizeInBytes.valueOf(segmentSize));
        // Ratis preallocates 4 MB per segment; never more than a segment.
        RaftServerConfigKeys.Log.setPreallocatedSize(p, SizeInBytes.valueOf(Math.min(segmentSize, 4L << 20)));
        // Every group's log worker on every member holds a direct write buffer, 8 MiB by Ratis'
        // default: 17 groups (16 quorum queues and the metadata) held 170 MB of direct memory on
        // a test node and set its memory alarm, which blocks every publisher of the cluster.
        // An entry must fit in it, so the buffer is the entry limit and the 8 bytes around an
        // entry, and the appender's byte limit (Ratis refuses an entry past it) is that limit.
        // A quorum queue's batches are at most 1 MiB of records (QueueGroup.MAX_BATCH_BYTES) and
        // a larger message goes in parts, so entries need no more than 1 MiB and the framing:
        // a quarter of Ratis' 4 MiB default, and a node holds four times the quorum queues
        // before their buffers reach its memory watermark.
        RaftServerConfigKeys.Log.Appender.setBufferByteLimit(p, SizeInBytes.valueOf(MAX_ENTRY_BYTES));
        RaftServerConfigKeys.Log.setWriteBufferSize(p, SizeInBytes.valueOf(MAX_ENTRY_BYTES + 8));
    }

    /**
     * The largest log entry Ratis takes here (its appender's byte limit and, with 8 bytes of
     * framing, each log's direct write buffer): a larger one is refused.
     */
    public static final int MAX_ENTRY_BYTES = (1 << 20) + (64 << 10);

    /**
     * The most bytes of records one log entry carries (a queue group's batch, a metadata record):
     * with Ratis' framing an entry then stays at or below 1 MiB, the largest power of two below
     * {@link #MAX_ENTRY_BYTES}. Ratis 3.2.2's segment reader grows its buffer by doubling up to
     * that limit and, at the zeros that end a segment left open (a kill -9 leaves the file
     * preallocated past its last entry), reads a whole buffer past a mark set for one entry: an
     * entry past the power of two had grown the buffer to the limit, the mark was lost, and the
     * member could not start ("Resetting to invalid mark"; the cluster soak's node 3 after a
     * kill -9, reproduced by QueueGroupTest#aMemberRestartsFromAnOpenSegmentHoldingTheLargestEntry).
     */
    public static final int MAX_RECORD_BYTES = (1 << 20) - (64 << 10);

    static TimeDuration ratis(Duration d) {
        return TimeDuration.valueOf(d.toMillis(), TimeUnit.MILLISECONDS);
    }
}
