package io.warren.it.crash;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.GetResponse;
import io.warren.it.support.Processes;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Delayed messages are confirmed only once they are on disk: every confirmed persistent message
 * on a durable x-delayed-message exchange comes out of a kill -9 (no clean stop) and is routed
 * at its due time, those due while the broker was down right after the start.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class DelayedCrashTest {
    @TempDir
    Path dir;

    @BeforeAll
    static void needsThePackagedServer() {
        assumeTrue(BrokerProcess.packaged(), BrokerProcess.JAR + " is missing: run mvn -q -B -DskipTests package first");
        String off = BrokerProcess.crashTestsOff();
        assumeTrue(off == null, off);
    }

    private static ConnectionFactory factory(BrokerProcess b) {
        ConnectionFactory f = b.factory();
        return f;
    }

    @Test
    void everyConfirmedDelayedMessageSurvivesAKill9() throws Exception {
        int n = 3000;
        Map<String, Long> dueAt = new HashMap<>();
        try (BrokerProcess b = new BrokerProcess(dir, dir.resolve("data"), Processes.JAVA_OPTS)) {
            b.start();
            Connection first = factory(b).newConnection();
            try {
                Channel ch = first.createChannel();
                ch.exchangeDeclare("delayed-crash", "x-delayed-message", true, false,
                        Map.of("x-delayed-type", "direct"));
                ch.queueDeclare("delayed-crash-q", true, false, false, null);
                ch.queueBind("delayed-crash-q", "delayed-crash", "k");
                ch.confirmSelect();
                for (int i = 0; i < n; i++) {
                    // Spread over 8 time buckets; the first ones come due while the broker is down.
                    long delay = 2000 + (i % 8) * 1000L;
                    String body = "m" + i;
                    dueAt.put(body, System.currentTimeMillis() + delay);
                    ch.basicPublish("delayed-crash", "k", props(delay), body.getBytes(StandardCharsets.UTF_8));
                    if (i % 500 == 499) {
                        ch.waitForConfirmsOrDie(30_000);
                    }
                }
                ch.waitForConfirmsOrDie(30_000);
                // Every confirm is in: kill at once, no clean stop.
                b.kill9();
            } finally {
                first.abort();
            }
            b.start();
            Set<String> got = new ConcurrentSkipListSet<>();
            try (Connection c = factory(b).newConnection()) {
                Channel ch = c.createChannel();
                await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(50)).until(() -> {
                    GetResponse r;
                    while ((r = ch.basicGet("delayed-crash-q", true)) != null) {
                        String body = new String(r.getBody(), StandardCharsets.UTF_8);
                        long now = System.currentTimeMillis();
                        assertTrue(now >= dueAt.get(body), body + " came " + (dueAt.get(body) - now) + " ms early");
                        got.add(body);
                    }
                    return got.size() == n;
                });
            }
            Set<String> expected = new HashSet<>(dueAt.keySet());
            expected.removeAll(got);
            assertEquals(Set.of(), expected, "confirmed delayed messages lost in the kill -9");
        }
    }

    private static AMQP.BasicProperties props(long delay) {
        return new AMQP.BasicProperties.Builder().deliveryMode(2).headers(Map.of("x-delay", delay)).build();
    }
}
