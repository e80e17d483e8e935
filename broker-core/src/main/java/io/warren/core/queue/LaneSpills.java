package io.warren.core.queue;

import io.warren.core.message.QueueEntry;
import io.warren.core.store.SpillStore;

/**
 * A queue's page-out FIFOs, one per lane of its {@link ReadyList}: one for a FIFO queue, one per
 * priority level for a priority queue (as RabbitMQ's priority queue pages one backing queue per
 * priority), so that paged-out messages still leave in priority order. Each lane keeps the
 * queue's paging invariant on its own: while a lane has entries paged out, its later arrivals
 * page out behind them, and its in-memory entries come before its paged-out ones. A lane's spill
 * is opened when the lane first pages out. Owner: the queue's loop.
 */
final class LaneSpills {
    private final Paging paging;
    private final MessageQueue queue;
    private final SpillStore.Spill[] spills;
    /** Entries in each lane's spill, counting those of a read in flight. */
    private final long[] counts;

    LaneSpills(Paging paging, MessageQueue queue, int lanes) {
        this.paging = paging;
        this.queue = queue;
        this.spills = new SpillStore.Spill[lanes];
        this.counts = new long[lanes];
    }

    /** Entries paged out in {@code lane}. */
    long count(int lane) {
        return counts[lane];
    }

    /** The highest lane with entries paged out, or -1. */
    int top() {
        for (int p = counts.length - 1; p >= 0; p--) {
            if (counts[p] > 0) {
                return p;
            }
        }
        return -1;
    }

    /** Appends {@code e} to {@code lane}'s spill (see {@link SpillStore.Spill#append}); throws when it cannot. */
    void append(int lane, QueueEntry e) {
        SpillStore.Spill s = spills[lane];
        if (s == null) {
            s = paging.open(queue);
            spills[lane] = s;
        }
        s.append(e);
        counts[lane]++;
    }

    /** Reads the oldest entries of {@code lane} (see {@link SpillStore.Spill#read}). */
    void read(int lane, int maxEntries, long maxBytes, SpillStore.ReadSink sink) {
        spills[lane].read(maxEntries, maxBytes, sink);
    }

    /** Sweeps {@code lane}'s spill (see {@link SpillStore.Spill#sweep}). */
    void sweep(int lane, SpillStore.Sweep sweep, SpillStore.SweepSink sink) {
        spills[lane].sweep(sweep, sink);
    }

    /** Lanes (1, or one per priority). */
    int lanes() {
        return spills.length;
    }

    /** {@code n} entries of {@code lane} came back. */
    void readBack(int lane, int n) {
        counts[lane] -= n;
    }

    /** Drops every lane's entries (see {@link SpillStore.Spill#clear}). */
    void clear(SpillStore.RefSink storeRefs) {
        for (int p = 0; p < spills.length; p++) {
            if (spills[p] != null) {
                spills[p].clear(storeRefs);
            }
            counts[p] = 0;
        }
    }

    /** Frees every lane's files; not used again. */
    void delete() {
        for (int p = 0; p < spills.length; p++) {
            if (spills[p] != null) {
                spills[p].delete();
                spills[p] = null;
            }
            counts[p] = 0;
        }
    }
}
