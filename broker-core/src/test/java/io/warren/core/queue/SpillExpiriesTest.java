package io.warren.core.queue;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Re-timing paged-out entries moves their counts between buckets and the expired count, exactly. */
class SpillExpiriesTest {

    @Test
    void movesShiftCountsBetweenBucketsAndTheExpiredCount() {
        SpillExpiries x = new SpillExpiries();
        for (int i = 0; i < 10; i++) {
            x.add(10_000 + i * 100, 10);
        }
        x.expireUpTo(10_250); // buckets ending 10,100 and 10,200: 2 entries
        assertEquals(2, x.expired());
        assertEquals(20, x.expiredBytes());

        // Shortened: the entries due at 10,500 and 10,600 now expire at 10,050 and 10,060 (due
        // already: counted at once); lengthened: the one due at 10,000 (counted) now at 20,000.
        SpillExpiries.Moves m = new SpillExpiries.Moves();
        m.moved(10_500, 10_050, 10);
        m.moved(10_600, 10_060, 10);
        m.moved(10_000, 20_000, 10);
        x.apply(m);
        assertEquals(3, x.expired());
        assertEquals(30, x.expiredBytes());
        assertEquals(10_300, x.next()); // the entry due at 10,200

        // read back with their new expiries: each leaves where it now sits
        assertEquals(true, x.left(10_050, 10));
        assertEquals(false, x.left(20_000, 10));
        x.expireUpTo(30_000);
        // 10,100 and 10,060 counted before; 10,200 .. 10,900 less the two moved: 6 more
        assertEquals(2 + 6, x.expired());
        assertEquals(80, x.expiredBytes());
    }

    @Test
    void aMoveToNoExpiryLeavesTheCounts() {
        SpillExpiries x = new SpillExpiries();
        x.add(5_000, 7);
        SpillExpiries.Moves m = new SpillExpiries.Moves();
        m.moved(5_000, io.warren.core.message.QueueEntry.NEVER, 7);
        x.apply(m);
        assertEquals(io.warren.core.message.QueueEntry.NEVER, x.next());
        x.expireUpTo(100_000);
        assertEquals(0, x.expired());
    }
}
