package io.warren.it.durability;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.DefaultConsumer;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static io.warren.it.durability.Durable.drain;
import static io.warren.it.durability.Durable.exchangeExists;
import static io.warren.it.durability.Durable.queueExists;
import static io.warren.it.durability.Durable.unique;
import static io.warren.it.durability.Durable.utf8;
import static io.warren.it.support.AmqpAssertions.assertClose;
import static io.warren.it.support.AmqpAssertions.channelError;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Durable topology across a graceful restart (broker stopped, started on the same data dir):
 * what RabbitMQ 3.10 brings back, warren must bring back with the same flags and arguments, and
 * nothing else. Every test has a part that only passes when recovery works, so none passes on a
 * broker that simply forgets everything at restart.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class TopologyRestartTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private static final List<String> TYPES = List.of("direct", "fanout", "topic", "headers");

    private Connection c;

    @BeforeEach
    void connect() throws Exception {
        c = broker.connect();
    }

    private void restart() throws Exception {
        broker.restart();
        c = broker.connect();
    }

    /** {@code op} on a fresh channel must close it with 406 and exactly {@code text}. */
    private void assertPreconditionFailed(String text, ChannelOp op) throws Exception {
        Channel ch = c.createChannel();
        assertClose(406, text, channelError(() -> op.run(ch)));
    }

    private interface ChannelOp {
        void run(Channel ch) throws IOException;
    }

    private void assertDeclareOk(ChannelOp op) throws Exception {
        Channel ch = c.createChannel();
        op.run(ch);
        ch.close();
    }

    private static String inequivalent(String arg, String kind, String name, Object received, Object current) {
        return "PRECONDITION_FAILED - inequivalent arg '" + arg + "' for " + kind + " '" + name
                + "' in vhost '/': received '" + received + "' but current is '" + current + "'";
    }

    // ---- exchanges ------------------------------------------------------------------------

    @Test
    void durableExchangesOfEveryTypeComeBackWithFlagsAndArguments() throws Exception {
        Channel ch = c.createChannel();
        String ae = unique("ae");
        ch.exchangeDeclare(ae, "fanout", true);
        Map<String, String> plain = new HashMap<>();
        Map<String, String> flagged = new HashMap<>();
        Map<String, Object> args = Map.of("alternate-exchange", ae, "x-note", "kept");
        for (String t : TYPES) {
            String p = unique("x-" + t);
            ch.exchangeDeclare(p, t, true, false, false, null);
            plain.put(t, p);
            String f = unique("x-" + t + "-ad-int");
            ch.exchangeDeclare(f, t, true, true, true, args); // durable, auto-delete, internal
            flagged.put(t, f);
        }

        restart();

        assertTrue(exchangeExists(c, ae));
        for (String t : TYPES) {
            String p = plain.get(t);
            String f = flagged.get(t);
            // The same declaration is fine; any different flag is refused as RabbitMQ refuses it.
            assertDeclareOk(x -> x.exchangeDeclare(p, t, true, false, false, null));
            assertDeclareOk(x -> x.exchangeDeclare(f, t, true, true, true, args));
            assertPreconditionFailed(inequivalent("durable", "exchange", p, false, true),
                    x -> x.exchangeDeclare(p, t, false, false, false, null));
            assertPreconditionFailed(inequivalent("auto_delete", "exchange", p, true, false),
                    x -> x.exchangeDeclare(p, t, true, true, false, null));
            assertPreconditionFailed(inequivalent("internal", "exchange", p, true, false),
                    x -> x.exchangeDeclare(p, t, true, false, true, null));
            String otherType = t.equals("fanout") ? "direct" : "fanout";
            assertPreconditionFailed(inequivalent("type", "exchange", p, otherType, t),
                    x -> x.exchangeDeclare(p, otherType, true, false, false, null));
            assertPreconditionFailed(inequivalent("auto_delete", "exchange", f, false, true),
                    x -> x.exchangeDeclare(f, t, true, false, true, args));
            assertPreconditionFailed(inequivalent("internal", "exchange", f, false, true),
                    x -> x.exchangeDeclare(f, t, true, true, false, args));
            // alternate-exchange is the one exchange argument RabbitMQ compares on redeclare:
            // refused when it differs, so the stored argument came back.
            Map<String, Object> otherAe = Map.of("alternate-exchange", "elsewhere");
            Channel probe = c.createChannel();
            AMQP.Channel.Close close = channelError(() -> probe.exchangeDeclare(f, t, true, true, true, otherAe));
            assertEquals(406, close.getReplyCode());
            assertTrue(close.getReplyText().contains("inequivalent arg 'alternate-exchange'"), close.getReplyText());
        }
    }

    // ---- queues ---------------------------------------------------------------------------

    @Test
    void durableQueuesComeBackWithTheirArguments() throws Exception {
        Channel ch = c.createChannel();
        String lazy = unique("q-lazy");
        String limited = unique("q-limited");
        String autoDelete = unique("q-durable-auto-delete");
        Map<String, Object> lazyArgs = Map.of("x-queue-mode", "lazy");
        Map<String, Object> limitArgs = Map.of("x-max-length", 10, "x-custom", "not compared");
        ch.queueDeclare(lazy, true, false, false, lazyArgs);
        ch.queueDeclare(limited, true, false, false, limitArgs);
        // Durable and auto-delete, never consumed from: RabbitMQ 3.10 brings it back.
        ch.queueDeclare(autoDelete, true, false, true, null);
        String serverNamed = ch.queueDeclare("", true, false, false, null).getQueue();

        restart();

        assertDeclareOk(x -> x.queueDeclare(lazy, true, false, false, lazyArgs));
        assertDeclareOk(x -> x.queueDeclare(limited, true, false, false, limitArgs));
        assertDeclareOk(x -> x.queueDeclare(autoDelete, true, false, true, null));
        // Compared arguments came back with their values and types (int stays int).
        assertPreconditionFailed("PRECONDITION_FAILED - inequivalent arg 'x-queue-mode' for queue '" + lazy
                + "' in vhost '/': received none but current is the value 'lazy' of type 'longstr'",
                x -> x.queueDeclare(lazy, true, false, false, null));
        assertPreconditionFailed(inequivalent("x-max-length", "queue", limited, 11, 10),
                x -> x.queueDeclare(limited, true, false, false, Map.of("x-max-length", 11)));
        // Same number as a long: RabbitMQ 3.10 compares numbers by value, whatever their type.
        assertDeclareOk(x -> x.queueDeclare(limited, true, false, false, Map.of("x-max-length", 10L)));
        assertPreconditionFailed(inequivalent("durable", "queue", lazy, false, true),
                x -> x.queueDeclare(lazy, false, false, false, lazyArgs));
        assertPreconditionFailed(inequivalent("auto_delete", "queue", autoDelete, false, true),
                x -> x.queueDeclare(autoDelete, true, false, false, null));
        assertTrue(queueExists(c, serverNamed), "a durable server-named queue comes back");

        // The recovered auto-delete queue still deletes itself after its first consumer, for good.
        Channel consumer = c.createChannel();
        String tag = consumer.basicConsume(autoDelete, true, new DefaultConsumer(consumer));
        consumer.basicCancel(tag);
        await().atMost(Durable.TIMEOUT).until(() -> !queueExists(c, autoDelete));

        restart();

        assertFalse(queueExists(c, autoDelete));
        assertTrue(queueExists(c, lazy));
    }

    @Test
    void nonDurableExclusiveAndAutoDeletedQueuesAndNonDurableExchangesDoNotComeBack() throws Exception {
        Channel ch = c.createChannel();
        String durable = unique("q-durable");
        String transientQueue = unique("q-transient");
        String exclusive = unique("q-exclusive");
        String transientAutoDelete = unique("q-transient-ad");
        String consumedAutoDelete = unique("q-durable-ad-consumed");
        String durableExchange = unique("x-durable");
        String transientExchange = unique("x-transient");
        ch.queueDeclare(durable, true, false, false, null);
        ch.queueDeclare(transientQueue, false, false, false, null);
        // Exclusive queues die with their connection even when declared durable (RabbitMQ: not durable).
        ch.queueDeclare(exclusive, true, true, false, null);
        ch.queueDeclare(transientAutoDelete, false, false, true, null);
        // Durable auto-delete with a consumer at shutdown: the consumer goes with its connection,
        // and RabbitMQ 3.10 does not bring the queue back (checked: stop_app/start_app).
        ch.queueDeclare(consumedAutoDelete, true, false, true, null);
        ch.basicConsume(consumedAutoDelete, true, new DefaultConsumer(ch));
        ch.exchangeDeclare(durableExchange, "topic", true);
        ch.exchangeDeclare(transientExchange, "topic", false);

        restart();

        assertTrue(queueExists(c, durable), "the durable queue came back");
        assertTrue(exchangeExists(c, durableExchange), "the durable exchange came back");
        assertFalse(queueExists(c, transientQueue), "non-durable queue");
        assertFalse(queueExists(c, exclusive), "exclusive queue");
        assertFalse(queueExists(c, transientAutoDelete), "non-durable auto-delete queue");
        assertFalse(queueExists(c, consumedAutoDelete), "durable auto-delete queue whose consumer went away");
        assertFalse(exchangeExists(c, transientExchange), "non-durable exchange");
        // Nor are they resurrected by a second restart.
        restart();
        assertTrue(queueExists(c, durable));
        assertFalse(queueExists(c, transientQueue));
        assertFalse(queueExists(c, exclusive));
        assertFalse(exchangeExists(c, transientExchange));
    }

    // ---- bindings -------------------------------------------------------------------------

    @Test
    void bindingsComeBackAndRoute() throws Exception {
        Channel ch = c.createChannel();
        String direct = unique("x-direct");
        String fanout = unique("x-fanout");
        String topic = unique("x-topic");
        String headers = unique("x-headers");
        String e2eSource = unique("x-e2e-src");
        String e2eDest = unique("x-e2e-dst-internal");
        String autoDeleteX = unique("x-auto-delete");
        ch.exchangeDeclare(direct, "direct", true);
        ch.exchangeDeclare(fanout, "fanout", true);
        ch.exchangeDeclare(topic, "topic", true);
        ch.exchangeDeclare(headers, "headers", true);
        ch.exchangeDeclare(e2eSource, "topic", true);
        ch.exchangeDeclare(e2eDest, "fanout", true, false, true, null); // internal: reached only by e2e
        ch.exchangeDeclare(autoDeleteX, "direct", true, true, null);
        String qDirect = declare(ch, "q-direct");
        String qFanout1 = declare(ch, "q-fanout1");
        String qFanout2 = declare(ch, "q-fanout2");
        String qTopic = declare(ch, "q-topic");
        String qHash = declare(ch, "q-hash");
        String qAll = declare(ch, "q-headers-all");
        String qAny = declare(ch, "q-headers-any");
        String qE2e = declare(ch, "q-e2e");
        String qAutoDelete = declare(ch, "q-ad-x");
        ch.queueBind(qDirect, direct, "k1");
        ch.queueBind(qDirect, direct, "k2");
        ch.queueBind(qFanout1, fanout, "ignored");
        ch.queueBind(qFanout2, fanout, "");
        ch.queueBind(qTopic, topic, "a.*.c");
        ch.queueBind(qHash, topic, "#.z");
        ch.queueBind(qAll, headers, "", Map.of("x-match", "all", "n", 1, "s", "two"));
        ch.queueBind(qAny, headers, "", Map.of("x-match", "any", "n", 1, "flag", true));
        ch.exchangeBind(e2eDest, e2eSource, "e2e.#");
        ch.queueBind(qE2e, e2eDest, "");
        ch.queueBind(qAutoDelete, autoDeleteX, "k");

        restart();

        ch = c.createChannel();
        ch.basicPublish(direct, "k1", null, utf8("d1"));
        ch.basicPublish(direct, "k2", null, utf8("d2"));
        ch.basicPublish(direct, "k3", null, utf8("d3-unrouted"));
        ch.basicPublish(fanout, "whatever", null, utf8("f"));
        ch.basicPublish(topic, "a.b.c", null, utf8("t-abc"));
        ch.basicPublish(topic, "a.b.b.c", null, utf8("t-abbc-unrouted"));
        ch.basicPublish(topic, "y.z", null, utf8("t-yz"));
        ch.basicPublish(topic, "z", null, utf8("t-z"));
        ch.basicPublish(headers, "", headers(Map.of("n", 1, "s", "two")), utf8("h-both"));
        ch.basicPublish(headers, "", headers(Map.of("n", 1)), utf8("h-n"));
        ch.basicPublish(headers, "", headers(Map.of("flag", true)), utf8("h-flag"));
        ch.basicPublish(headers, "", headers(Map.of("s", "two")), utf8("h-s"));
        ch.basicPublish(e2eSource, "e2e.x.y", null, utf8("e2e"));
        ch.basicPublish(e2eSource, "other", null, utf8("e2e-unrouted"));
        ch.basicPublish(autoDeleteX, "k", null, utf8("ad"));

        assertEquals(List.of("d1", "d2"), drain(ch, qDirect));
        assertEquals(List.of("f"), drain(ch, qFanout1));
        assertEquals(List.of("f"), drain(ch, qFanout2));
        assertEquals(List.of("t-abc"), drain(ch, qTopic));
        assertEquals(List.of("t-yz", "t-z"), drain(ch, qHash));
        assertEquals(List.of("h-both"), drain(ch, qAll));
        assertEquals(List.of("h-both", "h-n", "h-flag"), drain(ch, qAny));
        assertEquals(List.of("e2e"), drain(ch, qE2e));
        assertEquals(List.of("ad"), drain(ch, qAutoDelete));
    }

    @Test
    void bindingsToTheAmqExchangesComeBack() throws Exception {
        Channel ch = c.createChannel();
        String qDirect = declare(ch, "q-amq-direct");
        String qTopic = declare(ch, "q-amq-topic");
        String qFanout = declare(ch, "q-amq-fanout");
        String qHeaders = declare(ch, "q-amq-headers");
        String qMatch = declare(ch, "q-amq-match");
        String key = unique("key");
        ch.queueBind(qDirect, "amq.direct", key);
        ch.queueBind(qTopic, "amq.topic", key + ".*");
        ch.queueBind(qFanout, "amq.fanout", "");
        ch.queueBind(qHeaders, "amq.headers", "", Map.of("x-match", "all", "k", key));
        ch.queueBind(qMatch, "amq.match", "", Map.of("x-match", "any", "k", key, "other", "x"));

        restart();

        ch = c.createChannel();
        ch.basicPublish("amq.direct", key, null, utf8("direct"));
        ch.basicPublish("amq.topic", key + ".t", null, utf8("topic"));
        ch.basicPublish("amq.fanout", "", null, utf8("fanout"));
        ch.basicPublish("amq.headers", "", headers(Map.of("k", key)), utf8("headers"));
        ch.basicPublish("amq.match", "", headers(Map.of("k", key)), utf8("match"));
        assertEquals(List.of("direct"), drain(ch, qDirect));
        assertEquals(List.of("topic"), drain(ch, qTopic));
        assertEquals(List.of("fanout"), drain(ch, qFanout));
        assertEquals(List.of("headers"), drain(ch, qHeaders));
        assertEquals(List.of("match"), drain(ch, qMatch));
        // Unbinding the recovered amq.fanout binding sticks (it could otherwise catch later tests' messages).
        c.createChannel().queueUnbind(qFanout, "amq.fanout", "");
    }

    @Test
    void bindingsToNonDurableDestinationsDoNotComeBack() throws Exception {
        Channel ch = c.createChannel();
        String x = unique("x-durable");
        String durableQueue = declare(ch, "q-durable");
        String transientQueue = unique("q-transient");
        String transientExchange = unique("x-transient");
        ch.exchangeDeclare(x, "direct", true);
        ch.queueDeclare(transientQueue, false, false, false, null);
        ch.exchangeDeclare(transientExchange, "fanout", false);
        ch.queueBind(durableQueue, x, "durable");
        ch.queueBind(transientQueue, x, "transient");
        ch.exchangeBind(transientExchange, x, "via-transient-exchange");

        restart();

        ch = c.createChannel();
        assertFalse(queueExists(c, transientQueue));
        assertFalse(exchangeExists(c, transientExchange));
        // Same names again, now empty of bindings: nothing from x reaches them.
        ch.queueDeclare(transientQueue, false, false, false, null);
        ch.exchangeDeclare(transientExchange, "fanout", false);
        String behindTransientExchange = unique("q-behind");
        ch.queueDeclare(behindTransientExchange, false, false, true, null);
        ch.queueBind(behindTransientExchange, transientExchange, "");
        ch.basicPublish(x, "durable", null, utf8("to-durable"));
        ch.basicPublish(x, "transient", null, utf8("to-transient"));
        ch.basicPublish(x, "via-transient-exchange", null, utf8("to-transient-exchange"));
        assertEquals(List.of("to-durable"), drain(ch, durableQueue), "the durable binding came back");
        assertEquals(List.of(), drain(ch, transientQueue));
        assertEquals(List.of(), drain(ch, behindTransientExchange));
    }

    // ---- deletions --------------------------------------------------------------------------

    @Test
    void deletedDurableEntitiesStayDeleted() throws Exception {
        Channel ch = c.createChannel();
        String keptX = unique("x-kept");
        String keptQ = declare(ch, "q-kept");
        String goneXBefore = unique("x-gone-before");
        String goneQBefore = declare(ch, "q-gone-before");
        String goneXAfter = unique("x-gone-after");
        String goneQAfter = declare(ch, "q-gone-after");
        String headersX = unique("x-headers");
        String e2eDest = unique("x-e2e-dest");
        String autoDeleteX = unique("x-auto-delete");
        String e2eQueue = declare(ch, "q-e2e");
        ch.exchangeDeclare(keptX, "direct", true);
        ch.exchangeDeclare(goneXBefore, "direct", true);
        ch.exchangeDeclare(goneXAfter, "topic", true);
        ch.exchangeDeclare(headersX, "headers", true);
        ch.exchangeDeclare(e2eDest, "fanout", true);
        ch.exchangeDeclare(autoDeleteX, "direct", true, true, null);
        Map<String, Object> headerArgs = new LinkedHashMap<>();
        headerArgs.put("x-match", "all");
        headerArgs.put("a", 1);
        headerArgs.put("b", "two");
        headerArgs.put("c", true);
        // The same arguments in another order: the same binding (RabbitMQ compares tables
        // sorted; checked against 3.10), so unbinding with it removes the stored binding too.
        Map<String, Object> reordered = new LinkedHashMap<>();
        reordered.put("c", true);
        reordered.put("b", "two");
        reordered.put("a", 1);
        reordered.put("x-match", "all");
        String reorderedQ = declare(ch, "q-reordered");
        ch.queueBind(reorderedQ, headersX, "", headerArgs);
        ch.queueUnbind(reorderedQ, headersX, "", reordered);
        ch.queueBind(keptQ, keptX, "kept");
        ch.queueBind(keptQ, keptX, "unbound-before");
        ch.queueBind(keptQ, keptX, "unbound-after");
        ch.queueBind(keptQ, headersX, "", headerArgs);
        ch.queueBind(keptQ, goneXAfter, "#");
        ch.exchangeBind(e2eDest, keptX, "e2e-unbound-after");
        ch.queueBind(e2eQueue, e2eDest, "");
        ch.queueBind(keptQ, autoDeleteX, "only-binding");
        ch.queueBind(goneQAfter, keptX, "to-gone-queue");
        // Deleted in the same run as declared...
        ch.queueUnbind(keptQ, keptX, "unbound-before");
        ch.exchangeDelete(goneXBefore);
        ch.queueDelete(goneQBefore);

        restart();

        ch = c.createChannel();
        assertFalse(exchangeExists(c, goneXBefore));
        assertFalse(queueExists(c, goneQBefore));
        // ...and deleted after being recovered (the stored definitions must match the recovered ones).
        ch.queueUnbind(keptQ, keptX, "unbound-after");
        ch.queueUnbind(keptQ, headersX, "", reordered);
        ch.exchangeUnbind(e2eDest, keptX, "e2e-unbound-after");
        ch.exchangeDelete(goneXAfter);
        ch.queueDelete(goneQAfter);
        // A durable auto-delete exchange goes with its last binding.
        ch.queueUnbind(keptQ, autoDeleteX, "only-binding");
        assertFalse(exchangeExists(c, autoDeleteX));

        restart();

        ch = c.createChannel();
        assertTrue(exchangeExists(c, keptX));
        assertTrue(queueExists(c, keptQ));
        assertTrue(exchangeExists(c, headersX));
        assertTrue(exchangeExists(c, e2eDest));
        assertFalse(exchangeExists(c, goneXBefore));
        assertFalse(queueExists(c, goneQBefore));
        assertFalse(exchangeExists(c, goneXAfter));
        assertFalse(queueExists(c, goneQAfter));
        assertFalse(exchangeExists(c, autoDeleteX));
        ch.basicPublish(keptX, "kept", null, utf8("kept"));
        ch.basicPublish(keptX, "unbound-before", null, utf8("x1"));
        ch.basicPublish(keptX, "unbound-after", null, utf8("x2"));
        ch.basicPublish(headersX, "", headers(Map.of("a", 1, "b", "two", "c", true)), utf8("x3"));
        ch.basicPublish(keptX, "e2e-unbound-after", null, utf8("x4"));
        assertEquals(List.of("kept"), drain(ch, keptQ), "only the binding that was never removed routes");
        assertEquals(List.of(), drain(ch, e2eQueue));
        assertEquals(List.of(), drain(ch, reorderedQ), "unbound (arguments in another order) before the first restart");
    }

    // ---- helpers ----------------------------------------------------------------------------

    private static String declare(Channel ch, String prefix) throws IOException {
        String q = unique(prefix);
        ch.queueDeclare(q, true, false, false, null);
        return q;
    }

    private static AMQP.BasicProperties headers(Map<String, Object> h) {
        return new AMQP.BasicProperties.Builder().headers(h).build();
    }
}
