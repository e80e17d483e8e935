package io.warren.it.ctl;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import io.warren.it.support.Processes.Result;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static io.warren.it.ctl.CtlProcess.find;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** warrenctl list_delayed: the x-delayed-message exchanges of a vhost and how many messages wait in each. */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class DelayedListTest {
    private static final String PASSWORD = "s3cret-pass";

    @TempDir
    static Path dir;
    private static CtlProcess broker;

    @BeforeAll
    static void startBroker() throws Exception {
        broker = CtlProcess.startPackaged(dir, "default_pass = " + PASSWORD);
    }

    @AfterAll
    static void stopBroker() throws Exception {
        if (broker != null) {
            broker.stop();
        }
    }

    @Test
    void listDelayedCountsWaitingMessagesPerExchange() throws Exception {
        try (Connection c = broker.connect("guest", PASSWORD, "/"); Channel ch = c.createChannel()) {
            ch.exchangeDeclare("later", "x-delayed-message", true, false, Map.of("x-delayed-type", "topic"));
            ch.exchangeDeclare("empty-later", "x-delayed-message", false, false, Map.of("x-delayed-type", "direct"));
            ch.exchangeDeclare("plain", "direct", false, false, null);
            ch.confirmSelect();
            AMQP.BasicProperties props = new AMQP.BasicProperties.Builder()
                    .headers(Map.of("x-delay", 600_000)).build();
            for (int i = 0; i < 3; i++) {
                ch.basicPublish("later", "a.b", props, new byte[] {(byte) i});
            }
            ch.waitForConfirmsOrDie(10_000);
        }
        Result r = broker.ctl("list_delayed");
        assertEquals(0, r.code(), r.all());
        assertEquals("Listing delayed messages for vhost / ...\nname\tmessages_delayed\nempty-later\t0\nlater\t3\n",
                r.out());

        Result cols = broker.ctl("-q", "list_delayed", "-p", "/", "name", "delayed_type", "durable",
                "messages_delayed");
        assertEquals(0, cols.code(), cols.all());
        assertEquals("name\tdelayed_type\tdurable\tmessages_delayed\nempty-later\tdirect\tfalse\t0\nlater\ttopic\ttrue\t3\n",
                cols.out());

        Result json = broker.ctl("list_delayed", "--formatter", "json");
        assertEquals(0, json.code(), json.all());
        JsonNode later = find(new ObjectMapper().readTree(json.out()), "name", "later");
        assertNotNull(later, json.out());
        assertEquals(3, later.path("messages_delayed").asLong());

        Result missing = broker.ctl("list_delayed", "-p", "nosuch");
        assertEquals(65, missing.code(), missing.all());
        assertTrue(missing.err().contains("virtual host 'nosuch' does not exist"), missing.err());
    }
}
