package io.warren.it.extensions;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.Return;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.CopyOnWriteArrayList;

import static io.warren.it.support.AmqpAssertions.assertClose;
import static io.warren.it.support.AmqpAssertions.channelError;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * RabbitMQ's queue length limits ("Queue Length Limit" page, 3.10): {@code x-max-length} and
 * {@code x-max-length-bytes} count ready messages and their body bytes; with {@code x-overflow}
 * {@code drop-head} (the default) the oldest go, with {@code reject-publish} (and
 * {@code reject-publish-dlx}) a publish that would pass the limit is refused: a basic.nack under
 * confirms, silently dropped without. Bad values get RabbitMQ's 406 texts.
 */
class QueueLengthLimitTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private static String unique(String prefix) {
        return prefix + "-" + UUID.randomUUID();
    }

    private static Map<String, Object> args(Object... kv) {
        Map<String, Object> m = new HashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    private static String declare(Channel ch, Map<String, Object> args) throws Exception {
        return ch.queueDeclare(unique("maxlen"), false, false, true, args).getQueue();
    }

    private static void publish(Channel ch, String q, String body) throws Exception {
        ch.basicPublish("", q, null, body.getBytes(StandardCharsets.UTF_8));
    }

    private static String get(Channel ch, String q) throws Exception {
        GetResponse r = ch.basicGet(q, true);
        return r == null ? null : new String(r.getBody(), StandardCharsets.UTF_8);
    }

    private static List<String> drain(Channel ch, String q) throws Exception {
        List<String> out = new ArrayList<>();
        String s;
        while ((s = get(ch, q)) != null) {
            out.add(s);
        }
        return out;
    }

    private static int count(Channel ch, String q) throws Exception {
        return ch.queueDeclarePassive(q).getMessageCount();
    }

    /**
     * The confirm of a transient message goes out once it is routed, maybe before its queue's
     * loop has run the enqueue: counts are awaited, not read once.
     */
    private static void awaitCount(Channel ch, String q, int n) {
        await().until(() -> count(ch, q) == n);
    }

    /** A confirming channel that records which publishes were acked and which nacked. */
    private static final class Confirms {
        final Set<Long> acked = new ConcurrentSkipListSet<>();
        final Set<Long> nacked = new ConcurrentSkipListSet<>();

        Confirms(Channel ch) throws Exception {
            ch.confirmSelect();
            ch.addConfirmListener((tag, multiple) -> record(acked, tag, multiple),
                    (tag, multiple) -> record(nacked, tag, multiple));
        }

        private void record(Set<Long> into, long tag, boolean multiple) {
            if (!multiple) {
                into.add(tag);
                return;
            }
            for (long t = 1; t <= tag; t++) {
                if (!acked.contains(t) && !nacked.contains(t)) {
                    into.add(t);
                }
            }
        }

        void awaitAll(int n) {
            await().until(() -> acked.size() + nacked.size() == n);
        }
    }

    @Test
    void dropHeadKeepsTheNewestMessages() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = declare(ch, args("x-max-length", 3));
        ch.confirmSelect();
        for (int i = 0; i < 10; i++) {
            publish(ch, q, "m" + i);
        }
        assertTrue(ch.waitForConfirms(10_000), "drop-head never refuses a publish");
        awaitCount(ch, q, 3);
        assertEquals(List.of("m7", "m8", "m9"), drain(ch, q));
    }

    @Test
    void maxLengthZeroKeepsNothingButAConsumerStillGetsTheMessage() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = declare(ch, args("x-max-length", 0));
        publish(ch, q, "gone");
        await().until(() -> count(ch, q) == 0);
        assertNull(get(ch, q));

        List<String> got = new CopyOnWriteArrayList<>();
        ch.basicConsume(q, true, (tag, d) -> got.add(new String(d.getBody(), StandardCharsets.UTF_8)), tag -> { });
        publish(ch, q, "delivered");
        await().until(() -> got.equals(List.of("delivered")));
    }

    @Test
    void unacknowledgedMessagesDoNotCount() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = declare(ch, args("x-max-length", 2));
        ch.confirmSelect();
        publish(ch, q, "a");
        publish(ch, q, "b");
        ch.waitForConfirmsOrDie(10_000);
        GetResponse first = ch.basicGet(q, false);
        GetResponse second = ch.basicGet(q, false);
        publish(ch, q, "c");
        publish(ch, q, "d");
        ch.waitForConfirmsOrDie(10_000);
        awaitCount(ch, q, 2);
        // A requeue past the limit drops from the head, where the requeued messages went back.
        ch.basicNack(second.getEnvelope().getDeliveryTag(), true, true);
        assertEquals(List.of("c", "d"), drain(ch, q));
        assertTrue(first.getEnvelope().getDeliveryTag() < second.getEnvelope().getDeliveryTag());
    }

    /** The RabbitMQ Java client's QueueSizeLimit scenarios without dead-lettering (queueSize, queueSizeUnacked, requeue). */
    @Test
    void theJavaClientsQueueSizeLimitScenarios() throws Exception {
        Channel ch = broker.connect().createChannel();
        for (int maxLen = 0; maxLen <= 3; maxLen++) {
            for (boolean unacked : new boolean[] {false, true}) {
                String q = declare(ch, args("x-max-length", maxLen));
                for (int i = 1; i <= maxLen; i++) {
                    publish(ch, q, "msg" + i);
                }
                if (unacked) {
                    for (int i = 0; i < maxLen; i++) {
                        ch.basicGet(q, false);
                    }
                }
                publish(ch, q, "msg" + (maxLen + 1));
                int expected = unacked ? (maxLen > 0 ? 1 : 0) : maxLen;
                String head = unacked ? "msg" + (maxLen + 1) : "msg2";
                GetResponse r = ch.basicGet(q, true);
                if (expected == 0) {
                    assertNull(r, "maxLen " + maxLen);
                } else {
                    assertEquals(head, new String(r.getBody(), StandardCharsets.UTF_8), "maxLen " + maxLen);
                    assertEquals(expected, r.getMessageCount() + 1, "maxLen " + maxLen);
                }
                ch.queueDelete(q);
            }
        }
        for (int maxLen = 1; maxLen <= 3; maxLen++) {
            Channel rc = broker.connect().createChannel();
            String q = declare(rc, args("x-max-length", maxLen));
            for (int i = 1; i <= maxLen; i++) {
                publish(rc, q, "msg" + i);
            }
            List<Long> tags = new ArrayList<>();
            for (int i = 0; i < maxLen; i++) {
                tags.add(rc.basicGet(q, false).getEnvelope().getDeliveryTag());
            }
            for (int i = 1; i <= maxLen; i++) {
                publish(rc, q, "again" + i);
            }
            rc.basicNack(tags.get(0), false, true);
            if (maxLen > 1) {
                rc.basicNack(tags.get(maxLen - 1), true, true);
            }
            List<String> expected = new ArrayList<>();
            for (int i = 1; i <= maxLen; i++) {
                expected.add("again" + i);
            }
            assertEquals(expected, drain(rc, q), "the requeued messages went to the head and were dropped");
            rc.close();
        }
    }

    @Test
    void maxLengthBytesCountsBodyBytesAndTheTighterLimitWins() throws Exception {
        Channel ch = broker.connect().createChannel();
        ch.confirmSelect();
        String bytes = declare(ch, args("x-max-length-bytes", 10));
        for (String s : List.of("aaaa", "bbbb", "cccc", "dddd")) {
            publish(ch, bytes, s);
        }
        ch.waitForConfirmsOrDie(10_000);
        assertEquals(List.of("cccc", "dddd"), drain(ch, bytes));
        // A body larger than the limit on its own does not stay either (RabbitMQ: drops it).
        publish(ch, bytes, "0123456789x");
        publish(ch, bytes, "abc");
        ch.waitForConfirmsOrDie(10_000);
        assertEquals(List.of("abc"), drain(ch, bytes));

        String both = declare(ch, args("x-max-length", 5, "x-max-length-bytes", 10));
        for (int i = 0; i < 8; i++) {
            publish(ch, both, "" + i);
        }
        ch.waitForConfirmsOrDie(10_000);
        assertEquals(List.of("3", "4", "5", "6", "7"), drain(ch, both), "the count limit is the tighter");
        for (int i = 0; i < 4; i++) {
            publish(ch, both, "xxx" + i);
        }
        ch.waitForConfirmsOrDie(10_000);
        assertEquals(List.of("xxx2", "xxx3"), drain(ch, both), "the byte limit is the tighter");
    }

    @Test
    void rejectPublishNacksWhatWouldPassTheLimitAndKeepsTheFirst() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = declare(ch, args("x-max-length", 3, "x-overflow", "reject-publish"));
        Confirms confirms = new Confirms(ch);
        for (int i = 0; i < 5; i++) {
            publish(ch, q, "m" + i);
        }
        confirms.awaitAll(5);
        assertEquals(Set.of(1L, 2L, 3L), confirms.acked);
        assertEquals(Set.of(4L, 5L), confirms.nacked);
        assertEquals(3, count(ch, q));
        // Room again after a get: the next publish is taken.
        assertEquals("m0", get(ch, q));
        publish(ch, q, "m5");
        confirms.awaitAll(6);
        assertTrue(confirms.acked.contains(6L));
        assertEquals(List.of("m1", "m2", "m5"), drain(ch, q));
    }

    @Test
    void rejectPublishDlxRefusesTheSameWay() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = declare(ch, args("x-max-length-bytes", 5, "x-overflow", "reject-publish-dlx"));
        Confirms confirms = new Confirms(ch);
        for (String s : List.of("0123456789", "abc", "de", "f")) {
            publish(ch, q, s);
        }
        confirms.awaitAll(4);
        // RabbitMQ 3.10, probed: the oversized body and the one past 5 bytes are nacked.
        assertEquals(Set.of(2L, 3L), confirms.acked);
        assertEquals(Set.of(1L, 4L), confirms.nacked);
        assertEquals(List.of("abc", "de"), drain(ch, q));
    }

    @Test
    void withoutConfirmsRefusedMessagesAreDroppedSilently() throws Exception {
        Channel ch = broker.connect().createChannel();
        List<Return> returns = new CopyOnWriteArrayList<>();
        ch.addReturnListener(returns::add);
        String q = declare(ch, args("x-max-length", 2, "x-overflow", "reject-publish"));
        for (int i = 0; i < 5; i++) {
            ch.basicPublish("", q, true, null, ("m" + i).getBytes(StandardCharsets.UTF_8));
        }
        await().until(() -> count(ch, q) == 2);
        assertTrue(ch.isOpen());
        assertEquals(List.of("m0", "m1"), drain(ch, q));
        assertTrue(returns.isEmpty(), "a refused message was routed: no basic.return");
    }

    @Test
    void aRefusalByAnyQueueNacksThePublishOtherQueuesStillGetIt() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String x = unique("fan");
        ch.exchangeDeclare(x, "fanout", false, true, null);
        String limited = declare(ch, args("x-max-length", 1, "x-overflow", "reject-publish"));
        String free = declare(ch, null);
        ch.queueBind(limited, x, "");
        ch.queueBind(free, x, "");
        Confirms confirms = new Confirms(ch);
        ch.basicPublish(x, "", null, "one".getBytes(StandardCharsets.UTF_8));
        ch.basicPublish(x, "", null, "two".getBytes(StandardCharsets.UTF_8));
        confirms.awaitAll(2);
        assertEquals(Set.of(1L), confirms.acked);
        assertEquals(Set.of(2L), confirms.nacked);
        assertEquals(List.of("one"), drain(ch, limited));
        assertEquals(List.of("one", "two"), drain(ch, free));
    }

    @Test
    void confirmsOfOtherQueuesAreNotHeldUpOrMixedWithRefusals() throws Exception {
        Channel ch = broker.connect().createChannel();
        String limited = declare(ch, args("x-max-length", 2, "x-overflow", "reject-publish"));
        String free = declare(ch, null);
        Confirms confirms = new Confirms(ch);
        int n = 200;
        for (int i = 0; i < n; i++) {
            publish(ch, i % 2 == 0 ? limited : free, "m" + i);
        }
        confirms.awaitAll(n);
        // Odd sequence numbers went to the limited queue: its first two are taken, the rest refused.
        for (long seq = 1; seq <= n; seq++) {
            boolean refused = seq % 2 == 1 && seq > 3;
            assertEquals(refused, confirms.nacked.contains(seq), "publish " + seq);
            assertEquals(!refused, confirms.acked.contains(seq), "publish " + seq);
        }
        assertEquals(2, count(ch, limited));
        awaitCount(ch, free, n / 2);
    }

    @Test
    void invalidValuesAreRefusedWithRabbitMqsTexts() throws Exception {
        Connection c = broker.connect();
        String q = unique("bad");
        Object[][] cases = {
                {"x-max-length", "ten", "\"expected integer, got longstr\""},
                {"x-max-length", -1, "{value_negative,-1}"},
                {"x-max-length-bytes", -5L, "{value_negative,-5}"},
                {"x-max-length-bytes", 1.5, "\"expected integer, got double\""},
                {"x-overflow", "drop-tail", "invalid_overflow"},
                {"x-overflow", 5, "{unacceptable_type,signedint}"},
        };
        for (Object[] k : cases) {
            Channel ch = c.createChannel();
            assertClose(406, "PRECONDITION_FAILED - invalid arg '" + k[0] + "' for queue '" + q + "' in vhost '/': "
                    + k[2], channelError(() -> ch.queueDeclare(q, false, false, true, args(k[0], k[1]))));
        }
        Channel ok = c.createChannel();
        ok.queueDeclare(q, false, false, true, args("x-max-length", 0, "x-max-length-bytes", 0L,
                "x-overflow", "reject-publish-dlx"));
        assertFalse(ok.queueDeclarePassive(q).getQueue().isEmpty());
        ok.queueDelete(q);
    }
}
