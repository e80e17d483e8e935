package io.warren.core.queue;

import io.warren.core.message.QueueEntry;
import org.junit.jupiter.api.Test;

import java.util.ArrayDeque;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The paged-out entries' ledger: FIFO through growth while wrapped around; re-timing after a TTL change. */
class SpillLedgerTest {
    @Test
    void staysFifoThroughWrapAroundAndGrowth() {
        SpillLedger l = new SpillLedger();
        ArrayDeque<long[]> model = new ArrayDeque<>();
        long next = 0;
        for (int round = 0; round < 50; round++) {
            int adds = 7 + round * 3;
            for (int i = 0; i < adds; i++) {
                l.add(next, 10 * next, -1, -next);
                model.addLast(new long[] {next, -next});
                next++;
            }
            int polls = 5 + round * 2;
            for (int i = 0; i < polls && !model.isEmpty(); i++) {
                long[] m = model.pollFirst();
                assertEquals(m[0], l.headBytes());
                assertEquals(m[1], l.headExpiresAt());
                l.poll();
            }
        }
        while (!model.isEmpty()) {
            assertEquals(model.pollFirst()[0], l.headBytes());
            l.poll();
        }
        assertTrue(l.isEmpty());
        l.add(1, 2, -1, 3);
        l.clear();
        assertTrue(l.isEmpty());
    }

    /**
     * A TTL change re-times every entry from its enqueue time (its own TTL where shorter), in
     * bounded steps that survive polls at the head, leaves alone one that had expired by the
     * change, and reports each move by bucket so that the counts follow.
     */
    @Test
    void retimesInStepsAndReportsTheMoves() {
        SpillLedger l = new SpillLedger();
        SpillExpiries counts = new SpillExpiries();
        long t0 = 1_000_000;
        // 300 entries enqueued 1 ms apart under a 60 s TTL; every 10th has its own 5 s TTL
        for (int i = 0; i < 300; i++) {
            long own = i % 10 == 0 ? 5_000 : -1;
            long at = QueueEntry.expiry(t0 + i, own, 60_000);
            l.add(100, t0 + i, own, at);
            counts.add(at, 100);
        }
        // one entry that had expired before the change (an own TTL of 1 ms)
        l.add(100, t0 + 300, 1, t0 + 301);
        counts.add(t0 + 301, 100);
        long changedAt = t0 + 400;
        counts.expireUpTo(changedAt);
        assertEquals(1, counts.expired());

        // the TTL becomes 2 s: in steps of 64, with a poll at the head between two steps
        l.startRetime();
        int steps = 0;
        boolean done = false;
        while (!done) {
            SpillExpiries.Moves moves = new SpillExpiries.Moves();
            done = l.retime(2_000, changedAt, 64, moves);
            counts.apply(moves);
            steps++;
            if (steps == 2) {
                // entry 0 (its own 5 s TTL gives way to the shorter queue TTL)
                assertEquals(t0 + 2_000, l.headExpiresAt(), "the head was re-timed");
                assertFalse(counts.left(l.headExpiresAt(), l.headBytes()), "not counted as expired yet");
                l.poll();
            }
        }
        assertTrue(steps >= 5, "in steps: " + steps);
        // now every entry expires 2 s after its enqueue time, the expired one as it was
        for (int i = 1; i < 300; i++) {
            assertEquals(t0 + i + 2_000, l.headExpiresAt(), "entry " + i);
            assertFalse(counts.left(l.headExpiresAt(), l.headBytes()));
            l.poll();
        }
        assertEquals(t0 + 301, l.headExpiresAt());
        assertTrue(counts.left(l.headExpiresAt(), l.headBytes()), "it had been counted as expired");
        l.poll();
        assertTrue(l.isEmpty());
        assertEquals(0, counts.expired());
        assertEquals(QueueEntry.NEVER, counts.next(), "every bucket emptied: the moves matched the counts");
    }
}
