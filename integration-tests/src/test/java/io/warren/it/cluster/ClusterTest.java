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
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Three real nodes (three {@code bin/warren} processes with one node list and one secret):
 * definitions made on one node are on every node, through the cluster's replicated log, and
 * stay there across a node's restart; warrenctl shows the cluster from any node; a node with
 * another secret is kept out. Quorum queues: each a Raft group with a member on every node, a
 * confirm means a majority has the message, publishing works through any node, and no confirmed
 * message is lost when the leader's process is killed (kill -9), a follower's is, the leader is
 * paused (SIGSTOP) past the election timeout, or the network cuts the leader off (from both
 * others, or from one follower only) or holds back all its traffic past the election timeout
 * (the nodes reach each other through {@link NodeProxies}). One cluster for the class (starting
 * three JVMs is most of its time).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class ClusterTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration SPREAD = Duration.ofSeconds(30);
    /**
     * How often an await that runs bin/warrenctl tries again: each try is a JVM (about 0.7 CPU-s),
     * which Awaitility's 100 ms would start back to back, on the cores the nodes need.
     */
    private static final Duration CTL_POLL = Duration.ofSeconds(1);
    private static final AMQP.BasicProperties PERSISTENT = new AMQP.BasicProperties.Builder().deliveryMode(2).build();

    @TempDir
    static Path dir;
    static ProcessCluster cluster;

    @BeforeAll
    static void startThreeNodes() throws Exception {
        cluster = new ProcessCluster(dir, 3);
        // node 3 places the quorum queues declared through it as balanced (RabbitMQ's config key)
        Files.writeString(cluster.node(3).conf(), "queue_leader_locator = balanced\n",
                java.nio.file.StandardOpenOption.APPEND);
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
        // bin/warren gives a cluster node G1, not the single broker's parallel collector (its full
        // GCs outlasted Raft's election timeout under load)
        String cmdline = Files.readString(Path.of("/proc/" + Processes.pid(cluster.node(1).pidFile()) + "/cmdline"))
                .replace('\0', ' ');
        assertTrue(cmdline.contains("-XX:+UseG1GC") && !cmdline.contains("-XX:+UseParallelGC"), cmdline);
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
    void aClassicQueueOfAnotherNodeIsUsedThroughAnyNode() throws Exception {
        await().atMost(SPREAD).until(() -> api(3, "GET", "/api/queues/%2F/orders.audit", null).has("name"));
        try (Connection c = cluster.connect(1)) {
            Channel ch = c.createChannel();
            ch.confirmSelect();
            for (int i = 0; i < 3; i++) {
                ch.basicPublish("orders", "order.shipped", PERSISTENT, ("s-" + i).getBytes(StandardCharsets.UTF_8));
            }
            ch.waitForConfirmsOrDie(10_000);
        }
        try (Connection c = cluster.connect(3)) {
            // Node 3 relays the use of node 1's queue: get, consume (with an ack), purge.
            Channel ch = c.createChannel();
            GetResponse got = ch.basicGet("orders.audit", false);
            assertEquals("s-0", new String(got.getBody(), StandardCharsets.UTF_8));
            assertEquals(2, got.getMessageCount());
            ch.basicAck(got.getEnvelope().getDeliveryTag(), false);
            java.util.concurrent.BlockingQueue<String> delivered = new java.util.concurrent.LinkedBlockingQueue<>();
            String tag = ch.basicConsume("orders.audit", false, (t, m) -> {
                delivered.add(new String(m.getBody(), StandardCharsets.UTF_8));
                ch.basicAck(m.getEnvelope().getDeliveryTag(), false);
            }, t -> { });
            assertEquals("s-1", delivered.poll(10, TimeUnit.SECONDS));
            assertEquals("s-2", delivered.poll(10, TimeUnit.SECONDS));
            ch.basicCancel(tag);
            await().atMost(SPREAD).untilAsserted(() ->
                    assertEquals(0, api(1, "GET", "/api/queues/%2F/orders.audit", null).path("messages").asInt()));
            ch.queuePurge("orders.audit");

            // Publishes through node 3 are forwarded to node 1, which holds the queue: persistent
            // and transient, confirmed once node 1 took them, with the exchange, routing key and
            // properties the publisher gave (and nothing of the forwarding).
            Channel pub = c.createChannel();
            pub.confirmSelect();
            AMQP.BasicProperties headed = new AMQP.BasicProperties.Builder().deliveryMode(2).contentType("text/plain")
                    .headers(Map.of("origin", "node 3")).build();
            pub.basicPublish("orders", "order.paid", headed, "o-1".getBytes(StandardCharsets.UTF_8));
            pub.basicPublish("orders", "order.paid", null, "o-2".getBytes(StandardCharsets.UTF_8));
            pub.basicPublish("", "orders.audit", PERSISTENT, "o-3".getBytes(StandardCharsets.UTF_8));
            pub.waitForConfirmsOrDie(10_000);
            // A redeclare through node 3 (the tutorials' first step) answers node 1's counts.
            assertEquals(3, ch.queueDeclare("orders.audit", true, false, false, Map.of("x-max-length", 1000))
                    .getMessageCount());
            assertEquals(3, ch.queueDeclarePassive("orders.audit").getMessageCount());
            Channel bad = c.createChannel();
            IOException inequivalent = assertThrows(IOException.class, () ->
                    bad.queueDeclare("orders.audit", true, false, false, Map.of()));
            assertTrue(String.valueOf(inequivalent.getCause()).contains("reply-code=406"), inequivalent.toString());
        }
        try (Connection c = cluster.connect(1)) {
            Channel ch = c.createChannel();
            GetResponse first = ch.basicGet("orders.audit", true);
            assertEquals("o-1", new String(first.getBody(), StandardCharsets.UTF_8));
            assertEquals("orders", first.getEnvelope().getExchange());
            assertEquals("order.paid", first.getEnvelope().getRoutingKey());
            assertEquals("text/plain", first.getProps().getContentType());
            assertEquals(Set.of("origin"), first.getProps().getHeaders().keySet());
            assertEquals("node 3", first.getProps().getHeaders().get("origin").toString());
            GetResponse second = ch.basicGet("orders.audit", true);
            assertEquals("o-2", new String(second.getBody(), StandardCharsets.UTF_8));
            assertEquals(null, second.getProps().getHeaders(), "no header added by the forwarding");
            GetResponse third = ch.basicGet("orders.audit", true);
            assertEquals("o-3", new String(third.getBody(), StandardCharsets.UTF_8));
            assertEquals("", third.getEnvelope().getExchange());
            // the API's purge (warrenctl purge_queue) through node 3 purges node 1's queue
            ch.confirmSelect();
            ch.basicPublish("", "orders.audit", PERSISTENT, "o-4".getBytes(StandardCharsets.UTF_8));
            ch.waitForConfirmsOrDie(10_000);
            api(3, "DELETE", "/api/queues/%2F/orders.audit/contents", null);
            assertEquals(null, ch.basicGet("orders.audit", true), "purged at node 1 through node 3");
        }
        // A delete through node 2 deletes it at node 1, and the queue is gone everywhere.
        try (Connection c = cluster.connect(2)) {
            Channel ch = c.createChannel();
            ch.queueDeclare("scratch", true, false, false, null);
            ch.confirmSelect();
            ch.basicPublish("", "scratch", null, new byte[] {1});
            ch.waitForConfirmsOrDie(10_000);
        }
        try (Connection c = cluster.connect(3)) {
            await().atMost(SPREAD).until(() -> api(3, "GET", "/api/queues/%2F/scratch", null).has("name"));
            Channel ch = c.createChannel();
            Channel refused = c.createChannel();
            IOException notEmpty = assertThrows(IOException.class, () -> refused.queueDelete("scratch", false, true));
            assertTrue(String.valueOf(notEmpty.getCause()).contains("reply-code=406"), notEmpty.toString());
            assertEquals(1, ch.queueDelete("scratch").getMessageCount());
            Channel gone = c.createChannel();
            assertThrows(IOException.class, () -> gone.queueDeclarePassive("scratch"));
        }
        for (int i = 1; i <= 3; i++) {
            int node = i;
            await().atMost(SPREAD).untilAsserted(() -> assertTrue(assertThrows(AssertionError.class, () ->
                    api(node, "GET", "/api/queues/%2F/scratch", null)).getMessage().contains(": 404 ")));
        }
    }

    @Test
    @Order(6)
    void clusterStatusAndListQueuesFromAnyNode() throws Exception {
        for (int i = 1; i <= 3; i++) {
            int node = i;
            await().atMost(SPREAD).pollInterval(CTL_POLL).untilAsserted(() -> {
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
        // messages held at node 1, listed through node 3 with node 1's count (then purged again)
        try (Connection c = cluster.connect(1)) {
            Channel ch = c.createChannel();
            ch.confirmSelect();
            ch.basicPublish("", "orders.audit", PERSISTENT, "l-1".getBytes(StandardCharsets.UTF_8));
            ch.basicPublish("", "orders.audit", PERSISTENT, "l-2".getBytes(StandardCharsets.UTF_8));
            ch.waitForConfirmsOrDie(30_000);
        }
        int held = api(1, "GET", "/api/queues/%2F/orders.audit", null).path("messages").asInt();
        assertTrue(held >= 2, "node 1 holds what it confirmed: " + held);
        Result q = cluster.ctl(3, "list_queues", "name", "type", "leader", "members", "messages", "consumers",
                "--formatter", "json");
        try (Connection c = cluster.connect(1)) {
            c.createChannel().queuePurge("orders.audit");
        }
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
        assertEquals(held, audit.path("messages").asInt(), q.out());
        assertEquals(0, audit.path("consumers").asInt(), q.out());
    }

    /**
     * RabbitMQ's queue leader locators place a new quorum queue's first leader: client-local (the
     * default) on the node it was declared through; balanced on the member leading the fewest
     * quorum queues (ties: the declaring node, then the node list's order). The policy key
     * queue-leader-locator wins over the x-queue-leader-locator argument, which wins over the
     * node's queue_leader_locator (node 3's is balanced).
     */
    @Test
    @Order(4)
    void aQuorumQueueIsFirstLedWhereItsLeaderLocatorSays() throws Exception {
        Map<String, Object> quorum = Map.of("x-queue-type", "quorum");
        for (int via = 1; via <= 2; via++) {
            String q = "ll.local." + via;
            declare(via, q, quorum);
            assertEquals(via, leader(1, q), q + ": client-local, the default, through node " + via);
        }
        // balanced: node 1 leads more than another node first, so balanced must go elsewhere
        leadMoreThanAnother(1, quorum);
        for (int i = 0; i < 3; i++) {
            Map<Integer, Integer> counts = leaderCounts();
            int expected = fewest(counts, 1);
            String q = "ll.balanced." + i;
            declare(1, q, Map.of("x-queue-type", "quorum", "x-queue-leader-locator", "balanced"));
            assertEquals(expected, leader(1, q), q + " with leaders " + counts);
        }
        // the argument wins over node 3's balanced: its last declare is made while balanced would go elsewhere
        leadMoreThanAnother(3, Map.of("x-queue-type", "quorum", "x-queue-leader-locator", "client-local"));
        Map<Integer, Integer> counts = leaderCounts();
        int expected = fewest(counts, 3);
        assertNotEquals(3, expected, "node 3 leads more than another node: " + counts);
        declare(3, "ll.configured", quorum);
        assertEquals(expected, leader(1, "ll.configured"), "node 3's queue_leader_locator = balanced, leaders "
                + counts);
        // the policy wins over the argument: declared through node 2 while balanced would go elsewhere
        leadMoreThanAnother(2, quorum);
        api(1, "PUT", "/api/policies/%2F/ll-local",
                "{\"pattern\":\"^ll\\\\.policy\",\"definition\":{\"queue-leader-locator\":\"client-local\"},"
                        + "\"apply-to\":\"queues\"}");
        try {
            await().atMost(SPREAD).untilAsserted(() -> assertEquals("client-local", api(2, "GET",
                    "/api/policies/%2F/ll-local", null).path("definition").path("queue-leader-locator").asText()));
            declare(2, "ll.policy", Map.of("x-queue-type", "quorum", "x-queue-leader-locator", "balanced"));
            assertEquals(2, leader(1, "ll.policy"), "the policy's client-local wins over the argument");
        } finally {
            api(1, "DELETE", "/api/policies/%2F/ll-local", null);
        }
        try (Connection c = cluster.connect(1)) {
            Channel ch = c.createChannel();
            for (JsonNode n : JSON.readTree(cluster.ctl(1, "list_queues", "name", "--formatter", "json").out())) {
                if (n.path("name").asText().startsWith("ll.")) {
                    ch.queueDelete(n.path("name").asText());
                }
            }
        }
    }

    /**
     * Declares quorum queues through node {@code via} with {@code arguments} (which must place
     * them client-local) until it leads more than another node, so that balanced would place the
     * next one elsewhere; each must be led by {@code via}, the last one while balanced would not
     * have chosen it.
     */
    private static void leadMoreThanAnother(int via, Map<String, Object> arguments) throws Exception {
        for (int n = 0; ; n++) {
            boolean last = fewest(leaderCounts(), via) != via;
            String q = "ll.local." + via + "." + n;
            declare(via, q, arguments);
            assertEquals(via, leader(1, q), q + " " + arguments + " through node " + via);
            if (last) {
                return;
            }
        }
    }

    /**
     * rabbitmq-queues rebalance (warrenctl rebalance): queues all led by node 1 move to the
     * running members leading the fewest, the shortest first, until no node leads more than its
     * share; through node 3, which is no member of the two-member queue it moves (a transfer
     * through that queue's members). The messages stay.
     */
    @Test
    @Order(5)
    void rebalanceMovesQuorumQueueLeadsToTheNodesLeadingFewest() throws Exception {
        Map<String, Object> quorum = Map.of("x-queue-type", "quorum", "x-queue-leader-locator", "client-local");
        declare(1, "rb.pair", Map.of("x-queue-type", "quorum", "x-queue-leader-locator", "client-local",
                "x-quorum-initial-group-size", 2));
        for (int i = 1; i <= 3; i++) {
            declare(1, "rb." + i, quorum);
        }
        try (Connection c = cluster.connect(1)) {
            Channel ch = c.createChannel();
            ch.confirmSelect();
            for (int i = 1; i <= 3; i++) {
                // different lengths: the shortest moves first
                for (int k = 0; k < 3 * i; k++) {
                    ch.basicPublish("", "rb." + i, PERSISTENT, ("rb-" + i + "-" + k).getBytes(StandardCharsets.UTF_8));
                }
            }
            ch.waitForConfirmsOrDie(10_000);
        }
        // node 3, no member of rb.pair, learns its leader from its members within a few seconds
        await().atMost(SPREAD).untilAsserted(() -> assertEquals(Map.of("rb.pair", "warren1@localhost", "rb.1",
                "warren1@localhost", "rb.2", "warren1@localhost", "rb.3", "warren1@localhost"), rbLeaders(3)));
        Result r = cluster.ctl(3, "rebalance", "quorum", "--queue-pattern", "^rb\\.");
        assertEquals(0, r.code(), r.all());
        // 4 queues over 3 running nodes: a share of 2. rb.pair (node 3 knows no length of it: 0)
        // goes to node 2, its other member; then one of the others (the shortest as node 3's
        // copies have them: rb.1 unless its copy lags) to node 3, which leads none of them
        Map<String, String> after = rbLeaders(3);
        assertEquals("warren2@localhost", after.get("rb.pair"), after.toString());
        List<String> toThree = new ArrayList<>();
        after.forEach((q, l) -> {
            if (l.equals("warren3@localhost")) {
                toThree.add(q);
            }
        });
        assertEquals(1, toThree.size(), after.toString());
        assertEquals(2, after.values().stream().filter("warren1@localhost"::equals).count(), after.toString());
        for (int via = 1; via <= 2; via++) {
            int node = via;
            await().atMost(SPREAD).untilAsserted(() -> assertEquals(after, rbLeaders(node), "through node " + node));
        }
        assertTrue(r.out().startsWith("Re-balancing leaders of quorum queues...\n"), r.out());
        Map<String, String> table = new java.util.TreeMap<>();
        r.out().lines().skip(4).filter(l -> l.contains("warren")).forEach(l -> {
            String[] cells = l.split("[\u2502|]");
            table.put(cells[1].strip(), cells[2].strip() + "," + cells[3].strip());
        });
        assertEquals(Map.of("warren1@localhost", "2,0", "warren2@localhost", "1,0", "warren3@localhost", "1,0"), table,
                r.out());
        // the messages stayed, every one
        try (Connection c = cluster.connect(2)) {
            Channel ch = c.createChannel();
            for (int i = 1; i <= 3; i++) {
                for (int k = 0; k < 3 * i; k++) {
                    GetResponse g = ch.basicGet("rb." + i, true);
                    assertNotNull(g, "rb." + i + " message " + k);
                    assertEquals("rb-" + i + "-" + k, new String(g.getBody(), StandardCharsets.UTF_8));
                }
                assertEquals(0, ch.queueDeclarePassive("rb." + i).getMessageCount());
            }
        }
        // balanced now: a second rebalance moves nothing
        Result again = cluster.ctl(2, "rebalance", "all", "--queue-pattern", "^rb\\.", "--formatter", "json");
        assertEquals(0, again.code(), again.all());
        assertEquals(after, rbLeaders(2));

        // rabbitmq-queues check_if_node_is_quorum_critical: rb.pair's two members are a bare
        // majority of two, so stopping node 1 or 2 would lose it; the three-member rb.* would not
        // (all three nodes run); node 3 holds no member of rb.pair
        // (awaited: a node's view of the others is its last probe's, every 5 s, and a probe that
        // timed out on a loaded machine counts a node down until the next)
        await().atMost(SPREAD).untilAsserted(() -> {
            HttpResponse<String> one = get(1, "/api/health/checks/node-is-quorum-critical");
            assertEquals(503, one.statusCode(), one.body());
            JsonNode failed = JSON.readTree(one.body());
            assertEquals("There are quorum queues that would lose their quorum if the target node is shut down",
                    failed.path("reason").asText());
            assertTrue(criticalNames(failed).contains("rb.pair"), one.body());
            assertTrue(criticalNames(failed).stream().noneMatch(List.of("rb.1", "rb.2", "rb.3")::contains),
                    one.body());
            assertEquals("{\"name\":\"rb.pair\",\"readable_name\":\"queue 'rb.pair' in vhost '/'\",\"type\":"
                    + "\"quorum\",\"virtual_host\":\"/\"}",
                    failed.path("queues").get(criticalNames(failed).indexOf("rb.pair")).toString());
        });
        await().atMost(SPREAD).untilAsserted(() -> {
            HttpResponse<String> three = get(3, "/api/health/checks/node-is-quorum-critical");
            assertEquals(200, three.statusCode(), three.body());
            assertEquals("{\"status\":\"ok\"}", three.body());
        });
        Result critical = cluster.ctl(2, "check_if_node_is_quorum_critical");
        assertEquals(69, critical.code(), critical.all());
        assertEquals("Checking if node warren2@localhost is critical for quorum of any quorum queues ...\n",
                critical.out());
        assertTrue(critical.err().lines().toList().contains(
                "queue 'rb.pair' in vhost '/' would lose quorum if node warren2@localhost is stopped"), critical.all());
        await().atMost(SPREAD).pollInterval(CTL_POLL).untilAsserted(() -> {
            Result ok = cluster.ctl(3, "check_if_node_is_quorum_critical", "--formatter", "json");
            assertEquals(0, ok.code(), ok.all());
            assertEquals("{\"result\":\"ok\"}", ok.out().strip());
        });
    }

    /** The names of the queues a node-is-quorum-critical answer lists. */
    private static List<String> criticalNames(JsonNode answer) {
        List<String> l = new ArrayList<>();
        answer.path("queues").forEach(q -> l.add(q.path("name").asText()));
        return l;
    }

    /** The leaders of the rb.* queues as node {@code via} lists them. */
    private static Map<String, String> rbLeaders(int via) throws Exception {
        Map<String, String> m = new java.util.TreeMap<>();
        for (JsonNode n : queues(via)) {
            if (n.path("name").asText().startsWith("rb.")) {
                m.put(n.path("name").asText(), n.path("leader").asText());
            }
        }
        return m;
    }

    private static void declare(int via, String queue, Map<String, Object> arguments) throws Exception {
        try (Connection c = cluster.connect(via)) {
            c.createChannel().queueDeclare(queue, true, false, false, arguments);
        }
    }

    /** How many quorum queues each node leads (the queue list of node 1), each node counted. */
    private static Map<Integer, Integer> leaderCounts() throws Exception {
        Map<Integer, Integer> counts = new java.util.TreeMap<>(Map.of(1, 0, 2, 0, 3, 0));
        for (JsonNode n : queues(1)) {
            if (n.path("type").asText().equals("quorum")) {
                String leader = n.path("leader").asText();
                assertTrue(leader.matches("warren[123]@localhost"), n.toString());
                counts.merge(leader.charAt(6) - '0', 1, Integer::sum);
            }
        }
        return counts;
    }

    /** The node with the fewest leaders; ties go to {@code declaring}, then to the node list's order from it. */
    private static int fewest(Map<Integer, Integer> counts, int declaring) {
        int best = declaring;
        for (int k = 0; k < 3; k++) {
            int n = (declaring - 1 + k) % 3 + 1;
            if (counts.get(n) < counts.get(best)) {
                best = n;
            }
        }
        return best;
    }

    @Test
    @Order(7)
    void aNodeWithAnotherSecretIsKeptOutAndTheRightOneCatchesUp() throws Exception {
        assertEquals(0, cluster.stop(3).code());
        await().atMost(SPREAD).pollInterval(CTL_POLL).untilAsserted(() -> {
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
        await().atMost(SPREAD).pollInterval(CTL_POLL).untilAsserted(() -> {
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

    /**
     * The queues of vhost / as node {@code via}'s management API lists them: what warrenctl
     * list_queues prints (its leader, members and online columns are these fields). The helpers
     * that tests poll read it here, not through bin/warrenctl: a JVM started for each poll (0.7
     * CPU-s) made a fifth of this class's CPU. Tests that check warrenctl's own output call it.
     */
    private static JsonNode queues(int via) throws Exception {
        return api(via, "GET", "/api/queues/%2F", null);
    }

    /** The node (1..3) the management API names as the leader of {@code queue}, asked through {@code via}. */
    static int leader(int via, String queue) throws Exception {
        JsonNode all = queues(via);
        for (JsonNode n : all) {
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
        throw new AssertionError(queue + " not listed: " + all);
    }

    /** Consumers, gets and purges through a node that does not lead go to the leader through a link. */
    /**
     * The tutorials across nodes: non-durable exchanges and queues and exclusive server-named
     * queues are cluster-wide (RabbitMQ's are), so publish/subscribe, RPC and work queues work
     * with each client on another node. An exclusive queue is refused to every other connection,
     * on any node; it goes when its connection closes, and a non-durable queue goes when its
     * node restarts, on every node.
     */
    @Test
    @Order(8)
    void nonDurableAndExclusiveTopologyIsClusterWideAndTheTutorialsWorkAcrossNodes() throws Exception {
        Connection r2 = cluster.connect(2); // closed in the middle: its exclusive queues go
        try (Connection emitter = cluster.connect(1); Connection r3 = cluster.connect(3)) {
            // Publish/subscribe: a non-durable fanout declared by the emitter on node 1, two
            // receivers on nodes 2 and 3, each with an exclusive server-named queue bound to it.
            Channel pub = emitter.createChannel();
            pub.exchangeDeclare("logs", "fanout");
            List<java.util.concurrent.BlockingQueue<String>> got = new ArrayList<>();
            List<String> queues = new ArrayList<>();
            for (Connection r : List.of(r2, r3)) {
                Channel ch = r.createChannel();
                ch.exchangeDeclare("logs", "fanout"); // the tutorial's receiver declares it too
                String q = ch.queueDeclare().getQueue();
                ch.queueBind(q, "logs", "");
                java.util.concurrent.BlockingQueue<String> in = new java.util.concurrent.LinkedBlockingQueue<>();
                ch.basicConsume(q, true, (t, m) -> in.add(new String(m.getBody(), StandardCharsets.UTF_8)), t -> { });
                got.add(in);
                queues.add(q);
            }
            pub.confirmSelect();
            for (int i = 0; i < 3; i++) {
                pub.basicPublish("logs", "", null, ("log-" + i).getBytes(StandardCharsets.UTF_8));
            }
            pub.waitForConfirmsOrDie(10_000);
            for (java.util.concurrent.BlockingQueue<String> in : got) {
                for (int i = 0; i < 3; i++) {
                    assertEquals("log-" + i, in.poll(10, TimeUnit.SECONDS));
                }
            }
            // Every node lists them as they are: not durable, exclusive.
            for (int i = 1; i <= 3; i++) {
                JsonNode x = api(i, "GET", "/api/exchanges/%2F/logs", null);
                assertEquals(false, x.path("durable").asBoolean(true));
                JsonNode q = api(i, "GET", "/api/queues/%2F/" + queues.get(0), null);
                assertEquals(false, q.path("durable").asBoolean(true));
                assertEquals(true, q.path("exclusive").asBoolean(false));
                assertEquals("warren2@localhost", q.path("node").asText());
            }
            // Another connection, on any node, is refused an exclusive queue (405), as on one node.
            for (Connection other : List.of(emitter, r3)) {
                Channel ch = other.createChannel();
                IOException locked = assertThrows(IOException.class, () -> ch.basicConsume(queues.get(0), true,
                        (t, m) -> { }, t -> { }));
                assertTrue(String.valueOf(locked.getCause()).contains("reply-code=405"), locked.toString());
                Channel again = other.createChannel();
                IOException redeclare = assertThrows(IOException.class, () ->
                        again.queueDeclarePassive(queues.get(0)));
                assertTrue(String.valueOf(redeclare.getCause()).contains("reply-code=405"), redeclare.toString());
            }

            // RPC: the server on node 2 consumes a non-durable rpc_queue; the client on node 3
            // sends with reply_to its exclusive callback queue.
            Channel server = r2.createChannel();
            server.queueDeclare("rpc_queue", false, false, false, null);
            server.basicConsume("rpc_queue", false, (t, m) -> {
                AMQP.BasicProperties reply = new AMQP.BasicProperties.Builder()
                        .correlationId(m.getProperties().getCorrelationId()).build();
                String n = new String(m.getBody(), StandardCharsets.UTF_8);
                server.basicPublish("", m.getProperties().getReplyTo(), reply,
                        ("fib(" + n + ")").getBytes(StandardCharsets.UTF_8));
                server.basicAck(m.getEnvelope().getDeliveryTag(), false);
            }, t -> { });
            Channel client = r3.createChannel();
            String callback = client.queueDeclare().getQueue();
            java.util.concurrent.BlockingQueue<String> replies = new java.util.concurrent.LinkedBlockingQueue<>();
            client.basicConsume(callback, true, (t, m) -> replies.add(m.getProperties().getCorrelationId() + " "
                    + new String(m.getBody(), StandardCharsets.UTF_8)), t -> { });
            client.basicPublish("", "rpc_queue", new AMQP.BasicProperties.Builder().correlationId("c-1")
                    .replyTo(callback).build(), "30".getBytes(StandardCharsets.UTF_8));
            assertEquals("c-1 fib(30)", replies.poll(10, TimeUnit.SECONDS));

            // Work queues: a non-durable queue of node 1, fed through node 2, drained through node 3.
            Channel work = emitter.createChannel();
            work.queueDeclare("hello", false, false, false, null);
            Channel feed = r2.createChannel();
            feed.confirmSelect();
            feed.basicPublish("", "hello", null, "task".getBytes(StandardCharsets.UTF_8));
            feed.waitForConfirmsOrDie(10_000);
            Channel drain = r3.createChannel();
            assertEquals(1, drain.queueDeclare("hello", false, false, false, null).getMessageCount());
            assertEquals("task", new String(drain.basicGet("hello", true).getBody(), StandardCharsets.UTF_8));

            // An exclusive queue goes with its connection, on every node (and its binding with it).
            r2.close();
            for (int i = 1; i <= 3; i++) {
                int node = i;
                await().atMost(SPREAD).untilAsserted(() -> assertTrue(assertThrows(AssertionError.class, () ->
                        api(node, "GET", "/api/queues/%2F/" + queues.get(0), null)).getMessage().contains(": 404 ")));
            }
        } finally {
            r2.abort();
        }

        // A non-durable queue goes when its node restarts: node 3's is gone on every node, while
        // the non-durable exchange, which the nodes that kept running have, stays.
        try (Connection c = cluster.connect(3)) {
            Channel ch = c.createChannel();
            ch.queueDeclare("volatile", false, false, false, null);
            ch.queueBind("volatile", "logs", "");
        }
        await().atMost(SPREAD).until(() -> api(1, "GET", "/api/queues/%2F/volatile", null).has("name"));
        assertEquals(0, cluster.stop(3).code());
        cluster.start(3);
        for (int i = 1; i <= 3; i++) {
            int node = i;
            await().atMost(Duration.ofSeconds(60)).ignoreExceptions().untilAsserted(() -> {
                assertTrue(assertThrows(AssertionError.class, () ->
                        api(node, "GET", "/api/queues/%2F/volatile", null)).getMessage().contains(": 404 "));
                assertEquals(false, api(node, "GET", "/api/exchanges/%2F/logs", null).path("durable").asBoolean(true));
            });
        }
        try (Connection c = cluster.connect(1)) {
            // The binding went with the queue: a new queue of that name is not bound.
            Channel ch = c.createChannel();
            ch.queueDeclare("volatile", false, false, false, null);
            ch.confirmSelect();
            ch.basicPublish("logs", "", null, "after".getBytes(StandardCharsets.UTF_8));
            ch.waitForConfirmsOrDie(10_000);
            assertEquals(0, ch.queueDeclarePassive("volatile").getMessageCount());
            ch.queueDelete("volatile");
            ch.queueDelete("hello");
            ch.queueDelete("rpc_queue");
        }
    }

    /**
     * A declare waits for the cluster's log before its declare-ok; methods pipelined behind it on
     * the channel (qos, bind, a publish, a get) are handled after it, in order, as a RabbitMQ
     * channel handles them, so the replies come in the order the methods were sent.
     */
    @Test
    @Order(9)
    void pipelinedMethodsOnAChannelAreAnsweredInOrder() throws Exception {
        await().atMost(SPREAD).untilAsserted(() -> cluster.connect(2).close()); // node 2 has the cluster's users
        try (io.warren.it.support.RawAmqp raw = new io.warren.it.support.RawAmqp("127.0.0.1",
                cluster.node(2).amqpPort())) {
            raw.handshake("/", -1, -1, 0);
            raw.send(1, new com.rabbitmq.client.impl.AMQImpl.Channel.Open(""));
            raw.expect(AMQP.Channel.OpenOk.class);
            byte[] body = "pipelined".getBytes(StandardCharsets.UTF_8);
            java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
            java.io.DataOutputStream out = new java.io.DataOutputStream(bytes);
            new com.rabbitmq.client.impl.AMQImpl.Queue.Declare(0, "pipelined", false, true, false, false, false, Map.of())
                    .toFrame(1).writeTo(out);
            new com.rabbitmq.client.impl.AMQImpl.Basic.Qos(0, 10, false).toFrame(1).writeTo(out);
            new com.rabbitmq.client.impl.AMQImpl.Queue.Bind(0, "pipelined", "amq.direct", "k", false, Map.of())
                    .toFrame(1).writeTo(out);
            new com.rabbitmq.client.impl.AMQImpl.Basic.Publish(0, "", "pipelined", false, false).toFrame(1).writeTo(out);
            new AMQP.BasicProperties().toFrame(1, body.length).writeTo(out);
            com.rabbitmq.client.impl.Frame.fromBodyFragment(1, java.nio.ByteBuffer.wrap(body), 0, body.length).writeTo(out);
            new com.rabbitmq.client.impl.AMQImpl.Basic.Get(0, "pipelined", true).toFrame(1).writeTo(out);
            new com.rabbitmq.client.impl.AMQImpl.Queue.Delete(0, "pipelined", false, false, false).toFrame(1).writeTo(out);
            out.flush();
            raw.sendRaw(bytes.toByteArray()); // one write: every method is read before the declare is committed
            assertEquals("pipelined", raw.expect(AMQP.Queue.DeclareOk.class).getQueue());
            raw.expect(AMQP.Basic.QosOk.class);
            raw.expect(AMQP.Queue.BindOk.class);
            raw.expect(AMQP.Basic.GetOk.class);
            assertEquals(io.warren.it.support.RawAmqp.FRAME_HEADER, raw.readFrame().getType());
            com.rabbitmq.client.impl.Frame content = raw.readFrame();
            assertEquals(io.warren.it.support.RawAmqp.FRAME_BODY, content.getType());
            assertEquals("pipelined", new String(content.getPayload(), StandardCharsets.UTF_8));
            assertEquals(0, raw.expect(AMQP.Queue.DeleteOk.class).getMessageCount());
        }
    }

    /**
     * As RabbitMQ's management API and rabbitmqctl, every node lists the connections, channels and
     * consumers of the whole cluster (each item names its node) and closes any of them; the
     * links nodes open to one another to relay a consumer are no clients' and are not listed.
     */
    @Test
    @Order(10)
    void connectionsChannelsAndConsumersOfEveryNodeAreListedAndClosedOnEach() throws Exception {
        // /api/nodes through any node: every node's own figures (memory, disk, pid), as RabbitMQ's
        await().atMost(SPREAD).untilAsserted(() -> { // a node restarted by an earlier test is seen up within 5 s
            JsonNode nodes = api(1, "GET", "/api/nodes", null);
            List<String> nodeNames = new ArrayList<>();
            nodes.forEach(n -> nodeNames.add(n.path("name").asText()));
            assertEquals(List.of("warren1@localhost", "warren2@localhost", "warren3@localhost"), nodeNames);
            Set<String> pids = new java.util.HashSet<>();
            for (JsonNode n : nodes) {
                assertTrue(n.path("running").asBoolean() && n.path("mem_used").asLong() > 0
                        && n.path("disk_free").asLong() > 0 && n.path("uptime").asLong() > 0, n.toString());
                pids.add(n.path("os_pid").asText());
            }
            assertEquals(3, pids.size(), "three processes: " + nodes);
        });
        assertEquals(api(3, "GET", "/api/nodes/warren3@localhost", null).path("os_pid").asText(),
                api(1, "GET", "/api/nodes/warren3@localhost", null).path("os_pid").asText());
        // warrenctl status through node 2 shows node 2's process, not the list's first node's
        Result status = cluster.ctl(2, "status", "--formatter", "json");
        assertEquals(0, status.code(), status.all());
        assertEquals(api(2, "GET", "/api/nodes/warren2@localhost", null).path("os_pid").asText(),
                JSON.readTree(status.out()).path("pid").asText(), status.out());
        ConnectionFactory f = new ConnectionFactory();
        f.setHost("127.0.0.1");
        f.setPort(cluster.node(2).amqpPort());
        f.setAutomaticRecoveryEnabled(false);
        Connection c = f.newConnection("listed-on-every-node");
        try {
            Channel ch = c.createChannel();
            // node 1's classic queue, consumed through node 2: node 1 sees the relay's link, not a client
            String tag = ch.basicConsume("orders.audit", false, (t, m) -> { }, t -> { });
            String name = null;
            for (int i = 1; i <= 3; i++) {
                int node = i;
                await().atMost(SPREAD).untilAsserted(() -> {
                    JsonNode conns = api(node, "GET", "/api/connections", null);
                    JsonNode mine = null;
                    for (JsonNode n : conns) {
                        assertTrue(!n.path("auth_mechanism").asText().equals("WARREN-LINK"), "a link listed: " + n);
                        if (n.path("user_provided_name").asText().equals("listed-on-every-node")) {
                            mine = n;
                        }
                    }
                    assertTrue(mine != null, "node " + node + " lists no connection of node 2's: " + conns);
                    assertEquals("warren2@localhost", mine.path("node").asText());
                    JsonNode consumers = api(node, "GET", "/api/consumers", null);
                    List<JsonNode> audit = new ArrayList<>();
                    consumers.forEach(k -> {
                        if (k.path("queue").path("name").asText().equals("orders.audit")) {
                            audit.add(k);
                        }
                    });
                    assertEquals(1, audit.size(), "one consumer, not the relay's link too: " + consumers);
                    assertEquals(tag, audit.get(0).path("consumer_tag").asText());
                    assertEquals("warren2@localhost", audit.get(0).path("channel_details").path("node").asText());
                    JsonNode overview = api(node, "GET", "/api/overview", null).path("object_totals");
                    assertEquals(conns.size(), overview.path("connections").asInt(), overview.toString());
                    assertTrue(overview.path("consumers").asInt() >= 1, overview.toString());
                });
            }
            for (JsonNode n : api(3, "GET", "/api/connections", null)) {
                if (n.path("user_provided_name").asText().equals("listed-on-every-node")) {
                    name = n.path("name").asText();
                }
            }
            String path = "/api/connections/" + java.net.URLEncoder.encode(name, StandardCharsets.UTF_8).replace("+", "%20");
            assertEquals("warren2@localhost", api(1, "GET", path, null).path("node").asText());
            JsonNode channels = api(1, "GET", path + "/channels", null);
            assertEquals(1, channels.size(), channels.toString());
            assertEquals(1, channels.get(0).path("consumer_count").asInt(), channels.toString());
            boolean listed = false;
            for (JsonNode n : api(3, "GET", "/api/channels", null)) {
                listed |= n.path("connection_details").path("name").asText().equals(name);
            }
            assertTrue(listed, "node 3 lists node 2's channel");
            Result ctl = cluster.ctl(3, "list_connections", "name", "user", "--formatter", "json");
            assertTrue(ctl.code() == 0 && ctl.out().contains(name), ctl.all());
            // a close through node 3 reaches node 2's client: 320, with the reason given
            HttpRequest close = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + cluster.node(3).managementPort()
                            + path))
                    .header("Authorization", "Basic " + Base64.getEncoder().encodeToString(
                            "guest:guest".getBytes(StandardCharsets.UTF_8)))
                    .header("X-Reason", "closed through node 3")
                    .DELETE().build();
            assertEquals(204, HttpClient.newHttpClient().send(close, HttpResponse.BodyHandlers.ofString()).statusCode());
            await().atMost(SPREAD).until(() -> !c.isOpen());
            String why = String.valueOf(c.getCloseReason());
            assertTrue(why.contains("320") && why.contains("closed through node 3"), why);
            await().atMost(SPREAD).untilAsserted(() -> assertEquals(404, status(1, path)));
        } finally {
            c.abort(); // closed by the test, or left by a failure
        }
    }

    @Test
    @Order(11)
    void aQuorumQueueIsConsumedGotAndPurgedThroughAFollower() throws Exception {
        try (Connection c = cluster.connect(1)) {
            c.createChannel().queueDeclare("qq.relay", true, false, false, Map.of("x-queue-type", "quorum"));
        }
        int leader = await().atMost(SPREAD).ignoreExceptions().until(() -> leader(1, "qq.relay"), l -> l > 0);
        int follower = leader % 3 + 1;
        int other = follower % 3 + 1;
        try (Connection pub = cluster.connect(other); Connection sub = cluster.connect(follower)) {
            Channel p = pub.createChannel();
            p.confirmSelect();
            for (int k = 0; k < 100; k++) {
                p.basicPublish("", "qq.relay", PERSISTENT, ("m" + k).getBytes(StandardCharsets.UTF_8));
            }
            p.waitForConfirmsOrDie(30_000);
            // A declare through a follower answers the leader's counts, as a redeclare does.
            assertEquals(100, p.queueDeclarePassive("qq.relay").getMessageCount());
            assertEquals(100, p.queueDeclare("qq.relay", true, false, false, Map.of("x-queue-type", "quorum"))
                    .getMessageCount());
            // every node's listing shows the leader's counts, as any node of a RabbitMQ cluster does
            for (int i = 1; i <= 3; i++) {
                JsonNode q = api(i, "GET", "/api/queues/%2F/qq.relay", null);
                assertEquals(100, q.path("messages").asInt(), "node " + i + ": " + q);
                assertEquals(100, q.path("messages_ready").asInt(), "node " + i + ": " + q);
                JsonNode listed = null;
                for (JsonNode each : api(i, "GET", "/api/queues/%2F", null)) {
                    if (each.path("name").asText().equals("qq.relay")) {
                        listed = each;
                    }
                }
                assertEquals(100, listed == null ? -1 : listed.path("messages").asInt(), "node " + i + " lists " + listed);
            }
            // and the totals of the overview and the vhost are the cluster's on every node
            await().atMost(SPREAD).untilAsserted(() -> {
                long total = api(1, "GET", "/api/overview", null).path("queue_totals").path("messages").asLong();
                long inVhost = api(1, "GET", "/api/vhosts/%2F", null).path("messages").asLong();
                assertTrue(inVhost >= 100, "vhost / on node 1: " + inVhost);
                for (int i = 2; i <= 3; i++) {
                    assertEquals(total, api(i, "GET", "/api/overview", null).path("queue_totals").path("messages")
                            .asLong(), "overview of node " + i);
                    assertEquals(inVhost, api(i, "GET", "/api/vhosts/%2F", null).path("messages").asLong(),
                            "vhost / on node " + i);
                }
            });
            Channel ch = sub.createChannel();
            ch.basicQos(10);
            java.util.concurrent.BlockingQueue<String> got = new java.util.concurrent.LinkedBlockingQueue<>();
            AtomicBoolean cancelled = new AtomicBoolean();
            String tag = ch.basicConsume("qq.relay", false, new com.rabbitmq.client.DefaultConsumer(ch) {
                @Override public void handleDelivery(String t, com.rabbitmq.client.Envelope env,
                        AMQP.BasicProperties props, byte[] body) throws IOException {
                    got.add(new String(body, StandardCharsets.UTF_8) + (env.isRedeliver() ? "!" : ""));
                    getChannel().basicAck(env.getDeliveryTag(), false);
                }

                @Override public void handleCancel(String t) {
                    cancelled.set(true);
                }
            });
            List<String> expected = new ArrayList<>();
            List<String> received = new ArrayList<>();
            for (int k = 0; k < 100; k++) {
                expected.add("m" + k);
                String m = got.poll(30, TimeUnit.SECONDS);
                assertTrue(m != null, "delivery " + k + " through node " + follower + " of a queue led by " + leader);
                received.add(m);
            }
            assertEquals(expected, received, "in order, each once, none redelivered");
            // the relay is one consumer at the leader, on this node's behalf
            await().atMost(SPREAD).untilAsserted(() -> {
                for (int i = 1; i <= 3; i++) {
                    JsonNode q = api(i, "GET", "/api/queues/%2F/qq.relay", null);
                    assertEquals(1, q.path("consumers").asInt(), "node " + i + ": " + q);
                    assertEquals(0, q.path("messages").asInt(), "node " + i + ": " + q);
                }
            });
            // the relay's link is not a client connection of the leader's node: not counted (nor
            // held to its connection_max), as RabbitMQ's inter-node traffic is not; the
            // follower's and the other node's clients are
            await().atMost(SPREAD).untilAsserted(() -> {
                assertEquals(0, raftMetric(leader, "/metrics", "rabbitmq_connections", null), "node " + leader);
                assertEquals(1, raftMetric(follower, "/metrics", "rabbitmq_connections", null), "node " + follower);
                assertEquals(1, raftMetric(other, "/metrics", "rabbitmq_connections", null), "node " + other);
            });
            // an exclusive consumer elsewhere is refused as RabbitMQ refuses it: 403, through any node
            Channel excl = pub.createChannel();
            IOException refused = assertThrows(IOException.class,
                    () -> excl.basicConsume("qq.relay", false, "", false, true, null, (t, m) -> { }, t -> { }));
            String text = ((ShutdownSignalException) refused.getCause()).getReason().toString();
            assertTrue(text.contains("reply-code=403"), text);
            ch.basicCancel(tag);
            await().atMost(SPREAD).untilAsserted(() ->
                    assertEquals(0, api(leader, "GET", "/api/queues/%2F/qq.relay", null).path("consumers").asInt()));
            assertTrue(!cancelled.get(), "the client's own cancel only");
            // 20 consumers of the queue through the follower share one link to the leader, each
            // with its own prefetch there (1: one unacked message each, 20 of the 40 held back)
            // (links of earlier tests' uses may be open still: idle get links live 30 s)
            double linksBefore = raftMetric(follower, "/metrics", "warren_cluster_links", null);
            for (int k = 0; k < 40; k++) {
                p.basicPublish("", "qq.relay", PERSISTENT, ("s" + k).getBytes(StandardCharsets.UTF_8));
            }
            p.waitForConfirmsOrDie(30_000);
            java.util.concurrent.BlockingQueue<Object[]> shared = new java.util.concurrent.LinkedBlockingQueue<>();
            Map<Channel, String> consumers = new java.util.LinkedHashMap<>();
            for (int k = 0; k < 20; k++) {
                Channel each = sub.createChannel();
                each.basicQos(1);
                consumers.put(each, each.basicConsume("qq.relay", false, new com.rabbitmq.client.DefaultConsumer(each) {
                    @Override public void handleDelivery(String t, com.rabbitmq.client.Envelope env,
                            AMQP.BasicProperties props, byte[] body) {
                        shared.add(new Object[] {getChannel(), env, new String(body, StandardCharsets.UTF_8)});
                    }
                }));
            }
            Set<String> seen = new java.util.HashSet<>();
            List<Object[]> firstTwenty = new ArrayList<>();
            for (int k = 0; k < 20; k++) {
                Object[] d = shared.poll(30, TimeUnit.SECONDS);
                assertTrue(d != null, "delivery " + k + " of the first 20");
                firstTwenty.add(d);
            }
            await().atMost(SPREAD).untilAsserted(() -> {
                JsonNode q = api(leader, "GET", "/api/queues/%2F/qq.relay", null);
                assertEquals(20, q.path("consumers").asInt(), q.toString());
                assertEquals(20, q.path("messages_unacknowledged").asInt(), q.toString());
                assertEquals(20, q.path("messages_ready").asInt(), q.toString());
                double links = raftMetric(follower, "/metrics", "warren_cluster_links", null);
                assertTrue(links <= linksBefore + 1, "node " + follower + ": " + links + " links, " + linksBefore
                        + " before 20 consumers");
            });
            assertEquals(0, shared.size(), "one unacked message per consumer: " + shared.size() + " more");
            // an exclusive consume through the same node is refused on a link of its own: the
            // shared link's consumers keep their messages (none comes back redelivered)
            Channel exclusive = sub.createChannel();
            IOException locked = assertThrows(IOException.class, () -> exclusive.basicConsume("qq.relay", false, "",
                    false, true, null, (t, m) -> { }, t -> { }));
            String lockedWhy = ((ShutdownSignalException) locked.getCause()).getReason().toString();
            assertTrue(lockedWhy.contains("reply-code=403"), lockedWhy);
            for (Object[] d : firstTwenty) {
                com.rabbitmq.client.Envelope env = (com.rabbitmq.client.Envelope) d[1];
                assertTrue(!env.isRedeliver(), "first delivery of " + d[2]);
                assertTrue(seen.add((String) d[2]), "once: " + d[2]);
                ((Channel) d[0]).basicAck(env.getDeliveryTag(), false);
            }
            for (int k = 0; k < 20; k++) {
                Object[] d = shared.poll(30, TimeUnit.SECONDS);
                assertTrue(d != null, "delivery " + k + " of the second 20");
                assertTrue(seen.add((String) d[2]), "once: " + d[2]);
                ((Channel) d[0]).basicAck(((com.rabbitmq.client.Envelope) d[1]).getDeliveryTag(), false);
            }
            assertEquals(40, seen.size());
            // the last consumer's cancel closes the shared link
            for (Map.Entry<Channel, String> each : consumers.entrySet()) {
                each.getKey().basicCancel(each.getValue());
            }
            await().atMost(SPREAD).untilAsserted(() -> {
                JsonNode q = api(leader, "GET", "/api/queues/%2F/qq.relay", null);
                assertEquals(0, q.path("consumers").asInt(), q.toString());
                assertEquals(0, q.path("messages").asInt(), q.toString());
                double links = raftMetric(follower, "/metrics", "warren_cluster_links", null);
                assertTrue(links <= linksBefore, "node " + follower + ": " + links + " links, " + linksBefore
                        + " before 20 consumers");
            });
            // basic.get, a nack that requeues, the redelivery, then a purge
            for (int k = 0; k < 5; k++) {
                p.basicPublish("", "qq.relay", PERSISTENT, ("g" + k).getBytes(StandardCharsets.UTF_8));
            }
            p.waitForConfirmsOrDie(30_000);
            Channel g = sub.createChannel();
            GetResponse first = g.basicGet("qq.relay", false);
            assertEquals("g0", new String(first.getBody(), StandardCharsets.UTF_8));
            assertEquals(4, first.getMessageCount());
            g.basicNack(first.getEnvelope().getDeliveryTag(), false, true);
            GetResponse again = await().atMost(SPREAD).until(() -> g.basicGet("qq.relay", true), r -> r != null);
            assertEquals("g0", new String(again.getBody(), StandardCharsets.UTF_8));
            assertTrue(again.getEnvelope().isRedeliver());
            assertEquals(4, g.queuePurge("qq.relay").getMessageCount());
            assertEquals(null, g.basicGet("qq.relay", true));
            // gets not yet acked share their link to the leader: 30 unsettled gets, one link (a
            // link per got message took 30 connections and logins)
            for (int k = 0; k < 30; k++) {
                p.basicPublish("", "qq.relay", PERSISTENT, ("u" + k).getBytes(StandardCharsets.UTF_8));
            }
            p.waitForConfirmsOrDie(30_000);
            long lastTag = 0;
            for (int k = 0; k < 30; k++) {
                GetResponse r = g.basicGet("qq.relay", false);
                assertEquals("u" + k, new String(r.getBody(), StandardCharsets.UTF_8));
                lastTag = r.getEnvelope().getDeliveryTag();
            }
            assertEquals(null, g.basicGet("qq.relay", false));
            double links = raftMetric(follower, "/metrics", "warren_cluster_links", null);
            assertTrue(links >= 1 && links <= 2, "links of node " + follower + ": " + links);
            g.basicAck(lastTag, true);
            await().atMost(SPREAD).untilAsserted(() ->
                    assertEquals(0, api(leader, "GET", "/api/queues/%2F/qq.relay", null).path("messages").asInt()));
            assertEquals(null, g.basicGet("qq.relay", true));
            // the queue of a link that holds an unsettled get is deleted: the next get through
            // that node is the 404 a get of a missing queue is, not a wait
            p.queueDeclare("qq.held", true, false, false, Map.of("x-queue-type", "quorum"));
            p.basicPublish("", "qq.held", PERSISTENT, "h0".getBytes(StandardCharsets.UTF_8));
            p.basicPublish("", "qq.held", PERSISTENT, "h1".getBytes(StandardCharsets.UTF_8));
            p.waitForConfirmsOrDie(30_000);
            Channel h = sub.createChannel();
            GetResponse held = await().atMost(SPREAD).until(() -> h.basicGet("qq.held", false), r -> r != null);
            assertEquals("h0", new String(held.getBody(), StandardCharsets.UTF_8));
            p.queueDelete("qq.held");
            IOException gone = assertThrows(IOException.class, () -> h.basicGet("qq.held", false));
            String why = ((ShutdownSignalException) gone.getCause()).getReason().toString();
            assertTrue(why.contains("reply-code=404"), why);
            // warrenctl purge_queue through a follower and the API's purge through the other
            // node purge at the leader, as RabbitMQ's do through any node
            for (int k = 0; k < 3; k++) {
                p.basicPublish("", "qq.relay", PERSISTENT, ("c" + k).getBytes(StandardCharsets.UTF_8));
            }
            p.waitForConfirmsOrDie(30_000);
            // the API's get through a node that does not lead the queue takes the messages at the
            // leader: a look that puts them back (redelivered), then a take
            JsonNode looked = api(other, "POST", "/api/queues/%2F/qq.relay/get",
                    "{\"count\":2,\"ackmode\":\"ack_requeue_true\",\"encoding\":\"auto\"}");
            assertEquals(2, looked.size(), looked.toString());
            assertEquals("c0", looked.get(0).path("payload").asText(), looked.toString());
            assertEquals("c1", looked.get(1).path("payload").asText(), looked.toString());
            JsonNode taken = api(follower, "POST", "/api/queues/%2F/qq.relay/get",
                    "{\"count\":1,\"ackmode\":\"ack_requeue_false\",\"encoding\":\"auto\"}");
            assertEquals("c0", taken.get(0).path("payload").asText(), taken.toString());
            assertTrue(taken.get(0).path("redelivered").asBoolean(), taken.toString());
            assertEquals(2, api(leader, "GET", "/api/queues/%2F/qq.relay", null).path("messages").asInt());
            Result purged = cluster.ctl(follower, "purge_queue", "qq.relay");
            assertEquals(0, purged.code(), purged.all());
            assertEquals(null, g.basicGet("qq.relay", true), "purged at the leader by node " + follower);
            // a relayed get stops early past 8 MiB of payload (its answer is one reply between
            // nodes); what it did not take stays
            byte[] mib = new byte[1 << 20];
            java.util.Arrays.fill(mib, (byte) 'x');
            for (int k = 0; k < 10; k++) {
                p.basicPublish("", "qq.relay", PERSISTENT, mib);
            }
            p.waitForConfirmsOrDie(30_000);
            JsonNode big = api(other, "POST", "/api/queues/%2F/qq.relay/get",
                    "{\"count\":20,\"ackmode\":\"ack_requeue_true\",\"encoding\":\"auto\"}");
            assertEquals(8, big.size(), "1 MiB messages within 8 MiB");
            assertEquals(1 << 20, big.get(7).path("payload_bytes").asInt());
            assertEquals(10, api(leader, "GET", "/api/queues/%2F/qq.relay", null).path("messages").asInt());
            api(other, "DELETE", "/api/queues/%2F/qq.relay/contents", null);
            assertEquals(null, g.basicGet("qq.relay", true), "purged at the leader by node " + other);
            // a message larger than a Raft log entry may be (1 MiB) goes to the log in parts: it is
            // confirmed and read back whole through another node (RabbitMQ's quorum queues take
            // up to max_message_size), and the small one behind it too
            byte[] large = new byte[10 << 20];
            new java.util.Random(7).nextBytes(large);
            p.basicPublish("", "qq.relay", PERSISTENT, large);
            p.basicPublish("", "qq.relay", PERSISTENT, "after".getBytes(StandardCharsets.UTF_8));
            p.waitForConfirmsOrDie(30_000);
            GetResponse whole = await().atMost(SPREAD).until(() -> g.basicGet("qq.relay", true), r -> r != null);
            assertEquals(large.length, whole.getBody().length);
            assertTrue(java.util.Arrays.equals(large, whole.getBody()), "the 10 MiB message whole");
            GetResponse after = g.basicGet("qq.relay", true);
            assertEquals("after", new String(after.getBody(), StandardCharsets.UTF_8));
        }
        // Pipelined in one write through the follower, each reply waits for the leader's answer
        // to the method before it: consume-ok, get-empty, cancel-ok and purge-ok each come
        // before the qos-ok of the basic.qos sent behind them.
        try (io.warren.it.support.RawAmqp raw = new io.warren.it.support.RawAmqp("127.0.0.1",
                cluster.node(follower).amqpPort())) {
            raw.handshake("/", -1, -1, 0);
            raw.send(1, new com.rabbitmq.client.impl.AMQImpl.Channel.Open(""));
            raw.expect(AMQP.Channel.OpenOk.class);
            java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
            java.io.DataOutputStream out = new java.io.DataOutputStream(bytes);
            com.rabbitmq.client.impl.AMQImpl.Basic.Qos qos = new com.rabbitmq.client.impl.AMQImpl.Basic.Qos(0, 10, false);
            new com.rabbitmq.client.impl.AMQImpl.Basic.Consume(0, "qq.relay", "pipe", false, true, false, false, Map.of())
                    .toFrame(1).writeTo(out);
            qos.toFrame(1).writeTo(out);
            new com.rabbitmq.client.impl.AMQImpl.Basic.Get(0, "qq.relay", true).toFrame(1).writeTo(out);
            qos.toFrame(1).writeTo(out);
            new com.rabbitmq.client.impl.AMQImpl.Basic.Cancel("pipe", false).toFrame(1).writeTo(out);
            qos.toFrame(1).writeTo(out);
            new com.rabbitmq.client.impl.AMQImpl.Queue.Purge(0, "qq.relay", false).toFrame(1).writeTo(out);
            qos.toFrame(1).writeTo(out);
            out.flush();
            raw.sendRaw(bytes.toByteArray());
            assertEquals("pipe", raw.expect(AMQP.Basic.ConsumeOk.class).getConsumerTag());
            raw.expect(AMQP.Basic.QosOk.class);
            raw.expect(AMQP.Basic.GetEmpty.class);
            raw.expect(AMQP.Basic.QosOk.class);
            assertEquals("pipe", raw.expect(AMQP.Basic.CancelOk.class).getConsumerTag());
            raw.expect(AMQP.Basic.QosOk.class);
            assertEquals(0, raw.expect(AMQP.Queue.PurgeOk.class).getMessageCount());
            raw.expect(AMQP.Basic.QosOk.class);
        }
    }

    @Test
    @Order(12)
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
                // redeclared, actively and passively, through every node (leader or not), as clients do
                ch.queueDeclare("qq.orders", true, false, false, Map.of("x-queue-type", "quorum"));
                ch.queueDeclarePassive("qq.orders");
                ch.confirmSelect();
                for (int k = 0; k < 50; k++) {
                    ch.basicPublish("", "qq.orders", PERSISTENT, ("n" + i + "-" + k).getBytes(StandardCharsets.UTF_8));
                }
                ch.waitForConfirmsOrDie(30_000);
            }
        }
        // RabbitMQ's Raft metrics of the queue, on each member: once every member applied the
        // confirmed publishes (and whatever Ratis logs of its own), the same term and commit index.
        double[] committed = new double[4];
        await().atMost(SPREAD).untilAsserted(() -> {
            for (int node = 1; node <= 3; node++) {
                double commit = raftMetric(node, "/metrics/per-object", "rabbitmq_raft_log_commit_index", "qq.orders");
                assertTrue(commit >= 3, "three publishers' confirmed entries: " + commit);
                assertEquals(commit, raftMetric(node, "/metrics/per-object", "rabbitmq_raft_log_last_applied_index",
                        "qq.orders"));
                assertEquals(commit, raftMetric(node, "/metrics/detailed?family=ra_metrics",
                        "rabbitmq_detailed_raft_log_commit_index", "qq.orders"));
                assertTrue(raftMetric(node, "/metrics/per-object", "rabbitmq_raft_log_last_written_index",
                        "qq.orders") >= commit);
                assertTrue(raftMetric(node, "/metrics", "rabbitmq_raft_log_commit_index", null) >= commit,
                        "/metrics sums the node's quorum queues");
                assertEquals(raftMetric(1, "/metrics/per-object", "rabbitmq_raft_term_total", "qq.orders"),
                        raftMetric(node, "/metrics/per-object", "rabbitmq_raft_term_total", "qq.orders"));
                committed[node] = commit;
            }
            assertEquals(committed[1], committed[2]);
            assertEquals(committed[1], committed[3]);
        });
        assertTrue(raftMetric(leader, "/metrics/per-object", "rabbitmq_raft_entry_commit_latency_seconds",
                "qq.orders") > 0, "the leader sent entries");
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
        // the gets' acks go through the log after the publishes (nobody waits for an ack's commit:
        // the leader sends acks alone 20 ms apart, so the entry may still be on its way here)
        await().atMost(SPREAD).until(() -> raftMetric(leader, "/metrics/per-object",
                "rabbitmq_raft_log_commit_index", "qq.orders") > committed[leader]);
    }

    /**
     * One sample of node {@code node}'s Prometheus endpoint {@code path}: metric {@code name} of
     * quorum queue {@code queue} in vhost /, or the unlabelled one when {@code queue} is null.
     */
    private static double raftMetric(int node, String path, String name, String queue) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + cluster.node(node).prometheusPort() + path)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        String prefix = queue == null ? name + " " : name + "{vhost=\"/\",queue=\"" + queue + "\"} ";
        for (String line : r.body().split("\n")) {
            if (line.startsWith(prefix)) {
                return Double.parseDouble(line.substring(prefix.length()).trim());
            }
        }
        throw new AssertionError("no " + prefix.trim() + " on node " + node + " at " + path);
    }

    @Test
    @Order(13)
    void killingTheLeaderLosesNoConfirmedMessage() throws Exception {
        int target = survive("qq.kill", "kill -9 of the leader", true, t -> {
            kill(t);
            return () -> cluster.start(t);
        });
        // The killed node was the queue's first leader (declared through it, client-local): back,
        // it does not take the lead again (its queue is recovered, not declared: no placement; a
        // placement at every restart was a second failover each time)
        assertEquals(1, target);
        assertNotEquals(target, leader(2, "qq.kill"));
    }

    @Test
    @Order(14)
    void killingAFollowerLosesNoConfirmedMessage() throws Exception {
        int[] via = new int[1];
        int hit = survive("qq.follower", "kill -9 of a follower", false, target -> {
            kill(target);
            // rabbitmqctl's list_queues online: the members up, as the other nodes' probes find them
            via[0] = target % 3 + 1;
            List<String> up = new ArrayList<>(List.of("warren1@localhost", "warren2@localhost", "warren3@localhost"));
            up.remove("warren" + target + "@localhost");
            await().atMost(SPREAD).untilAsserted(() -> assertEquals(up, online(via[0], "qq.follower")));
            // and warrenctl list_queues prints it so (the column the helper reads from the API)
            Result listed = cluster.ctl(via[0], "list_queues", "name", "members", "online", "--formatter", "json");
            assertEquals(0, listed.code(), listed.all());
            List<String> shown = null;
            for (JsonNode n : JSON.readTree(listed.out())) {
                if (n.path("name").asText().equals("qq.follower")) {
                    assertEquals(3, n.path("members").size(), n.toString());
                    shown = names(n.path("online"));
                }
            }
            assertEquals(up, shown, listed.out());
            return () -> {
                // a queue declared while the node is down is there for a publisher through it as
                // soon as it listens again: it catches up with the cluster's log first (else the
                // messages went nowhere, confirmed)
                declare(via[0], "qq.late", Map.of("x-queue-type", "quorum"));
                cluster.start(target);
                try (Connection c = cluster.connect(target)) {
                    Channel ch = c.createChannel();
                    ch.confirmSelect();
                    for (int i = 0; i < 10; i++) {
                        ch.basicPublish("", "qq.late", PERSISTENT, ("late-" + i).getBytes(StandardCharsets.UTF_8));
                    }
                    ch.waitForConfirmsOrDie(30_000);
                }
            };
        });
        try (Connection c = cluster.connect(via[0])) {
            assertEquals(10, c.createChannel().queueDeclarePassive("qq.late").getMessageCount(),
                    "published through node " + hit + " right after its restart");
        }
    }

    @Test
    @Order(15)
    void pausingTheLeaderPastTheElectionTimeoutLosesNoConfirmedMessage() throws Exception {
        survive("qq.pause", "SIGSTOP of the leader for 5 s", true, target -> {
            long pid = Processes.pid(cluster.node(target).pidFile());
            signal("STOP", pid);
            return () -> {
                Thread.sleep(5_000); // the election timeout is 1-2 s: the others have elected by now
                signal("CONT", pid);
            };
        });
    }

    @Test
    @Order(16)
    void partitioningTheLeaderAwayLosesNoConfirmedMessage() throws Exception {
        survive("qq.partition", "a partition cutting the leader off for 5 s", true, target -> {
            // the proxies tell the leader's own connections to the others from theirs to it
            assertTrue(cluster.proxies.openedBy(target) > 0, "no connection known to come from node " + target);
            cluster.proxies.isolate(target);
            // the other two elect a leader of their own: the old one is cut off, not just slow
            int survivor = target % 3 + 1;
            await().atMost(SPREAD).until(() -> leaderByApi(survivor, "qq.partition"), l -> l != 0 && l != target);
            return () -> {
                Thread.sleep(5_000); // past the election timeout: the majority side has a new leader
                cluster.proxies.heal();
            };
        });
    }

    @Test
    @Order(17)
    void delayingTheLeadersTrafficPastTheElectionTimeoutLosesNoConfirmedMessage() throws Exception {
        survive("qq.delay", "a 3 s delay on the leader's traffic for 5 s", true, target -> {
            // every byte to and from the leader arrives 3 s late, heartbeats too (the election
            // timeout is 1-2 s): the others elect a leader while the old one's appends, nothing
            // dropped, still arrive, from a term that is over
            cluster.proxies.delay(target, 3_000);
            int survivor = target % 3 + 1;
            await().atMost(SPREAD).until(() -> leaderByApi(survivor, "qq.delay"), l -> l != 0 && l != target);
            return () -> {
                Thread.sleep(5_000);
                cluster.proxies.heal();
            };
        });
    }

    @Test
    @Order(18)
    void cuttingTheLeaderFromOneFollowerOnlyLosesNoConfirmedMessage() throws Exception {
        int[] leaders = new int[2];
        survive("qq.split", "a partition between the leader and one follower for 5 s", true, target -> {
            // a partial partition: the follower hears no leader but still reaches the other
            // follower, which does; the majority (leader and other follower) goes on
            int follower = target % 3 + 1;
            assertTrue(cluster.proxies.openedBy(target) > 0, "no connection known to come from node " + target);
            leaders[0] = target;
            cluster.proxies.cut(target, follower);
            return () -> {
                Thread.sleep(5_000); // past the cut-off follower's election timeout
                // the cut held: the two tried to reach each other and were refused
                await().atMost(SPREAD).until(() -> cluster.proxies.refusedBetween(target, follower) > 0);
                leaders[1] = leaderByApi(6 - target - follower, "qq.split"); // as the third node sees it
                cluster.proxies.heal();
            };
        });
        System.out.println("a partition between the leader and one follower: leader node " + leaders[0]
                + " before, node " + leaders[1] + " at its end");
    }

    /**
     * warrenctl forget_cluster_node (last: node 3 stays out): a running node, this node and an
     * unknown one are refused; once node 3 is stopped it is removed from the cluster, which every
     * remaining node's cluster_status shows; the quorum queues it was a member of shrink to the
     * two others, and keep taking confirmed publishes.
     */
    /**
     * warrenctl join_cluster, as RabbitMQ's: a node started on its own (its config lists itself
     * only) is stopped (stop_app), joins the running cluster through any node (its data is reset
     * and it takes the cluster's definitions), starts again (start_app) and is a node like the
     * others: every node lists it, queues are used through it and on it from the others, a quorum
     * queue declared through it has a member there, and it stays a member across a restart. Then
     * it is forgotten again.
     */
    @Test
    @Order(19)
    void aNodeJoinsTheRunningClusterAndIsForgottenAgain() throws Exception {
        try (Connection c = cluster.connect(1)) {
            Channel ch = c.createChannel();
            ch.queueDeclare("qq.before", true, false, false, Map.of("x-queue-type", "quorum"));
            ch.confirmSelect();
            ch.basicPublish("", "qq.before", PERSISTENT, "b-1".getBytes(StandardCharsets.UTF_8));
            ch.waitForConfirmsOrDie(10_000);
        }
        int four = cluster.addLoneNode();
        String name = "warren" + four + "@localhost";
        cluster.start(four);
        await().atMost(Duration.ofSeconds(60)).ignoreExceptions().until(() -> {
            try (Connection c = cluster.connect(four)) {
                return c.isOpen();
            }
        });
        try (Connection c = cluster.connect(four)) {
            c.createChannel().queueDeclare("lone.q", true, false, false, null); // gone with the reset
        }
        String target = "warren1@localhost:" + cluster.proxies.port(1);
        Result running = cluster.ctl(four, "join_cluster", target);
        assertEquals(70, running.code(), running.all());
        assertTrue(running.err().contains("stop_app"), running.err());
        Result self = cluster.ctl(four, "join_cluster", name + ":" + cluster.node(four).clusterPort());
        assertEquals(70, self.code(), self.all());

        assertEquals(0, cluster.ctl(four, "stop_app").code());
        // RabbitMQ's form, the node's name alone: the default inter-node port, where no node of
        // this test listens; refused before anything is reset
        Result portless = cluster.ctl(four, "join_cluster", "warren1@localhost");
        assertEquals(69, portless.code(), portless.all()); // 503: unavailable
        assertTrue(portless.err().contains("cannot reach node warren1@localhost at localhost:25672"), portless.err());
        Result join = cluster.ctl(four, "join_cluster", target);
        assertEquals(0, join.code(), join.all());
        assertEquals(0, cluster.ctl(four, "start_app").code());
        List<String> all = List.of("warren1@localhost", "warren2@localhost", "warren3@localhost", name);
        for (int i = 1; i <= 4; i++) {
            int node = i;
            await().atMost(SPREAD).pollInterval(CTL_POLL).untilAsserted(() -> {
                Result r = cluster.ctl(node, "cluster_status", "--formatter", "json");
                assertEquals(0, r.code(), r.all());
                JsonNode st = JSON.readTree(r.out());
                assertEquals(all, names(st.path("disk_nodes")));
                assertEquals(all, names(st.path("running_nodes")));
            });
        }
        // It has the cluster's definitions, not its own; queues are used through it and on it.
        assertTrue(api(four, "GET", "/api/exchanges/%2F/orders", null).has("name"));
        assertTrue(assertThrows(AssertionError.class, () -> api(four, "GET", "/api/queues/%2F/lone.q", null))
                .getMessage().contains(": 404 "));
        try (Connection c = cluster.connect(four)) {
            Channel ch = c.createChannel();
            ch.queueDeclare("joined.q", true, false, false, null);
            ch.confirmSelect();
            ch.basicPublish("", "joined.q", PERSISTENT, "on-4".getBytes(StandardCharsets.UTF_8));
            ch.basicPublish("orders", "order.joined", PERSISTENT, "via-4".getBytes(StandardCharsets.UTF_8));
            ch.waitForConfirmsOrDie(10_000);
            ch.queueDeclare("qq.joined", true, false, false, Map.of("x-queue-type", "quorum"));
        }
        assertEquals(name, api(2, "GET", "/api/queues/%2F/joined.q", null).path("node").asText());
        // A quorum queue declared before it joined has no member on it: its use through it goes
        // to the leader (publishes forwarded with their confirms, gets and consumes relayed).
        assertEquals(Set.of("warren1@localhost", "warren2@localhost", "warren3@localhost"), members(four, "qq.before"));
        try (Connection c = cluster.connect(four)) {
            Channel ch = c.createChannel();
            ch.confirmSelect();
            ch.basicPublish("", "qq.before", PERSISTENT, "b-2".getBytes(StandardCharsets.UTF_8));
            ch.waitForConfirmsOrDie(10_000);
            await().atMost(SPREAD).ignoreExceptions().untilAsserted(() ->
                    assertEquals(2, c.createChannel().queueDeclarePassive("qq.before").getMessageCount()));
            assertEquals("b-1", new String(ch.basicGet("qq.before", true).getBody(), StandardCharsets.UTF_8));
            java.util.concurrent.BlockingQueue<String> got = new java.util.concurrent.LinkedBlockingQueue<>();
            Channel consumer = c.createChannel();
            consumer.basicConsume("qq.before", false, (t, m) -> {
                got.add(new String(m.getBody(), StandardCharsets.UTF_8));
                consumer.basicAck(m.getEnvelope().getDeliveryTag(), false);
            }, t -> { });
            assertEquals("b-2", got.poll(10, TimeUnit.SECONDS));
            c.createChannel().queueDelete("qq.before");
        }
        // a quorum queue declared through it: a member there, then the first nodes of the list
        assertEquals(Set.of(name, "warren1@localhost", "warren2@localhost"), members(four, "qq.joined"));
        assertEquals(Set.of(name, "warren1@localhost", "warren2@localhost"), members(3, "qq.joined"));
        try (Connection c = cluster.connect(2)) {
            Channel ch = c.createChannel();
            assertEquals("on-4", new String(ch.basicGet("joined.q", true).getBody(), StandardCharsets.UTF_8));
            GetResponse audit = ch.basicGet("orders.audit", true);
            assertEquals("via-4", new String(audit.getBody(), StandardCharsets.UTF_8));
            ch.queueDelete("qq.joined");
        }

        // A restart keeps it in the cluster (its config still lists itself only).
        assertEquals(0, cluster.stop(four).code());
        cluster.start(four);
        await().atMost(SPREAD).pollInterval(CTL_POLL).untilAsserted(() -> {
            Result r = cluster.ctl(four, "cluster_status", "--formatter", "json");
            assertEquals(0, r.code(), r.all());
            assertEquals(all, names(JSON.readTree(r.out()).path("running_nodes")));
        });
        try (Connection c = cluster.connect(four)) {
            assertEquals(0, c.createChannel().queueDeclarePassive("joined.q").getMessageCount());
            c.createChannel().queueDelete("joined.q");
        }

        // A member already: refused, and nothing is reset. Then it leaves for good, and the
        // cluster is three nodes again.
        assertEquals(0, cluster.ctl(four, "stop_app").code());
        Result again = cluster.ctl(four, "join_cluster", "warren2@localhost:" + cluster.proxies.port(2));
        assertEquals(70, again.code(), again.all());
        assertTrue(again.err().contains("already a member"), again.err());
        assertEquals(0, cluster.ctl(four, "start_app").code());
        await().atMost(SPREAD).ignoreExceptions().untilAsserted(() -> {
            try (Connection c = cluster.connect(four)) {
                assertTrue(c.createChannel().exchangeDeclarePassive("orders") != null);
            }
        });
        assertEquals(0, cluster.stop(four).code());
        Result forget = cluster.ctl(1, "forget_cluster_node", name);
        assertEquals(0, forget.code(), forget.all());
        await().atMost(SPREAD).pollInterval(CTL_POLL).untilAsserted(() -> {
            Result r = cluster.ctl(2, "cluster_status", "--formatter", "json");
            assertEquals(all.subList(0, 3), names(JSON.readTree(r.out()).path("disk_nodes")));
        });
    }

    /**
     * A quorum queue's delivery counts go through its log (as RabbitMQ's returns do): a message
     * rejected with requeue on the leader keeps its count when the leader is killed (kill -9), so
     * the new leader delivers it with that x-delivery-count and drops it past x-delivery-limit,
     * not after another limit's worth of deliveries. A queue.purge and a basic.get through a
     * survivor right after the kill wait for the next leader rather than fail with a 404, and so
     * does the management API's purge through the other survivor, at the same time.
     */
    @Test
    @Order(20)
    void deliveryCountsOfAQuorumQueueCarryOverToTheNextLeader() throws Exception {
        String queue = "qq.counted";
        try (Connection c = cluster.connect(1)) {
            c.createChannel().queueDeclare(queue, true, false, false,
                    Map.of("x-queue-type", "quorum", "x-delivery-limit", 3));
        }
        int leader = await().atMost(SPREAD).ignoreExceptions().until(() -> leader(1, queue), l -> l > 0);
        String purged = "qq.counted.purged";
        String mgmtPurged = "qq.counted.purged-by-api";
        try (Connection c = cluster.connect(leader)) {
            Channel ch = c.createChannel();
            ch.confirmSelect();
            ch.basicPublish("", queue, PERSISTENT, "poison".getBytes(StandardCharsets.UTF_8));
            ch.waitForConfirmsOrDie(10_000);
            // a second queue led by the same node (client-local: declared through it), for a purge after the kill
            ch.queueDeclare(purged, true, false, false, Map.of("x-queue-type", "quorum"));
            for (int i = 0; i < 5; i++) {
                ch.basicPublish("", purged, PERSISTENT, ("p-" + i).getBytes(StandardCharsets.UTF_8));
            }
            ch.waitForConfirmsOrDie(10_000);
            // and a third, for the management API's purge after the kill
            ch.queueDeclare(mgmtPurged, true, false, false, Map.of("x-queue-type", "quorum"));
            for (int i = 0; i < 3; i++) {
                ch.basicPublish("", mgmtPurged, PERSISTENT, ("m-" + i).getBytes(StandardCharsets.UTF_8));
            }
            ch.waitForConfirmsOrDie(10_000);
            for (int returned = 0; returned < 3; returned++) {
                GetResponse r = await().atMost(SPREAD).until(() -> ch.basicGet(queue, false), java.util.Objects::nonNull);
                assertEquals(returned, deliveryCount(r), "x-delivery-count of delivery " + (returned + 1));
                ch.basicReject(r.getEnvelope().getDeliveryTag(), true);
            }
            // the third return's count is committed by the members well within this
            Thread.sleep(2_000);
        }
        assertEquals(leader, leader(1, purged));
        assertEquals(leader, leader(1, mgmtPurged));
        kill(leader);
        int survivor = leader % 3 + 1;
        int other = survivor % 3 + 1;
        // At once too, through the other survivor: the management API's purge (warrenctl
        // purge_queue's) waits for the next leader as well, rather than answering 404.
        CompletableFuture<HttpResponse<String>> apiPurge = CompletableFuture.supplyAsync(() -> {
            try {
                return request(other, "DELETE", "/api/queues/%2F/" + mgmtPurged + "/contents");
            } catch (Exception e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
        try (Connection c = cluster.connect(survivor)) {
            // A purge at once waits for the next leader too, rather than a 404.
            assertEquals(5, c.createChannel().queuePurge(purged).getMessageCount());
            HttpResponse<String> purgedByApi = apiPurge.get(30, TimeUnit.SECONDS);
            assertEquals(204, purgedByApi.statusCode(), purgedByApi.body());
            assertEquals(0, c.createChannel().messageCount(mgmtPurged));
            // At once, before the survivors elect a leader: the get waits for the next one (the
            // dead leader's link refused, then the election) instead of failing with a 404, and
            // runs there, or here if this node takes the queue over.
            Channel ch = c.createChannel();
            GetResponse r = ch.basicGet(queue, false);
            assertNotNull(r, "the message, from the next leader");
            assertEquals("poison", new String(r.getBody(), StandardCharsets.UTF_8));
            assertEquals(3, deliveryCount(r), "the new leader counts on from the old one's 3 returns");
            assertTrue(r.getEnvelope().isRedeliver());
            // a fourth return is past the limit of 3: the message is dropped (no dead-letter exchange)
            ch.basicReject(r.getEnvelope().getDeliveryTag(), true);
            await().atMost(SPREAD).untilAsserted(() -> assertEquals(0, ch.messageCount(queue)));
            assertEquals(null, ch.basicGet(queue, false));
            // with the leader's node down, stopping this one too would leave the queue's group
            // without a majority: the check says so once this node's probes find the other down
            await().atMost(SPREAD).untilAsserted(() -> {
                HttpResponse<String> h = get(survivor, "/api/health/checks/node-is-quorum-critical");
                assertEquals(503, h.statusCode(), h.body());
                assertTrue(criticalNames(JSON.readTree(h.body())).contains(queue), h.body());
            });
            ch.queueDelete(purged);
            ch.queueDelete(mgmtPurged);
        } finally {
            cluster.start(leader);
            await().atMost(SPREAD).ignoreExceptions().until(() -> {
                try (Connection c = cluster.connect(leader)) {
                    return c.isOpen();
                }
            });
        }
    }

    /**
     * RabbitMQ's alarms are cluster-wide: a memory alarm on node 3 blocks a publisher on node 1
     * (connection.blocked "low on memory", its publish held) until node 3's alarm clears; node 1's
     * alarms health check and cluster_status list node 3's alarm. A node that goes down (paused
     * past the probes) no longer holds the others' publishers; back up, it holds them again.
     */
    @Test
    @Order(21)
    void aResourceAlarmOnOneNodeBlocksPublishersOnEveryNode() throws Exception {
        String queue = "alarm.held";
        try (Connection c = cluster.connect(1)) {
            c.createChannel().queueDeclare(queue, true, false, false, null);
        }
        api(3, "PUT", "/api/warren/alarms/memory", null);
        try {
            await().atMost(SPREAD).untilAsserted(() -> {
                HttpResponse<String> h = get(1, "/api/health/checks/alarms");
                assertEquals(503, h.statusCode(), h.body());
                assertEquals("[{\"node\":\"warren3@localhost\",\"resource\":\"memory\"}]",
                        JSON.readTree(h.body()).path("alarms").toString());
            });
            Result status = cluster.ctl(1, "cluster_status", "--formatter", "json");
            assertEquals(0, status.code(), status.all());
            assertEquals("[{\"node\":\"warren3@localhost\",\"resource\":\"memory\",\"type\":\"resource_limit\"}]",
                    JSON.readTree(status.out()).path("alarms").toString());
            Result text = cluster.ctl(2, "cluster_status");
            assertTrue(text.out().contains("Alarms\n\nMemory alarm on node warren3@localhost\n"), text.all());
            // node 1's own figures show no alarm of its own
            assertEquals(200, get(1, "/api/health/checks/local-alarms").statusCode());
            HttpResponse<String> local = get(3, "/api/health/checks/local-alarms");
            assertEquals(503, local.statusCode(), local.body());
            assertEquals("There are alarms in effect on the node", JSON.readTree(local.body()).path("reason").asText());
            assertEquals(false, api(1, "GET", "/api/nodes/warren1@localhost", null).path("mem_alarm").asBoolean(true));

            List<String> blocked = new java.util.concurrent.CopyOnWriteArrayList<>();
            try (Connection c = cluster.connect(1)) {
                c.addBlockedListener(new com.rabbitmq.client.BlockedListener() {
                    @Override public void handleBlocked(String reason) {
                        blocked.add(reason);
                    }

                    @Override public void handleUnblocked() {
                        blocked.add("unblocked");
                    }
                });
                Channel ch = c.createChannel();
                // as RabbitMQ's, a connection is blocked at its first publish during an alarm;
                // what it publishes after that stays unread
                ch.basicPublish("", queue, PERSISTENT, "trigger".getBytes(StandardCharsets.UTF_8));
                await().atMost(SPREAD).until(() -> blocked.contains("low on memory"));
                for (int i = 0; i < 50; i++) {
                    ch.basicPublish("", queue, PERSISTENT, "held".getBytes(StandardCharsets.UTF_8));
                }
                Thread.sleep(1_000);
                assertTrue(messages(1, queue) <= 1, "the publishes wait while node 3 is in alarm");

                // node 3 paused: node 1's probes find it down and drop its alarm
                long pid = Processes.pid(cluster.node(3).pidFile());
                signal("STOP", pid);
                try {
                    await().atMost(SPREAD).until(() -> blocked.contains("unblocked"));
                    await().atMost(SPREAD).untilAsserted(() -> assertEquals(51, messages(1, queue)));
                    assertEquals(200, get(1, "/api/health/checks/alarms").statusCode());
                } finally {
                    signal("CONT", pid);
                }
                // back up with its alarm still set: node 1's publishers are held again
                await().atMost(SPREAD).untilAsserted(() -> assertEquals(503,
                        get(1, "/api/health/checks/alarms").statusCode()));
                ch.basicPublish("", queue, PERSISTENT, "trigger".getBytes(StandardCharsets.UTF_8));
                await().atMost(SPREAD).until(() -> blocked.stream().filter("low on memory"::equals).count() == 2);
                for (int i = 0; i < 50; i++) {
                    ch.basicPublish("", queue, PERSISTENT, "held again".getBytes(StandardCharsets.UTF_8));
                }
                Thread.sleep(1_000);
                assertTrue(messages(1, queue) <= 52, "the publishes wait for node 3's alarm again");
                api(3, "DELETE", "/api/warren/alarms/memory", null);
                await().atMost(SPREAD).until(() -> blocked.stream().filter("unblocked"::equals).count() == 2);
                await().atMost(SPREAD).untilAsserted(() -> assertEquals(102, messages(1, queue)));
                assertEquals(List.of("low on memory", "unblocked", "low on memory", "unblocked"), blocked);
            }
            await().atMost(SPREAD).untilAsserted(() -> assertEquals(200, get(2, "/api/health/checks/alarms").statusCode()));
            Result none = cluster.ctl(1, "cluster_status");
            assertTrue(none.out().contains("Alarms\n\n(none)\n"), none.all());
        } finally {
            try {
                api(3, "DELETE", "/api/warren/alarms/memory", null);
            } catch (Exception | AssertionError e) {
                // cleared already, or node 3 is not answering: the assertion above says why
            }
            try (Connection c = cluster.connect(1)) {
                c.createChannel().queueDelete(queue);
            }
        }
    }

    /** Each node's /api/nodes lists the three nodes, all running as its probe of the cluster sees them. */
    private static void awaitEveryNodeSeesEveryNodeRunning() {
        for (int i = 1; i <= 3; i++) {
            int node = i;
            await().atMost(SPREAD).untilAsserted(() -> {
                JsonNode nodes = api(node, "GET", "/api/nodes", null);
                assertEquals(3, nodes.size(), nodes.toString());
                for (JsonNode n : nodes) {
                    assertTrue(n.path("running").asBoolean(), "node " + node + " sees " + n.path("name") + " down");
                }
            });
        }
    }

    /** The messages of {@code queue} as node {@code via}'s management API counts them now. */
    private static int messages(int via, String queue) throws Exception {
        return api(via, "GET", "/api/queues/%2F/" + queue, null).path("messages").asInt(-1);
    }

    private static HttpResponse<String> get(int i, String path) throws Exception {
        return request(i, "GET", path);
    }

    /** A bodyless request to node {@code i}'s management API as guest. */
    private static HttpResponse<String> request(int i, String method, String path) throws Exception {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + cluster.node(i).managementPort() + path))
                .header("Authorization", "Basic " + Base64.getEncoder().encodeToString(
                        "guest:guest".getBytes(StandardCharsets.UTF_8)))
                .method(method, HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** The x-delivery-count of a delivery; 0 when it has none. */
    private static long deliveryCount(GetResponse r) {
        Map<String, Object> headers = r.getProps().getHeaders();
        Object count = headers == null ? null : headers.get("x-delivery-count");
        return count == null ? 0 : ((Number) count).longValue();
    }

    @Test
    @Order(22)
    void quorumQueueMembersAreAddedAndDeletedWhileTheQueueServes() throws Exception {
        // node 3 was paused by the test before: node 2 must see it running again, or it refuses
        // node 3 as a new member (node_not_running)
        awaitEveryNodeSeesEveryNodeRunning();
        declare(1, "qq.members", Map.of("x-queue-type", "quorum", "x-queue-leader-locator", "client-local",
                "x-quorum-initial-group-size", 2));
        await().atMost(SPREAD).untilAsserted(() ->
                assertEquals(Set.of("warren1@localhost", "warren2@localhost"), members(3, "qq.members")));
        publish(1, "qq.members", 0, 100);

        // rabbitmq-queues add_member: node 3 gets a copy, on every node's list and in its log
        Result add = cluster.ctl(2, "add_member", "qq.members", "warren3@localhost");
        assertEquals(0, add.code(), add.all());
        assertEquals("Adding a replica for queue qq.members on node warren3@localhost...\n", add.out());
        Set<String> three = Set.of("warren1@localhost", "warren2@localhost", "warren3@localhost");
        for (int i = 1; i <= 3; i++) {
            int node = i;
            await().atMost(SPREAD).untilAsserted(() -> assertEquals(three, members(node, "qq.members")));
        }
        await().atMost(SPREAD).untilAsserted(() -> assertTrue(raftMetric(3, "/metrics/per-object",
                "rabbitmq_raft_log_last_applied_index", "qq.members") >= raftMetric(1, "/metrics/per-object",
                "rabbitmq_raft_log_commit_index", "qq.members"), "node 3's copy caught up"));
        publish(3, "qq.members", 100, 100); // through node 3's own copy of the log now

        // RabbitMQ's answers: a member already is no change; a classic queue, no queue, a node
        // that does not run are errors (exit 69)
        Result again = cluster.ctl(1, "add_member", "qq.members", "warren3@localhost", "--formatter", "json");
        assertEquals(0, again.code(), again.all());
        assertEquals("{\"node\":\"warren1@localhost\",\"result\":\"ok\"}\n", again.out());
        declare(1, "cq.members", Map.of());
        assertMemberError("Cannot add members to a classic queue", "add_member", "cq.members", "warren2@localhost");
        assertMemberError("Cannot add members to a classic queue", "delete_member", "cq.members",
                "warren1@localhost");
        assertMemberError("not_found", "add_member", "qq.nosuch", "warren3@localhost");
        assertMemberError("not_found", "-p", "nosuch", "add_member", "qq.members", "warren3@localhost");
        assertMemberError("node_not_running", "add_member", "qq.members", "nobody@localhost");
        Result quiet = cluster.ctl(1, "-q", "delete_member", "qq.members", "nobody@localhost");
        assertEquals(0, quiet.code(), quiet.all());
        assertEquals("", quiet.out(), "no member there: no change");

        // delete_member of the leader's node: the lead moves to another member first, and node
        // 1 deletes its copy once the group no longer has it
        Result del = cluster.ctl(3, "delete_member", "qq.members", "warren1@localhost");
        assertEquals(0, del.code(), del.all());
        assertEquals("Removing a replica of queue qq.members on node warren1@localhost...\n", del.out());
        Set<String> twoAndThree = Set.of("warren2@localhost", "warren3@localhost");
        for (int i = 1; i <= 3; i++) {
            int node = i;
            await().atMost(SPREAD).untilAsserted(() -> {
                assertEquals(twoAndThree, members(node, "qq.members"));
                assertTrue(twoAndThree.contains(leaderName(node, "qq.members")));
            });
        }
        await().atMost(SPREAD).untilAsserted(() -> assertFalse(hasRaftMetrics(1, "qq.members"),
                "node 1's copy is gone"));
        // every confirmed message is there, in order, through the node that no longer holds a copy
        try (Connection c = cluster.connect(1)) {
            Channel ch = c.createChannel();
            for (int k = 0; k < 200; k++) {
                GetResponse g = ch.basicGet("qq.members", true);
                assertNotNull(g, "message " + k);
                assertEquals("m-" + k, new String(g.getBody(), StandardCharsets.UTF_8));
            }
            assertNull(ch.basicGet("qq.members", true));
        }

        // grow and shrink: the queue matched gets node 1 back; the last member stays
        Result grow = cluster.ctl(2, "grow", "warren1@localhost", "all", "--queue-pattern", "^qq\\.members$",
                "--formatter", "json");
        assertEquals(0, grow.code(), grow.all());
        assertEquals("[\n{\"vhost\":\"/\",\"name\":\"qq.members\",\"size\":3,\"result\":\"ok\"}\n]\n", grow.out());
        await().atMost(SPREAD).untilAsserted(() -> assertEquals(three, members(3, "qq.members")));
        Result nothing = cluster.ctl(2, "grow", "warren1@localhost", "even", "--queue-pattern", "^qq\\.members$");
        assertEquals(0, nothing.code(), nothing.all());
        assertEquals("Growing even quorum queues on warren1@localhost...\n\n", nothing.out());
        Result bad = cluster.ctl(2, "grow", "warren1@localhost", "some");
        assertEquals(64, bad.code(), bad.all());
        assertTrue(bad.err().startsWith("Error (argument validation): \"strategy 'some' is not recognised.\""),
                bad.all());
        declare(3, "qq.single", Map.of("x-queue-type", "quorum", "x-quorum-initial-group-size", 1));
        assertMemberError("last_node", "delete_member", "qq.single", "warren3@localhost");
        Result shrink = cluster.ctl(1, "shrink", "warren3@localhost");
        assertEquals(0, shrink.code(), shrink.all());
        List<String> rows = shrink.out().lines().toList();
        assertEquals(List.of("Shrinking quorum queues on warren3@localhost...", "vhost\tname\tsize\tresult"),
                rows.subList(0, 2), shrink.out());
        assertTrue(rows.contains("/\tqq.members\t2\tok"), shrink.out());
        assertTrue(rows.contains("/\tqq.single\t1\terror: the last node cannot be removed"), shrink.out());
        Result errorsOnly = cluster.ctl(1, "-s", "shrink", "warren3@localhost", "--errors-only");
        assertEquals(0, errorsOnly.code(), errorsOnly.all());
        assertTrue(errorsOnly.out().lines().allMatch(l -> l.contains("\terror: ")), errorsOnly.out());
        assertTrue(errorsOnly.out().contains("/\tqq.single\t1\terror: the last node cannot be removed"),
                errorsOnly.out());
        // (node 3 keeps no member but qq.single's: the next test forgets it)

        // copies left over while a node is down: its member of qq.leftover is removed then, and
        // qq.dropped deleted then; the node deletes both copies once it is back
        declare(2, "qq.leftover", Map.of("x-queue-type", "quorum", "x-queue-leader-locator", "client-local"));
        declare(2, "qq.dropped", Map.of("x-queue-type", "quorum", "x-queue-leader-locator", "client-local"));
        for (String q : List.of("qq.leftover", "qq.dropped")) {
            await().atMost(SPREAD).untilAsserted(() -> assertTrue(hasRaftMetrics(1, q), "node 1 holds a copy of " + q));
        }
        publish(2, "qq.leftover", 0, 10);
        Set<String> before = groupDirs(1);

        // the members are recorded: a restarted node keeps them, and the queue still serves
        assertEquals(0, cluster.stop(1).code());
        Result out = cluster.ctl(2, "delete_member", "qq.leftover", "warren1@localhost");
        assertEquals(0, out.code(), out.all());
        try (Connection c = cluster.connect(2)) {
            c.createChannel().queueDelete("qq.dropped");
        }
        cluster.start(1);
        await().atMost(SPREAD.multipliedBy(2)).untilAsserted(() -> {
            Set<String> now = groupDirs(1);
            assertTrue(before.containsAll(now), "no new group: " + now + " against " + before);
            assertEquals(before.size() - 2, now.size(), "node 1 deleted its two left-over copies: " + now);
        });
        try (Connection c = cluster.connect(1)) {
            assertEquals(10, c.createChannel().queueDeclarePassive("qq.leftover").getMessageCount(),
                    "served through node 1");
        }
        // the same while node 1's broker is stopped (stop_app; its Raft members run on): it has no
        // queue there to take the change, so the copies are left over for the node to find
        declare(2, "qq.dropped", Map.of("x-queue-type", "quorum", "x-queue-leader-locator", "client-local"));
        Result back = cluster.ctl(2, "add_member", "qq.leftover", "warren1@localhost");
        assertEquals(0, back.code(), back.all());
        for (String q : List.of("qq.leftover", "qq.dropped")) {
            await().atMost(SPREAD).untilAsserted(() -> assertTrue(hasRaftMetrics(1, q), "node 1 holds a copy of " + q));
        }
        Set<String> running = groupDirs(1);
        assertEquals(0, cluster.ctl(1, "stop_app").code());
        out = cluster.ctl(2, "delete_member", "qq.leftover", "warren1@localhost");
        assertEquals(0, out.code(), out.all());
        try (Connection c = cluster.connect(2)) {
            c.createChannel().queueDelete("qq.dropped");
        }
        assertEquals(0, cluster.ctl(1, "start_app").code());
        await().atMost(SPREAD).untilAsserted(() -> {
            Set<String> now = groupDirs(1);
            assertTrue(running.containsAll(now), "no new group: " + now + " against " + running);
            assertEquals(running.size() - 2, now.size(), "node 1 deleted its two left-over copies: " + now);
        });
        try (Connection c = cluster.connect(1)) {
            Channel ch = c.createChannel();
            assertEquals(10, ch.queueDeclarePassive("qq.leftover").getMessageCount(), "served through node 1");
            ch.queueDelete("qq.leftover");
        }
        // a queue deleted while every one of its members is stopped (RabbitMQ deletes such a
        // queue too): no member is left to tell the others, each deletes its copy on the
        // metadata's word once its broker is back
        declare(1, "qq.orphan", Map.of("x-queue-type", "quorum", "x-queue-leader-locator", "client-local",
                "x-quorum-initial-group-size", 2));
        await().atMost(SPREAD).untilAsserted(() ->
                assertEquals(Set.of("warren1@localhost", "warren2@localhost"), members(3, "qq.orphan")));
        publish(3, "qq.orphan", 0, 5);
        Map<Integer, Set<String>> held = Map.of(1, groupDirs(1), 2, groupDirs(2));
        assertEquals(0, cluster.ctl(1, "stop_app").code());
        assertEquals(0, cluster.ctl(2, "stop_app").code());
        try (Connection c = cluster.connect(3)) {
            c.createChannel().queueDelete("qq.orphan");
        }
        assertEquals(0, cluster.ctl(1, "start_app").code());
        assertEquals(0, cluster.ctl(2, "start_app").code());
        for (int n : List.of(1, 2)) {
            await().atMost(SPREAD).untilAsserted(() -> {
                Set<String> now = groupDirs(n);
                assertTrue(held.get(n).containsAll(now), "no new group: " + now + " against " + held.get(n));
                assertEquals(held.get(n).size() - 1, now.size(), "node " + n + " deleted its copy of qq.orphan: " + now);
            });
        }
        try (Connection c = cluster.connect(2)) {
            Channel ch = c.createChannel();
            assertThrows(IOException.class, () -> ch.queueDeclarePassive("qq.orphan"));
        }
        Set<String> oneAndTwo = Set.of("warren1@localhost", "warren2@localhost");
        for (int i = 1; i <= 3; i++) {
            int node = i;
            await().atMost(SPREAD).untilAsserted(() -> assertEquals(oneAndTwo, members(node, "qq.members")));
        }
        publish(1, "qq.members", 200, 10);
        try (Connection c = cluster.connect(3)) {
            Channel ch = c.createChannel();
            await().atMost(SPREAD).untilAsserted(() ->
                    assertEquals(10, ch.queueDeclarePassive("qq.members").getMessageCount()));
            ch.queueDelete("qq.members");
            ch.queueDelete("qq.single");
            ch.queueDelete("cq.members");
        }
    }

    /** Publishes {@code n} persistent messages "m-FROM".. through node {@code via}, confirmed. */
    private static void publish(int via, String queue, int from, int n) throws Exception {
        try (Connection c = cluster.connect(via)) {
            Channel ch = c.createChannel();
            ch.confirmSelect();
            for (int k = from; k < from + n; k++) {
                ch.basicPublish("", queue, PERSISTENT, ("m-" + k).getBytes(StandardCharsets.UTF_8));
            }
            ch.waitForConfirmsOrDie(30_000);
        }
    }

    /** A membership command through node 1 that fails as rabbitmq-queues does: exit 69, "Error:" and RabbitMQ's term. */
    private static void assertMemberError(String term, String... args) throws Exception {
        Result r = cluster.ctl(1, args);
        assertEquals(69, r.code(), r.all());
        assertEquals("Error:\n" + term + "\n", r.err(), r.all());
    }

    /** The metadata group's directory name in a node's storage (MetadataGroup.GROUP_ID). */
    private static final String METADATA_GROUP_DIR = java.util.UUID.nameUUIDFromBytes(
            "warren-metadata".getBytes(StandardCharsets.US_ASCII)).toString();

    /** The queue groups' directories in node {@code node}'s storage (the metadata group's excluded). */
    private static Set<String> groupDirs(int node) throws Exception {
        Path storage = cluster.node(node).dir().resolve("data").resolve("cluster");
        try (java.util.stream.Stream<Path> dirs = Files.list(storage)) {
            Set<String> all = new java.util.TreeSet<>();
            dirs.filter(Files::isDirectory).map(d -> d.getFileName().toString()).forEach(all::add);
            all.remove(METADATA_GROUP_DIR);
            return all;
        }
    }

    /** Whether node {@code node}'s Prometheus endpoint has Raft metrics of quorum queue {@code queue} (it holds a copy). */
    private static boolean hasRaftMetrics(int node, String queue) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + cluster.node(node).prometheusPort() + "/metrics/per-object")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        return r.body().contains("rabbitmq_raft_term_total{vhost=\"/\",queue=\"" + queue + "\"}");
    }

    /** The leader of a quorum queue as node {@code via}'s list_queues names it. */
    private static String leaderName(int via, String queue) throws Exception {
        for (JsonNode n : queues(via)) {
            if (n.path("name").asText().equals(queue)) {
                return n.path("leader").asText();
            }
        }
        return "";
    }

    @Test
    @Order(23)
    void aStoppedNodeIsForgottenAndTheQuorumQueuesShrink() throws Exception {
        try (Connection c = cluster.connect(1)) {
            c.createChannel().queueDeclare("qq.forget", true, false, false, Map.of("x-queue-type", "quorum"));
        }
        await().atMost(SPREAD).untilAsserted(() -> assertEquals(3, members(1, "qq.forget").size()));
        Result running = cluster.ctl(1, "forget_cluster_node", "warren3@localhost");
        assertEquals(70, running.code(), running.all());
        assertTrue(running.err().contains("must be stopped"), running.err());
        Result self = cluster.ctl(1, "forget_cluster_node", "warren1@localhost");
        assertEquals(70, self.code(), self.all());
        assertTrue(self.err().contains("cannot forget itself"), self.err());
        Result unknown = cluster.ctl(1, "forget_cluster_node", "warren9@localhost");
        assertEquals(70, unknown.code(), unknown.all());
        assertTrue(unknown.err().contains("not a node of this cluster"), unknown.err());

        assertEquals(0, cluster.stop(3).code());
        Result forget = cluster.ctl(1, "forget_cluster_node", "warren3@localhost");
        assertEquals(0, forget.code(), forget.all());
        assertEquals("Removing node warren3@localhost from the cluster\n", forget.out());
        for (int i = 1; i <= 2; i++) {
            int node = i;
            await().atMost(SPREAD).pollInterval(CTL_POLL).untilAsserted(() -> {
                Result r = cluster.ctl(node, "cluster_status", "--formatter", "json");
                assertEquals(0, r.code(), r.all());
                JsonNode st = JSON.readTree(r.out());
                assertEquals(List.of("warren1@localhost", "warren2@localhost"), names(st.path("disk_nodes")));
                assertEquals(names(st.path("disk_nodes")), names(st.path("running_nodes")));
            });
            await().atMost(SPREAD).untilAsserted(() ->
                    assertEquals(Set.of("warren1@localhost", "warren2@localhost"), members(node, "qq.forget")));
        }
        try (Connection c = cluster.connect(2)) {
            Channel ch = c.createChannel();
            ch.confirmSelect();
            for (int i = 0; i < 20; i++) {
                ch.basicPublish("", "qq.forget", PERSISTENT, ("f-" + i).getBytes(StandardCharsets.UTF_8));
            }
            ch.waitForConfirmsOrDie(10_000);
            assertEquals(20, ch.queueDeclarePassive("qq.forget").getMessageCount());
        }
        Result again = cluster.ctl(2, "forget_cluster_node", "warren3@localhost");
        assertEquals(70, again.code(), again.all());
    }

    /** A quorum queue's members that are up, as node {@code via} lists them (list_queues' column online). */
    private static List<String> online(int via, String queue) throws Exception {
        JsonNode all = queues(via);
        for (JsonNode n : all) {
            if (n.path("name").asText().equals(queue)) {
                assertEquals(3, n.path("members").size(), n.toString());
                return names(n.path("online"));
            }
        }
        throw new AssertionError(queue + " not listed: " + all);
    }

    /** The members of a quorum queue as node {@code via} lists them. */
    private static Set<String> members(int via, String queue) throws Exception {
        for (JsonNode q : queues(via)) {
            if (q.path("name").asText().equals(queue)) {
                Set<String> m = new java.util.TreeSet<>();
                q.path("members").forEach(n -> m.add(n.asText()));
                return m;
            }
        }
        return Set.of();
    }

    /** What a scenario does to a node; returns how it undoes it. */
    private interface Disruption {
        Restore apply(int target) throws Exception;
    }

    private interface Restore {
        void run() throws Exception;
    }

    /**
     * The reliability check of issue 15: a quorum queue with 4 confirm-mode publishers (through the
     * nodes that are not disrupted) and an acking consumer (on whichever node leads, following it),
     * while {@code disruption} hits its leader or one of its followers. Publishing must go on while the
     * node is down, and once it is back every confirmed message is consumed at least once (duplicates
     * are counted, never an error) and nothing that was not published ever is. Returns the node hit.
     */
    private static int survive(String queue, String what, boolean hitLeader, Disruption disruption) throws Exception {
        try (Connection c = cluster.connect(1)) {
            c.createChannel().queueDeclare(queue, true, false, false, Map.of("x-queue-type", "quorum"));
        }
        int leader = await().atMost(SPREAD).ignoreExceptions().until(() -> leader(1, queue), l -> l > 0);
        int target = hitLeader ? leader : leader % 3 + 1;
        List<Integer> others = new ArrayList<>();
        for (int i = 1; i <= 3; i++) {
            if (i != target) {
                others.add(i);
            }
        }
        Set<String> confirmed = ConcurrentHashMap.newKeySet();
        Map<String, Integer> seen = new ConcurrentHashMap<>();
        AtomicBoolean stopPublishing = new AtomicBoolean();
        AtomicBoolean stopConsuming = new AtomicBoolean();
        List<Thread> publishers = new ArrayList<>();
        for (int p = 0; p < 4; p++) {
            int node = others.get(p % 2);
            String prefix = "p" + p + "-";
            publishers.add(new Thread(() -> publish(node, queue, prefix, confirmed, stopPublishing)));
        }
        AtomicInteger cancels = new AtomicInteger();
        Thread consumer = new Thread(() -> consume(others.get(0), queue, seen, cancels, stopConsuming));
        publishers.forEach(Thread::start);
        consumer.start();
        try {
            await().atMost(SPREAD).until(() -> confirmed.size() >= 400);
            Restore restore = disruption.apply(target);
            int before = confirmed.size();
            // publishing goes on through the survivors (through a new leader if the leader was hit)
            await().atMost(SPREAD).until(() -> confirmed.size() >= before + 200);
            restore.run();
            int back = confirmed.size();
            await().atMost(SPREAD).until(() -> confirmed.size() >= back + 200);
            stopPublishing.set(true);
            for (Thread t : publishers) {
                t.join(30_000);
            }
            try {
                await().atMost(SPREAD).until(() -> confirmed.stream().allMatch(seen::containsKey));
            } catch (org.awaitility.core.ConditionTimeoutException e) {
                // lost, or stuck somewhere (ready, or held unacked by a link)? what each node says
                List<String> lost = confirmed.stream().filter(m -> !seen.containsKey(m)).sorted().toList();
                StringBuilder where = new StringBuilder();
                for (int i = 1; i <= 3; i++) {
                    Result r = cluster.ctl(i, "list_queues", "name", "leader", "messages_ready",
                            "messages_unacknowledged", "consumers", "--formatter", "json");
                    where.append("\n node ").append(i).append(": ").append(r.all().strip());
                }
                throw new AssertionError(what + ": confirmed but not consumed: " + lost.size() + " of "
                        + confirmed.size() + " " + lost.subList(0, Math.min(40, lost.size())) + "; target node "
                        + target + ", publishers through " + others + ", the consumer through " + others.get(0)
                        + "; list_queues:" + where, e);
            }
        } finally {
            stopPublishing.set(true);
            stopConsuming.set(true);
            for (Thread t : publishers) {
                t.join(30_000);
            }
            consumer.join(30_000);
        }
        assertEquals(0, cancels.get(), "the consumer through node " + others.get(0) + " was never cancelled: its "
                + "node follows the queue's leader for it");
        long duplicates = seen.values().stream().filter(n -> n > 1).count();
        System.out.println(what + ": " + confirmed.size() + " confirmed, " + seen.size() + " consumed, "
                + duplicates + " duplicates, 0 lost");
        for (String m : seen.keySet()) {
            assertTrue(m.matches("p[0-3]-[0-9]+"), "only what was published: " + m);
        }
        // every node is back in the cluster for the tests after this one
        for (int i = 1; i <= 3; i++) {
            int node = i;
            await().atMost(SPREAD).ignoreExceptions().until(() -> {
                try (Connection c = cluster.connect(node)) {
                    return c.isOpen();
                }
            });
        }
        return target;
    }

    private static void kill(int node) throws Exception {
        long pid = Processes.pid(cluster.node(node).pidFile());
        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        await().atMost(Duration.ofSeconds(10)).until(() -> !Processes.alive(pid));
    }

    private static void signal(String signal, long pid) throws Exception {
        Process p = new ProcessBuilder("kill", "-" + signal, Long.toString(pid)).inheritIO().start();
        assertEquals(0, p.waitFor(), "kill -" + signal + " " + pid);
    }

    /** The node (1..3) the management API of {@code via} names as the leader of {@code queue}; 0: none. */
    private static int leaderByApi(int via, String queue) {
        try {
            String name = api(via, "GET", "/api/queues/%2F/" + queue, null).path("leader").asText();
            for (int i = 1; i <= 3; i++) {
                if (name.equals("warren" + i + "@localhost")) {
                    return i;
                }
            }
        } catch (Exception | AssertionError e) {
            // that node is down or paused: no answer
        }
        return 0;
    }

    /**
     * An acking consumer of {@code queue} through node {@code via}, which need not lead it: the node
     * relays the leader's deliveries, wherever the leader moves. A cancel by the broker is counted
     * (there must be none) and the consumer starts again; a lost connection is too.
     */
    private static void consume(int via, String queue, Map<String, Integer> seen, AtomicInteger cancels,
                                AtomicBoolean stop) {
        while (!stop.get()) {
            Connection c = null;
            try {
                c = cluster.connect(via);
                Channel ch = c.createChannel();
                ch.basicQos(100);
                AtomicBoolean cancelled = new AtomicBoolean();
                ch.basicConsume(queue, false, new com.rabbitmq.client.DefaultConsumer(ch) {
                    @Override public void handleDelivery(String tag, com.rabbitmq.client.Envelope env,
                            AMQP.BasicProperties props, byte[] body) throws IOException {
                        seen.merge(new String(body, StandardCharsets.UTF_8), 1, Integer::sum);
                        getChannel().basicAck(env.getDeliveryTag(), false);
                    }

                    @Override public void handleCancel(String tag) {
                        cancels.incrementAndGet();
                        cancelled.set(true);
                    }
                });
                while (!stop.get() && c.isOpen() && !cancelled.get()) {
                    sleep(300);
                }
            } catch (Exception e) {
                System.out.println("consumer of " + queue + " through node " + via + ": " + e);
                sleep(200);
            } finally {
                if (c != null) {
                    c.abort(1000);
                }
            }
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Publishes with confirms through {@code node} until {@code stop}; reconnects after a failure. */
    private static void publish(int node, String queue, String prefix, Set<String> confirmed, AtomicBoolean stop) {
        int k = 0;
        while (!stop.get()) {
            try (Connection c = cluster.connect(node)) {
                Channel ch = c.createChannel();
                ch.confirmSelect();
                while (!stop.get()) {
                    List<String> batch = new ArrayList<>();
                    for (int i = 0; i < 20; i++) {
                        String m = prefix + k++;
                        ch.basicPublish("", queue, PERSISTENT, m.getBytes(StandardCharsets.UTF_8));
                        batch.add(m);
                    }
                    ch.waitForConfirmsOrDie(30_000);
                    confirmed.addAll(batch);
                    // at most 200 messages a second per publisher: what the consumer must drain at
                    // the end stays small, and the faults, not the backlog, are what is tested
                    sleep(100);
                }
            } catch (Exception e) {
                // a nack or a closed connection: that batch was not confirmed; go on
                System.out.println("publisher " + prefix + " through node " + node + ": " + e);
                sleep(200);
            }
        }
    }
}
