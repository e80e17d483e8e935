package io.warren.it.delivery;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.MessageProperties;
import com.rabbitmq.client.RpcClient;
import com.rabbitmq.client.RpcClientParams;
import com.rabbitmq.client.StringRpcServer;
import io.warren.it.support.AmqpAssertions;
import io.warren.it.support.RecordingConsumer;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import static io.warren.it.support.AmqpAssertions.assertClose;
import static io.warren.it.support.AmqpAssertions.channelError;
import static io.warren.it.support.AmqpAssertions.newQueue;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Direct reply-to (the pseudo-queue amq.rabbitmq.reply-to), as RabbitMQ 3.10 implements it. */
class DirectReplyToTest {
    private static final String REPLY_TO = "amq.rabbitmq.reply-to";

    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    @Test
    void capabilityAdvertised() throws Exception {
        try (Connection c = broker.connect()) {
            @SuppressWarnings("unchecked")
            Map<String, Object> caps = (Map<String, Object>) c.getServerProperties().get("capabilities");
            assertEquals(Boolean.TRUE, caps.get("direct_reply_to"));
        }
    }

    /** A request from one connection, the reply from another, by hand. */
    @Test
    void roundTripByHand() throws Exception {
        try (Connection client = broker.connect(); Connection server = broker.connect()) {
            Channel cch = client.createChannel();
            Channel sch = server.createChannel();
            String requests = newQueue(sch);
            RecordingConsumer replies = new RecordingConsumer(cch);
            String ctag = cch.basicConsume(REPLY_TO, true, replies);
            AMQP.BasicProperties request = new AMQP.BasicProperties.Builder().contentType("text/plain")
                    .headers(Map.of("h", "v")).correlationId("c-1").replyTo(REPLY_TO).messageId("m-1").build();
            cch.basicPublish("", requests, request, "ping".getBytes(StandardCharsets.UTF_8));

            GetResponse got = await().atMost(Duration.ofSeconds(5)).until(() -> sch.basicGet(requests, true),
                    r -> r != null);
            AMQP.BasicProperties p = got.getProps();
            String address = p.getReplyTo();
            assertTrue(address.startsWith(REPLY_TO + "."), address);
            // the other properties are untouched
            assertEquals("text/plain", p.getContentType());
            assertEquals("v", p.getHeaders().get("h").toString());
            assertEquals("c-1", p.getCorrelationId());
            assertEquals("m-1", p.getMessageId());

            // the pseudo-queue and the live address exist (0 messages, 1 consumer), nothing is created
            AMQP.Queue.DeclareOk ok = sch.queueDeclarePassive(address);
            assertEquals(address, ok.getQueue());
            assertEquals(0, ok.getMessageCount());
            assertEquals(1, ok.getConsumerCount());
            assertEquals(1, sch.queueDeclarePassive(REPLY_TO).getConsumerCount());

            sch.basicPublish("", address, new AMQP.BasicProperties.Builder().correlationId("c-1").build(),
                    "pong".getBytes(StandardCharsets.UTF_8));
            replies.awaitCount(1);
            RecordingConsumer.Delivery d = replies.deliveries.get(0);
            assertEquals("pong", d.text());
            assertEquals(ctag, d.consumerTag());
            assertEquals("", d.envelope().getExchange());
            assertEquals(address, d.envelope().getRoutingKey());
            assertFalse(d.redelivered());
            assertEquals("c-1", d.properties().getCorrelationId());
            assertTrue(cch.isOpen());
            assertTrue(sch.isOpen());
        }
    }

    /** The Java client's own RpcClient (which uses direct reply-to by default) and RpcServer. */
    @Test
    void rpcClientAndServer() throws Exception {
        try (Connection client = broker.connect(); Connection server = broker.connect()) {
            Channel sch = server.createChannel();
            String q = newQueue(sch);
            StringRpcServer rpcServer = new StringRpcServer(sch, q) {
                @Override public String handleStringCall(String request) {
                    return request.toUpperCase();
                }
            };
            Thread t = new Thread(() -> {
                try {
                    rpcServer.mainloop();
                } catch (Exception ignored) {
                    // closed at the end of the test
                }
            });
            t.setDaemon(true);
            t.start();
            RpcClient rpc = new RpcClient(new RpcClientParams().channel(client.createChannel()).exchange("")
                    .routingKey(q).timeout(5000));
            for (int i = 0; i < 20; i++) {
                assertEquals("HELLO " + i, rpc.stringCall("hello " + i));
            }
            rpc.close();
            rpcServer.terminateMainloop();
        }
    }

    @Test
    void consumerMustBeNoAck() throws Exception {
        try (Connection c = broker.connect()) {
            Channel ch = c.createChannel();
            assertClose(406, "PRECONDITION_FAILED - reply consumer cannot acknowledge",
                    channelError(() -> ch.basicConsume(REPLY_TO, false, new RecordingConsumer(ch))));
            AmqpAssertions.assertConnectionUsable(c);
        }
    }

    @Test
    void oneReplyConsumerPerChannel() throws Exception {
        try (Connection c = broker.connect()) {
            Channel ch = c.createChannel();
            ch.basicConsume(REPLY_TO, true, new RecordingConsumer(ch));
            assertClose(406, "PRECONDITION_FAILED - reply consumer already set",
                    channelError(() -> ch.basicConsume(REPLY_TO, true, new RecordingConsumer(ch))));
            // another channel may have its own
            Channel other = c.createChannel();
            other.basicConsume(REPLY_TO, true, new RecordingConsumer(other));
            assertTrue(other.isOpen());
        }
    }

    @Test
    void requestWithoutReplyConsumerIsRefused() throws Exception {
        try (Connection c = broker.connect()) {
            Channel ch = c.createChannel();
            String q = newQueue(ch);
            ch.basicPublish("", q, new AMQP.BasicProperties.Builder().replyTo(REPLY_TO).build(), new byte[1]);
            assertClose(406, "PRECONDITION_FAILED - fast reply consumer does not exist",
                    AmqpAssertions.awaitChannelClosed(ch));
            Channel ch2 = c.createChannel();
            assertEquals(0, ch2.queueDeclarePassive(q).getMessageCount());
            ch2.queueDelete(q);
        }
    }

    @Test
    void cancelEndsTheAddress() throws Exception {
        try (Connection c = broker.connect()) {
            Channel ch = c.createChannel();
            String q = newQueue(ch);
            String tag = ch.basicConsume(REPLY_TO, true, new RecordingConsumer(ch));
            ch.basicPublish("", q, new AMQP.BasicProperties.Builder().replyTo(REPLY_TO).build(), new byte[1]);
            String address = await().until(() -> ch.basicGet(q, true), r -> r != null).getProps().getReplyTo();
            ch.basicCancel(tag);
            Channel probe = c.createChannel();
            assertClose(404, "NOT_FOUND - no queue '" + address + "' in vhost '/'",
                    channelError(() -> probe.queueDeclarePassive(address)));
            // a new reply consumer gets a new address
            String tag2 = ch.basicConsume(REPLY_TO, true, new RecordingConsumer(ch));
            assertNotEquals(tag, tag2);
            ch.basicPublish("", q, new AMQP.BasicProperties.Builder().replyTo(REPLY_TO).build(), new byte[1]);
            String address2 = await().until(() -> ch.basicGet(q, true), r -> r != null).getProps().getReplyTo();
            assertNotEquals(address, address2);
            ch.queueDelete(q);
        }
    }

    /** A forged address names nothing: a declare is 404, a reply is dropped and reaches nobody. */
    @Test
    void forgedAddressReachesNobody() throws Exception {
        try (Connection client = broker.connect(); Connection server = broker.connect()) {
            Channel cch = client.createChannel();
            RecordingConsumer replies = new RecordingConsumer(cch);
            cch.basicConsume(REPLY_TO, true, replies);
            String q = newQueue(cch);
            cch.basicPublish("", q, new AMQP.BasicProperties.Builder().replyTo(REPLY_TO).build(), new byte[1]);
            String address = await().until(() -> cch.basicGet(q, true), r -> r != null).getProps().getReplyTo();
            String forged = address.substring(0, address.length() - 5) + "xxxxx";
            Channel sch = server.createChannel();
            assertClose(404, "NOT_FOUND - no queue '" + forged + "' in vhost '/'",
                    channelError(() -> sch.queueDeclarePassive(forged)));
            Channel sch2 = server.createChannel();
            sch2.basicPublish("", forged, null, "x".getBytes(StandardCharsets.UTF_8));
            sch2.basicPublish("", REPLY_TO + ".", null, "x".getBytes(StandardCharsets.UTF_8));
            sch2.basicPublish("", address, null, "real".getBytes(StandardCharsets.UTF_8));
            replies.awaitCount(1);
            Thread.sleep(200);
            assertEquals(List.of("real"), replies.deliveries.stream().map(RecordingConsumer.Delivery::text).toList());
            assertTrue(sch2.isOpen());
            cch.queueDelete(q);
        }
    }

    /**
     * The requester's channel closes before the reply: the reply is dropped, the replier is not
     * affected; a mandatory reply comes back (RabbitMQ: an address is never a queue), confirms go on.
     */
    @Test
    void replyAfterRequesterClosedIsDropped() throws Exception {
        try (Connection client = broker.connect(); Connection server = broker.connect()) {
            Channel cch = client.createChannel();
            cch.basicConsume(REPLY_TO, true, new RecordingConsumer(cch));
            String q = newQueue(cch);
            cch.basicPublish("", q, new AMQP.BasicProperties.Builder().replyTo(REPLY_TO).build(), new byte[1]);
            Channel sch = server.createChannel();
            String address = await().until(() -> sch.basicGet(q, true), r -> r != null).getProps().getReplyTo();
            cch.close();

            List<String> returned = new CopyOnWriteArrayList<>();
            sch.addReturnListener(r -> returned.add(r.getReplyCode() + " " + r.getReplyText() + " " + r.getRoutingKey()));
            sch.confirmSelect();
            sch.basicPublish("", address, null, "late".getBytes(StandardCharsets.UTF_8));
            sch.basicPublish("", address, true, null, "late, mandatory".getBytes(StandardCharsets.UTF_8));
            assertTrue(sch.waitForConfirms(5000));
            await().atMost(Duration.ofSeconds(5)).until(() -> returned.size() == 1);
            assertEquals("312 NO_ROUTE " + address, returned.get(0));
            assertTrue(sch.isOpen());
            assertNotNull(sch.queueDeclarePassive(q));
            sch.queueDelete(q);
        }
    }

    /** RabbitMQ's documented quirk: a mandatory reply is delivered and also returned (no queue took it). */
    @Test
    void mandatoryReplyIsDeliveredAndReturned() throws Exception {
        try (Connection c = broker.connect()) {
            Channel ch = c.createChannel();
            RecordingConsumer replies = new RecordingConsumer(ch);
            ch.basicConsume(REPLY_TO, true, replies);
            String q = newQueue(ch);
            ch.basicPublish("", q, new AMQP.BasicProperties.Builder().replyTo(REPLY_TO).build(), new byte[1]);
            String address = await().until(() -> ch.basicGet(q, true), r -> r != null).getProps().getReplyTo();
            List<Integer> returned = new CopyOnWriteArrayList<>();
            ch.addReturnListener(r -> returned.add(r.getReplyCode()));
            ch.basicPublish("", address, true, null, "r".getBytes(StandardCharsets.UTF_8));
            replies.awaitCount(1);
            await().atMost(Duration.ofSeconds(5)).until(() -> returned.size() == 1);
            ch.queueDelete(q);
        }
    }

    /** A reply in a transaction goes at commit; a persistent one is not stored (no queue holds it). */
    @Test
    void transactionalAndPersistentReplies() throws Exception {
        try (Connection client = broker.connect(); Connection server = broker.connect()) {
            Channel cch = client.createChannel();
            RecordingConsumer replies = new RecordingConsumer(cch);
            cch.basicConsume(REPLY_TO, true, replies);
            String q = newQueue(cch);
            cch.txSelect();
            cch.basicPublish("", q, new AMQP.BasicProperties.Builder().replyTo(REPLY_TO).build(), new byte[1]);
            cch.txCommit();
            Channel sch = server.createChannel();
            String address = await().until(() -> sch.basicGet(q, true), r -> r != null).getProps().getReplyTo();
            sch.txSelect();
            sch.basicPublish("", address, MessageProperties.PERSISTENT_BASIC, "tx".getBytes(StandardCharsets.UTF_8));
            Thread.sleep(200);
            assertEquals(0, replies.count());
            sch.txCommit();
            replies.awaitCount(1);
            assertEquals("tx", replies.deliveries.get(0).text());
            assertEquals(2, replies.deliveries.get(0).properties().getDeliveryMode());
            sch.queueDelete(q);
        }
    }
}
