package io.warren.it.management;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.GetResponse;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.InputStream;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Definitions export and import (GET / POST /api/definitions[/{vhost}]) in RabbitMQ 3.x's
 * definitions-file shape: a round trip between two brokers, a hand-written RabbitMQ 3.10.8
 * export, and documents that are refused whole (400 naming the object, nothing changed).
 */
class DefinitionsTest {
    /** Where the round trip's topology is built and exported from. */
    @RegisterExtension
    static WarrenBroker source = new WarrenBroker();
    /** A fresh broker the round trip imports into. */
    @RegisterExtension
    static WarrenBroker target = new WarrenBroker();
    /** For RabbitMQ's file, the vhost-scoped endpoints and bad input. */
    @RegisterExtension
    static WarrenBroker other = new WarrenBroker();

    private static Http admin(WarrenBroker b) {
        return new Http("127.0.0.1", b.broker().managementPort(), "guest", "guest");
    }

    private static Connection connect(WarrenBroker b, String user, String password, String vhost) throws Exception {
        ConnectionFactory f = b.factory();
        f.setUsername(user);
        f.setPassword(password);
        f.setVirtualHost(vhost);
        return f.newConnection();
    }

    private static void ok(Http.Response r) {
        assertTrue(r.status() == 201 || r.status() == 204, r.status() + " " + r.body());
    }

    private static JsonNode find(JsonNode array, String field, String value) {
        for (JsonNode n : array) {
            if (value.equals(n.path(field).asText(null))) {
                return n;
            }
        }
        return null;
    }

    /** Polls until a message is there (routing hands it to the queue's loop asynchronously). */
    private static String getOne(Channel ch, String queue) {
        AtomicReference<GetResponse> got = new AtomicReference<>();
        await().atMost(Duration.ofSeconds(10)).until(() -> {
            got.set(ch.basicGet(queue, true));
            return got.get() != null;
        });
        return new String(got.get().getBody(), StandardCharsets.UTF_8);
    }

    // ---- (a) round trip between two brokers -------------------------------------------------------

    @Test
    void exportFromOneBrokerImportsIntoAFreshOneAndExportsTheSame() throws Exception {
        Http src = admin(source);
        ok(src.put("/api/vhosts/defs-v", "{\"description\":\"round trip\",\"tags\":\"eu,prod\"}"));
        ok(src.put("/api/users/carol", "{\"password\":\"carol-pw\",\"tags\":\"monitoring\"}"));
        ok(src.put("/api/permissions/defs-v/carol", "{\"configure\":\"^orders\",\"write\":\"^orders\",\"read\":\".*\"}"));
        ok(src.put("/api/topic-permissions/defs-v/carol",
                "{\"exchange\":\"orders\",\"write\":\"^order\\\\.\",\"read\":\".*\"}"));
        try (Connection c = connect(source, "guest", "guest", "defs-v"); Channel ch = c.createChannel()) {
            ch.exchangeDeclare("orders", "topic", true);
            ch.exchangeDeclare("orders.audit", "fanout", true);
            ch.exchangeDeclare("orders.scratch", "direct", false, true, Map.of());
            ch.queueDeclare("orders.q", true, false, false, Map.of("x-message-ttl", 60000, "x-max-length", 100));
            ch.queueDeclare("orders.audit.q", true, false, false, Map.of());
            ch.queueDeclare("orders.transient", false, false, false, Map.of());
            String exclusive = ch.queueDeclare("orders.mine", false, true, false, Map.of()).getQueue();
            ch.queueBind("orders.q", "orders", "order.#");
            ch.exchangeBind("orders.audit", "orders", "#");
            ch.queueBind("orders.audit.q", "orders.audit", "");
            ch.queueBind(exclusive, "orders", "#");

            Http.Response exported = src.get("/api/definitions");
            assertEquals(200, exported.status(), exported.body());
            JsonNode defs = exported.json();
            assertEquals("warren", defs.get("product_name").asText());
            for (String field : new String[] {"rabbit_version", "rabbitmq_version", "product_version", "users", "vhosts",
                    "permissions", "topic_permissions", "parameters", "global_parameters", "policies", "queues",
                    "exchanges", "bindings"}) {
                assertTrue(defs.has(field), field + " in " + defs);
            }
            JsonNode carol = find(defs.get("users"), "name", "carol");
            assertEquals("rabbit_password_hashing_sha256", carol.get("hashing_algorithm").asText());
            assertEquals("[\"monitoring\"]", carol.get("tags").toString());
            assertEquals("{}", carol.get("limits").toString());
            JsonNode v = find(defs.get("vhosts"), "name", "defs-v");
            assertEquals("round trip", v.get("description").asText());
            assertEquals("[\"eu\",\"prod\"]", v.get("tags").toString());
            assertEquals("round trip", v.get("metadata").get("description").asText());
            // RabbitMQ's rules: exclusive queues are left out, transient ones are not; no amq.* or default exchange.
            assertNull(find(defs.get("queues"), "name", "orders.mine"), defs.get("queues").toString());
            assertNotNull(find(defs.get("queues"), "name", "orders.transient"));
            JsonNode q = find(defs.get("queues"), "name", "orders.q");
            assertEquals("defs-v", q.get("vhost").asText());
            assertTrue(q.get("durable").asBoolean());
            assertEquals(60000, q.get("arguments").get("x-message-ttl").asInt());
            for (JsonNode x : defs.get("exchanges")) {
                assertFalse(x.get("name").asText().isEmpty() || x.get("name").asText().startsWith("amq."), x.toString());
            }
            assertEquals("topic", find(defs.get("exchanges"), "name", "orders").get("type").asText());
            assertNull(find(defs.get("bindings"), "destination", exclusive), "no binding to an exclusive queue");
            JsonNode e2e = find(defs.get("bindings"), "destination", "orders.audit");
            assertEquals("exchange", e2e.get("destination_type").asText());
            assertEquals("orders", e2e.get("source").asText());

            Http dst = admin(target);
            Http.Response imported = dst.post("/api/definitions", exported.body());
            assertEquals(204, imported.status(), imported.body());
            JsonNode again = dst.get("/api/definitions").json();
            for (String field : new String[] {"users", "vhosts", "permissions", "topic_permissions", "queues",
                    "exchanges", "bindings"}) {
                assertEquals(defs.get(field), again.get(field), field);
            }
        }

        // The user logs in on the new broker with the password it had on the old one, and the
        // imported bindings route.
        try (Connection c = connect(target, "carol", "carol-pw", "defs-v"); Channel ch = c.createChannel()) {
            ch.basicPublish("orders", "order.created", null, "o-1".getBytes(StandardCharsets.UTF_8));
            assertEquals("o-1", getOne(ch, "orders.q"));
            assertEquals("o-1", getOne(ch, "orders.audit.q"));
        }
        // Imported definitions are durable.
        target.restart();
        try (Connection c = connect(target, "carol", "carol-pw", "defs-v"); Channel ch = c.createChannel()) {
            ch.basicPublish("orders", "order.shipped", null, "o-2".getBytes(StandardCharsets.UTF_8));
            assertEquals("o-2", getOne(ch, "orders.q"));
        }
    }

    // ---- (b) a RabbitMQ 3.10.8 definitions file ---------------------------------------------------

    @Test
    void aRabbitmq310ExportImportsAndWorks() throws Exception {
        String file;
        try (InputStream in = DefinitionsTest.class.getResourceAsStream("/definitions/rabbitmq-3.10.8.json")) {
            file = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        Http http = admin(other);
        Http.Response r = http.post("/api/definitions", file);
        assertEquals(204, r.status(), r.body());

        JsonNode tester = http.get("/api/users/tester").json();
        assertEquals("kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR", tester.get("password_hash").asText());
        assertEquals("[\"management\"]", tester.get("tags").toString());
        assertEquals("rabbit_password_hashing_sha512", http.get("/api/users/ops").json().get("hashing_algorithm").asText());
        JsonNode perm = http.get("/api/permissions/shop/tester").json();
        assertEquals("^shop\\.tmp\\.", perm.get("configure").asText());
        JsonNode orders = http.get("/api/queues/shop/shop.orders").json();
        assertEquals(3600000, orders.get("arguments").get("x-message-ttl").asInt());
        assertEquals("shop.unrouted",
                http.get("/api/exchanges/shop/shop.events").json().get("arguments").get("alternate-exchange").asText());

        // RabbitMQ's documented hash: tester logs in with "test12"; ops with its SHA-512 hash;
        // guest keeps working with the hash the file brought.
        try (Connection c = connect(other, "ops", "sha512-pw", "shop")) {
            assertTrue(c.isOpen());
        }
        try (Connection c = connect(other, "guest", "guest", "/")) {
            assertTrue(c.isOpen());
        }
        try (Connection c = connect(other, "tester", "test12", "shop"); Channel ch = c.createChannel()) {
            ch.basicPublish("shop.events", "order.created", null, "created".getBytes(StandardCharsets.UTF_8));
            assertEquals("created", getOne(ch, "shop.orders"));
            // topic exchange -> headers exchange -> queue
            AMQP.BasicProperties invoice = new AMQP.BasicProperties.Builder()
                    .headers(Map.of("kind", "invoice")).build();
            ch.basicPublish("shop.events", "order.paid", invoice, "paid".getBytes(StandardCharsets.UTF_8));
            assertEquals("paid", getOne(ch, "shop.invoices"));
            assertEquals("paid", getOne(ch, "shop.orders"));
        }
        // Importing the same file again changes nothing and succeeds.
        JsonNode before = http.get("/api/definitions").json();
        assertEquals(204, http.post("/api/definitions", file).status());
        assertEquals(before, http.get("/api/definitions").json());
    }

    /** Older exports: tags as a comma-separated string, no hashing_algorithm (sha256), rabbitmqctl's vhost metadata. */
    @Test
    void olderShapesAreAccepted() throws Exception {
        Http http = admin(other);
        String doc = "{\"rabbit_version\":\"3.8.9\",\"users\":[{\"name\":\"legacy\","
                + "\"password_hash\":\"kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR\",\"tags\":\"management,policymaker\"}],"
                + "\"vhosts\":[{\"name\":\"meta-v\",\"limits\":[],\"metadata\":{\"description\":\"from rabbitmqctl\","
                + "\"tags\":[\"east\"]}}],"
                + "\"permissions\":[{\"user\":\"legacy\",\"vhost\":\"meta-v\",\"configure\":\".*\",\"write\":\".*\",\"read\":\".*\"}]}";
        Http.Response r = http.post("/api/definitions", doc);
        assertEquals(204, r.status(), r.body());
        JsonNode u = http.get("/api/users/legacy").json();
        assertEquals("[\"management\",\"policymaker\"]", u.get("tags").toString());
        assertEquals("rabbit_password_hashing_sha256", u.get("hashing_algorithm").asText());
        JsonNode v = find(http.get("/api/definitions").json().get("vhosts"), "name", "meta-v");
        assertEquals("from rabbitmqctl", v.get("description").asText());
        assertEquals("[\"east\"]", v.get("tags").toString());
        try (Connection c = connect(other, "legacy", "test12", "meta-v")) {
            assertTrue(c.isOpen());
        }
    }

    // ---- vhost-scoped export and import, multipart upload -----------------------------------------

    @Test
    void oneVhostsDefinitionsMoveToAnotherVhost() throws Exception {
        Http http = admin(other);
        ok(http.put("/api/vhosts/scoped-a", "{}"));
        ok(http.put("/api/vhosts/scoped-b", "{}"));
        ok(http.put("/api/vhosts/scoped-c", "{}"));
        ok(http.put("/api/exchanges/scoped-a/sx", "{\"type\":\"direct\",\"durable\":true}"));
        ok(http.put("/api/queues/scoped-a/sq", "{\"durable\":true,\"arguments\":{\"x-max-length\":5}}"));
        assertEquals(201, http.post("/api/bindings/scoped-a/e/sx/q/sq", "{\"routing_key\":\"k\"}").status());

        Http.Response exported = http.get("/api/definitions/scoped-a");
        assertEquals(200, exported.status(), exported.body());
        JsonNode defs = exported.json();
        assertFalse(defs.has("users") || defs.has("vhosts") || defs.has("permissions"), defs.toString());
        JsonNode q = find(defs.get("queues"), "name", "sq");
        assertFalse(q.has("vhost"), q.toString());
        assertFalse(defs.get("bindings").get(0).has("vhost"));

        Http.Response imported = http.post("/api/definitions/scoped-b", exported.body());
        assertEquals(204, imported.status(), imported.body());
        assertEquals(defs.get("queues"), http.get("/api/definitions/scoped-b").json().get("queues"));
        assertEquals(defs.get("bindings"), http.get("/api/definitions/scoped-b").json().get("bindings"));

        // The management UI's upload: multipart/form-data with the document in a "file" field.
        String boundary = "----warrenBoundary7MA4YWxkTrZu0gW";
        String body = "--" + boundary + "\r\n"
                + "Content-Disposition: form-data; name=\"file\"; filename=\"defs.json\"\r\n"
                + "Content-Type: application/json\r\n\r\n"
                + exported.body() + "\r\n"
                + "--" + boundary + "--\r\n";
        Http.Response uploaded = http.send(http.builder("/api/definitions/scoped-c")
                .header("content-type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofString(body)));
        assertEquals(204, uploaded.status(), uploaded.body());
        assertEquals(defs.get("exchanges"), http.get("/api/definitions/scoped-c").json().get("exchanges"));

        assertEquals(404, http.post("/api/definitions/no-such-vhost", exported.body()).status());
        Http.Response missing = http.get("/api/definitions/no-such-vhost");
        assertEquals(400, missing.status(), missing.body());
        assertEquals("vhost_not_found", missing.json().get("reason").asText());
    }

    // ---- (c) refused documents change nothing ----------------------------------------------------

    private static void refused(Http http, String doc, String... reasonParts) {
        JsonNode before = http.get("/api/definitions").json();
        Http.Response r = http.post("/api/definitions", doc);
        assertEquals(400, r.status(), r.body());
        assertEquals("bad_request", r.json().get("error").asText(), r.body());
        String reason = r.json().get("reason").asText();
        for (String part : reasonParts) {
            assertTrue(reason.contains(part), "'" + part + "' in: " + reason);
        }
        assertEquals(before, http.get("/api/definitions").json(), "nothing changed by " + doc);
    }

    @Test
    void invalidDocumentsAreRefusedWholeWithAReason() {
        Http http = admin(other);
        ok(http.put("/api/queues/%2F/eq", "{\"durable\":true}"));
        // A valid user first, so that "nothing changed" also means it was not created.
        String user = "{\"name\":\"half\",\"password_hash\":\"\",\"tags\":[]}";

        refused(http, "{\"users\": [", "failed_to_parse_json");
        refused(http, "[1, 2]", "failed_to_parse_json");
        refused(http, "{\"queues\": {}}", "queues: expected a list");
        refused(http, "{\"users\":[" + user + "],\"queues\":[{\"name\":\"q1\",\"vhost\":\"/\",\"durable\":\"yes\"}]}",
                "queues[0]", "q1", "durable");
        refused(http, "{\"users\":[" + user + "],\"exchanges\":[{\"name\":\"x1\",\"vhost\":\"/\",\"type\":7}]}",
                "exchanges[0]", "type", "expected a string");
        refused(http, "{\"users\":[" + user + "],\"permissions\":[{\"user\":\"half\",\"vhost\":\"/\","
                + "\"configure\":\"(\",\"write\":\".*\",\"read\":\".*\"}]}", "permissions[0]", "regular expression");
        refused(http, "{\"users\":[" + user + "],\"queues\":[{\"name\":\"q2\",\"vhost\":\"nowhere\",\"durable\":true,"
                + "\"auto_delete\":false,\"arguments\":{}}]}", "queues[0]", "q2", "'nowhere' does not exist");
        refused(http, "{\"users\":[{\"name\":\"sha1\",\"password_hash\":\"kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR\","
                + "\"hashing_algorithm\":\"rabbit_password_hashing_sha1\"}]}", "users[0]", "rabbit_password_hashing_sha1");
        refused(http, "{\"users\":[" + user + "],\"queues\":[{\"name\":\"eq\",\"vhost\":\"/\",\"durable\":false,"
                + "\"auto_delete\":false,\"arguments\":{}}]}", "queues[0]", "inequivalent arg 'durable'");
        refused(http, "{\"queues\":[{\"name\":\"bad-args\",\"vhost\":\"/\",\"durable\":true,"
                + "\"arguments\":{\"x-queue-type\":\"stream\"}}]}", "queues[0]", "x-queue-type");
        refused(http, "{\"users\":[" + user + "],\"bindings\":[{\"source\":\"amq.direct\",\"vhost\":\"/\","
                + "\"destination\":\"ghost\",\"destination_type\":\"queue\",\"routing_key\":\"k\",\"arguments\":{}}]}",
                "bindings[0]", "no queue 'ghost'");
        refused(http, "{\"users\":[" + user + "],\"bindings\":[{\"source\":\"nope-x\",\"vhost\":\"/\","
                + "\"destination\":\"eq\",\"destination_type\":\"queue\",\"routing_key\":\"k\",\"arguments\":{}}]}",
                "bindings[0]", "no exchange 'nope-x'");
        refused(http, "{\"users\":[" + user + "],\"policies\":[{\"vhost\":\"/\",\"name\":\"len\",\"pattern\":\".*\","
                + "\"apply-to\":\"queues\",\"definition\":{\"ha-mode\":\"all\"},\"priority\":0}]}",
                "policies[0]", "policy key 'ha-mode' is not supported by warren (no mirrored queues)");
        refused(http, "{\"parameters\":[{\"vhost\":\"/\",\"component\":\"federation-upstream\",\"name\":\"up\","
                + "\"value\":{\"uri\":\"amqp://elsewhere\"}}]}", "parameters", "federation-upstream");
        refused(http, "{\"users\":[{\"name\":\"limited\",\"password_hash\":\"\",\"limits\":{\"max-connections\":3}}]}",
                "users[0]", "limits");
        refused(http, "{\"permissions\":[{\"user\":\"nobody-at-all\",\"vhost\":\"/\",\"configure\":\".*\","
                + "\"write\":\".*\",\"read\":\".*\"}]}", "permissions[0]", "nobody-at-all");
        assertEquals(404, http.get("/api/users/half").status());

        // An empty body imports nothing, as in RabbitMQ.
        assertEquals(204, http.post("/api/definitions", "").status());
    }

    @Test
    void onlyAdministratorsExportOrImport() {
        Http http = admin(other);
        ok(http.put("/api/users/watcher", "{\"password\":\"w\",\"tags\":\"monitoring\"}"));
        Http watcher = new Http("127.0.0.1", other.broker().managementPort(), "watcher", "w");
        assertEquals(403, watcher.get("/api/definitions").status());
        assertEquals(403, watcher.get("/api/definitions/%2F").status());
        assertEquals(403, watcher.post("/api/definitions", "{}").status());
        ObjectNode promote = Http.JSON.createObjectNode();
        promote.putArray("users").addObject().put("name", "watcher").put("password_hash", "")
                .putArray("tags").add("administrator");
        assertEquals(403, watcher.post("/api/definitions", promote.toString()).status());
        assertEquals("[\"monitoring\"]", http.get("/api/users/watcher").json().get("tags").toString());
    }
}
