package io.warren.it.durability;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.LongString;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Date;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static io.warren.it.durability.Durable.PERSISTENT;
import static io.warren.it.durability.Durable.TIMEOUT;
import static io.warren.it.durability.Durable.bodies;
import static io.warren.it.durability.Durable.getAll;
import static io.warren.it.durability.Durable.messageCount;
import static io.warren.it.durability.Durable.publishConfirmed;
import static io.warren.it.durability.Durable.text;
import static io.warren.it.durability.Durable.texts;
import static io.warren.it.durability.Durable.durableQueue;
import static io.warren.it.durability.Durable.unique;
import static io.warren.it.durability.Durable.utf8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What a recovered message carries (body, every property, routing info) and the two ways a
 * publisher learns a message is safe: publisher confirms and committed transactions.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class ContentAndTxRestartTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private Connection c;

    @BeforeEach
    void connect() throws Exception {
        c = broker.connect();
    }

    private void restart() throws Exception {
        broker.restart();
        c = broker.connect();
    }

    // ---- content ------------------------------------------------------------------------------

    @Test
    void largeBodiesAndEveryPropertyRoundTripExactly() throws Exception {
        Channel ch = c.createChannel();
        String x = unique("x-direct");
        ch.exchangeDeclare(x, "direct", true);
        String q = durableQueue(c, "q-content");
        String key = "routing.key.ünïcødé";
        ch.queueBind(q, x, key);

        byte[] large = new byte[1024 * 1024];
        new Random(42).nextBytes(large);
        byte[] small = utf8("small");
        Map<String, Object> nested = new LinkedHashMap<>();
        nested.put("inner", "value");
        nested.put("depth", 2);
        Map<String, Object> headers = new LinkedHashMap<>();
        headers.put("string", "text ✓");
        headers.put("int", 42);
        headers.put("long", 1L << 40);
        headers.put("short", (short) 7);
        headers.put("byte", (byte) -3);
        headers.put("bool", true);
        headers.put("double", 3.25);
        headers.put("float", 1.5f);
        headers.put("decimal", new BigDecimal("123.45"));
        headers.put("timestamp", new Date(1_700_000_000_000L));
        headers.put("bytes", new byte[] {0, 1, 2, (byte) 255});
        headers.put("table", nested);
        headers.put("array", List.of("a", 1, false));
        headers.put("void", null);
        AMQP.BasicProperties full = new AMQP.BasicProperties.Builder()
                .contentType("application/x-test")
                .contentEncoding("identity")
                .headers(headers)
                .deliveryMode(2)
                .priority(5)
                .correlationId("corr-1")
                .replyTo("reply.queue")
                .expiration("86400000")
                .messageId("msg-1")
                .timestamp(new Date(1_600_000_000_000L))
                .type("test.type")
                .userId("guest") // must be the connection's user
                .appId("warren-it")
                .clusterId("cluster-x")
                .build();
        AMQP.BasicProperties onlyPersistent = PERSISTENT;

        ch.confirmSelect();
        ch.basicPublish(x, key, full, large);
        ch.basicPublish(x, key, onlyPersistent, new byte[0]);
        ch.basicPublish(x, key, full, small);
        ch.waitForConfirmsOrDie(TIMEOUT.toMillis());
        // What a consumer saw before the stop (then put back): the reference for "exactly".
        List<GetResponse> before = new ArrayList<>();
        Channel peek = c.createChannel();
        for (int i = 0; i < 3; i++) {
            before.add(peek.basicGet(q, false));
        }
        peek.close();

        restart();

        List<GetResponse> after = getAll(c.createChannel(), q);
        assertEquals(3, after.size());
        assertArrayEquals(large, after.get(0).getBody());
        assertArrayEquals(new byte[0], after.get(1).getBody());
        assertArrayEquals(small, after.get(2).getBody());
        for (int i = 0; i < 3; i++) {
            GetResponse a = after.get(i);
            GetResponse b = before.get(i);
            assertNotNull(b, "got message " + i + " before the restart");
            assertArrayEquals(b.getBody(), a.getBody());
            assertEquals(x, a.getEnvelope().getExchange());
            assertEquals(key, a.getEnvelope().getRoutingKey());
            assertEquals(describe(b.getProps()), describe(a.getProps()), "message " + i);
        }
        assertEquals(describe(full), describe(after.get(0).getProps()));
        assertEquals(describe(onlyPersistent), describe(after.get(1).getProps()));
        assertEquals(describe(full), describe(after.get(2).getProps()));
    }

    /** Every property with its type: strings arrive as LongString, byte arrays compared by content. */
    private static String describe(AMQP.BasicProperties p) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("contentType", p.getContentType());
        m.put("contentEncoding", p.getContentEncoding());
        m.put("headers", normalize(p.getHeaders()));
        m.put("deliveryMode", p.getDeliveryMode());
        m.put("priority", p.getPriority());
        m.put("correlationId", p.getCorrelationId());
        m.put("replyTo", p.getReplyTo());
        m.put("expiration", p.getExpiration());
        m.put("messageId", p.getMessageId());
        m.put("timestamp", p.getTimestamp());
        m.put("type", p.getType());
        m.put("userId", p.getUserId());
        m.put("appId", p.getAppId());
        m.put("clusterId", p.getClusterId());
        return m.toString();
    }

    private static Object normalize(Object v) {
        if (v == null) {
            return "null";
        }
        if (v instanceof Map<?, ?> map) {
            Map<String, Object> out = new HashMap<>();
            map.forEach((k, val) -> out.put(String.valueOf(k), normalize(val)));
            return new java.util.TreeMap<>(out);
        }
        if (v instanceof List<?> l) {
            return l.stream().map(ContentAndTxRestartTest::normalize).toList();
        }
        if (v instanceof LongString || v instanceof String) {
            return "str:" + v;
        }
        if (v instanceof byte[] b) {
            return "bytes:" + Arrays.toString(b);
        }
        return v.getClass().getSimpleName() + ":" + v;
    }

    // ---- confirms -----------------------------------------------------------------------------

    @Test
    void confirmedMessagesSurviveARestart() throws Exception {
        Channel setup = c.createChannel();
        String x = unique("x-fanout");
        setup.exchangeDeclare(x, "fanout", true);
        String a = durableQueue(c, "q-confirmed-a");
        String b = durableQueue(c, "q-confirmed-b");
        setup.queueBind(a, x, "");
        setup.queueBind(b, x, "");
        List<Channel> publishers = new ArrayList<>();
        for (int p = 0; p < 3; p++) {
            Channel ch = c.createChannel();
            ch.confirmSelect();
            publishers.add(ch);
        }
        for (int i = 0; i < 500; i++) {
            for (int p = 0; p < 3; p++) {
                publishers.get(p).basicPublish(x, "", PERSISTENT, utf8("p" + p + "-" + i));
            }
        }
        for (Channel ch : publishers) {
            ch.waitForConfirmsOrDie(TIMEOUT.toMillis()); // every basic.ack came after the commit
        }

        restart();

        for (String q : List.of(a, b)) {
            List<String> got = texts(getAll(c.createChannel(), q));
            assertEquals(1500, got.size(), q);
            for (int p = 0; p < 3; p++) {
                String prefix = "p" + p + "-";
                assertEquals(bodies(prefix, 0, 500), got.stream().filter(t -> t.startsWith(prefix)).toList(),
                        "each publisher's messages in its order");
            }
        }
    }

    @Test
    void everythingConfirmedUntilTheBrokerStopsComesBackOnce() throws Exception {
        String q = durableQueue(c, "q-confirmed-during-stop");
        Channel ch = c.createChannel();
        ch.confirmSelect();
        java.util.concurrent.ConcurrentSkipListSet<Long> outstanding = new java.util.concurrent.ConcurrentSkipListSet<>();
        java.util.concurrent.ConcurrentSkipListSet<Long> confirmed = new java.util.concurrent.ConcurrentSkipListSet<>();
        java.util.concurrent.ConcurrentSkipListSet<Long> nacked = new java.util.concurrent.ConcurrentSkipListSet<>();
        ch.addConfirmListener((tag, multiple) -> settle(outstanding, confirmed, tag, multiple),
                (tag, multiple) -> settle(outstanding, nacked, tag, multiple));
        Thread publisher = new Thread(() -> {
            try {
                while (true) {
                    long seq = ch.getNextPublishSeqNo();
                    outstanding.add(seq);
                    ch.basicPublish("", q, PERSISTENT, utf8(Long.toString(seq)));
                }
            } catch (Exception stopped) {
                // the broker went away
            }
        }, "publisher");
        publisher.start();
        org.awaitility.Awaitility.await().atMost(TIMEOUT).until(() -> confirmed.size() >= 2_000);

        restart(); // while the publisher is still publishing

        publisher.join(TIMEOUT.toMillis());
        assertEquals(java.util.Set.of(), nacked, "nothing was nacked");
        List<String> got = texts(getAll(c.createChannel(), q));
        assertEquals(got.size(), new java.util.HashSet<>(got).size(), "no message twice");
        java.util.Set<Long> present = new java.util.HashSet<>();
        got.forEach(t -> present.add(Long.parseLong(t)));
        List<Long> lost = confirmed.stream().filter(seq -> !present.contains(seq)).toList();
        assertEquals(List.of(), lost, "confirmed (" + confirmed.size() + ") but missing after the restart");
        assertTrue(got.size() >= confirmed.size());
    }

    private static void settle(java.util.NavigableSet<Long> outstanding, java.util.Set<Long> into, long tag,
                               boolean multiple) {
        java.util.NavigableSet<Long> done = multiple ? outstanding.headSet(tag, true) : outstanding.subSet(tag, true, tag, true);
        into.addAll(done);
        done.clear();
    }

    // ---- transactions -------------------------------------------------------------------------

    @Test
    void committedTransactionsSurviveRolledBackOnesDoNot() throws Exception {
        String q = durableQueue(c, "q-tx");
        publishConfirmed(c, "", q, PERSISTENT, bodies("a", 0, 4));
        Channel tx = c.createChannel();
        tx.txSelect();
        // Committed: two acks and two persistent publishes.
        GetResponse a0 = tx.basicGet(q, false);
        GetResponse a1 = tx.basicGet(q, false);
        assertEquals(List.of("a0", "a1"), List.of(text(a0), text(a1)));
        tx.basicAck(a1.getEnvelope().getDeliveryTag(), true);
        tx.basicPublish("", q, PERSISTENT, utf8("p0"));
        tx.basicPublish("", q, PERSISTENT, utf8("p1"));
        tx.txCommit();
        // Rolled back: an ack and a publish.
        GetResponse a2 = tx.basicGet(q, false);
        assertEquals("a2", text(a2));
        tx.basicAck(a2.getEnvelope().getDeliveryTag(), false);
        tx.basicPublish("", q, PERSISTENT, utf8("rolled-back"));
        tx.txRollback();
        // Publishes still uncommitted when the broker stops are dropped too.
        tx.basicPublish("", q, PERSISTENT, utf8("never-committed"));
        tx.queueDeclarePassive(q);

        restart();

        // a2 is unacknowledged again after the rollback, so it comes back with a3, p0 and p1.
        assertEquals(List.of("a2", "a3", "p0", "p1"), texts(getAll(c.createChannel(), q)));
        assertEquals(0, messageCount(c, q));
    }
}
