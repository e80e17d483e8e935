package io.warren.it.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.ShutdownSignalException;
import io.warren.it.support.Processes.Result;
import io.warren.it.support.Processes;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Three real nodes (three {@code bin/warren} processes with one node list and one secret):
 * definitions made on one node are on every node, through the cluster's replicated log, and
 * stay there across a node's restart; warrenctl shows the cluster from any node; a node with
 * another secret is kept out. Quorum queues: each a Raft group with a member on every node, a
 * confirm means a majority has the message, publishing works through any node, and when the
 * leader's process is killed (kill -9) a surviving member leads with every confirmed message.
 * One cluster for the class (starting three JVMs is most of its time).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class ClusterTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration SPREAD = Duration.ofSeconds(30);
    private static final AMQP.BasicProperties PERSISTENT = new AMQP.BasicProperties.Builder().deliveryMode(2).build();

    @TempDir
    static Path dir;
    static ProcessCluster cluster;

    @BeforeAll
    static void startThreeNodes() throws Exception {
        cluster = new ProcessCluster(dir, 3);
        cluster.startAll();
        // A new cluster creates its default user once a majority runs: then guest logs in anywhere.
        for (int i = 1; i <= 3; i++) {
            int node = i;
            await().atMost(Duration.ofSeconds(60)).ignoreExceptions().until(() -> {
                try (Connection c = cluster.connect(node)) {
                    return c.isOpen();
                }
            });
        }
    }

    @AfterAll
    static void stopNodes() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    @Order(1)
    void aDeclareOnOneNodeIsOnEveryNode() throws Exception {
        try (Connection c = cluster.connect(1)) {
            Channel ch = c.createChannel();
            ch.exchangeDeclare("orders", "topic", true);
            ch.queueDeclare("orders.audit", true, false, false, Map.of("x-max-length", 1000));
            ch.queueBind("orders.audit", "orders", "order.#");
        }
        for (int i = 1; i <= 3; i++) {
            int node = i;
            await().atMost(SPREAD).untilAsserted(() -> {
                JsonNode x = api(node, "GET", "/api/exchanges/%2F/orders", null);
                assertEquals("topic", x.path("type").asText());
                JsonNode q = api(node, "GET", "/api/queues/%2F/orders.audit", null);
                assertEquals(1000, q.path("arguments").path("x-max-length").asInt());
                assertEquals("warren1@localhost", q.path("node").asText(), "the node that holds it");
                List<String> keys = new ArrayList<>();
                for (JsonNode b : api(node, "GET", "/api/queues/%2F/orders.audit/bindings", null)) {
                    if (b.path("source").asText().equals("orders")) {
                        keys.add(b.path("routing_key").asText());
                    }
                }
                assertEquals(List.of("order.#"), keys);
            });
            // A passive declare of the exchange through AMQP on that node answers declare-ok.
            try (Connection c = cluster.connect(node)) {
                c.createChannel().exchangeDeclarePassive("orders");
            }
        }
        // Messages go through the node that holds the queue.
        try (Connection c = cluster.connect(1)) {
            Channel ch = c.createChannel();
            ch.confirmSelect();
            ch.basicPublish("orders", "order.created", new AMQP.BasicProperties.Builder().deliveryMode(2).build(),
                    "o-1".getBytes(StandardCharsets.UTF_8));
            ch.waitForConfirmsOrDie(10_000);
            assertEquals("o-1", new String(ch.basicGet("orders.audit", true).getBody(), StandardCharsets.UTF_8));
        }
    }

    @Test
    @Order(2)
    void usersVhostsPermissionsAndPoliciesReachEveryNode() throws Exception {
        api(2, "PUT", "/api/vhosts/shop", "{}");
        api(2, "PUT", "/api/users/clerk", "{\"password\":\"s3cret\",\"tags\":\"\"}");
        api(2, "PUT", "/api/permissions/shop/clerk", "{\"configure\":\".*\",\"write\":\".*\",\"read\":\".*\"}");
        api(2, "PUT", "/api/policies/shop/short",
                "{\"pattern\":\"^tmp\\\\.\",\"definition\":{\"message-ttl\":60000},\"apply-to\":\"queues\"}");
        for (int i = 1; i <= 3; i++) {
            int node = i;
            await().atMost(SPREAD).ignoreExceptions().untilAsserted(() -> {
                try (Connection c = connect(node, "clerk", "s3cret", "shop")) {
                    assertTrue(c.isOpen());
                }
                assertEquals(60000, api(node, "GET", "/api/policies/shop/short", null)
                        .path("definition").path("message-ttl").asInt());
            });
        }
        // A removal travels too: the user deleted on node 3 can no longer log in on node 1.
        api(3, "DELETE", "/api/users/clerk", null);
        await().atMost(SPREAD).untilAsserted(() ->
                assertThrows(IOException.class, () -> connect(1, "clerk", "s3cret", "shop").close()));
    }

    @Test
    @Order(3)
    void aClassicQueueOfAnotherNodeIsRefusedWithItsHomeNode() throws Exception {
        await().atMost(SPREAD).until(() -> api(3, "GET", "/api/queues/%2F/orders.audit", null).has("name"));
        try (Connection c = cluster.connect(3)) {
            Channel ch = c.createChannel();
            IOException e = assertThrows(IOException.class,
                    () -> ch.basicConsume("orders.audit", true, (t, m) -> { }, t -> { }));
            String text = ((ShutdownSignalException) e.getCause()).getReason().toString();
            assertTrue(text.contains("reply-code=404"), text);
            assertTrue(text.contains("home node 'warren1@localhost' of durable queue 'orders.audit'"), text);
            // A publish that would route there is refused too, rather than losing the message.
            Channel ch2 = c.createChannel();
            ch2.confirmSelect();
            ch2.basicPublish("orders", "order.paid", null, "o-2".getBytes(StandardCharsets.UTF_8));
            assertThrows(Exception.class, () -> ch2.waitForConfirmsOrDie(10_000));
            assertTrue(!ch2.isOpen() && ch2.getCloseReason().getReason().toString().contains("reply-code=404"));
        }
    }

    @Test
    @Order(4)
    void clusterStatusAndListQueuesFromAnyNode() throws Exception {
        for (int i = 1; i <= 3; i++) {
            int node = i;
            await().atMost(SPREAD).untilAsserted(() -> {
                Result r = cluster.ctl(node, "cluster_status", "--formatter", "json");
                assertEquals(0, r.code(), r.all());
                JsonNode s = JSON.readTree(r.out());
                assertEquals(List.of("warren1@localhost", "warren2@localhost", "warren3@localhost"),
                        names(s.path("disk_nodes")));
                assertEquals(names(s.path("disk_nodes")), names(s.path("running_nodes")));
            });
        }
        Result text = cluster.ctl(2, "cluster_status");
        assertTrue(text.out().contains("Cluster status of node warren2@localhost"), text.all());
        assertTrue(text.out().contains("Running Nodes\n\nwarren1@localhost\nwarren2@localhost\nwarren3@localhost"),
                text.all());
        Result q = cluster.ctl(3, "list_queues", "name", "type", "leader", "members", "--formatter", "json");
        assertEquals(0, q.code(), q.all());
        JsonNode audit = null;
        for (JsonNode n : JSON.readTree(q.out())) {
            if (n.path("name").asText().equals("orders.audit")) {
                audit = n;
            }
        }
        assertTrue(audit != null, q.out());
        assertEquals("classic", audit.path("type").asText());
        assertEquals("warren1@localhost", audit.path("leader").asText());
        assertEquals(List.of("warren1@localhost"), names(audit.path("members")));
    }

    @Test
    @Order(5)
    void aNodeWithAnotherSecretIsKeptOutAndTheRightOneCatchesUp() throws Exception {
        assertEquals(0, cluster.stop(3).code());
        await().atMost(SPREAD).untilAsserted(() -> {
            JsonNode s = JSON.readTree(cluster.ctl(1, "cluster_status", "--formatter", "json").out());
            assertEquals(List.of("warren1@localhost", "warren2@localhost"), names(s.path("running_nodes")));
        });
        // Two of three are a majority: declares go on.
        try (Connection c = cluster.connect(2)) {
            c.createChannel().exchangeDeclare("while-3-was-out", "fanout", true);
        }
        Path other = dir.resolve("other.secret");
        java.nio.file.Files.writeString(other, "not-the-cluster-secret-at-all\n");
        java.nio.file.Files.setPosixFilePermissions(other,
                java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        Path conf = cluster.node(3).conf();
        String good = java.nio.file.Files.readString(conf);
        java.nio.file.Files.writeString(conf, good.replace(cluster.secret.toString(), other.toString()));
        try {
            cluster.start(3);
            try (Connection c = cluster.connect(1)) {
                c.createChannel().exchangeDeclare("not-for-outsiders", "direct", true);
            }
            // Node 3 runs, but the others do not count it: it fails their check of the secret.
            await().atMost(SPREAD).untilAsserted(() -> assertTrue(java.nio.file.Files.readString(
                    cluster.node(1).log()).contains("the peer does not know this cluster's secret")));
            JsonNode s = JSON.readTree(cluster.ctl(1, "cluster_status", "--formatter", "json").out());
            assertEquals(List.of("warren1@localhost", "warren2@localhost"), names(s.path("running_nodes")));
            assertEquals(404, status(3, "/api/exchanges/%2F/not-for-outsiders"), "node 3 got nothing of the log");
        } finally {
            assertEquals(0, cluster.stop(3).code());
            java.nio.file.Files.writeString(conf, good);
        }
        // With the right secret again it catches up, and keeps what it had before it stopped.
        cluster.start(3);
        await().atMost(SPREAD).untilAsserted(() -> {
            assertEquals(200, status(3, "/api/exchanges/%2F/not-for-outsiders"));
            assertEquals(200, status(3, "/api/exchanges/%2F/while-3-was-out"));
        });
        assertEquals("topic", api(3, "GET", "/api/exchanges/%2F/orders", null).path("type").asText());
        await().atMost(SPREAD).untilAsserted(() -> {
            JsonNode s = JSON.readTree(cluster.ctl(1, "cluster_status", "--formatter", "json").out());
            assertEquals(3, s.path("running_nodes").size());
        });
    }

    private static int status(int i, String path) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + cluster.node(i).managementPort() + path))
                .header("Authorization", "Basic " + Base64.getEncoder().encodeToString(
                        "guest:guest".getBytes(StandardCharsets.UTF_8)));
        return HttpClient.newHttpClient().send(b.build(), HttpResponse.BodyHandlers.ofString()).statusCode();
    }

    private static List<String> names(JsonNode array) {
        List<String> l = new ArrayList<>();
        array.forEach(n -> l.add(n.asText()));
        return l;
    }

    private static Connection connect(int node, String user, String password, String vhost) throws Exception {
        ConnectionFactory f = new ConnectionFactory();
        f.setHost("127.0.0.1");
        f.setPort(cluster.node(node).amqpPort());
        f.setUsername(user);
        f.setPassword(password);
        f.setVirtualHost(vhost);
        f.setAutomaticRecoveryEnabled(false);
        return f.newConnection();
    }

    /** The management API of node {@code i} as guest; the JSON answer (null body: an empty object). */
    private static JsonNode api(int i, String method, String path, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + cluster.node(i).managementPort() + path))
                .header("Authorization", "Basic " + Base64.getEncoder().encodeToString(
                        "guest:guest".getBytes(StandardCharsets.UTF_8)))
                .header("Content-Type", "application/json")
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(body));
        HttpResponse<String> r = HttpClient.newHttpClient().send(b.build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() >= 300) {
            throw new AssertionError(method + " " + path + " on node " + i + ": " + r.statusCode() + " " + r.body());
        }
        return r.body().isEmpty() ? JSON.createObjectNode() : JSON.readTree(r.body());
    }

    // ---- quorum queues

    /** The node (1..3) warrenctl names as the leader of {@code queue}, asked through {@code via}. */
    static int leader(int via, String queue) throws Exception {
        Result r = cluster.ctl(via, "list_queues", "name", "type", "leader", "members", "--formatter", "json");
        assertEquals(0, r.code(), r.all());
        for (JsonNode n : JSON.readTree(r.out())) {
            if (n.path("name").asText().equals(queue)) {
                assertEquals("quorum", n.path("type").asText());
                assertEquals(3, n.path("members").size(), n.toString());
                String leader = n.path("leader").asText();
                for (int i = 1; i <= 3; i++) {
                    if (leader.equals("warren" + i + "@localhost")) {
                        return i;
                    }
                }
                throw new AssertionError("no leader yet: " + n);
            }
        }
        throw new AssertionError(queue + " not listed: " + r.out());
    }

    @Test
    @Order(10)
    void aQuorumQueuePublishedThroughEveryNodeIsConsumedFromItsLeader() throws Exception {
        try (Connection c = cluster.connect(1)) {
            c.createChannel().queueDeclare("qq.orders", true, false, false, Map.of("x-queue-type", "quorum"));
        }
        int leader = await().atMost(SPREAD).ignoreExceptions().until(() -> leader(2, "qq.orders"), l -> l > 0);
        assertEquals(leader, (int) await().atMost(SPREAD).ignoreExceptions().until(() -> leader(3, "qq.orders"),
                l -> l > 0), "every node names the same leader");
        for (int i = 1; i <= 3; i++) {
            try (Connection c = cluster.connect(i)) {
                Channel ch = c.createChannel();
                ch.confirmSelect();
                for (int k = 0; k < 50; k++) {
                    ch.basicPublish("", "qq.orders", PERSISTENT, ("n" + i + "-" + k).getBytes(StandardCharsets.UTF_8));
                }
                ch.waitForConfirmsOrDie(30_000);
            }
        }
        List<String> got = new ArrayList<>();
        try (Connection c = cluster.connect(leader)) {
            Channel ch = c.createChannel();
            await().atMost(SPREAD).untilAsserted(() -> {
                GetResponse r;
                while ((r = ch.basicGet("qq.orders", true)) != null) {
                    got.add(new String(r.getBody(), StandardCharsets.UTF_8));
                }
                assertEquals(150, got.size());
            });
        }
        for (int i = 1; i <= 3; i++) {
            List<String> fromNode = new ArrayList<>();
            for (String s : got) {
                if (s.startsWith("n" + i + "-")) {
                    fromNode.add(s);
                }
            }
            List<String> expected = new ArrayList<>();
            for (int k = 0; k < 50; k++) {
                expected.add("n" + i + "-" + k);
            }
            assertEquals(expected, fromNode, "each publisher's messages in its order");
        }
    }

    @Test
    @Order(11)
    void killingTheLeaderLosesNoConfirmedMessage() throws Exception {
        try (Connection c = cluster.connect(1)) {
            c.createChannel().queueDeclare("qq.kill", true, false, false, Map.of("x-queue-type", "quorum"));
        }
        int leader = await().atMost(SPREAD).ignoreExceptions().until(() -> leader(1, "qq.kill"), l -> l > 0);
        List<Integer> others = new ArrayList<>();
        for (int i = 1; i <= 3; i++) {
            if (i != leader) {
                others.add(i);
            }
        }
        // 4 confirm-mode publishers through the two nodes that survive; each keeps what was confirmed.
        Set<String> confirmed = ConcurrentHashMap.newKeySet();
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> publishers = new ArrayList<>();
        for (int p = 0; p < 4; p++) {
            int node = others.get(p % 2);
            String prefix = "p" + p + "-";
            Thread t = new Thread(() -> publish(node, prefix, confirmed, stop));
            t.start();
            publishers.add(t);
        }
        await().atMost(SPREAD).until(() -> confirmed.size() >= 400);
        long pid = Processes.pid(cluster.node(leader).pidFile());
        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        await().atMost(Duration.ofSeconds(10)).until(() -> !Processes.alive(pid));
        int before = confirmed.size();
        int newLeader = await().atMost(SPREAD).ignoreExceptions().until(() -> leader(others.get(0), "qq.kill"),
                l -> l > 0 && l != leader);
        // publishing goes on through the new leader
        await().atMost(SPREAD).until(() -> confirmed.size() >= before + 200);
        stop.set(true);
        for (Thread t : publishers) {
            t.join(30_000);
        }
        Map<String, Integer> seen = new HashMap<>();
        try (Connection c = cluster.connect(newLeader)) {
            Channel ch = c.createChannel();
            await().atMost(SPREAD).untilAsserted(() -> {
                GetResponse r;
                while ((r = ch.basicGet("qq.kill", true)) != null) {
                    seen.merge(new String(r.getBody(), StandardCharsets.UTF_8), 1, Integer::sum);
                }
                List<String> lost = confirmed.stream().filter(m -> !seen.containsKey(m)).limit(5).toList();
                assertTrue(lost.isEmpty(), "confirmed but not consumed: " + lost + " of " + confirmed.size());
            });
        }
        long duplicates = seen.values().stream().filter(n -> n > 1).count();
        System.out.println("kill -9 of the leader: " + confirmed.size() + " confirmed, " + seen.size()
                + " consumed, " + duplicates + " duplicates, 0 lost");
        for (String m : seen.keySet()) {
            assertTrue(m.matches("p[0-3]-[0-9]+"), "only what was published: " + m);
        }
        cluster.start(leader); // back for the tests after this one
    }

    /** Publishes with confirms through {@code node} until {@code stop}; reconnects after a failure. */
    private static void publish(int node, String prefix, Set<String> confirmed, AtomicBoolean stop) {
        int k = 0;
        while (!stop.get()) {
            try (Connection c = cluster.connect(node)) {
                Channel ch = c.createChannel();
                ch.confirmSelect();
                while (!stop.get()) {
                    List<String> batch = new ArrayList<>();
                    for (int i = 0; i < 20; i++) {
                        String m = prefix + k++;
                        ch.basicPublish("", "qq.kill", PERSISTENT, m.getBytes(StandardCharsets.UTF_8));
                        batch.add(m);
                    }
                    ch.waitForConfirmsOrDie(30_000);
                    confirmed.addAll(batch);
                }
            } catch (Exception e) {
                // a nack or a closed connection: that batch was not confirmed; go on
                System.out.println("publisher " + prefix + " through node " + node + ": " + e);
                try {
                    Thread.sleep(200);
                } catch (InterruptedException ie) {
                    return;
                }
            }
        }
    }
}
