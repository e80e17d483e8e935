package io.warren.it.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.GetResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The real {@code bin/warrenctl export_definitions} and {@code import_definitions} against a
 * broker started with {@code bin/warren}: a round trip through a file and through stdout/stdin,
 * rabbitmqctl 3.10's banners and messages, and its exit codes for a missing or empty file, bad
 * JSON, a document the broker refuses, a missing directory and a broker that is down.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class WarrenctlDefinitionsTest {
    private static final Path ROOT = repoRoot();
    private static final Path CTL = ROOT.resolve("bin/warrenctl");
    private static final Path WARREN = ROOT.resolve("bin/warren");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PASSWORD = "defs-pass";

    @TempDir
    static Path dir;
    private static Path conf;
    private static int amqpPort;

    @BeforeAll
    static void startBroker() throws Exception {
        assumeTrue(Files.isRegularFile(ROOT.resolve("broker-cli/target/broker-cli.jar")),
                "broker-cli.jar is missing: run mvn -q -B -DskipTests package first");
        amqpPort = freePort();
        int managementPort = freePort();
        conf = dir.resolve("warren.conf");
        Files.writeString(conf, String.join("\n",
                "listeners.tcp.default = 127.0.0.1:" + amqpPort,
                "management.tcp.port = " + managementPort,
                "default_pass = " + PASSWORD,
                "data_dir = data",
                "log.file = log/warren.log") + "\n");
        Result r = run(List.of(WARREN.toString(), "start", "--config", conf.toString()), null);
        assertEquals(0, r.code(), r.all());
    }

    @AfterAll
    static void stopBroker() throws Exception {
        if (conf != null) {
            run(List.of(WARREN.toString(), "stop", "--config", conf.toString()), null);
        }
    }

    private static Connection connect() throws Exception {
        ConnectionFactory f = new ConnectionFactory();
        f.setHost("127.0.0.1");
        f.setPort(amqpPort);
        f.setPassword(PASSWORD);
        f.setAutomaticRecoveryEnabled(false);
        return f.newConnection();
    }

    private static JsonNode find(JsonNode array, String field, String value) {
        for (JsonNode n : array) {
            if (value.equals(n.path(field).asText(null))) {
                return n;
            }
        }
        return null;
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
        Result piped = run(cmd("import_definitions", "-"), stdout.out().getBytes(StandardCharsets.UTF_8));
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
                + "\"pattern\":\".*\",\"apply-to\":\"queues\",\"definition\":{\"message-ttl\":1000},\"priority\":0}],"
                + "\"queues\":[{\"name\":\"never-made\",\"vhost\":\"/\",\"durable\":true,\"auto_delete\":false,"
                + "\"arguments\":{}}]}");
        r = ctl("import_definitions", policy.toString());
        assertEquals(65, r.code(), r.all());
        assertEquals(1, r.err().lines().count(), r.err());
        assertTrue(r.err().startsWith("Error: policies[0] (policy 'ttl' in vhost '/'): policies are not supported"),
                r.err());
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

        int port = freePort();
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

    private record Result(int code, String out, String err) {
        String all() {
            return "exit " + code + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    private static List<String> cmd(String... args) {
        List<String> c = new ArrayList<>();
        c.add(CTL.toString());
        c.addAll(List.of(args));
        return c;
    }

    private static Result ctl(String... args) throws Exception {
        return run(cmd(args), null);
    }

    /** Runs {@code command} with WARREN_CONFIG set and {@code stdin} (null: none) on its standard input. */
    private static Result run(List<String> command, byte[] stdin) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile());
        pb.environment().put("WARREN_JAVA_OPTS", "-Xmx256m");
        pb.environment().putAll(new HashMap<>(Map.of("WARREN_CONFIG", conf.toString())));
        Process p = pb.start();
        try (OutputStream in = p.getOutputStream()) {
            if (stdin != null) {
                in.write(stdin);
            }
        }
        CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> readAll(p.getInputStream()));
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> readAll(p.getErrorStream()));
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", command) + " did not finish in 120 s");
        }
        return new Result(p.exitValue(), out.get(10, TimeUnit.SECONDS), err.get(10, TimeUnit.SECONDS));
    }

    private static String readAll(InputStream in) {
        try {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "<unreadable: " + e + ">";
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static Path repoRoot() {
        String basedir = System.getProperty("basedir");
        Path module = basedir != null ? Path.of(basedir) : Path.of("").toAbsolutePath();
        return module.toAbsolutePath().getParent();
    }
}
