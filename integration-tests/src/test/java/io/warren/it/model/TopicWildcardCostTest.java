package io.warren.it.model;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import static io.warren.it.model.ModelAssertions.unique;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 10: topic patterns full of '#' against long routing keys. Matching used to try every
 * split point at each '#', so one publish of a 128-word key against {@code #.#.#.#.#.#.#.#}
 * held the publisher's event loop for hours and stalled every connection sharing it. Here the
 * messages must route exactly as RabbitMQ would, and other connections must keep answering
 * while they are published. (Against the old matcher this fails on the first round of round
 * trips after 5 s; the broker's shutdown then waits for the stuck loop.)
 */
class TopicWildcardCostTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    /** Far above a healthy round trip (milliseconds), far below the old matcher's stall. */
    private static final Duration BYSTANDER_BOUND = Duration.ofSeconds(5);
    private static final int ROUNDS = 50;

    private static String join(int n, String word) {
        return String.join(".", Collections.nCopies(n, word));
    }

    @Test
    void pathologicalPatternsRouteCorrectlyWithoutStallingOtherConnections() throws Exception {
        List<String> patterns = List.of(
                "#.#.#.#.#.#.#.#",
                join(64, "#"),
                "#.*.#.*.#.*.#.*",
                "*.#.*.#.*.#.*.#",
                "#.a.#.a.#.a.#.a.#.b",
                "#.#.#.#.a.#.#.#.#.c.#.#.#.#",
                "a.#.#.#.#.#.#.#.#.a",
                "#.#.#.#.#.#.#.#." + join(8, "*"),
                join(128, "*"),
                join(127, "*"),
                join(64, "#") + ".z",
                "#.abc.#.abc.#",
                "#..#");
        List<String> keys = List.of(
                join(128, "a"),                // 255 bytes, 128 words
                join(127, "a") + ".b",          // 255 bytes
                join(64, "abc"),                // 255 bytes, 64 words
                join(128, ""),                  // 128 empty words
                join(63, "a.c") + ".a.b",       // 255 bytes
                join(100, "a") + ".z");
        for (String k : keys) {
            assertTrue(k.getBytes(StandardCharsets.UTF_8).length <= 255, k);
        }

        Connection publisher = broker.connect();
        Channel pub = publisher.createChannel();
        String x = unique("topic-cost");
        pub.exchangeDeclare(x, "topic", false, true, null);
        Map<String, String> queues = new LinkedHashMap<>();
        for (String p : patterns) {
            String q = pub.queueDeclare().getQueue();
            pub.queueBind(q, x, p);
            queues.put(p, q);
        }

        // Connections are spread round-robin over the broker's event loops (one per core), so
        // of this many consecutive connections one shares the publisher's loop.
        int loops = Runtime.getRuntime().availableProcessors();
        List<Channel> bystanders = new ArrayList<>();
        List<String> bystanderQueues = new ArrayList<>();
        for (int i = 0; i < Math.max(2, loops); i++) {
            Channel ch = broker.connect().createChannel();
            bystanders.add(ch);
            bystanderQueues.add(ch.queueDeclare().getQueue());
        }

        ExecutorService pool = Executors.newCachedThreadPool();
        try {
            pub.confirmSelect();
            // basic.publish does not wait for the broker: these are all on the wire (and the
            // broker routing them) before the first bystander round trip starts.
            for (int r = 0; r < ROUNDS; r++) {
                for (int k = 0; k < keys.size(); k++) {
                    pub.basicPublish(x, keys.get(k), null, Integer.toString(k).getBytes(StandardCharsets.UTF_8));
                }
            }
            CompletableFuture<Void> routed = CompletableFuture.runAsync(() -> {
                try {
                    pub.waitForConfirmsOrDie(ModelAssertions.TIMEOUT.toMillis());
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }, pool);

            // (b) until the broker has routed them all (and once more), every bystander
            // completes a round trip (passive declare, publish, get) within the bound.
            int round = 0;
            boolean last;
            do {
                last = routed.isDone();
                List<CompletableFuture<Void>> trips = new ArrayList<>();
                for (int i = 0; i < bystanders.size(); i++) {
                    trips.add(CompletableFuture.runAsync(roundTrip(bystanders.get(i), bystanderQueues.get(i), round), pool));
                }
                CompletableFuture<Void> all = CompletableFuture.allOf(trips.toArray(new CompletableFuture[0]));
                await("bystander round trips (round " + round + ") during pathological topic publishes")
                        .atMost(BYSTANDER_BOUND).until(all::isDone);
                all.join(); // rethrows a failed round trip
                round++;
            } while (!last);
            routed.join();
        } finally {
            pool.shutdownNow();
        }

        // (a) each queue holds ROUNDS copies of exactly the keys its pattern matches.
        for (Map.Entry<String, String> e : queues.entrySet()) {
            String pattern = e.getKey();
            Map<Integer, Integer> want = new TreeMap<>();
            for (int k = 0; k < keys.size(); k++) {
                if (matches(pattern, keys.get(k))) {
                    want.put(k, ROUNDS);
                }
            }
            Map<Integer, Integer> got = new TreeMap<>();
            GetResponse r;
            while ((r = pub.basicGet(e.getValue(), true)) != null) {
                got.merge(Integer.parseInt(new String(r.getBody(), StandardCharsets.UTF_8)), 1, Integer::sum);
            }
            assertEquals(want, got, () -> "messages (key index -> copies) in the queue bound with " + pattern);
        }
        // Spot checks, so the reference matcher is not the only judge.
        assertEquals(keys.size(), countKeysMatching("#.#.#.#.#.#.#.#", keys));
        assertTrue(matches(join(128, "*"), join(128, "")));
        assertFalse(matches(join(127, "*"), join(128, "a")));
        assertTrue(matches("#.a.#.a.#.a.#.a.#.b", join(127, "a") + ".b"));
    }

    private static Runnable roundTrip(Channel ch, String queue, int round) {
        return () -> {
            try {
                ch.queueDeclarePassive(queue);
                byte[] body = {(byte) round};
                ch.basicPublish("", queue, null, body);
                GetResponse got = ch.basicGet(queue, true);
                assertArrayEquals(body, got == null ? null : got.getBody());
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        };
    }

    private static int countKeysMatching(String pattern, List<String> keys) {
        return (int) keys.stream().filter(k -> matches(pattern, k)).count();
    }

    /** RabbitMQ's topic match as a DP table: '.'-separated words, empty words kept, "" has none. */
    private static boolean matches(String pattern, String key) {
        String[] p = pattern.isEmpty() ? new String[0] : pattern.split("\\.", -1);
        String[] k = key.isEmpty() ? new String[0] : key.split("\\.", -1);
        boolean[][] m = new boolean[p.length + 1][k.length + 1];
        m[0][0] = true;
        for (int i = 1; i <= p.length; i++) {
            for (int j = 0; j <= k.length; j++) {
                if (p[i - 1].equals("#")) {
                    m[i][j] = m[i - 1][j] || (j > 0 && m[i][j - 1]);
                } else if (j > 0) {
                    m[i][j] = m[i - 1][j - 1] && (p[i - 1].equals("*") || p[i - 1].equals(k[j - 1]));
                }
            }
        }
        return m[p.length][k.length];
    }
}
