package io.warren.it.extensions;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.Return;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;

import static io.warren.it.support.AmqpAssertions.assertClose;
import static io.warren.it.support.AmqpAssertions.channelError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * RabbitMQ's alternate exchanges ("Alternate Exchanges" page, rabbit_exchange:route): what an
 * exchange cannot route goes to the exchange named by its {@code alternate-exchange} argument,
 * and on through that one's AE, each exchange once; mandatory returns only what no AE routed.
 */
class AlternateExchangeTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private static final long TIMEOUT = Duration.ofSeconds(10).toMillis();

    private static String unique(String prefix) {
        return prefix + "-" + UUID.randomUUID();
    }

    private static Map<String, Object> ae(String name) {
        return Map.of("alternate-exchange", name);
    }

    /** Publishes {@code body} with confirms (a return comes before its ack). */
    private static void publish(Channel ch, String x, String key, boolean mandatory, String body) throws Exception {
        ch.basicPublish(x, key, mandatory, null, body.getBytes(StandardCharsets.UTF_8));
        ch.waitForConfirmsOrDie(TIMEOUT);
    }

    private static String get(Channel ch, String q) throws Exception {
        GetResponse r = ch.basicGet(q, true);
        return r == null ? null : new String(r.getBody(), StandardCharsets.UTF_8);
    }

    private static Channel confirming(Connection c, List<Return> returns) throws Exception {
        Channel ch = c.createChannel();
        ch.addReturnListener(returns::add);
        ch.confirmSelect();
        return ch;
    }

    @Test
    void unroutableMessagesGoToTheAlternateExchangeRoutableOnesDoNot() throws Exception {
        Connection c = broker.connect();
        List<Return> returns = new CopyOnWriteArrayList<>();
        Channel ch = confirming(c, returns);
        String alt = unique("ae");
        String x = unique("x");
        ch.exchangeDeclare(alt, "fanout", false, true, null);
        ch.exchangeDeclare(x, "direct", false, true, ae(alt));
        String bound = ch.queueDeclare().getQueue();
        String unrouted = ch.queueDeclare().getQueue();
        ch.queueBind(bound, x, "k");
        ch.queueBind(unrouted, alt, "");

        publish(ch, x, "k", true, "routed");
        publish(ch, x, "other", true, "unrouted");
        assertEquals("routed", get(ch, bound));
        assertNull(get(ch, bound));
        assertEquals("unrouted", get(ch, unrouted));
        assertNull(get(ch, unrouted));
        assertTrue(returns.isEmpty(), "the AE routed it: no basic.return");
    }

    @Test
    void theChainIsFollowedAndMandatoryReturnsOnlyWhenItRoutesNowhere() throws Exception {
        Connection c = broker.connect();
        List<Return> returns = new CopyOnWriteArrayList<>();
        Channel ch = confirming(c, returns);
        String x = unique("x");
        String u = unique("u");
        String v = unique("v");
        // x -> u -> v, each a direct exchange whose queue is bound by the exchange's own name.
        ch.exchangeDeclare(v, "direct", false, true, null);
        ch.exchangeDeclare(u, "direct", false, true, ae(v));
        ch.exchangeDeclare(x, "direct", false, true, ae(u));
        String qx = ch.queueDeclare().getQueue();
        String qu = ch.queueDeclare().getQueue();
        String qv = ch.queueDeclare().getQueue();
        ch.queueBind(qx, x, "x");
        ch.queueBind(qu, u, "u");
        ch.queueBind(qv, v, "v");

        publish(ch, x, "v", true, "to-v");
        assertNull(get(ch, qx));
        assertNull(get(ch, qu));
        assertEquals("to-v", get(ch, qv));
        publish(ch, x, "u", true, "to-u");
        assertEquals("to-u", get(ch, qu));
        assertNull(get(ch, qv));
        assertTrue(returns.isEmpty());

        publish(ch, x, "z", true, "nowhere");
        assertNull(get(ch, qx));
        assertNull(get(ch, qu));
        assertNull(get(ch, qv));
        assertEquals(1, returns.size(), "no exchange of the chain routed it");
        Return r = returns.get(0);
        assertEquals(312, r.getReplyCode());
        assertEquals(x, r.getExchange());
        assertEquals("z", r.getRoutingKey());
    }

    @Test
    void aCycleOfAlternateExchangesEndsAndEachExchangeRoutesOnce() throws Exception {
        Connection c = broker.connect();
        List<Return> returns = new CopyOnWriteArrayList<>();
        Channel ch = confirming(c, returns);
        String x = unique("x");
        String u = unique("u");
        String v = unique("v");
        ch.exchangeDeclare(x, "direct", false, true, ae(u));
        ch.exchangeDeclare(u, "direct", false, true, ae(v));
        ch.exchangeDeclare(v, "direct", false, true, ae(x));
        String qx = ch.queueDeclare().getQueue();
        String qv = ch.queueDeclare().getQueue();
        ch.queueBind(qx, x, "x");
        ch.queueBind(qv, v, "v");
        ch.queueBind(qx, u, "u");

        publish(ch, x, "v", true, "one");
        assertEquals("one", get(ch, qv));
        assertNull(get(ch, qv));
        publish(ch, x, "u", true, "once");
        assertEquals("once", get(ch, qx));
        assertNull(get(ch, qx), "a queue gets a message once");
        publish(ch, x, "none", true, "loop");
        assertNull(get(ch, qx));
        assertNull(get(ch, qv));
        assertEquals(1, returns.size());
    }

    @Test
    void aMissingAlternateExchangeIsLikeNone() throws Exception {
        Connection c = broker.connect();
        List<Return> returns = new CopyOnWriteArrayList<>();
        Channel ch = confirming(c, returns);
        String x = unique("x");
        String later = unique("later");
        ch.exchangeDeclare(x, "direct", false, true, ae(later));
        String q = ch.queueDeclare().getQueue();
        ch.queueBind(q, x, "k");
        publish(ch, x, "k", false, "kept");
        assertEquals("kept", get(ch, q));
        publish(ch, x, "other", true, "back");
        assertEquals(1, returns.size());

        // Declared afterwards, the AE is found at publish time.
        ch.exchangeDeclare(later, "fanout", false, true, null);
        String aq = ch.queueDeclare().getQueue();
        ch.queueBind(aq, later, "");
        publish(ch, x, "other", true, "found");
        assertEquals("found", get(ch, aq));
        assertEquals(1, returns.size());
    }

    @Test
    void exchangeToExchangeBindingsUseEachExchangesOwnAlternate() throws Exception {
        Connection c = broker.connect();
        List<Return> returns = new CopyOnWriteArrayList<>();
        Channel ch = confirming(c, returns);
        String src = unique("src");
        String dst = unique("dst");
        String srcAe = unique("src-ae");
        String dstAe = unique("dst-ae");
        ch.exchangeDeclare(srcAe, "fanout", false, true, null);
        ch.exchangeDeclare(dstAe, "fanout", false, true, null);
        ch.exchangeDeclare(src, "direct", false, true, ae(srcAe));
        ch.exchangeDeclare(dst, "direct", false, true, ae(dstAe));
        ch.exchangeBind(dst, src, "to-dst");
        String qSrcAe = ch.queueDeclare().getQueue();
        String qDstAe = ch.queueDeclare().getQueue();
        String qDst = ch.queueDeclare().getQueue();
        ch.queueBind(qSrcAe, srcAe, "");
        ch.queueBind(qDstAe, dstAe, "");
        ch.queueBind(qDst, dst, "k");

        // src routes to dst (a match), dst's bindings match nothing: dst's AE takes it, not src's.
        publish(ch, src, "to-dst", true, "via-dst");
        assertEquals("via-dst", get(ch, qDstAe));
        assertNull(get(ch, qSrcAe));
        assertNull(get(ch, qDst));
        // src matches nothing at all: src's AE.
        publish(ch, src, "k", true, "via-src");
        assertEquals("via-src", get(ch, qSrcAe));
        assertNull(get(ch, qDstAe));
        assertNull(get(ch, qDst));
        assertTrue(returns.isEmpty());

        // An AE reached through an e2e binding chain: src's AE is dst.
        String src2 = unique("src2");
        ch.exchangeDeclare(src2, "topic", false, true, ae(dst));
        publish(ch, src2, "k", true, "ae-is-dst");
        assertEquals("ae-is-dst", get(ch, qDst));
        assertTrue(returns.isEmpty());
    }

    @Test
    void aNonStringArgumentIsRefusedWithRabbitmqsText() throws Exception {
        Connection c = broker.connect();
        String x = unique("bad-ae");
        Channel ch = c.createChannel();
        assertClose(406, "PRECONDITION_FAILED - invalid type 'signedint' for arg 'alternate-exchange' in exchange '"
                + x + "' in vhost '/'", channelError(() -> ch.exchangeDeclare(x, "direct", false, true,
                Map.of("alternate-exchange", 42))));
        Channel ch2 = c.createChannel();
        assertClose(404, "NOT_FOUND - no exchange '" + x + "' in vhost '/'",
                channelError(() -> ch2.exchangeDeclarePassive(x)));
    }

    @Test
    void aDurableExchangeKeepsItsAlternateAcrossARestart() throws Exception {
        String x = unique("durable-x");
        String alt = unique("durable-ae");
        String q = unique("durable-q");
        try (Connection c = broker.connect(); Channel ch = c.createChannel()) {
            ch.exchangeDeclare(alt, "fanout", true, false, null);
            ch.exchangeDeclare(x, "direct", true, false, ae(alt));
            ch.queueDeclare(q, true, false, false, null);
            ch.queueBind(q, alt, "");
        }
        broker.restart();
        try (Connection c = broker.connect()) {
            List<Return> returns = new CopyOnWriteArrayList<>();
            Channel ch = confirming(c, returns);
            publish(ch, x, "anything", true, "after-restart");
            assertEquals("after-restart", get(ch, q));
            assertTrue(returns.isEmpty());
            ch.queueDelete(q);
            ch.exchangeDelete(x);
            ch.exchangeDelete(alt);
        }
    }

    @Test
    void transactionalPublishesUseTheAlternateToo() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String alt = unique("ae");
        String x = unique("x");
        ch.exchangeDeclare(alt, "fanout", false, true, null);
        ch.exchangeDeclare(x, "topic", false, true, ae(alt));
        String q = ch.queueDeclare().getQueue();
        ch.queueBind(q, alt, "");
        ch.txSelect();
        ch.basicPublish(x, "a.b", new AMQP.BasicProperties(), "tx".getBytes(StandardCharsets.UTF_8));
        ch.txCommit();
        assertNotNull(ch.basicGet(q, true));
    }
}
