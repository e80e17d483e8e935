package io.warren.it.management;

import com.fasterxml.jackson.databind.JsonNode;
import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The management API's publish and get (RabbitMQ 3.10's POST .../publish and .../get) against
 * a broker started in the test, cross-checked with the RabbitMQ Java client: messages published
 * through the API reach AMQP consumers and the other way round, each get ack mode, persistence
 * across a restart, resource alarms, and RabbitMQ's error reasons.
 */
class ManagementMessagesTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private Http http;

    @BeforeEach
    void client() {
        http = new Http("127.0.0.1", broker.broker().managementPort(), "guest", "guest");
    }

    private static void assertError(Http.Response r, int status, String error, String reason) {
        assertEquals(status, r.status(), r.body());
        assertEquals(error, r.json().get("error").asText(), r.body());
        if (reason != null) {
            JsonNode rn = r.json().get("reason");
            assertEquals(reason, rn.isTextual() ? rn.asText() : rn.toString(), r.body());
        }
    }

    private static String publishBody(String key, String payload, String enc, String props) {
        return "{\"routing_key\":\"" + key + "\",\"payload\":\"" + payload + "\",\"payload_encoding\":\"" + enc
                + "\",\"properties\":" + props + "}";
    }

    private Http.Response get(String queue, String ackmode, int count, String encoding) {
        return http.post("/api/queues/%2F/" + queue + "/get", "{\"count\":" + count + ",\"ackmode\":\"" + ackmode
                + "\",\"encoding\":\"" + encoding + "\"}");
    }

    @Test
    void publishThroughTheApiReachesAnAmqpClient() throws Exception {
        try (Connection c = broker.connect(); Channel ch = c.createChannel()) {
            ch.queueDeclare("api-pub", false, false, false, null);
            Http.Response r = http.post("/api/exchanges/%2F/amq.default/publish", publishBody("api-pub", "hello api",
                    "string", "{\"content_type\":\"text/plain\",\"delivery_mode\":1,\"priority\":3,"
                            + "\"message_id\":\"m1\",\"timestamp\":1700000000,\"headers\":{\"k\":\"v\",\"n\":42}}"));
            assertEquals(200, r.status(), r.body());
            assertEquals("{\"routed\":true}", r.body());
            GetResponse g = ch.basicGet("api-pub", true);
            assertNotNull(g);
            assertEquals("hello api", new String(g.getBody(), StandardCharsets.UTF_8));
            assertEquals("", g.getEnvelope().getExchange());
            assertEquals("api-pub", g.getEnvelope().getRoutingKey());
            AMQP.BasicProperties p = g.getProps();
            assertEquals("text/plain", p.getContentType());
            assertEquals(1, p.getDeliveryMode());
            assertEquals(3, p.getPriority());
            assertEquals("m1", p.getMessageId());
            assertEquals(1700000000L, p.getTimestamp().getTime() / 1000);
            assertEquals("v", p.getHeaders().get("k").toString());
            assertEquals(42L, ((Number) p.getHeaders().get("n")).longValue());

            // base64 payloads are decoded; an unroutable message is routed: false
            byte[] bin = {0, (byte) 0xff, 1, 2};
            r = http.post("/api/exchanges/%2F/amq.default/publish", publishBody("api-pub",
                    Base64.getEncoder().encodeToString(bin), "base64", "{}"));
            assertEquals("{\"routed\":true}", r.body());
            assertArrayEquals(bin, ch.basicGet("api-pub", true).getBody());
            r = http.post("/api/exchanges/%2F/amq.direct/publish", publishBody("nowhere", "x", "string", "{}"));
            assertEquals(200, r.status(), r.body());
            assertEquals("{\"routed\":false}", r.body());
        }
    }

    @Test
    void getReturnsWhatAnAmqpClientPublished() throws Exception {
        try (Connection c = broker.connect(); Channel ch = c.createChannel()) {
            ch.queueDeclare("api-get", false, false, false, null);
            AMQP.BasicProperties props = new AMQP.BasicProperties.Builder().contentType("application/json")
                    .correlationId("c-1").headers(Map.of("h", "x")).deliveryMode(2).build();
            ch.basicPublish("", "api-get", props, "{\"a\":1}".getBytes(StandardCharsets.UTF_8));
            ch.basicPublish("", "api-get", null, new byte[] {(byte) 0xc3, 0x28}); // not UTF-8
            ch.basicPublish("", "api-get", null, "third".getBytes(StandardCharsets.UTF_8));

            // ack_requeue_true: looked at, left in the queue (then redelivered)
            Http.Response r = get("api-get", "ack_requeue_true", 2, "auto");
            assertEquals(200, r.status(), r.body());
            JsonNode msgs = r.json();
            assertEquals(2, msgs.size(), r.body());
            JsonNode m0 = msgs.get(0);
            assertEquals("{\"a\":1}", m0.get("payload").asText());
            assertEquals("string", m0.get("payload_encoding").asText());
            assertEquals(7, m0.get("payload_bytes").asInt());
            assertFalse(m0.get("redelivered").asBoolean());
            assertEquals("", m0.get("exchange").asText());
            assertEquals("api-get", m0.get("routing_key").asText());
            assertEquals(2, m0.get("message_count").asInt());
            assertEquals("application/json", m0.at("/properties/content_type").asText());
            assertEquals("c-1", m0.at("/properties/correlation_id").asText());
            assertEquals(2, m0.at("/properties/delivery_mode").asInt());
            assertEquals("x", m0.at("/properties/headers/h").asText());
            JsonNode m1 = msgs.get(1);
            assertEquals("base64", m1.get("payload_encoding").asText(), "not UTF-8: auto gives base64");
            assertEquals(Base64.getEncoder().encodeToString(new byte[] {(byte) 0xc3, 0x28}), m1.get("payload").asText());
            assertEquals(1, m1.get("message_count").asInt());
            assertEquals(0, m1.get("properties").size());

            // all three still there; the two looked at are now redelivered
            r = get("api-get", "reject_requeue_true", 5, "base64");
            msgs = r.json();
            assertEquals(3, msgs.size(), r.body());
            assertTrue(msgs.get(0).get("redelivered").asBoolean());
            assertTrue(msgs.get(1).get("redelivered").asBoolean());
            assertFalse(msgs.get(2).get("redelivered").asBoolean());
            assertEquals("base64", msgs.get(2).get("payload_encoding").asText());
            assertEquals(Base64.getEncoder().encodeToString("third".getBytes(StandardCharsets.UTF_8)),
                    msgs.get(2).get("payload").asText());

            // truncate cuts the payload, not payload_bytes
            r = http.post("/api/queues/%2F/api-get/get",
                    "{\"count\":1,\"ackmode\":\"ack_requeue_false\",\"encoding\":\"auto\",\"truncate\":3}");
            assertEquals("{\"a", r.json().get(0).get("payload").asText());
            assertEquals(7, r.json().get(0).get("payload_bytes").asInt());

            // ack_requeue_false took the first; reject_requeue_false drops the next
            r = get("api-get", "reject_requeue_false", 1, "auto");
            assertEquals(1, r.json().size());
            assertEquals(1, r.json().get(0).get("message_count").asInt());
            GetResponse last = ch.basicGet("api-get", true);
            assertEquals("third", new String(last.getBody(), StandardCharsets.UTF_8));
            assertTrue(last.getEnvelope().isRedeliver());
            assertNull(ch.basicGet("api-get", true));
            assertEquals("[]", get("api-get", "ack_requeue_false", 3, "auto").body());
        }
    }

    @Test
    void persistentPublishToADurableQueueSurvivesARestart() throws Exception {
        try (Connection c = broker.connect(); Channel ch = c.createChannel()) {
            ch.queueDeclare("api-durable", true, false, false, null);
        }
        Http.Response r = http.post("/api/exchanges/%2F/amq.default/publish", publishBody("api-durable", "kept",
                "string", "{\"delivery_mode\":2}"));
        assertEquals("{\"routed\":true}", r.body());
        r = http.post("/api/exchanges/%2F/amq.default/publish", publishBody("api-durable", "lost", "string", "{}"));
        assertEquals("{\"routed\":true}", r.body());
        broker.restart();
        http = new Http("127.0.0.1", broker.broker().managementPort(), "guest", "guest");
        try (Connection c = broker.connect(); Channel ch = c.createChannel()) {
            GetResponse g = ch.basicGet("api-durable", true);
            assertNotNull(g, "the persistent message survives");
            assertEquals("kept", new String(g.getBody(), StandardCharsets.UTF_8));
            assertNull(ch.basicGet("api-durable", true), "the transient one does not");
        }
    }

    /** The API's publish honours the expiration property as basic.publish does, and checks it the same way. */
    @Test
    void publishHonoursExpiration() throws Exception {
        try (Connection c = broker.connect(); Channel ch = c.createChannel()) {
            ch.queueDeclare("api-exp", false, false, true, null);
            Http.Response r = http.post("/api/exchanges/%2F/amq.default/publish", publishBody("api-exp", "brief",
                    "string", "{\"expiration\":\"200\"}"));
            assertEquals("{\"routed\":true}", r.body());
            r = http.post("/api/exchanges/%2F/amq.default/publish", publishBody("api-exp", "lasting",
                    "string", "{\"expiration\":\"600000\"}"));
            assertEquals("{\"routed\":true}", r.body());
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5))
                    .until(() -> ch.queueDeclarePassive("api-exp").getMessageCount() == 1);
            assertEquals("lasting", new String(ch.basicGet("api-exp", true).getBody(), StandardCharsets.UTF_8));
            r = http.post("/api/exchanges/%2F/amq.default/publish", publishBody("api-exp", "bad",
                    "string", "{\"expiration\":\"-1\"}"));
            assertEquals(400, r.status(), r.body());
            assertEquals("406 PRECONDITION_FAILED - invalid expiration '-1': {value_negative,-1}",
                    r.json().get("reason").asText(), r.body());
        }
    }

    /** The API's publish goes through the same routing: CC/BCC keys and alternate exchanges. */
    @Test
    void publishFollowsCcBccAndAlternateExchanges() throws Exception {
        try (Connection c = broker.connect(); Channel ch = c.createChannel()) {
            ch.queueDeclare("api-cc1", false, false, true, null);
            ch.queueDeclare("api-cc2", false, false, true, null);
            Http.Response r = http.post("/api/exchanges/%2F/amq.default/publish", publishBody("api-cc1", "cc",
                    "string", "{\"headers\":{\"BCC\":[\"api-cc2\"]}}"));
            assertEquals("{\"routed\":true}", r.body());
            // the answer comes once every queue has its copy: a get at once finds it
            for (String q : new String[] {"api-cc1", "api-cc2"}) {
                GetResponse g = ch.basicGet(q, true);
                assertNotNull(g, q);
                assertFalse(g.getProps().getHeaders().containsKey("BCC"));
            }
            ch.exchangeDeclare("api-ae", "fanout", false, true, null);
            ch.exchangeDeclare("api-with-ae", "direct", false, true, Map.of("alternate-exchange", "api-ae"));
            ch.queueBind("api-cc1", "api-ae", "");
            r = http.post("/api/exchanges/%2F/api-with-ae/publish", publishBody("unbound", "ae", "string", "{}"));
            assertEquals("{\"routed\":true}", r.body());
            assertNotNull(ch.basicGet("api-cc1", true));
        }
    }

    @Test
    void publishWaitsWhileAResourceAlarmIsSet() throws Exception {
        try (Connection c = broker.connect(); Channel ch = c.createChannel()) {
            ch.queueDeclare("api-alarm", false, false, false, null);
            assertEquals(204, http.put("/api/warren/alarms/memory", "").status());
            CompletableFuture<HttpResponse<String>> pending;
            try {
                java.net.http.HttpClient client = java.net.http.HttpClient.newHttpClient();
                pending = client.sendAsync(http.builder("/api/exchanges/%2F/amq.default/publish")
                        .header("content-type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(publishBody("api-alarm", "held", "string", "{}")))
                        .build(), HttpResponse.BodyHandlers.ofString());
                Thread.sleep(500);
                assertFalse(pending.isDone(), "held while the alarm is set");
                assertNull(ch.basicGet("api-alarm", true));
            } finally {
                assertEquals(204, http.delete("/api/warren/alarms/memory").status());
            }
            HttpResponse<String> answer = pending.get(10, TimeUnit.SECONDS);
            assertEquals(200, answer.statusCode(), answer.body());
            assertEquals("{\"routed\":true}", answer.body());
            assertEquals("held", new String(ch.basicGet("api-alarm", true).getBody(), StandardCharsets.UTF_8));
        }
    }

    @Test
    void badRequestsGetRabbitMQsReasons() throws Exception {
        try (Connection c = broker.connect(); Channel ch = c.createChannel()) {
            ch.queueDeclare("api-bad", false, false, false, null);
            ch.exchangeDeclare("api-internal", "fanout", false, false, true, null);
        }
        String pub = "/api/exchanges/%2F/amq.default/publish";
        assertError(http.post(pub, "{\"routing_key\":\"x\",\"properties\":{}}"), 400, "bad_request",
                "[{key_missing,payload},{key_missing,payload_encoding}]");
        assertError(http.post(pub, publishBody("api-bad", "x", "rot13", "{}")), 400, "bad_request",
                "[\"unsupported_encoding\",\"rot13\"]");
        assertError(http.post(pub, "{\"routing_key\":\"x\",\"properties\":{},\"payload\":1,\"payload_encoding\":\"string\"}"),
                400, "bad_request", "payload_not_string");
        assertError(http.post(pub, publishBody("api-bad", "x", "string", "{\"delivery_mode\":\"2\"}")), 400,
                "bad_request", "[\"not_int\",\"delivery_mode\"]");
        assertError(http.post(pub, publishBody("api-bad", "x", "string", "{\"user_id\":\"mallory\"}")), 400,
                "bad_request", "406 PRECONDITION_FAILED - user_id property set to 'mallory' but authenticated user was 'guest'");
        assertError(http.post("/api/exchanges/%2F/api-internal/publish", publishBody("", "x", "string", "{}")), 400,
                "bad_request", "403 ACCESS_REFUSED - cannot publish to internal exchange 'api-internal' in vhost '/'");
        assertEquals(404, http.post("/api/exchanges/%2F/no-such-x/publish", publishBody("", "x", "string", "{}")).status());
        assertEquals(404, http.post("/api/exchanges/nohost/amq.direct/publish", publishBody("", "x", "string", "{}")).status());
        assertEquals(405, http.get("/api/exchanges/%2F/amq.direct/publish").status());

        assertError(http.post("/api/queues/%2F/api-bad/get", "{\"count\":1}"), 400, "bad_request",
                "[{key_missing,ackmode},{key_missing,encoding}]");
        assertError(get("api-bad", "ack_requeue_true", 1, "utf16"), 400, "bad_request",
                "Unsupported encoding. Please use auto or base64.");
        assertEquals(400, get("api-bad", "keep_it", 1, "auto").status());
        assertEquals(404, get("no-such-queue", "ack_requeue_true", 1, "auto").status());
        try (Connection c = broker.connect(); Channel ch = c.createChannel()) {
            ch.queueDeclare("api-excl", false, true, false, null);
            assertError(get("api-excl", "ack_requeue_true", 1, "auto"), 400, "bad_request",
                    "405 RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'api-excl' in vhost '/'."
                            + " It could be originally declared on another connection or the exclusive property"
                            + " value does not match that of the original declaration.");
        }
        assertEquals(404, http.post("/api/queues/nohost/api-bad/get", "{\"count\":1,\"ackmode\":\"ack_requeue_true\","
                + "\"encoding\":\"auto\"}").status());
        assertError(http.post(pub, "[1]"), 400, "bad_request", null);
    }

    @Test
    void messageStatsCountTrafficAndRatesAppear() throws Exception {
        int n = 50;
        try (Connection c = broker.connect(); Channel ch = c.createChannel()) {
            ch.queueDeclare("api-stats", false, false, false, null);
            for (int i = 0; i < n; i++) {
                http.post("/api/exchanges/%2F/amq.default/publish", publishBody("api-stats", "m" + i, "string", "{}"));
            }
            for (int i = 0; i < n; i++) {
                GetResponse g = ch.basicGet("api-stats", false);
                if (i < 10) {
                    ch.basicNack(g.getEnvelope().getDeliveryTag(), false, true); // redelivered later
                } else {
                    ch.basicAck(g.getEnvelope().getDeliveryTag(), false);
                }
            }
            GetResponse g;
            while ((g = ch.basicGet("api-stats", false)) != null) {
                ch.basicAck(g.getEnvelope().getDeliveryTag(), false);
            }
        }
        JsonNode s = http.get("/api/queues/%2F/api-stats").json().get("message_stats");
        assertEquals(n, s.get("publish").asLong(), s.toString());
        assertEquals(n + 10, s.get("deliver_get").asLong(), s.toString());
        assertEquals(n, s.get("ack").asLong(), s.toString());
        assertEquals(10, s.get("redeliver").asLong(), s.toString());
        assertTrue(s.get("publish_details").has("rate"));
        JsonNode x = findByName(http.get("/api/exchanges/%2F").json(), "");
        assertTrue(x.at("/message_stats/publish_in").asLong() >= n, x.toString());
        assertTrue(x.at("/message_stats/publish_out").asLong() >= n, x.toString());
        JsonNode o = http.get("/api/overview").json();
        assertTrue(o.at("/message_stats/publish").asLong() >= n, o.toString());
        assertTrue(o.at("/message_stats/ack").asLong() >= n, o.toString());
        assertTrue(o.has("queue_totals"));
        // rates: the next 5 s sample sees the counts move
        await().atMost(Duration.ofSeconds(15)).pollInterval(Duration.ofMillis(200)).until(() ->
                http.get("/api/queues/%2F/api-stats").json().at("/message_stats/publish_details/rate").asDouble() > 0
                        || publishMore());
        await().atMost(Duration.ofSeconds(15)).pollInterval(Duration.ofMillis(200)).until(() ->
                http.get("/api/overview").json().at("/message_stats/publish_details/rate").asDouble() > 0
                        || publishMore());
    }

    /** Keeps traffic going while a test waits for a rate sample; false so the wait goes on. */
    private boolean publishMore() {
        http.post("/api/exchanges/%2F/amq.default/publish", publishBody("api-stats", "more", "string", "{}"));
        return false;
    }

    static JsonNode findByName(JsonNode array, String name) {
        for (JsonNode n : array) {
            if (name.equals(n.path("name").asText(null))) {
                return n;
            }
        }
        throw new AssertionError("no '" + name + "' in " + array);
    }
}
