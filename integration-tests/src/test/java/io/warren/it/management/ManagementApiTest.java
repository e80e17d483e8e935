package io.warren.it.management;

import com.fasterxml.jackson.databind.JsonNode;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.ShutdownSignalException;
import io.warren.it.support.WarrenBroker;
import io.warren.server.Broker;
import io.warren.server.WarrenConfig;
import io.warren.server.flow.Watermark;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.ServerSocket;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The management HTTP API against a broker started in the test: every endpoint of the first
 * increment with its error statuses, observed through the RabbitMQ Java client. Paths, status
 * codes and JSON fields are RabbitMQ 3.10's (checked against the reference broker).
 */
class ManagementApiTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private Http http;

    @BeforeEach
    void client() {
        http = new Http("127.0.0.1", broker.broker().managementPort(), "guest", "guest");
    }

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }

    /** The client's side of the socket: the peer port warren sees. */
    private static int localPort(Connection c) {
        return ((com.rabbitmq.client.impl.AMQConnection) c).getLocalPort();
    }

    private static JsonNode find(JsonNode array, String field, String value) {
        for (JsonNode n : array) {
            if (value.equals(n.path(field).asText(null))) {
                return n;
            }
        }
        return null;
    }

    private static void assertError(Http.Response r, int status, String error, String reason) {
        assertEquals(status, r.status(), r.body());
        assertEquals(error, r.json().get("error").asText(), r.body());
        if (reason != null) {
            assertEquals(reason, r.json().get("reason").asText(), r.body());
        }
    }

    // ---- listener, auth, errors ----------------------------------------------------------

    @Test
    void badOrMissingCredentialsGet401AsRabbitMQ() {
        Http wrong = new Http("127.0.0.1", broker.broker().managementPort(), "guest", "nope");
        Http.Response r = wrong.get("/api/overview");
        assertError(r, 401, "not_authorized", "Login failed");
        assertNotNull(r.header("www-authenticate"));
        Http unknown = new Http("127.0.0.1", broker.broker().managementPort(), "nobody", "guest");
        assertEquals(401, unknown.get("/api/whoami").status());
        Http.Response none = http.send(http.builder("/api/overview").setHeader("authorization", "Bearer x").GET());
        assertEquals(401, none.status());
    }

    @Test
    void unknownPathsAre404AndWrongMethods405() {
        assertError(http.get("/api/nope"), 404, "Object Not Found", "Not Found");
        assertError(http.get("/api/queues/%2F/q/x/y/z"), 404, "Object Not Found", null);
        assertEquals(404, http.get("/nope").status());
        Http.Response r = http.post("/api/overview", "{}");
        assertEquals(405, r.status());
        assertEquals("GET", r.header("allow"));
        Http.Response head = http.send(http.builder("/api/overview").method("HEAD",
                java.net.http.HttpRequest.BodyPublishers.noBody()));
        assertEquals(200, head.status());
        assertEquals("", head.body());
        assertEquals(200, http.get("/api/overview").status()); // the connection is still in step
        Http.Response q = http.post("/api/queues/%2F/x", "{}");
        assertEquals(405, q.status());
        assertEquals("DELETE, GET, PUT", q.header("allow"));
    }

    @Test
    void rebalanceOnASingleBrokerMovesNothing() throws Exception {
        try (Connection c = broker.connect(); Channel ch = c.createChannel()) {
            // a name a backtracking pattern takes forever over
            ch.queueDeclare("rbm.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", true, false, false,
                    Map.of("x-queue-type", "quorum"));
        }
        try {
            // RabbitMQ's: starts a rebalance of every replicated queue, answers at once
            Http.Response all = http.post("/api/rebalance/queues", "");
            assertEquals(204, all.status(), all.body());
            // warren's (warrenctl rebalance): answers when done, with each node's count
            Http.Response r = http.post("/api/warren/rebalance", "{\"type\":\"quorum\",\"queue_pattern\":\"^rbm\\\\.\"}");
            assertEquals(200, r.status(), r.body());
            assertEquals(1, r.json().size(), r.body());
            assertEquals(1, r.json().get(0).path("number_of_quorum_queues").asInt(), r.body());
            assertEquals(0, r.json().get(0).path("number_of_replicated_classic_queues").asInt(), r.body());
            assertEquals(http.get("/api/overview").json().path("node").asText(),
                    r.json().get(0).path("node_name").asText());
            assertError(http.post("/api/warren/rebalance", "{\"type\":\"stream\"}"), 400, "bad_request",
                    "type stream is not supported. Try one of all, classic, quorum.");
            assertError(http.post("/api/warren/rebalance", "{\"type\":\"all\",\"vhost_pattern\":\"[\"}"), 400,
                    "bad_request", null);
            assertError(http.post("/api/warren/rebalance", "{\"type\":\"all\",\"queue_pattern\":\"(.*a){25}b\"}"),
                    400, "bad_request", null);
        } finally {
            try (Connection c = broker.connect(); Channel ch = c.createChannel()) {
                ch.queueDelete("rbm.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
            }
        }
    }

    @Test
    void whoamiNamesTheDefaultUserAsAdministrator() {
        JsonNode me = http.get("/api/whoami").json();
        assertEquals("guest", me.get("name").asText());
        assertEquals("administrator", me.get("tags").get(0).asText());
    }

    @Test
    void bindFailureNamesTheConfigKeys(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            WarrenConfig base = WarrenConfig.defaults(tmp).withListener("127.0.0.1", 0, tmp.resolve("data"));
            WarrenConfig c = new WarrenConfig(base.listenHost(), base.listenPort(), "127.0.0.1", taken.getLocalPort(),
                    base.defaultUser(), base.defaultPass(), base.defaultVhost(), base.loopbackUsers(),
                    base.heartbeatSeconds(), base.frameMax(), base.channelMax(), base.maxMessageSize(),
                    base.connectionMax(), base.sendTimeoutMs(), base.memoryHighWatermark(), base.memoryPagingRatio(),
                    base.diskFreeLimit(), base.dataDir(), base.logFile(), base.logLevel(), base.tls());
            Broker b = new Broker(c);
            Exception e = assertThrows(Exception.class, b::start);
            assertTrue(e.getMessage().contains("management.tcp.port"), e.getMessage());
            assertTrue(e.getMessage().contains("127.0.0.1:" + taken.getLocalPort()), e.getMessage());
            // Nothing was left running: the data dir can be opened again.
            Broker again = new Broker(base.withListener("127.0.0.1", 0, tmp.resolve("data")));
            again.start();
            assertTrue(again.managementPort() > 0);
            again.close();
        }
    }

    // ---- overview, nodes, vhosts, health -------------------------------------------------

    @Test
    void overviewCountsWhatIsThere() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String q = ch.queueDeclare().getQueue();
        ch.basicConsume(q, true, (t, d) -> { }, t -> { });
        ch.basicPublish("", q, null, new byte[1]);
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            JsonNode o = http.get("/api/overview").json();
            assertEquals("warren", o.get("product_name").asText());
            assertTrue(o.get("object_totals").get("connections").asInt() >= 1, o.toString());
            assertTrue(o.get("object_totals").get("channels").asInt() >= 1);
            assertTrue(o.get("object_totals").get("queues").asInt() >= 1);
            assertTrue(o.get("object_totals").get("consumers").asInt() >= 1);
            // "", amq.direct, amq.fanout, amq.topic, amq.headers, amq.match (no amq.rabbitmq.trace)
            assertTrue(o.get("object_totals").get("exchanges").asInt() >= 6, o.toString());
            assertTrue(o.get("queue_totals").has("messages_ready"));
            assertTrue(o.get("queue_totals").has("messages_unacknowledged"));
            assertFalse(o.get("management_version").asText().isEmpty());
            assertNotNull(find(o.get("listeners"), "protocol", "amqp"));
            assertEquals(broker.port(), find(o.get("listeners"), "protocol", "amqp").get("port").asInt());
            assertEquals(o.get("node").asText(), o.get("listeners").get(0).get("node").asText());
        });
        c.close();
    }

    @Test
    void overviewListsTheTlsListener(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        io.warren.it.support.TestCertificates certs = io.warren.it.support.TestCertificates.create(tmp);
        WarrenBroker tls = new WarrenBroker(c -> c.withTls(new WarrenConfig.TlsConfig("127.0.0.1", 0,
                certs.server.certPem(), certs.server.keyPem(), null, null, false, false)));
        tls.start();
        try {
            JsonNode listeners = new Http("127.0.0.1", tls.broker().managementPort(), "guest", "guest")
                    .get("/api/overview").json().get("listeners");
            assertEquals(tls.port(), find(listeners, "protocol", "amqp").get("port").asInt());
            assertEquals(tls.broker().tlsPort(), find(listeners, "protocol", "amqp/ssl").get("port").asInt());
            assertEquals(tls.broker().managementPort(), find(listeners, "protocol", "http").get("port").asInt());
            assertEquals(tls.broker().prometheusPort(), find(listeners, "protocol", "http/prometheus").get("port").asInt());
        } finally {
            tls.stop();
        }
    }

    @Test
    void nodesReportMemoryDiskAndAlarms() {
        JsonNode nodes = http.get("/api/nodes").json();
        assertEquals(1, nodes.size());
        JsonNode n = nodes.get(0);
        assertTrue(n.get("running").asBoolean());
        assertTrue(n.get("mem_used").asLong() > 0);
        assertTrue(n.get("mem_limit").asLong() > 0);
        assertFalse(n.get("mem_alarm").asBoolean());
        assertTrue(n.get("disk_free").asLong() > 0);
        assertTrue(n.get("disk_free_limit").asLong() > 0);
        assertFalse(n.get("disk_free_alarm").asBoolean());
        assertTrue(n.get("uptime").asLong() >= 0);
        String name = n.get("name").asText();
        assertEquals(name, http.get("/api/nodes/" + enc(name)).json().get("name").asText());
        assertEquals(404, http.get("/api/nodes/nope@nowhere").status());
    }

    @Test
    void vhostsAreListedAndTheDefaultOneIsPercentEncoded() {
        JsonNode all = http.get("/api/vhosts").json();
        assertNotNull(find(all, "name", "/"));
        JsonNode v = http.get("/api/vhosts/%2F").json();
        assertEquals("/", v.get("name").asText());
        assertTrue(v.has("messages_ready"));
        assertError(http.get("/api/vhosts/nohost"), 404, "Object Not Found", "Not Found");
    }

    /** RabbitMQ's pre-shutdown checks: on a single node neither applies (3.10.8's answers). */
    @Test
    void quorumAndMirrorCriticalChecksPassOnASingleNode() {
        Http.Response q = http.get("/api/health/checks/node-is-quorum-critical");
        assertEquals(200, q.status());
        assertEquals("{\"status\":\"ok\",\"reason\":\"single node cluster\"}", q.json().toString());
        Http.Response m = http.get("/api/health/checks/node-is-mirror-sync-critical");
        assertEquals(200, m.status());
        assertEquals("{\"status\":\"ok\"}", m.json().toString());
    }

    @Test
    void alarmsHealthCheckIs503WhileAnAlarmIsSet() {
        assertEquals(200, http.get("/api/health/checks/alarms").status());
        assertEquals("ok", http.get("/api/health/checks/alarms").json().get("status").asText());
        broker.broker().setMemoryHighWatermark(new Watermark.Absolute(0));
        try {
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
                Http.Response r = http.get("/api/health/checks/alarms");
                assertEquals(503, r.status(), r.body());
                assertEquals("failed", r.json().get("status").asText());
                assertFalse(r.json().get("reason").asText().isEmpty());
                assertEquals("memory", r.json().get("alarms").get(0).get("resource").asText());
                assertTrue(http.get("/api/nodes").json().get(0).get("mem_alarm").asBoolean());
            });
        } finally {
            broker.broker().setMemoryHighWatermark(WarrenConfig.DEFAULT_MEMORY_HIGH_WATERMARK);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> http.get("/api/health/checks/alarms").status() == 200);
    }

    // ---- warren's own endpoints (warrenctl environment / set_vm_memory_high_watermark) -----

    @Test
    void environmentShowsTheEffectiveConfigWithThePasswordMasked() {
        Http.Response r = http.get("/api/warren/environment");
        assertEquals(200, r.status(), r.body());
        JsonNode env = r.json();
        assertEquals("guest", env.get("default_user").asText());
        assertEquals("********", env.get("default_pass").asText());
        // As configured (the test broker asks for an ephemeral port).
        assertEquals(broker.broker().config().managementPort(), env.get("management.tcp.port").asInt());
        assertEquals("/", env.get("default_vhost").asText());
        assertTrue(env.has("vm_memory_high_watermark.relative"), r.body());
        assertTrue(env.has("data_dir"), r.body());
        assertEquals(405, http.post("/api/warren/environment", "{}").status());
    }

    @Test
    void vmMemoryHighWatermarkChangesAtRunTime() {
        try {
            Http.Response r = http.put("/api/warren/vm_memory_high_watermark", "{\"absolute\":\"512MB\"}");
            assertEquals(200, r.status(), r.body());
            assertEquals(512_000_000L, r.json().get("absolute").asLong());
            assertEquals(512_000_000L, http.get("/api/nodes").json().get(0).get("mem_limit").asLong());
            assertEquals(512_000_000L, http.get("/api/warren/environment").json()
                    .get("vm_memory_high_watermark.absolute").asLong());

            r = http.put("/api/warren/vm_memory_high_watermark", "{\"relative\":0.3}");
            assertEquals(200, r.status(), r.body());
            assertEquals(0.3, r.json().get("relative").asDouble());
            assertEquals(0.3, http.get("/api/warren/vm_memory_high_watermark").json().get("relative").asDouble());

            // 0 bytes: the memory alarm goes on at once, as rabbitmqctl's does.
            assertEquals(200, http.put("/api/warren/vm_memory_high_watermark", "{\"absolute\":0}").status());
            await().atMost(Duration.ofSeconds(10)).until(() -> http.get("/api/health/checks/alarms").status() == 503);

            assertError(http.put("/api/warren/vm_memory_high_watermark", "{\"relative\":1.5}"), 400, "bad_request",
                    "relative: expected a number 0.0..1.0");
            assertEquals(400, http.put("/api/warren/vm_memory_high_watermark", "{\"absolute\":\"5xx\"}").status());
            assertEquals(400, http.put("/api/warren/vm_memory_high_watermark", "{}").status());
            assertEquals(400, http.put("/api/warren/vm_memory_high_watermark",
                    "{\"relative\":0.4,\"absolute\":1}").status());
            assertError(http.put("/api/warren/vm_memory_high_watermark", "nope"), 400, "bad_request", "not_json");
            Http wrong = new Http("127.0.0.1", broker.broker().managementPort(), "guest", "nope");
            assertEquals(401, wrong.put("/api/warren/vm_memory_high_watermark", "{\"relative\":0.0}").status());
        } finally {
            broker.broker().setMemoryHighWatermark(WarrenConfig.DEFAULT_MEMORY_HIGH_WATERMARK);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> http.get("/api/health/checks/alarms").status() == 200);
    }

    @Test
    void alivenessTestPublishesAndGetsAMessage() throws Exception {
        Http.Response r = http.get("/api/aliveness-test/%2F");
        assertEquals(200, r.status(), r.body());
        assertEquals("ok", r.json().get("status").asText());
        // As RabbitMQ: the queue stays, empty.
        JsonNode q = http.get("/api/queues/%2F/aliveness-test").json();
        assertFalse(q.get("durable").asBoolean());
        assertEquals(0, q.get("messages_ready").asInt());
        assertEquals(200, http.get("/api/aliveness-test/%2F").status());
        assertEquals(404, http.get("/api/aliveness-test/nohost").status());
    }

    // ---- queues ----------------------------------------------------------------------------

    @Test
    void putDeclaresAQueueAndRedeclaringChecksEquivalence() throws Exception {
        Http.Response created = http.put("/api/queues/%2F/mq-put", "{\"durable\":true,\"auto_delete\":false,"
                + "\"arguments\":{\"x-max-length\":10,\"x-queue-mode\":\"lazy\"}}");
        assertEquals(201, created.status(), created.body());
        // x-queue-mode is among the arguments RabbitMQ compares on redeclare; x-max-length too.
        assertEquals(204, http.put("/api/queues/%2F/mq-put",
                "{\"durable\":true,\"arguments\":{\"x-max-length\":10,\"x-queue-mode\":\"lazy\"}}").status());
        assertError(http.put("/api/queues/%2F/mq-put", "{\"durable\":true,\"arguments\":{\"x-max-length\":10}}"),
                400, "bad_request", null);
        Http.Response inequivalent = http.put("/api/queues/%2F/mq-put", "{\"durable\":false}");
        assertError(inequivalent, 400, "bad_request",
                "inequivalent arg 'durable' for queue 'mq-put' in vhost '/': received 'false' but current is 'true'");
        JsonNode q = http.get("/api/queues/%2F/mq-put").json();
        assertEquals("mq-put", q.get("name").asText());
        assertEquals("/", q.get("vhost").asText());
        assertTrue(q.get("durable").asBoolean());
        assertFalse(q.get("auto_delete").asBoolean());
        assertFalse(q.get("exclusive").asBoolean());
        assertEquals(10, q.get("arguments").get("x-max-length").asInt());
        assertEquals("lazy", q.get("arguments").get("x-queue-mode").asText());
        assertEquals("running", q.get("state").asText());
        // The AMQP side sees the same queue.
        try (Connection c = broker.factory().newConnection(); Channel ch = c.createChannel()) {
            ch.queueDeclarePassive("mq-put");
        }
        assertEquals(204, http.delete("/api/queues/%2F/mq-put").status());
    }

    @Test
    void badBodiesAre400NamingTheField() {
        assertError(http.put("/api/queues/%2F/mq-bad", "{bad"), 400, "bad_request", "not_json");
        Http.Response r = http.put("/api/queues/%2F/mq-bad", "{\"durable\":\"x\"}");
        assertError(r, 400, "bad_request", null);
        assertTrue(r.json().get("reason").asText().contains("durable"), r.body());
        Http.Response args = http.put("/api/queues/%2F/mq-bad", "{\"arguments\":[1]}");
        assertTrue(args.json().get("reason").asText().contains("arguments"), args.body());
        Http.Response invalid = http.put("/api/queues/%2F/mq-bad", "{\"arguments\":{\"x-queue-type\":\"nope\"}}");
        assertError(invalid, 400, "bad_request", null);
        assertTrue(invalid.json().get("reason").asText().startsWith("invalid arg 'x-queue-type'"), invalid.body());
        assertEquals(404, http.get("/api/queues/%2F/mq-bad").status());
        assertError(http.put("/api/queues/nohost/q", "{}"), 404, "Object Not Found", null);
    }

    @Test
    void queueCountsReadyUnackedAndConsumers() throws Exception {
        assertEquals(201, http.put("/api/queues/%2F/mq-counts", "{}").status());
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        for (int i = 0; i < 3; i++) {
            ch.basicPublish("", "mq-counts", null, new byte[] {(byte) i});
        }
        GetResponse got = ch.basicGet("mq-counts", false);
        assertNotNull(got);
        Channel consumer = c.createChannel();
        consumer.basicQos(0);
        // A consumer with prefetch 1 that never acks takes one more.
        consumer.basicQos(1);
        consumer.basicConsume("mq-counts", false, "ctag-counts", (t, d) -> { }, t -> { });
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            JsonNode q = http.get("/api/queues/%2F/mq-counts").json();
            assertEquals(1, q.get("messages_ready").asInt(), q.toString());
            assertEquals(2, q.get("messages_unacknowledged").asInt(), q.toString());
            assertEquals(3, q.get("messages").asInt());
            assertEquals(1, q.get("consumers").asInt());
            assertEquals(1, q.get("consumer_details").size());
            assertEquals("ctag-counts", q.get("consumer_details").get(0).get("consumer_tag").asText());
        });
        JsonNode list = http.get("/api/queues").json();
        assertEquals(2, find(list, "name", "mq-counts").get("messages_unacknowledged").asInt());
        assertNotNull(find(http.get("/api/queues/%2F").json(), "name", "mq-counts"));
        assertError(http.get("/api/queues/nohost"), 404, "Object Not Found", null);
        assertError(http.get("/api/queues/%2F/nope"), 404, "Object Not Found", "Not Found");
        // Unacked messages come back when the connection goes.
        c.close();
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                assertEquals(3, http.get("/api/queues/%2F/mq-counts").json().get("messages_ready").asInt()));
        assertEquals(204, http.delete("/api/queues/%2F/mq-counts").status());
    }

    @Test
    void deleteHonoursIfEmptyAndIfUnused() throws Exception {
        assertEquals(201, http.put("/api/queues/%2F/mq-del", "{}").status());
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        ch.basicPublish("", "mq-del", null, new byte[1]);
        await().until(() -> http.get("/api/queues/%2F/mq-del").json().get("messages_ready").asInt() == 1);
        assertError(http.delete("/api/queues/%2F/mq-del?if-empty=true"), 400, "bad_request",
                "queue 'mq-del' in vhost '/' not empty");
        String tag = ch.basicConsume("mq-del", false, (t, d) -> { }, t -> { });
        await().until(() -> http.get("/api/queues/%2F/mq-del").json().get("consumers").asInt() == 1);
        assertError(http.delete("/api/queues/%2F/mq-del?if-unused=true"), 400, "bad_request",
                "queue 'mq-del' in vhost '/' in use");
        ch.basicCancel(tag);
        assertEquals(204, http.delete("/api/queues/%2F/mq-del").status());
        assertError(http.get("/api/queues/%2F/mq-del"), 404, "Object Not Found", null);
        assertError(http.delete("/api/queues/%2F/mq-del"), 404, "Object Not Found", null);
        c.close();
    }

    @Test
    void deleteContentsPurges() throws Exception {
        assertEquals(201, http.put("/api/queues/%2F/mq-purge", "{}").status());
        try (Connection c = broker.factory().newConnection(); Channel ch = c.createChannel()) {
            for (int i = 0; i < 5; i++) {
                ch.basicPublish("", "mq-purge", null, new byte[1]);
            }
            await().until(() -> http.get("/api/queues/%2F/mq-purge").json().get("messages_ready").asInt() == 5);
            assertEquals(204, http.delete("/api/queues/%2F/mq-purge/contents").status());
            assertEquals(0, http.get("/api/queues/%2F/mq-purge").json().get("messages_ready").asInt());
            assertNull(ch.basicGet("mq-purge", true));
        }
        assertError(http.delete("/api/queues/%2F/nope/contents"), 404, "Object Not Found", null);
        assertEquals(204, http.delete("/api/queues/%2F/mq-purge").status());
    }

    @Test
    void pathSegmentsAreSplitBeforeDecoding() throws Exception {
        // "a/b" is one queue name: %2F inside a segment does not split the path.
        assertEquals(201, http.put("/api/queues/%2F/a%2Fb+c", "{}").status());
        try (Connection c = broker.factory().newConnection(); Channel ch = c.createChannel()) {
            ch.queueDeclarePassive("a/b+c");
        }
        assertEquals("a/b+c", http.get("/api/queues/%2F/a%2Fb%2Bc").json().get("name").asText());
        assertEquals(204, http.delete("/api/queues/%2F/a%2Fb+c").status());
    }

    // ---- exchanges -------------------------------------------------------------------------

    @Test
    void exchangesListShowDeclareDelete() {
        JsonNode all = http.get("/api/exchanges").json();
        assertNotNull(find(all, "name", ""));
        assertNotNull(find(all, "name", "amq.topic"));
        assertNotNull(find(http.get("/api/exchanges/%2F").json(), "name", "amq.fanout"));
        JsonNode dflt = http.get("/api/exchanges/%2F/amq.default").json();
        assertEquals("", dflt.get("name").asText());
        assertEquals("direct", dflt.get("type").asText());
        assertEquals("topic", http.get("/api/exchanges/%2F/amq.topic").json().get("type").asText());
        assertError(http.get("/api/exchanges/%2F/nope"), 404, "Object Not Found", "Not Found");
        assertError(http.get("/api/exchanges/nohost"), 404, "Object Not Found", null);

        assertEquals(201, http.put("/api/exchanges/%2F/mx-1", "{\"type\":\"topic\",\"durable\":true}").status());
        assertEquals(204, http.put("/api/exchanges/%2F/mx-1", "{\"type\":\"topic\",\"durable\":true}").status());
        assertError(http.put("/api/exchanges/%2F/mx-1", "{\"type\":\"direct\",\"durable\":true}"), 400, "bad_request",
                "inequivalent arg 'type' for exchange 'mx-1' in vhost '/': received 'direct' but current is 'topic'");
        JsonNode x = http.get("/api/exchanges/%2F/mx-1").json();
        assertEquals("topic", x.get("type").asText());
        assertTrue(x.get("durable").asBoolean());
        assertFalse(x.get("internal").asBoolean());
        assertError(http.put("/api/exchanges/%2F/mx-2", "{\"type\":\"bogus\"}"), 400, "bad_request",
                "unknown exchange type 'bogus'");
        assertError(http.put("/api/exchanges/%2F/amq.foo", "{\"type\":\"topic\"}"), 401, "not_authorised",
                "Access refused.");
        assertError(http.put("/api/exchanges/%2F/amq.default", "{\"type\":\"direct\"}"), 401, "not_authorised", null);
        assertError(http.delete("/api/exchanges/%2F/amq.direct"), 401, "not_authorised", "Access refused.");
        assertError(http.delete("/api/exchanges/%2F/amq.default"), 401, "not_authorised", null);
        assertError(http.delete("/api/exchanges/%2F/nope"), 404, "Object Not Found", null);

        assertEquals(201, http.put("/api/queues/%2F/mx-q", "{}").status());
        assertEquals(201, http.post("/api/bindings/%2F/e/mx-1/q/mx-q", "{\"routing_key\":\"#\"}").status());
        assertError(http.delete("/api/exchanges/%2F/mx-1?if-unused=true"), 400, "bad_request",
                "exchange 'mx-1' in vhost '/' in use");
        assertEquals(204, http.delete("/api/exchanges/%2F/mx-1").status());
        assertEquals(404, http.get("/api/exchanges/%2F/mx-1").status());
        assertEquals(204, http.delete("/api/queues/%2F/mx-q").status());
    }

    // ---- bindings --------------------------------------------------------------------------

    @Test
    void bindingsCreateListRouteAndDelete() throws Exception {
        assertEquals(201, http.put("/api/exchanges/%2F/mb-x", "{\"type\":\"topic\"}").status());
        assertEquals(201, http.put("/api/queues/%2F/mb-q", "{}").status());
        Http.Response made = http.post("/api/bindings/%2F/e/mb-x/q/mb-q", "{\"routing_key\":\"a.b\",\"arguments\":{}}");
        assertEquals(201, made.status(), made.body());
        assertEquals("mb-q/a.b", made.header("location"));
        Http.Response empty = http.post("/api/bindings/%2F/e/mb-x/q/mb-q", "{\"routing_key\":\"\"}");
        assertEquals("mb-q/~", empty.header("location"));

        JsonNode forQueue = http.get("/api/queues/%2F/mb-q/bindings").json();
        assertEquals(3, forQueue.size(), forQueue.toString());
        assertEquals("", forQueue.get(0).get("source").asText()); // the default exchange's
        JsonNode ab = find(forQueue, "routing_key", "a.b");
        assertEquals("mb-x", ab.get("source").asText());
        assertEquals("queue", ab.get("destination_type").asText());
        assertEquals("a.b", ab.get("properties_key").asText());
        assertEquals("~", find(forQueue, "routing_key", "").get("properties_key").asText());
        assertEquals(2, http.get("/api/bindings/%2F/e/mb-x/q/mb-q").json().size());
        assertEquals("a.b", http.get("/api/bindings/%2F/e/mb-x/q/mb-q/a.b").json().get("routing_key").asText());
        assertNotNull(find(http.get("/api/bindings/%2F").json(), "properties_key", "a.b"));
        assertNotNull(find(http.get("/api/bindings").json(), "source", "mb-x"));

        try (Connection c = broker.factory().newConnection(); Channel ch = c.createChannel()) {
            ch.basicPublish("mb-x", "a.b", null, "routed".getBytes(StandardCharsets.UTF_8));
            await().until(() -> http.get("/api/queues/%2F/mb-q").json().get("messages_ready").asInt() == 1);
            assertEquals(204, http.delete("/api/bindings/%2F/e/mb-x/q/mb-q/a.b").status());
            assertError(http.delete("/api/bindings/%2F/e/mb-x/q/mb-q/a.b"), 404, "Object Not Found", null);
            assertEquals(204, http.delete("/api/bindings/%2F/e/mb-x/q/mb-q/~").status());
            ch.basicPublish("mb-x", "a.b", null, new byte[1]);
            ch.basicPublish("", "mb-q", null, new byte[2]); // a marker through the default exchange
            await().until(() -> http.get("/api/queues/%2F/mb-q").json().get("messages_ready").asInt() == 2);
            assertEquals(6, ch.basicGet("mb-q", true).getBody().length);
            assertEquals(2, ch.basicGet("mb-q", true).getBody().length);
        }
        assertError(http.post("/api/bindings/%2F/e/nox/q/mb-q", "{}"), 404, "not_found",
                "no exchange 'nox' in vhost '/'");
        assertError(http.post("/api/bindings/%2F/e/mb-x/q/noq", "{}"), 404, "not_found",
                "no queue 'noq' in vhost '/'");
        assertError(http.post("/api/bindings/%2F/e/amq.default/q/mb-q", "{}"), 401, "not_authorised", null);
        assertError(http.get("/api/bindings/%2F/e/nox/q/mb-q"), 404, "Object Not Found", null);
        assertError(http.get("/api/bindings/nohost"), 404, "Object Not Found", null);

        // Exchange-to-exchange.
        assertEquals(201, http.put("/api/exchanges/%2F/mb-x2", "{\"type\":\"fanout\"}").status());
        assertEquals(201, http.post("/api/bindings/%2F/e/mb-x/e/mb-x2", "{\"routing_key\":\"k\"}").status());
        JsonNode e2e = http.get("/api/bindings/%2F/e/mb-x/e/mb-x2").json();
        assertEquals("exchange", e2e.get(0).get("destination_type").asText());
        assertEquals(204, http.delete("/api/bindings/%2F/e/mb-x/e/mb-x2/k").status());
        assertEquals(0, http.get("/api/bindings/%2F/e/mb-x/e/mb-x2").json().size());

        // A key that needs quoting.
        assertEquals(201, http.post("/api/bindings/%2F/e/mb-x/q/mb-q", "{\"routing_key\":\"a b/c\"}").status());
        String props = find(http.get("/api/queues/%2F/mb-q/bindings").json(), "routing_key", "a b/c")
                .get("properties_key").asText();
        assertEquals(204, http.delete("/api/bindings/%2F/e/mb-x/q/mb-q/" + enc(props)).status());
        assertEquals(204, http.delete("/api/queues/%2F/mb-q").status());
        assertEquals(204, http.delete("/api/exchanges/%2F/mb-x").status());
        assertEquals(204, http.delete("/api/exchanges/%2F/mb-x2").status());
    }

    // ---- connections, channels, consumers --------------------------------------------------

    @Test
    void connectionsChannelsAndConsumersAreListed() throws Exception {
        ConnectionFactory f = broker.factory();
        Connection c = f.newConnection("mgmt-listed");
        Channel ch = c.createChannel();
        ch.basicQos(7);
        String q = ch.queueDeclare().getQueue();
        ch.basicConsume(q, false, "ctag-listed", (t, d) -> { }, t -> { });
        String name = "127.0.0.1:" + localPort(c) + " -> 127.0.0.1:" + broker.port();

        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            JsonNode conn = find(http.get("/api/connections").json(), "name", name);
            assertNotNull(conn, "no connection " + name);
            assertEquals("mgmt-listed", conn.get("user_provided_name").asText());
            assertEquals("127.0.0.1", conn.get("peer_host").asText());
            assertEquals(localPort(c), conn.get("peer_port").asInt());
            assertEquals(broker.port(), conn.get("port").asInt());
            assertEquals("guest", conn.get("user").asText());
            assertEquals("/", conn.get("vhost").asText());
            assertEquals("running", conn.get("state").asText());
            assertEquals(1, conn.get("channels").asInt());
            assertEquals("PLAIN", conn.get("auth_mechanism").asText());
            assertEquals("RabbitMQ", conn.get("client_properties").get("product").asText());
            assertTrue(conn.get("client_properties").get("capabilities").get("publisher_confirms").asBoolean());
            assertTrue(conn.get("connected_at").asLong() > 0);

            JsonNode channel = find(http.get("/api/channels").json(), "name", name + " (1)");
            assertNotNull(channel);
            assertEquals(7, channel.get("prefetch_count").asInt());
            assertEquals(1, channel.get("consumer_count").asInt());
            assertEquals(name, channel.get("connection_details").get("name").asText());

            JsonNode consumer = find(http.get("/api/consumers").json(), "consumer_tag", "ctag-listed");
            assertNotNull(consumer);
            assertEquals(q, consumer.get("queue").get("name").asText());
            assertTrue(consumer.get("ack_required").asBoolean());
            assertEquals(7, consumer.get("prefetch_count").asInt());
            assertEquals(name, consumer.get("channel_details").get("connection_name").asText());
            assertNotNull(find(http.get("/api/consumers/%2F").json(), "consumer_tag", "ctag-listed"));
        });
        JsonNode one = http.get("/api/connections/" + enc(name)).json();
        assertEquals(name, one.get("name").asText());
        assertEquals(1, http.get("/api/connections/" + enc(name) + "/channels").json().size());
        assertNotNull(find(http.get("/api/vhosts/%2F/connections").json(), "name", name));
        assertError(http.get("/api/connections/nope"), 404, "Object Not Found", null);
        assertError(http.delete("/api/connections/nope"), 404, "Object Not Found", null);
        c.close();
    }

    @Test
    void deletingAConnectionClosesItWith320AndTheReason() throws Exception {
        Connection c = broker.factory().newConnection();
        String name = "127.0.0.1:" + localPort(c) + " -> 127.0.0.1:" + broker.port();
        AtomicReference<ShutdownSignalException> cause = new AtomicReference<>();
        c.addShutdownListener(cause::set);
        await().until(() -> find(http.get("/api/connections").json(), "name", name) != null);
        assertEquals(204, http.send("DELETE", "/api/connections/" + enc(name), "X-Reason", "maintenance").status());
        await().atMost(Duration.ofSeconds(10)).until(() -> cause.get() != null);
        com.rabbitmq.client.AMQP.Connection.Close close = (com.rabbitmq.client.AMQP.Connection.Close) cause.get().getReason();
        assertEquals(320, close.getReplyCode());
        assertEquals("CONNECTION_FORCED - maintenance", close.getReplyText());
        await().atMost(Duration.ofSeconds(10)).until(() -> http.get("/api/connections/" + enc(name)).status() == 404);

        Connection d = broker.factory().newConnection();
        AtomicReference<ShutdownSignalException> dCause = new AtomicReference<>();
        d.addShutdownListener(dCause::set);
        String dName = "127.0.0.1:" + localPort(d) + " -> 127.0.0.1:" + broker.port();
        await().until(() -> find(http.get("/api/connections").json(), "name", dName) != null);
        assertEquals(204, http.delete("/api/connections/" + enc(dName)).status());
        await().atMost(Duration.ofSeconds(10)).until(() -> dCause.get() != null);
        assertEquals("CONNECTION_FORCED - Closed via management plugin",
                ((com.rabbitmq.client.AMQP.Connection.Close) dCause.get().getReason()).getReplyText());
    }

    @Test
    void pipelinedRequestsAreAnsweredInOrder() throws Exception {
        String auth = java.util.Base64.getEncoder().encodeToString("guest:guest".getBytes(StandardCharsets.UTF_8));
        String req = "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + auth + "\r\n\r\n";
        try (java.net.Socket s = new java.net.Socket("127.0.0.1", broker.broker().managementPort())) {
            s.setSoTimeout(10_000);
            // The first waits for every connection's loop; the second is answered at once.
            s.getOutputStream().write((String.format(req, "/api/connections") + String.format(req, "/api/whoami")
                    + String.format(req.replace("HTTP/1.1\r\n", "HTTP/1.1\r\nConnection: close\r\n"), "/api/overview"))
                    .getBytes(StandardCharsets.US_ASCII));
            String all = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            int first = all.indexOf("HTTP/1.1 200");
            int whoami = all.indexOf("\"tags\"");
            int overview = all.indexOf("\"product_name\"");
            assertTrue(first >= 0 && whoami > first && overview > whoami, all);
            assertTrue(all.substring(first, whoami).contains("\r\n\r\n["), all); // connections: an array, first
        }
    }

    @Test
    void manyRequestsOnOneKeepAliveClient() {
        List<Integer> statuses = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            statuses.add(http.get("/api/queues").status());
        }
        assertTrue(statuses.stream().allMatch(s -> s == 200), statuses.toString());
    }
}
