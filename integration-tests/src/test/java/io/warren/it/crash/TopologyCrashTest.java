package io.warren.it.crash;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
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
        try (BrokerProcess b = new BrokerProcess(dir, dir.resolve("data"), "-Xmx256m")) {
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
}
