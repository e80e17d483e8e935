package io.warren.core.queue;

import io.netty.buffer.Unpooled;
import io.warren.core.message.Message;
import io.warren.core.message.QueueEntry;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The priority ready list: highest lane first, FIFO within, requeue by sequence, per-lane expiry. */
class ReadyListTest {
    private long seq;

    private QueueEntry entry(int priority) {
        Message m = new Message("", "q", Unpooled.buffer(2).writeShort(0), Unpooled.EMPTY_BUFFER, false, b -> null);
        m.priority(priority);
        return new QueueEntry(m, seq++, false, QueueEntry.NOT_STORED);
    }

    private static List<Long> seqs(Iterable<QueueEntry> l) {
        List<Long> out = new ArrayList<>();
        l.forEach(e -> out.add(e.seq()));
        return out;
    }

    private static List<Long> drain(ReadyList l) {
        List<Long> out = new ArrayList<>();
        QueueEntry e;
        while ((e = l.pollFirst()) != null) {
            out.add(e.seq());
        }
        return out;
    }

    @Test
    void zeroMaxIsAPlainFifo() {
        ReadyList l = ReadyList.create(0);
        assertEquals(1, l.lanes());
        l.addLast(entry(9));
        l.addLast(entry(0));
        assertEquals(List.of(0L, 1L), drain(l));
    }

    @Test
    void highestFirstFifoWithinCappedAtMax() {
        ReadyList l = ReadyList.create(3);
        int[] ps = {0, 2, 7, 3, 1, 0}; // 7 counts as 3
        for (int p : ps) {
            l.addLast(entry(p));
        }
        assertEquals(6, l.size());
        assertEquals(3, l.topLane());
        assertEquals(List.of(2L, 3L, 1L, 4L, 0L, 5L), seqs(l));
        assertEquals(List.of(2L, 3L, 1L, 4L, 0L, 5L), drain(l));
        assertTrue(l.isEmpty());
        assertEquals(-1, l.topLane());
        assertNull(l.peekFirst());
    }

    @Test
    void putBackRestoresEachLanesOrder() {
        ReadyList l = ReadyList.create(5);
        List<QueueEntry> all = new ArrayList<>();
        for (int p : new int[] {1, 5, 1, 5, 1}) {
            QueueEntry e = entry(p);
            all.add(e);
            l.addLast(e);
        }
        List<QueueEntry> taken = List.of(l.pollFirst(), l.pollFirst(), l.pollFirst()); // 1, 3 (p5), 0 (p1)
        assertEquals(List.of(1L, 3L, 0L), seqs(taken));
        l.addLast(entry(5)); // seq 5 arrives after
        l.putBack(List.of(all.get(0), all.get(1), all.get(3)));
        assertEquals(List.of(1L, 3L, 5L, 0L, 2L, 4L), drain(l));
    }

    @Test
    void isLastAndRemoveLastWorkPerLane() {
        ReadyList l = ReadyList.create(5);
        QueueEntry high = entry(5);
        QueueEntry low = entry(0);
        l.addLast(high);
        l.addLast(low);
        assertTrue(l.isLast(low));
        assertTrue(l.isLast(high));
        l.removeLast(high);
        assertFalse(l.isLast(high));
        assertEquals(0, l.topLane());
        assertEquals(1, l.size());
    }

    @Test
    void expiredHeadsOfEveryLaneAreDropped() {
        ReadyList l = ReadyList.create(5);
        QueueEntry lowOld = entry(0);
        lowOld.expiresAt(100, false);
        QueueEntry high = entry(5);
        high.expiresAt(300, false);
        QueueEntry lowNew = entry(0);
        lowNew.expiresAt(200, false);
        l.addLast(lowOld);
        l.addLast(high);
        l.addLast(lowNew);
        assertEquals(100, l.headExpiry());
        List<QueueEntry> expired = new ArrayList<>();
        l.dropExpiredHeads(150, expired::add);
        assertEquals(List.of(lowOld), expired);
        assertEquals(200, l.headExpiry());
        assertEquals(List.of(high.seq(), lowNew.seq()), seqs(l));
    }
}
