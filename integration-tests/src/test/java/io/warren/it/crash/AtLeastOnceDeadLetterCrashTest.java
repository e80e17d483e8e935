package io.warren.it.crash;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.MessageProperties;
import io.warren.it.support.Processes;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * At-least-once dead-lettering across a kill -9: a confirmed message rejected from a quorum
 * queue with x-dead-letter-strategy at-least-once is, after the restart, in its target or back
 * in its source, never lost: while it waits in the source's dead-lettered backlog (its target
 * full) and while the copies are on their way (killed right after the rejects).
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class AtLeastOnceDeadLetterCrashTest {
    private static final int N = 200;

    @TempDir
    Path dir;

    @BeforeAll
    static void needsThePackagedServer() {
        assumeTrue(BrokerProcess.packaged(), BrokerProcess.JAR + " is missing: run mvn -q -B -DskipTests package first");
        String off = BrokerProcess.crashTestsOff();
        assumeTrue(off == null, off);
    }

    private static Map<String, Object> atLeastOnce(String dlx) {
        return Map.of("x-queue-type", "quorum", "x-dead-letter-strategy", "at-least-once",
                "x-overflow", "reject-publish", "x-dead-letter-exchange", dlx);
    }

    /** Publishes N confirmed persistent messages to {@code q}, then rejects them all without requeue. */
    private static void publishAndRejectAll(Channel ch, String q) throws Exception {
        for (int i = 0; i < N; i++) {
            ch.basicPublish("", q, MessageProperties.PERSISTENT_TEXT_PLAIN, (q + ":" + i).getBytes(StandardCharsets.UTF_8));
        }
        assertTrue(ch.waitForConfirms(30_000));
        for (int i = 0; i < N; i++) {
            GetResponse r = ch.basicGet(q, false);
            ch.basicReject(r.getEnvelope().getDeliveryTag(), false);
        }
    }

    /**
     * Takes everything from {@code queues}, acking it, until {@code expected} distinct bodies
     * were seen (a backlog still retrying reaches its target as the target drains); returns them.
     */
    private static Set<String> drain(Channel ch, int expected, String... queues) {
        Set<String> bodies = new HashSet<>();
        await().atMost(Duration.ofSeconds(30)).until(() -> {
            for (String q : queues) {
                GetResponse r;
                while ((r = ch.basicGet(q, true)) != null) {
                    bodies.add(new String(r.getBody(), StandardCharsets.UTF_8));
                }
            }
            return bodies.size() >= expected;
        });
        return bodies;
    }

    @Test
    void noRejectedMessageIsLostToAKill9() throws Exception {
        try (BrokerProcess b = new BrokerProcess(dir, dir.resolve("data"), Processes.JAVA_OPTS)) {
            b.start();
            Connection first = b.factory().newConnection();
            try {
                Channel ch = first.createChannel();
                ch.confirmSelect();
                // A full target: 150 of the 200 wait in the source's backlog.
                ch.exchangeDeclare("full-dlx", "fanout", true);
                ch.queueDeclare("full-target", true, false, false, Map.of("x-max-length", 50,
                        "x-overflow", "reject-publish"));
                ch.queueBind("full-target", "full-dlx", "");
                ch.queueDeclare("held-src", true, false, false, atLeastOnce("full-dlx"));
                publishAndRejectAll(ch, "held-src");
                await().atMost(Duration.ofSeconds(30)).until(() -> ch.queueDeclarePassive("full-target")
                        .getMessageCount() == 50 && ch.queueDeclarePassive("held-src").getMessageCount() == 0);
                // Copies in flight: killed right after the last reject went out.
                ch.exchangeDeclare("open-dlx", "fanout", true);
                ch.queueDeclare("open-target", true, false, false, null);
                ch.queueBind("open-target", "open-dlx", "");
                ch.queueDeclare("moving-src", true, false, false, atLeastOnce("open-dlx"));
                publishAndRejectAll(ch, "moving-src");
                b.kill9();
            } finally {
                first.abort();
            }
            b.start();
            try (Connection c = b.factory().newConnection()) {
                Channel ch = c.createChannel();
                // Back in the source's backlog (moved to its backlog slot before the kill) or, where
                // that move had not reached the disk, back as ready: nothing is missing, duplicates
                // are allowed.
                // A target with room replaces the full one: binding it is the topology change that
                // sends the backlog on at once (not at the next retry).
                ch.queueDeclare("roomy-target", true, false, false, null);
                ch.queueUnbind("full-target", "full-dlx", "");
                ch.queueBind("roomy-target", "full-dlx", "");
                Set<String> held = drain(ch, N, "full-target", "roomy-target", "held-src");
                Set<String> moving = drain(ch, N, "open-target", "moving-src");
                for (int i = 0; i < N; i++) {
                    assertTrue(held.contains("held-src:" + i), "held-src:" + i + " lost\n" + b.logTail());
                    assertTrue(moving.contains("moving-src:" + i), "moving-src:" + i + " lost\n" + b.logTail());
                }
                assertEquals(N, held.size());
                assertEquals(N, moving.size());
            }
        }
    }
}
