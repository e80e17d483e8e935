package io.warren.core.queue;

import org.junit.jupiter.api.Test;

import java.util.ArrayDeque;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The paged-out entries' ledger stays FIFO through growth while wrapped around. */
class SpillLedgerTest {
    @Test
    void staysFifoThroughWrapAroundAndGrowth() {
        SpillLedger l = new SpillLedger();
        ArrayDeque<long[]> model = new ArrayDeque<>();
        long next = 0;
        for (int round = 0; round < 50; round++) {
            int adds = 7 + round * 3;
            for (int i = 0; i < adds; i++) {
                l.add(next, -next);
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
        l.add(1, 2);
        l.clear();
        assertTrue(l.isEmpty());
    }
}
