package io.warren.it.crash;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import io.warren.it.support.Processes;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Definitions are written off the event loops, and declare-ok, bind-ok and delete-ok wait for
 * that write: whatever a client was told is on disk survives a kill -9 that comes right after
 * the reply (no clean stop, so the definitions log is replayed, not the snapshot).
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class TopologyCrashTest {
    @TempDir
    Path dir;

    @BeforeAll
    static void needsThePackagedServer() {
        assumeTrue(BrokerProcess.packaged(), BrokerProcess.JAR + " is missing: run mvn -q -B -DskipTests package first");
        String off = BrokerProcess.crashTestsOff();
        assumeTrue(off == null, off);
    }

    private static ConnectionFactory factory(BrokerProcess b) {
        ConnectionFactory f = new ConnectionFactory();
        f.setPort(b.port);
        f.setAutomaticRecoveryEnabled(false);
        return f;
    }

    @Test
    void everyRepliedDeclareBindAndDeleteSurvivesAKill9() throws Exception {
        try (BrokerProcess b = new BrokerProcess(dir, dir.resolve("data"), Processes.JAVA_OPTS)) {
            b.start();
            Connection first = factory(b).newConnection();
            try {
                Channel ch = first.createChannel();
                ch.exchangeDeclare("crash-x", "topic", true);
                for (int i = 0; i < 300; i++) {
                    ch.queueDeclare("crash-q" + i, true, false, false, null);
                    ch.queueBind("crash-q" + i, "crash-x", "k." + i);
                }
                for (int i = 0; i < 300; i += 3) {
                    ch.queueDelete("crash-q" + i);
                }
                ch.queueUnbind("crash-q1", "crash-x", "k.1");
                // The last reply is in: kill at once, no clean stop.
                b.kill9();
            } finally {
                first.abort();
            }
            b.start();
            try (Connection c = factory(b).newConnection()) {
                Channel ch = c.createChannel();
                ch.exchangeDeclarePassive("crash-x");
                for (int i = 0; i < 300; i++) {
                    String q = "crash-q" + i;
                    if (i % 3 == 0) {
                        Channel probe = c.createChannel();
                        assertThrows(IOException.class, () -> probe.queueDeclarePassive(q), q + " was deleted");
                    } else {
                        assertEquals(0, ch.queueDeclarePassive(q).getMessageCount());
                    }
                }
                // Bindings: a message to k.2 reaches crash-q2; k.1 was unbound, k.3's queue is gone.
                ch.confirmSelect();
                ch.basicPublish("crash-x", "k.2", null, new byte[] {2});
                ch.basicPublish("crash-x", "k.1", null, new byte[] {1});
                ch.waitForConfirmsOrDie(10_000);
                assertEquals(1, ch.queueDeclarePassive("crash-q2").getMessageCount());
                assertEquals(0, ch.queueDeclarePassive("crash-q1").getMessageCount());
            }
        }
    }

    private static int put(BrokerProcess b, String user, String password, String path, String json) throws Exception {
        java.net.http.HttpRequest req = java.net.http.HttpRequest.newBuilder(
                        java.net.URI.create("http://127.0.0.1:" + b.managementPort + path))
                .header("authorization", "Basic " + java.util.Base64.getEncoder().encodeToString(
                        (user + ":" + password).getBytes(java.nio.charset.StandardCharsets.UTF_8)))
                .header("content-type", "application/json")
                .PUT(java.net.http.HttpRequest.BodyPublishers.ofString(json)).build();
        return java.net.http.HttpClient.newHttpClient().send(req, java.net.http.HttpResponse.BodyHandlers.ofString())
                .statusCode();
    }

    /** Users, vhosts and permissions are definitions too: each answered change survives a kill -9. */
    @Test
    void everyAnsweredAccessChangeSurvivesAKill9() throws Exception {
        try (BrokerProcess b = new BrokerProcess(dir, dir.resolve("data"), Processes.JAVA_OPTS)) {
            b.start();
            assertEquals(201, put(b, "guest", "guest", "/api/vhosts/crash-v", "{}"));
            for (int i = 0; i < 50; i++) {
                assertEquals(201, put(b, "guest", "guest", "/api/users/u" + i, "{\"password\":\"p" + i + "\"}"));
                assertEquals(201, put(b, "guest", "guest", "/api/permissions/crash-v/u" + i,
                        "{\"configure\":\"^u" + i + "-\",\"write\":\".*\",\"read\":\".*\"}"));
            }
            assertEquals(204, put(b, "guest", "guest", "/api/users/guest", "{\"password\":\"new-guest\",\"tags\":\"administrator\"}"));
            // The last answer is in: kill at once, no clean stop.
            b.kill9();
            b.start();
            ConnectionFactory f = factory(b);
            f.setVirtualHost("crash-v");
            for (int i = 0; i < 50; i += 7) {
                f.setUsername("u" + i);
                f.setPassword("p" + i);
                try (Connection c = f.newConnection()) {
                    Channel ch = c.createChannel();
                    ch.queueDeclare("u" + i + "-q", false, false, false, null);
                    String other = "x" + i;
                    assertThrows(IOException.class, () -> c.createChannel().queueDeclare(other, false, false, false,
                            null), "permissions came back");
                }
            }
            ConnectionFactory guest = factory(b);
            assertThrows(com.rabbitmq.client.AuthenticationFailureException.class, guest::newConnection);
            guest.setPassword("new-guest");
            try (Connection c = guest.newConnection()) {
                assertTrue(c.isOpen());
            }
        }
    }
}
