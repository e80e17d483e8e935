package io.warren.it.ctl;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import io.warren.it.support.Processes;
import io.warren.it.support.Processes.Result;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static io.warren.it.ctl.CtlProcess.find;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The real {@code bin/warrenctl export_definitions} and {@code import_definitions} against a
 * broker started with {@code bin/warren}: a round trip through a file and through stdout/stdin,
 * rabbitmqctl 3.10's banners and messages, and its exit codes for a missing or empty file, bad
 * JSON, a document the broker refuses, a missing directory and a broker that is down.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class WarrenctlDefinitionsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PASSWORD = "defs-pass";

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

    private static Connection connect() throws Exception {
        return broker.connect("guest", PASSWORD, "/");
    }

    @Test
    void exportAndImportRoundTripThroughAFileAndThroughStdio() throws Exception {
        try (Connection c = connect(); Channel ch = c.createChannel()) {
            ch.exchangeDeclare("cli.x", "direct", true);
            ch.queueDeclare("cli.q", true, false, false, Map.of("x-max-length", 10));
            ch.queueBind("cli.q", "cli.x", "k");
        }
        Path file = dir.resolve("defs.json");
        Result export = ctl("export_definitions", file.toString());
        assertEquals(0, export.code(), export.all());
        assertEquals("Exporting definitions in JSON to a file at \"" + file + "\" ...\n", export.out());
        assertEquals("", export.err());
        JsonNode defs = JSON.readTree(file.toFile());
        assertEquals(10, find(defs.get("queues"), "name", "cli.q").get("arguments").get("x-max-length").asInt());
        assertTrue(find(defs.get("users"), "name", "guest") != null, defs.get("users").toString());

        // "-": the document on stdout and nothing else (no banner).
        Result stdout = ctl("export_definitions", "-");
        assertEquals(0, stdout.code(), stdout.all());
        assertEquals(defs, JSON.readTree(stdout.out()));

        try (Connection c = connect(); Channel ch = c.createChannel()) {
            ch.queueDelete("cli.q");
            ch.exchangeDelete("cli.x");
        }
        Result imported = ctl("import_definitions", file.toString());
        assertEquals(0, imported.code(), imported.all());
        assertEquals("Importing definitions in JSON from a file at \"" + file + "\" ...\n"
                + "Successfully started definition import. This process is asynchronous and can take some time.\n",
                imported.out());
        try (Connection c = connect(); Channel ch = c.createChannel()) {
            ch.basicPublish("cli.x", "k", null, "via-import".getBytes(StandardCharsets.UTF_8));
            AtomicReference<GetResponse> got = new AtomicReference<>();
            await().atMost(Duration.ofSeconds(10)).until(() -> {
                got.set(ch.basicGet("cli.q", true));
                return got.get() != null;
            });
            assertEquals("via-import", new String(got.get().getBody(), StandardCharsets.UTF_8));
            ch.queueDelete("cli.q");
        }

        // "-": read from stdin, silently.
        Result piped = broker.ctlWithInput(stdout.out().getBytes(StandardCharsets.UTF_8), "import_definitions", "-");
        assertEquals(0, piped.code(), piped.all());
        assertEquals("", piped.out());
        try (Connection c = connect(); Channel ch = c.createChannel()) {
            assertEquals("cli.q", ch.queueDeclarePassive("cli.q").getQueue());
        }
    }

    @Test
    void badFilesAndRefusedDocumentsAre65() throws Exception {
        Path missing = dir.resolve("no-such.json");
        Result r = ctl("import_definitions", missing.toString());
        assertEquals(65, r.code(), r.all());
        assertEquals("Error (argument validation): File " + missing + " does not exist\n", r.err());
        assertEquals("", r.out());

        Path empty = Files.writeString(dir.resolve("empty.json"), "");
        r = ctl("import_definitions", empty.toString());
        assertEquals(65, r.code(), r.all());
        assertEquals("Error: File " + empty + " is zero-sized\n", r.err());

        Path garbage = Files.writeString(dir.resolve("garbage.json"), "{\"queues\": [");
        r = ctl("import_definitions", garbage.toString());
        assertEquals(65, r.code(), r.all());
        assertTrue(r.err().startsWith("Error: Failed to deserialise input (format: JSON)"), r.err());

        Path policy = Files.writeString(dir.resolve("policy.json"), "{\"policies\":[{\"vhost\":\"/\",\"name\":\"ttl\","
                + "\"pattern\":\".*\",\"apply-to\":\"queues\",\"definition\":{\"ha-mode\":\"all\"},\"priority\":0}],"
                + "\"queues\":[{\"name\":\"never-made\",\"vhost\":\"/\",\"durable\":true,\"auto_delete\":false,"
                + "\"arguments\":{}}]}");
        r = ctl("import_definitions", policy.toString());
        assertEquals(65, r.code(), r.all());
        assertEquals(1, r.err().lines().count(), r.err());
        assertEquals("Error: policies[0] (policy 'ttl' in vhost '/'): Validation failed: policy key 'ha-mode' is not"
                + " supported by warren (no mirrored queues)\n", r.err());
        Result list = ctl("list_queues", "name");
        assertTrue(!list.out().contains("never-made"), list.out());

        Path noDir = dir.resolve("no-such-dir/defs.json");
        r = ctl("export_definitions", noDir.toString());
        assertEquals(65, r.code(), r.all());
        assertEquals("Error (argument validation): Directory " + noDir.getParent() + " does not exist\n", r.err());

        r = ctl("export_definitions", dir.resolve("x.json").toString(), "--format", "erlang");
        assertEquals(65, r.code(), r.all());
    }

    @Test
    void usageErrorsAre64AndABrokerThatIsDownIs69() throws Exception {
        Result r = ctl("export_definitions");
        assertEquals(64, r.code(), r.all());
        r = ctl("import_definitions", "a.json", "b.json");
        assertEquals(64, r.code(), r.all());

        int port = Processes.freePort();
        r = ctl("--port", String.valueOf(port), "export_definitions", dir.resolve("down.json").toString());
        assertEquals(69, r.code(), r.all());
        assertEquals("", r.out());
        assertTrue(r.err().startsWith("Error: unable to perform an operation on node 127.0.0.1:" + port), r.err());
        Path file = Files.writeString(dir.resolve("small.json"), "{}");
        r = ctl("--port", String.valueOf(port), "import_definitions", file.toString());
        assertEquals(69, r.code(), r.all());
        assertEquals("", r.out());

        r = ctl("help", "import_definitions");
        assertEquals(0, r.code(), r.all());
        assertTrue(r.out().contains("RabbitMQ's JSON definitions format"), r.out());
    }

    // ---- running the scripts -------------------------------------------------------------------

    private static Result ctl(String... args) throws Exception {
        return broker.ctl(args);
    }
}
