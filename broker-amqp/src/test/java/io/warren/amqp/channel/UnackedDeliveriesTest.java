package io.warren.amqp.channel;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

class UnackedDeliveriesTest {
    private static Unacked delivery(long tag) {
        return new Unacked(tag, null, null, null, 0);
    }

    private static List<Long> tags(List<Unacked> us) {
        List<Long> out = new ArrayList<>();
        us.forEach(u -> out.add(u.tag()));
        return out;
    }

    @Test
    void singleMultipleAndAllAcksSettleWhatTheyName() {
        UnackedDeliveries d = new UnackedDeliveries();
        for (int i = 0; i < 10; i++) {
            d.add(delivery(d.nextTag()));
        }
        assertEquals(List.of(4L), tags(d.take(4, false)));
        assertEquals(List.of(1L, 2L, 3L, 5L, 6L), tags(d.take(6, true)));
        assertEquals(7, d.oldest().tag());
        assertEquals(4, d.size());
        assertEquals(List.of(7L, 8L, 9L, 10L), tags(d.take(0, true)));
        assertNull(d.oldest());
        assertEquals(0, d.size());
    }

    @Test
    void anUnknownOrSettledTagIsA406AndSettlesNothing() {
        UnackedDeliveries d = new UnackedDeliveries();
        d.add(delivery(d.nextTag()));
        d.nextTag(); // a no-ack delivery's tag: never tracked
        d.add(delivery(d.nextTag()));
        ChannelException e = assertThrows(ChannelException.class, () -> d.take(2, false));
        assertEquals("PRECONDITION_FAILED - unknown delivery tag 2", e.getMessage());
        assertThrows(ChannelException.class, () -> d.take(2, true));
        assertThrows(ChannelException.class, () -> d.take(99, false));
        assertEquals(2, d.size());
        d.take(1, false);
        assertThrows(ChannelException.class, () -> d.take(1, false));
        assertEquals(3, d.oldest().tag());
    }

    @Test
    void aHeldOldestDeliveryDoesNotMakeTheRingGrowWithTheTagsHandedOut() throws Exception {
        UnackedDeliveries d = new UnackedDeliveries();
        d.add(delivery(d.nextTag())); // held for ever
        for (int i = 0; i < 1_000_000; i++) {
            long t = d.nextTag();
            d.add(delivery(t));
            d.take(t, false);
        }
        assertEquals(1, d.size());
        assertEquals(1, d.oldest().tag());
        java.lang.reflect.Field f = UnackedDeliveries.class.getDeclaredField("items");
        f.setAccessible(true);
        assertEquals(16, ((Object[]) f.get(d)).length, "holes are compacted away");
    }

    @Test
    void restorePutsRolledBackDeliveriesBackInTagOrder() {
        UnackedDeliveries d = new UnackedDeliveries();
        for (int i = 0; i < 6; i++) {
            d.add(delivery(d.nextTag()));
        }
        List<Unacked> acked = new ArrayList<>(d.take(2, false)); // a rolled-back transaction's two acks
        acked.addAll(d.take(5, false));
        d.restore(acked);
        assertEquals(List.of(1L, 2L, 3L, 4L, 5L, 6L), tags(d.take(0, true)));
    }

    /** Random adds, single, multiple and bad acks against a sorted map as the model. */
    @Test
    void behavesLikeASortedMapUnderRandomTraffic() {
        Random r = new Random(42);
        UnackedDeliveries d = new UnackedDeliveries();
        TreeMap<Long, Unacked> model = new TreeMap<>();
        for (int step = 0; step < 200_000; step++) {
            int op = r.nextInt(10);
            if (op < 5) {
                long t = d.nextTag();
                if (r.nextInt(4) > 0) { // some tags go to no-ack deliveries
                    Unacked u = delivery(t);
                    d.add(u);
                    model.put(t, u);
                }
            } else if (op < 8 && !model.isEmpty()) {
                long t = pick(r, model);
                assertSame(model.remove(t), d.take(t, false).get(0));
            } else if (op < 9 && !model.isEmpty()) {
                long t = pick(r, model);
                List<Unacked> expected = new ArrayList<>();
                Iterator<Map.Entry<Long, Unacked>> it = model.headMap(t, true).entrySet().iterator();
                while (it.hasNext()) {
                    expected.add(it.next().getValue());
                    it.remove();
                }
                assertEquals(expected, d.take(t, true));
            } else {
                long t = 1 + (long) r.nextInt((int) Math.max(1, d.peekTag()));
                if (!model.containsKey(t)) {
                    assertThrows(ChannelException.class, () -> d.take(t, r.nextBoolean()));
                }
            }
            assertEquals(model.size(), d.size());
            assertEquals(model.isEmpty() ? null : model.firstEntry().getValue(), d.oldest());
        }
    }

    private static long pick(Random r, TreeMap<Long, Unacked> model) {
        long lo = model.firstKey();
        long hi = model.lastKey();
        Long t = model.ceilingKey(lo + (long) (r.nextDouble() * (hi - lo + 1)));
        return t != null ? t : hi;
    }
}
