package io.warren.it.extensions;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static io.warren.it.support.AmqpAssertions.assertClose;
import static io.warren.it.support.AmqpAssertions.channelError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Quorum queues on one node (RabbitMQ 3.10's semantics, checked against 3.10.8 with pika):
 * declare rules, the x-delivery-count header, x-delivery-limit (also on classic queues, a
 * warren extension), and every message kept across a restart, transient ones too.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class QuorumQueueTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private static final AMQP.BasicProperties TRANSIENT = new AMQP.BasicProperties.Builder().deliveryMode(1).build();

    private static String unique(String prefix) {
        return prefix + "-" + UUID.randomUUID();
    }

    private static Map<String, Object> quorum(Object... more) {
        Map<String, Object> args = new HashMap<>();
        args.put("x-queue-type", "quorum");
        for (int i = 0; i < more.length; i += 2) {
            args.put((String) more[i], more[i + 1]);
        }
        return args;
    }

    private static String text(GetResponse r) {
        return new String(r.getBody(), StandardCharsets.UTF_8);
    }

    private static Object deliveryCount(GetResponse r) {
        Map<String, Object> h = r.getProps().getHeaders();
        return h == null ? null : h.get("x-delivery-count");
    }

    private static void assertChannelError(Channel ch, int code, String text, String method,
                                           org.junit.jupiter.api.function.Executable op) {
        AMQP.Channel.Close close = channelError(op);
        if (text != null) {
            assertClose(code, text, close);
        } else {
            assertEquals(code, close.getReplyCode(), close.getReplyText());
        }
    }

    private static GetResponse getOne(Channel ch, String q) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        GetResponse r;
        while ((r = ch.basicGet(q, false)) == null && System.nanoTime() < end) {
            Thread.sleep(10);
        }
        return r;
    }

    @Test
    void declareRulesAsRabbitMq() throws Exception {
        Connection c = broker.connect();
        String[][] cases = {
            {"non-durable", "invalid property 'non-durable'"},
            {"exclusive", "invalid property 'exclusive-owner'"},
            {"auto-delete", "invalid property 'auto-delete'"},
        };
        for (String[] k : cases) {
            Channel ch = c.createChannel();
            String q = unique("qq");
            assertChannelError(ch, 406, "PRECONDITION_FAILED - " + k[1] + " for queue '" + q + "' in vhost '/'",
                    "queue.declare", () -> ch.queueDeclare(q, !k[0].equals("non-durable"),
                            k[0].equals("exclusive"), k[0].equals("auto-delete"), quorum()));
        }
        Channel ch = c.createChannel();
        String q = unique("qq");
        assertChannelError(ch, 406, "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '" + q
                + "' in vhost '/' of queue type rabbit_quorum_queue", "queue.declare",
                () -> ch.queueDeclare(q, true, false, false, quorum("x-max-priority", 5)));
        Channel ch2 = c.createChannel();
        String cq = unique("cq");
        assertChannelError(ch2, 406, "PRECONDITION_FAILED - invalid arg 'x-quorum-initial-group-size' for queue '"
                + cq + "' in vhost '/' of queue type rabbit_classic_queue", "queue.declare",
                () -> ch2.queueDeclare(cq, true, false, false, Map.of("x-quorum-initial-group-size", 3)));
        Channel ch3 = c.createChannel();
        String q3 = unique("qq");
        assertChannelError(ch3, 406, "PRECONDITION_FAILED - invalid arg 'x-dead-letter-strategy' for queue '" + q3
                + "' in vhost '/': invalid_dlx_strategy", "queue.declare",
                () -> ch3.queueDeclare(q3, true, false, false, quorum("x-dead-letter-strategy", "sometimes")));
        Channel ch4 = c.createChannel();
        String q4 = unique("qq");
        assertChannelError(ch4, 406, "PRECONDITION_FAILED - invalid arg 'x-delivery-limit' for queue '" + q4
                + "' in vhost '/': {value_negative,-1}", "queue.declare",
                () -> ch4.queueDeclare(q4, true, false, false, quorum("x-delivery-limit", -1)));

        // x-queue-leader-locator, as RabbitMQ 3.10.8 answers (a single node leads whatever it says)
        Object[][] locators = {
            {quorum("x-queue-leader-locator", "foo"), ": invalid_queue_locator_arg"},
            {quorum("x-queue-leader-locator", 5), ": {unacceptable_type,signedint}"},
            {Map.of("x-queue-leader-locator", "balanced"), " of queue type rabbit_classic_queue"},
        };
        for (Object[] k : locators) {
            @SuppressWarnings("unchecked") Map<String, Object> args = (Map<String, Object>) k[0];
            Channel chl = c.createChannel();
            String ql = unique("ll");
            assertChannelError(chl, 406, "PRECONDITION_FAILED - invalid arg 'x-queue-leader-locator' for queue '" + ql
                    + "' in vhost '/'" + k[1], "queue.declare", () -> chl.queueDeclare(ql, true, false, false, args));
        }
        Channel ch8 = c.createChannel();
        for (String locator : List.of("client-local", "balanced", "random", "least-leaders")) {
            String q8 = unique("qq");
            ch8.queueDeclare(q8, true, false, false, quorum("x-queue-leader-locator", locator));
            ch8.queueDelete(q8);
        }

        // A good one, then a redeclare without the type: "received none", as RabbitMQ says.
        Channel ok = c.createChannel();
        String good = unique("qq");
        AMQP.Queue.DeclareOk d = ok.queueDeclare(good, true, false, false, quorum("x-quorum-initial-group-size", 3));
        assertEquals(good, d.getQueue());
        ok.queueDeclare(good, true, false, false, quorum());
        assertChannelError(ok, 406, "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue '" + good
                + "' in vhost '/': received none but current is the value 'quorum' of type 'longstr'",
                "queue.declare", () -> ok.queueDeclare(good, true, false, false, null));
        Channel cleanup = c.createChannel();
        cleanup.queueDelete(good);
        c.close();
    }

    @Test
    void deliveriesCarryTheDeliveryCount() throws Exception {
        try (Connection c = broker.connect()) {
            Channel ch = c.createChannel();
            String q = unique("qq-count");
            ch.queueDeclare(q, true, false, false, quorum());
            ch.basicPublish("", q, new AMQP.BasicProperties.Builder().headers(Map.of("a", 1)).build(),
                    "m".getBytes(StandardCharsets.UTF_8));
            GetResponse first = getOne(ch, q);
            assertNotNull(first);
            assertEquals(0L, deliveryCount(first));
            assertEquals(1, first.getProps().getHeaders().get("a"));
            assertFalse(first.getEnvelope().isRedeliver());
            ch.basicReject(first.getEnvelope().getDeliveryTag(), true);
            GetResponse second = getOne(ch, q);
            assertEquals(1L, deliveryCount(second));
            assertTrue(second.getEnvelope().isRedeliver());
            ch.basicNack(second.getEnvelope().getDeliveryTag(), false, true);
            GetResponse third = getOne(ch, q);
            assertEquals(2L, deliveryCount(third));
            ch.basicAck(third.getEnvelope().getDeliveryTag(), false);
            ch.queueDelete(q);

            // A classic queue without a delivery limit leaves the headers alone.
            String cq = ch.queueDeclare().getQueue();
            ch.basicPublish("", cq, null, "c".getBytes(StandardCharsets.UTF_8));
            GetResponse plain = getOne(ch, cq);
            assertNull(plain.getProps().getHeaders());
        }
    }

    @Test
    void messagesPastTheDeliveryLimitAreDropped() throws Exception {
        for (Map<String, Object> args : new Map[] {quorum("x-delivery-limit", 1), Map.of("x-delivery-limit", 1)}) {
            try (Connection c = broker.connect()) {
                Channel ch = c.createChannel();
                String q = unique("limit");
                ch.queueDeclare(q, true, false, false, args);
                ch.basicPublish("", q, null, "poison".getBytes(StandardCharsets.UTF_8));
                GetResponse a = getOne(ch, q);
                assertEquals(0L, deliveryCount(a), args.toString());
                ch.basicReject(a.getEnvelope().getDeliveryTag(), true);
                GetResponse b = getOne(ch, q);
                assertEquals(1L, deliveryCount(b), args.toString());
                // The second return takes it past the limit of 1: gone (RabbitMQ's rabbit_fifo rule).
                ch.basicReject(b.getEnvelope().getDeliveryTag(), true);
                assertNull(ch.basicGet(q, false), args.toString());
                assertEquals(0, ch.queueDeclarePassive(q).getMessageCount(), args.toString());

                // Returns by a closing channel count too.
                ch.basicPublish("", q, null, "again".getBytes(StandardCharsets.UTF_8));
                for (int i = 0; i < 2; i++) {
                    Channel other = c.createChannel();
                    assertNotNull(getOne(other, q), args + " round " + i);
                    other.close();
                }
                assertNull(ch.basicGet(q, false), args.toString());
                ch.queueDelete(q);
            }
        }
    }

    @Test
    void transientMessagesInAQuorumQueueSurviveARestart() throws Exception {
        String q = unique("qq-restart");
        String classic = unique("cq-restart");
        try (Connection c = broker.connect()) {
            Channel ch = c.createChannel();
            ch.queueDeclare(q, true, false, false, quorum());
            ch.queueDeclare(classic, true, false, false, null);
            ch.exchangeDeclare(q + "-x", "fanout", true);
            ch.queueBind(q, q + "-x", "");
            ch.queueBind(classic, q + "-x", "");
            ch.confirmSelect();
            for (int i = 0; i < 5; i++) {
                ch.basicPublish(q + "-x", "", TRANSIENT, ("t" + i).getBytes(StandardCharsets.UTF_8));
            }
            ch.waitForConfirmsOrDie(10_000);
        }
        broker.restart();
        try (Connection c = broker.connect()) {
            Channel ch = c.createChannel();
            for (int i = 0; i < 5; i++) {
                GetResponse r = getOne(ch, q);
                assertNotNull(r, "message " + i);
                assertEquals("t" + i, text(r));
                ch.basicAck(r.getEnvelope().getDeliveryTag(), false);
            }
            assertNull(ch.basicGet(q, true));
            // The classic durable queue keeps no transient message (DESIGN §5).
            assertEquals(0, ch.queueDeclarePassive(classic).getMessageCount());
            ch.queueDelete(q);
            ch.queueDelete(classic);
            ch.exchangeDelete(q + "-x");
        }
        broker.restart();
        try (Connection c = broker.connect()) {
            Channel ch = c.createChannel();
            assertChannelError(ch, 404, null, "queue.declare", () -> ch.queueDeclarePassive(q));
        }
    }
}
