package io.warren.it.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import io.warren.it.support.Processes;
import io.warren.it.support.Processes.Result;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Quorum queues on three real nodes: a queue is a Raft group with a member on each node; a
 * confirm means a majority has the message; publishing works through any node; when the
 * leader's process is killed (kill -9) a surviving member leads and every confirmed message is
 * still there.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class QuorumQueueClusterTest {
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
    @Order(1)
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
    @Order(2)
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
