package io.warren.amqp.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.warren.amqp.codec.FieldValues.LongString;
import io.warren.amqp.codec.FieldValues.Timestamp;
import io.warren.amqp.protocol.BasicProperties;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * The field order of the rewritten headers, which the Java client's HashMap cannot show: as
 * RabbitMQ 3.10.8 wrote them for pika (work queue rejecting with a DLX routing key, retry queue
 * expiring back): the table sorted by name, a first x-death entry in make_msg's order, later
 * and incremented entries sorted.
 */
class AmqpDeadLetterCodecTest {
    private final AmqpDeadLetterCodec codec = new AmqpDeadLetterCodec();

    private static ByteBuf props(Map<String, Object> headers, String expiration) {
        ByteBuf b = Unpooled.buffer();
        new BasicProperties("text/plain", null, headers, 2, null, null, null, expiration, null, null, null, null, null,
                null).write(b);
        return b;
    }

    private static BasicProperties read(ByteBuf b) {
        try {
            return BasicProperties.read(b.duplicate());
        } finally {
            b.release();
        }
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> deaths(BasicProperties p) {
        return (List<Map<String, Object>>) p.headers().get("x-death");
    }

    @Test
    void firstDeathThenRepeatedDeathsLookLikeRabbitMqs() {
        Map<String, Object> original = new LinkedHashMap<>();
        original.put("zz", 1);
        original.put("CC", List.of(LongString.of("nowhere")));
        ByteBuf in = props(original, "60000");

        // rejected from dlx-work, whose DLX has a routing key: CC goes, expiration is kept aside
        BasicProperties first = read(codec.rewrite(in, "rejected", "dlx-work", "", "dlx-work", 1000, true));
        in.release();
        assertNull(first.expiration());
        assertEquals("text/plain", first.contentType());
        assertEquals(2, first.deliveryMode());
        assertEquals(List.of("x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason", "zz"),
                new ArrayList<>(first.headers().keySet()));
        Map<String, Object> d = deaths(first).get(0);
        assertEquals(List.of("count", "reason", "queue", "time", "exchange", "routing-keys", "original-expiration"),
                new ArrayList<>(d.keySet()));
        assertEquals(1L, d.get("count"));
        assertEquals(new Timestamp(1000), d.get("time"));
        assertEquals(List.of(LongString.of("dlx-work"), LongString.of("nowhere")), d.get("routing-keys"));
        assertEquals(LongString.of("60000"), d.get("original-expiration"));

        // expired from dlx-retry (published there by exchange dlx-x with key retry): a new entry, first, sorted
        ByteBuf p1 = props(first.headers(), null);
        BasicProperties second = read(codec.rewrite(p1, "expired", "dlx-retry", "dlx-x", "retry", 2000, false));
        p1.release();
        assertEquals(2, deaths(second).size());
        Map<String, Object> e = deaths(second).get(0);
        assertEquals(List.of("count", "exchange", "queue", "reason", "routing-keys", "time"), new ArrayList<>(e.keySet()));
        assertEquals(LongString.of("dlx-retry"), e.get("queue"));
        assertEquals(LongString.of("rejected"), second.headers().get("x-first-death-reason"), "first death kept");

        // rejected again from dlx-work: its entry's count goes up, it moves first, sorted; time and keys stay
        ByteBuf p2 = props(second.headers(), null);
        BasicProperties third = read(codec.rewrite(p2, "rejected", "dlx-work", "", "dlx-work", 3000, true));
        p2.release();
        List<Map<String, Object>> deaths = deaths(third);
        assertEquals(2, deaths.size());
        Map<String, Object> r = deaths.get(0);
        assertEquals(List.of("count", "exchange", "original-expiration", "queue", "reason", "routing-keys", "time"),
                new ArrayList<>(r.keySet()));
        assertEquals(2L, r.get("count"));
        assertEquals(new Timestamp(1000), r.get("time"));
        assertEquals(LongString.of("dlx-retry"), deaths.get(1).get("queue"));
        assertEquals(1L, deaths.get(1).get("count"));
    }

    @Test
    void anXDeathThatIsNotAnArrayIsReplaced() {
        Map<String, Object> h = new LinkedHashMap<>();
        h.put("x-death", LongString.of("[I, am, not, array]"));
        ByteBuf in = props(h, null);
        BasicProperties p = read(codec.rewrite(in, "maxlen", "q", "amq.direct", "test", 1, false));
        in.release();
        assertEquals(1, deaths(p).size());
        assertEquals(LongString.of("maxlen"), deaths(p).get(0).get("reason"));
    }
}
