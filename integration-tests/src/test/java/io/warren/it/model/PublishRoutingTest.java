package io.warren.it.model;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.Return;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import static io.warren.it.model.ModelAssertions.awaitChannelError;
import static io.warren.it.model.ModelAssertions.drain;
import static io.warren.it.model.ModelAssertions.unique;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Where basic.publish goes when it cannot route: mandatory messages come back (basic.return),
 * publishing to a missing exchange closes the channel. With publisher confirms on, a
 * basic.return is sent before the basic.ack of its message, so waiting for the confirm is
 * enough to know whether a return came.
 */
class PublishRoutingTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private static Channel confirmingChannel(List<Return> returns) throws Exception {
        Channel ch = broker.connect().createChannel();
        ch.addReturnListener(returns::add);
        ch.confirmSelect();
        return ch;
    }

    @Test
    void unroutableMandatoryMessageIsReturnedWithNoRoute() throws Exception {
        List<Return> returns = new CopyOnWriteArrayList<>();
        Channel ch = confirmingChannel(returns);
        String x = unique("mandatory");
        ch.exchangeDeclare(x, "direct", false, true, null);
        String q = ch.queueDeclare().getQueue();
        ch.queueBind(q, x, "bound");
        AMQP.BasicProperties props = new AMQP.BasicProperties.Builder().contentType("text/plain")
                .headers(Map.of("h", "v")).messageId("m-1").build();
        ch.basicPublish(x, "unbound", true, props, "back".getBytes(StandardCharsets.UTF_8));
        ch.waitForConfirmsOrDie(ModelAssertions.TIMEOUT.toMillis());
        assertEquals(1, returns.size());
        Return r = returns.get(0);
        assertEquals(312, r.getReplyCode());
        assertEquals("NO_ROUTE", r.getReplyText());
        assertEquals(x, r.getExchange());
        assertEquals("unbound", r.getRoutingKey());
        assertEquals("back", new String(r.getBody(), StandardCharsets.UTF_8));
        assertEquals("text/plain", r.getProperties().getContentType());
        assertEquals("m-1", r.getProperties().getMessageId());
        assertEquals("v", r.getProperties().getHeaders().get("h").toString());
        assertEquals(0, drain(ch, q));
    }

    @Test
    void routedMandatoryMessageIsNotReturned() throws Exception {
        List<Return> returns = new CopyOnWriteArrayList<>();
        Channel ch = confirmingChannel(returns);
        String q = ch.queueDeclare().getQueue();
        ch.basicPublish("", q, true, null, new byte[] {1});
        ch.basicPublish("amq.fanout", "", false, null, new byte[] {2}); // not mandatory, maybe unroutable
        ch.waitForConfirmsOrDie(ModelAssertions.TIMEOUT.toMillis());
        assertEquals(List.of(), returns);
        assertEquals(1, drain(ch, q));
    }

    @Test
    void unroutableNonMandatoryMessageIsDropped() throws Exception {
        List<Return> returns = new CopyOnWriteArrayList<>();
        Channel ch = confirmingChannel(returns);
        String x = unique("drop");
        ch.exchangeDeclare(x, "fanout", false, true, null);
        ch.basicPublish(x, "", false, null, new byte[] {1});
        ch.basicPublish("", unique("no-such-queue"), false, null, new byte[] {1});
        ch.waitForConfirmsOrDie(ModelAssertions.TIMEOUT.toMillis());
        assertEquals(List.of(), returns);
        assertTrue(ch.isOpen());
        ch.exchangeDelete(x);
    }

    @Test
    void mandatoryToTheDefaultExchangeWithoutSuchQueueIsReturned() throws Exception {
        List<Return> returns = new CopyOnWriteArrayList<>();
        Channel ch = confirmingChannel(returns);
        String q = unique("no-such-queue");
        ch.basicPublish("", q, true, null, new byte[] {1});
        ch.waitForConfirmsOrDie(ModelAssertions.TIMEOUT.toMillis());
        assertEquals(1, returns.size());
        assertEquals(312, returns.get(0).getReplyCode());
        assertEquals("", returns.get(0).getExchange());
        assertEquals(q, returns.get(0).getRoutingKey());
    }

    @Test
    void mandatoryThroughADeadEndExchangeBindingIsReturned() throws Exception {
        List<Return> returns = new CopyOnWriteArrayList<>();
        Channel ch = confirmingChannel(returns);
        String front = unique("front");
        String back = unique("dead-end");
        ch.exchangeDeclare(front, "fanout", false, true, null);
        ch.exchangeDeclare(back, "fanout", false, true, null);
        ch.exchangeBind(back, front, "");
        ch.basicPublish(front, "k", true, null, new byte[] {1});
        ch.waitForConfirmsOrDie(ModelAssertions.TIMEOUT.toMillis());
        assertEquals(1, returns.size());
        assertEquals(312, returns.get(0).getReplyCode());
        assertEquals(front, returns.get(0).getExchange());
        ch.exchangeDelete(front);
        ch.exchangeDelete(back);
    }

    @Test
    void publishToMissingExchangeClosesTheChannel() throws Exception {
        Connection c = broker.connect();
        Channel bystander = c.createChannel();
        String q = bystander.queueDeclare().getQueue();
        Channel ch = c.createChannel();
        String x = unique("missing");
        ch.basicPublish(x, "k", null, new byte[] {1});
        awaitChannelError(ch, 404, "NOT_FOUND - no exchange '" + x + "' in vhost '/'", "basic.publish");
        assertTrue(bystander.isOpen(), "other channels keep working");
        bystander.basicPublish("", q, null, new byte[] {1});
        assertEquals(1, drain(bystander, q));
    }

    @Test
    void mandatoryPublishToMissingExchangeIsAnErrorNotAReturn() throws Exception {
        List<Return> returns = new CopyOnWriteArrayList<>();
        Channel ch = broker.connect().createChannel();
        ch.addReturnListener(returns::add);
        String x = unique("missing");
        ch.basicPublish(x, "k", true, null, new byte[] {1});
        awaitChannelError(ch, 404, "NOT_FOUND - no exchange '" + x + "' in vhost '/'", "basic.publish");
        assertEquals(List.of(), returns);
    }

    /**
     * RabbitMQ 3.x does not implement basic.publish immediate=true: 540 NOT_IMPLEMENTED, a
     * connection error, whether or not the message could be routed.
     */
    @Test
    void immediateIsNotImplementedAndClosesTheConnection() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String q = ch.queueDeclare().getQueue();
        ch.basicPublish("", q, false, true, null, new byte[] {1});
        assertImmediateRefused(c);
        Connection c2 = broker.connect();
        c2.createChannel().basicPublish("", unique("nowhere"), true, true, null, new byte[] {1});
        assertImmediateRefused(c2);
    }

    private static void assertImmediateRefused(Connection c) {
        AMQP.Connection.Close close = io.warren.it.support.AmqpAssertions.awaitConnectionClosed(c);
        io.warren.it.support.AmqpAssertions.assertClose(540, "NOT_IMPLEMENTED - immediate=true", close);
        assertEquals(60, close.getClassId());
        assertEquals(40, close.getMethodId());
    }
}
