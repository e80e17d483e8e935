package io.warren.it.extensions;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static io.warren.it.support.AmqpAssertions.assertClose;
import static io.warren.it.support.AmqpAssertions.awaitChannelClosed;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * RabbitMQ's sender-selected distribution ("Sender-selected Distribution" page,
 * rabbit_basic:header_routes): the long strings of the CC and BCC header arrays are routing
 * keys too; BCC is removed before the message is stored or delivered.
 */
class SenderSelectedDistributionTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private static AMQP.BasicProperties headers(Map<String, Object> h) {
        return new AMQP.BasicProperties.Builder().headers(h).messageId("m").build();
    }

    private static String queue(Channel ch) throws Exception {
        return ch.queueDeclare("", false, true, true, null).getQueue();
    }

    /** The one message of {@code q}, checked to be alone there. */
    private static GetResponse only(Channel ch, String q) throws Exception {
        GetResponse r = ch.basicGet(q, true);
        assertNotNull(r, q);
        assertEquals(0, r.getMessageCount(), "one copy in " + q);
        return r;
    }

    @Test
    void ccAndBccKeysRouteThroughTheDefaultExchangeAndBccIsRemoved() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        ch.confirmSelect();
        String q1 = queue(ch);
        String q2 = queue(ch);
        String q3 = queue(ch);
        String q4 = queue(ch);
        Map<String, Object> h = new HashMap<>();
        h.put("CC", List.of(q2));
        h.put("BCC", List.of(q3));
        h.put("other", "kept");
        ch.basicPublish("", q1, headers(h), "m".getBytes(StandardCharsets.UTF_8));
        ch.waitForConfirmsOrDie(10_000);
        for (String q : new String[] {q1, q2, q3}) {
            GetResponse r = only(ch, q);
            Map<String, Object> got = r.getProps().getHeaders();
            assertTrue(got.containsKey("CC"), "CC is kept");
            assertFalse(got.containsKey("BCC"), "BCC is removed");
            assertEquals("kept", got.get("other").toString());
            assertEquals("m", r.getProps().getMessageId());
            assertEquals(q1, r.getEnvelope().getRoutingKey(), "delivered with the publish's own routing key");
        }
        assertNull(ch.basicGet(q4, true));
    }

    @Test
    void aQueueReachedSeveralTimesGetsOneCopy() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q1 = queue(ch);
        String x = "ssd-direct-" + UUID.randomUUID();
        ch.exchangeDeclare(x, "direct", false, true, null);
        ch.queueBind(q1, x, "a");
        ch.queueBind(q1, x, "b");
        ch.basicPublish(x, "a", headers(Map.of("CC", List.of("a", "b", "a"), "BCC", List.of("b"))),
                new byte[0]);
        GetResponse r = only(ch, q1);
        assertFalse(r.getProps().getHeaders().containsKey("BCC"));
    }

    @Test
    void entriesThatAreNotLongStringsAreIgnored() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q1 = queue(ch);
        String q2 = queue(ch);
        ch.basicPublish("", q1, headers(Map.of("CC", List.of(5, true, q2.getBytes(StandardCharsets.UTF_8)),
                "BCC", List.of("no-such-queue"))), new byte[0]);
        only(ch, q1);
        assertNull(ch.basicGet(q2, true), "a byte array entry is not a routing key");
        ch.basicPublish("", q1, headers(Map.of("CC", List.of())), new byte[0]);
        only(ch, q1);
    }

    @Test
    void aCcHeaderThatIsNotAnArrayClosesTheChannel() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String q1 = queue(c.createChannel());
        ch.basicPublish("", q1, headers(Map.of("CC", 0)), new byte[0]);
        assertClose(406, "PRECONDITION_FAILED - invalid message: {unacceptable_type_in_header,\"CC\",signedint}",
                awaitChannelClosed(ch));
        Channel ch2 = c.createChannel();
        assertNull(ch2.basicGet(q1, true), "the message was dropped");
        ch2.basicPublish("", q1, headers(Map.of("BCC", "x")), new byte[0]);
        assertClose(406, "PRECONDITION_FAILED - invalid message: {unacceptable_type_in_header,\"BCC\",longstr}",
                awaitChannelClosed(ch2));
    }

    @Test
    void topicExchangesMatchEachKeyAgainstTheirPatterns() throws Exception {
        Channel ch = broker.connect().createChannel();
        String x = "ssd-topic-" + UUID.randomUUID();
        ch.exchangeDeclare(x, "topic", false, true, null);
        String stock = queue(ch);
        String weather = queue(ch);
        String none = queue(ch);
        ch.queueBind(stock, x, "stock.#");
        ch.queueBind(weather, x, "*.weather");
        ch.queueBind(none, x, "never");
        ch.basicPublish(x, "", headers(Map.of("CC", List.of("stock.nyse.ibm"), "BCC", List.of("uk.weather"))),
                new byte[0]);
        only(ch, stock);
        only(ch, weather);
        assertNull(ch.basicGet(none, true));
    }

    @Test
    void boundExchangesRouteByEveryKey() throws Exception {
        Channel ch = broker.connect().createChannel();
        String direct = "ssd-d-" + UUID.randomUUID();
        String topic = "ssd-t-" + UUID.randomUUID();
        ch.exchangeDeclare(direct, "direct", false, true, null);
        ch.exchangeDeclare(topic, "topic", false, true, null);
        ch.exchangeBind(topic, direct, "k1");
        String q = queue(ch);
        ch.queueBind(q, topic, "k2");
        ch.basicPublish(direct, "", headers(Map.of("CC", List.of("k1"), "BCC", List.of("k2"))), new byte[0]);
        only(ch, q);
    }

    @Test
    void persistentMessagesAreStoredWithoutBcc() throws Exception {
        String q = "ssd-durable-" + UUID.randomUUID();
        try (Connection c = broker.connect(); Channel ch = c.createChannel()) {
            ch.queueDeclare(q, true, false, false, null);
            ch.confirmSelect();
            AMQP.BasicProperties p = new AMQP.BasicProperties.Builder().deliveryMode(2)
                    .headers(Map.of("BCC", List.of(q))).build();
            ch.basicPublish("", "nowhere", p, "d".getBytes(StandardCharsets.UTF_8));
            ch.waitForConfirmsOrDie(10_000);
        }
        broker.restart();
        try (Connection c = broker.connect(); Channel ch = c.createChannel()) {
            GetResponse r = ch.basicGet(q, true);
            assertNotNull(r);
            assertEquals("nowhere", r.getEnvelope().getRoutingKey());
            assertFalse(r.getProps().getHeaders().containsKey("BCC"));
            ch.queueDelete(q);
        }
    }
}
