package io.warren.it.delivery;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.LongString;
import io.warren.it.support.RecordingConsumer;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.warren.it.support.AmqpAssertions.assertClose;
import static io.warren.it.support.AmqpAssertions.assertConnectionUsable;
import static io.warren.it.support.AmqpAssertions.awaitChannelClosed;
import static io.warren.it.support.AmqpAssertions.newQueue;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/** All 14 basic properties and header tables with every field type reach consumers unchanged. */
class PropertiesTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    /** One value of every field type the Java client writes (S, I, l, s, b, t, f, d, D, T, x, F, A, V). */
    static Map<String, Object> richHeaders() {
        Map<String, Object> nested = new LinkedHashMap<>();
        nested.put("inner", "deep");
        nested.put("n", 7);
        nested.put("list", List.of(1, "two"));
        Map<String, Object> h = new LinkedHashMap<>();
        h.put("string", "text \u00e9\u4e2d");
        h.put("int", 42);
        h.put("negative-int", -7);
        h.put("long", 1L << 40);
        h.put("short", (short) -12);
        h.put("byte", (byte) 5);
        h.put("true", true);
        h.put("false", false);
        h.put("float", 1.5f);
        h.put("double", Math.PI);
        h.put("decimal", new BigDecimal("123.45"));
        h.put("timestamp", new Date(1_700_000_000_000L));
        h.put("bytes", new byte[] {0, 1, 2, (byte) 255});
        h.put("table", nested);
        h.put("array", List.of("a", 1, true, List.of(2L), Map.of("k", "v")));
        h.put("empty-array", List.of());
        h.put("empty-table", Map.of());
        h.put("void", null);
        return h;
    }

    static AMQP.BasicProperties allProperties() {
        return new AMQP.BasicProperties.Builder()
                .contentType("application/json")
                .contentEncoding("gzip")
                .headers(richHeaders())
                .deliveryMode(2)
                .priority(5)
                .correlationId("corr-1")
                .replyTo("reply-queue")
                .expiration("600000")
                .messageId("msg-1")
                .timestamp(new Date(1_600_000_000_000L))
                .type("order.created")
                // RabbitMQ checks user_id against the connection's user.
                .userId("guest")
                .appId("it-app")
                .clusterId("cluster-9")
                .build();
    }

    /** Makes received values comparable with what was sent: LongString to String, byte[] to a list. */
    static Object normalize(Object v) {
        if (v instanceof LongString s) {
            return s.toString();
        }
        if (v instanceof byte[] b) {
            List<Byte> out = new ArrayList<>();
            for (byte x : b) {
                out.add(x);
            }
            return out;
        }
        if (v instanceof Map<?, ?> m) {
            Map<Object, Object> out = new LinkedHashMap<>();
            m.forEach((k, x) -> out.put(k, normalize(x)));
            return out;
        }
        if (v instanceof List<?> l) {
            List<Object> out = new ArrayList<>();
            l.forEach(x -> out.add(normalize(x)));
            return out;
        }
        return v;
    }

    static void assertSameProperties(AMQP.BasicProperties sent, AMQP.BasicProperties got) {
        assertEquals(sent.getContentType(), got.getContentType());
        assertEquals(sent.getContentEncoding(), got.getContentEncoding());
        assertEquals(sent.getDeliveryMode(), got.getDeliveryMode());
        assertEquals(sent.getPriority(), got.getPriority());
        assertEquals(sent.getCorrelationId(), got.getCorrelationId());
        assertEquals(sent.getReplyTo(), got.getReplyTo());
        assertEquals(sent.getExpiration(), got.getExpiration());
        assertEquals(sent.getMessageId(), got.getMessageId());
        assertEquals(sent.getTimestamp(), got.getTimestamp());
        assertEquals(sent.getType(), got.getType());
        assertEquals(sent.getUserId(), got.getUserId());
        assertEquals(sent.getAppId(), got.getAppId());
        assertEquals(sent.getClusterId(), got.getClusterId());
        assertEquals(normalize(sent.getHeaders()), normalize(got.getHeaders()));
        // The wire types survive, not just the printed values.
        Map<String, Object> h = got.getHeaders();
        assertInstanceOf(LongString.class, h.get("string"));
        assertInstanceOf(Integer.class, h.get("int"));
        assertInstanceOf(Long.class, h.get("long"));
        assertInstanceOf(Short.class, h.get("short"));
        assertInstanceOf(Byte.class, h.get("byte"));
        assertInstanceOf(Float.class, h.get("float"));
        assertInstanceOf(Double.class, h.get("double"));
        assertInstanceOf(BigDecimal.class, h.get("decimal"));
        assertInstanceOf(Date.class, h.get("timestamp"));
        assertInstanceOf(byte[].class, h.get("bytes"));
        assertEquals(Arrays.toString(new byte[] {0, 1, 2, (byte) 255}), Arrays.toString((byte[]) h.get("bytes")));
    }

    @Test
    void allPropertiesReachAConsumer() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = newQueue(ch);
        AMQP.BasicProperties props = allProperties();
        ch.basicPublish("", q, props, "x".getBytes());
        RecordingConsumer c = new RecordingConsumer(ch);
        ch.basicConsume(q, true, c);
        c.awaitCount(1);
        assertSameProperties(props, c.last().properties());
    }

    @Test
    void allPropertiesReachBasicGet() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = newQueue(ch);
        AMQP.BasicProperties props = allProperties();
        ch.basicPublish("", q, props, new byte[0]);
        GetResponse r = ch.basicGet(q, true);
        assertNotNull(r);
        assertSameProperties(props, r.getProps());
    }

    @Test
    void noPropertiesAtAllStayAbsent() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = newQueue(ch);
        ch.basicPublish("", q, null, "x".getBytes());
        AMQP.BasicProperties got = ch.basicGet(q, true).getProps();
        assertEquals(new AMQP.BasicProperties().toString(), got.toString());
    }

    @Test
    void aHeadersExchangeRoutesOnARichHeaderTable() throws Exception {
        Connection conn = broker.connect();
        Channel ch = conn.createChannel();
        String q = newQueue(ch);
        String x = "it-headers-" + q;
        ch.exchangeDeclare(x, "headers", false, true, null);
        ch.queueBind(q, x, "", Map.of("x-match", "all", "int", 42, "string", "text \u00e9\u4e2d"));
        AMQP.BasicProperties props = allProperties();
        ch.basicPublish(x, "", props, "routed".getBytes());
        AMQP.BasicProperties missing = new AMQP.BasicProperties.Builder()
                .headers(Map.of("int", 42, "bytes", new byte[] {1}, "array", List.of(1, 2))).build();
        ch.basicPublish(x, "", missing, "not routed".getBytes());
        GetResponse r = ch.basicGet(q, true);
        assertEquals("routed", new String(r.getBody()));
        assertSameProperties(props, r.getProps());
        assertEquals(null, ch.basicGet(q, true));
    }

    @Test
    void aUserIdOtherThanTheConnectionsUserIs406() throws Exception {
        Connection conn = broker.connect();
        Channel ch = conn.createChannel();
        String q = newQueue(ch);
        ch.basicPublish("", q, new AMQP.BasicProperties.Builder().userId("mallory").build(), "forged".getBytes());
        AMQP.Channel.Close close = awaitChannelClosed(ch);
        assertClose(406, "PRECONDITION_FAILED - user_id property set to 'mallory' but authenticated user was"
                + " 'guest'", close);
        assertEquals(60, close.getClassId());
        assertEquals(40, close.getMethodId());
        assertConnectionUsable(conn);
        assertEquals(null, conn.createChannel().basicGet(q, true), "the forged message was not enqueued");
    }
}
