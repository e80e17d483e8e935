package io.warren.it.launcher;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.AuthenticationFailureException;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.MessageProperties;
import com.rabbitmq.client.ShutdownSignalException;
import io.warren.it.support.Processes;
import io.warren.it.support.Processes.Result;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import javax.net.SocketFactory;
import java.io.IOException;
import java.net.InetAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Predicate;
import java.util.regex.Pattern;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * What an operator's log shows, through the real {@code bin/warren} and the RabbitMQ Java
 * client: RabbitMQ's connection and channel-error lines, the JSON formatter read back line by
 * line with Jackson, refused formatter values, and progress lines of a recovery and an import.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class LogOutputTest {
    private static final Duration SCRIPT_TIMEOUT = Duration.ofSeconds(120);
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    private final List<Path> started = new ArrayList<>();

    @BeforeAll
    static void needsThePackagedServer() {
        assumeTrue(Files.isRegularFile(Processes.SERVER_JAR), Processes.SERVER_JAR + " is missing: run mvn -q -B -DskipTests package first");
    }

    @AfterEach
    void stopEveryBroker() throws Exception {
        for (Path conf : started) {
            Result r = warren(Map.of(), "stop", "--config", conf.toString());
            Path pidFile = conf.resolveSibling("data").resolve("warren.pid");
            if (r.code() != 0 && Files.exists(pidFile)) {
                ProcessHandle.of(Processes.pid(pidFile)).ifPresent(ProcessHandle::destroyForcibly);
            }
        }
    }

    @Test
    void jsonFileHasTheConnectionLifecycleAChannelErrorAndARefusedLogin() throws Exception {
        int port = Processes.freePort();
        Path conf = config(port, Processes.freePort(), "log.file.formatter = json");
        start(conf, Map.of());
        Path log = tmp.resolve("log/warren.log");

        // Sockets of our own, to know the client's port and to drop one without connection.close.
        AtomicReference<Socket> socket = new AtomicReference<>();
        ConnectionFactory f = factory(port);
        f.setSocketFactory(new SocketFactory() {
            @Override public Socket createSocket() {
                Socket s = new Socket();
                socket.set(s);
                return s;
            }
            @Override public Socket createSocket(String h, int p) { throw new UnsupportedOperationException(); }
            @Override public Socket createSocket(String h, int p, InetAddress a, int lp) { throw new UnsupportedOperationException(); }
            @Override public Socket createSocket(InetAddress h, int p) { throw new UnsupportedOperationException(); }
            @Override public Socket createSocket(InetAddress h, int p, InetAddress a, int lp) { throw new UnsupportedOperationException(); }
        });
        String reply;
        int localPort;
        try (Connection c = f.newConnection()) {
            localPort = socket.get().getLocalPort();
            Channel ch = c.createChannel();
            ch.queueDeclare("logged", false, false, false, null);
            IOException e = assertThrows(IOException.class, () -> ch.queueDeclare("logged", true, false, false, null));
            reply = ((AMQP.Channel.Close) ((ShutdownSignalException) e.getCause()).getReason()).getReplyText();
        }
        String name = "127.0.0.1:" + localPort + " -> 127.0.0.1:" + port;

        // A client whose TCP connection just goes.
        Connection dropped = f.newConnection();
        String droppedName = "127.0.0.1:" + socket.get().getLocalPort() + " -> 127.0.0.1:" + port;
        socket.get().close();
        dropped.abort(100);

        ConnectionFactory bad = factory(port);
        bad.setPassword("wrong");
        assertThrows(AuthenticationFailureException.class, bad::newConnection);

        List<JsonNode> lines = await().atMost(Duration.ofSeconds(20)).until(() -> jsonLines(log),
                l -> l.stream().anyMatch(msg(m -> m.contains("client unexpectedly closed")))
                        && l.stream().anyMatch(msg(m -> m.contains("login refused"))));

        // Every line is an object with RabbitMQ's fields.
        for (JsonNode n : lines) {
            OffsetDateTime.parse(n.get("time").asText()); // ISO-8601 with an offset
            assertTrue(List.of("debug", "info", "warning", "error").contains(n.get("level").asText()), n.toString());
            assertNotNull(n.get("msg"), n.toString());
            assertNotNull(n.get("logger"), n.toString());
            assertNotNull(n.get("thread"), n.toString());
        }
        Pattern number = Pattern.compile("#\\d+");
        JsonNode accepted = one(lines, "accepting AMQP connection #N (" + name + ")", number);
        assertEquals("info", accepted.get("level").asText());
        assertEquals(name, accepted.get("connection").asText());
        JsonNode authenticated = one(lines, "connection #N (" + name + "): user 'guest' authenticated and granted "
                + "access to vhost '/'", number);
        assertEquals("info", authenticated.get("level").asText());
        assertEquals("guest", authenticated.get("user").asText());
        assertEquals("/", authenticated.get("vhost").asText());
        JsonNode closing = one(lines, "closing AMQP connection #N (" + name + ", vhost: '/', user: 'guest')", number);
        assertEquals("info", closing.get("level").asText());
        assertEquals("guest", closing.get("user").asText());
        // The same number names the connection in all three lines.
        String n1 = accepted.get("connection_number").asText();
        assertEquals(n1, authenticated.get("connection_number").asText());
        assertEquals(n1, closing.get("connection_number").asText());

        assertTrue(reply.startsWith("PRECONDITION_FAILED - "), reply);
        JsonNode channelError = one(lines, "Channel error on connection #N (" + name + ", vhost: '/', user: 'guest'), "
                + "channel 1: operation queue.declare caused a channel exception precondition_failed: "
                + reply.substring("PRECONDITION_FAILED - ".length()), number);
        assertEquals("error", channelError.get("level").asText());
        assertEquals(406, channelError.get("reply_code").asInt());

        JsonNode unexpected = one(lines, "closing AMQP connection #N (" + droppedName + ", vhost: '/', user: 'guest'): "
                + "client unexpectedly closed TCP connection", number);
        assertEquals("warning", unexpected.get("level").asText());

        JsonNode refused = lines.stream().filter(msg(m -> m.contains("login refused"))).findFirst().orElseThrow();
        assertEquals("error", refused.get("level").asText());
        assertTrue(refused.get("msg").asText().matches("Error on AMQP connection #\\d+ \\(127\\.0\\.0\\.1:\\d+ -> "
                + "127\\.0\\.0\\.1:" + port + "\\) \\(state: starting\\): PLAIN login refused: user 'guest' - "
                + "invalid credentials"), refused.toString());
        assertEquals("guest", refused.get("user").asText());
    }

    @Test
    void anInvalidFormatterOrOutputLevelIsRefusedNamingTheKey() throws Exception {
        for (String[] c : new String[][] {
                {"log.file.formatter = yaml", "bad value 'yaml' for 'log.file.formatter': expected plaintext or json"},
                {"log.console.formatter = text", "bad value 'text' for 'log.console.formatter': expected plaintext or json"},
                {"log.console.level = verbose", "bad value 'verbose' for 'log.console.level': expected one of debug, "
                        + "info, warning, error, none"},
                {"log.console = 1", "bad value '1' for 'log.console': expected true or false"}}) {
            Path conf = config(Processes.freePort(), Processes.freePort(), c[0]);
            Result r = warren(Map.of(), "start", "--config", conf.toString());
            assertEquals(2, r.code(), r.out());
            List<String> errorLines = r.out().lines().filter(l -> l.contains(c[1])).toList();
            assertEquals(1, errorLines.size(), r.out());
            assertTrue(errorLines.get(0).contains(conf + ":5: " + c[1]), r.out());
            assertFalse(r.out().contains("Exception"), r.out());
            assertFalse(Files.exists(tmp.resolve("data/warren.pid")), "nothing started");
        }
    }

    /**
     * With the test-only interval of 0 ms, recovery and import log a progress line at each
     * clock check: done of total, then the final line with counts and time. (The default
     * interval, 5 s, would need a store that takes longer than that to read.)
     */
    @Test
    void recoveryAndImportLogTheirProgress() throws Exception {
        int port = Processes.freePort();
        int management = Processes.freePort();
        Path conf = config(port, management, "log.console = false");
        Map<String, String> env = Map.of("WARREN_JAVA_OPTS", "-Dwarren.test.progress_interval_ms=0");
        start(conf, env);
        int messages = 5000;
        try (Connection c = factory(port).newConnection()) {
            Channel ch = c.createChannel();
            ch.queueDeclare("kept", true, false, false, null);
            ch.confirmSelect();
            for (int i = 0; i < messages; i++) {
                ch.basicPublish("", "kept", MessageProperties.PERSISTENT_BASIC, ("m" + i).getBytes(StandardCharsets.UTF_8));
            }
            ch.waitForConfirmsOrDie(60_000);
        }
        Result restart = warren(env, "restart", "--config", conf.toString());
        assertEquals(0, restart.code(), restart.out());
        Path log = tmp.resolve("log/warren.log");
        String text = await().atMost(Duration.ofSeconds(30)).until(() -> Files.readString(log),
                t -> t.contains("recovered 0 exchanges, 1 queues, 0 bindings and " + messages + " messages in "));
        // Slots are checked every 1024: 1024, 2048, 3072, 4096 of 5000.
        for (int done : new int[] {1024, 2048, 3072, 4096}) {
            assertTrue(text.contains("recovering messages: " + done + " of " + messages + " ("
                    + (done * 100 / messages) + "%), "), text);
        }

        // An import of 40 queues: a line per object at this interval, then the summary.
        StringBuilder doc = new StringBuilder("{\"queues\":[");
        for (int i = 0; i < 40; i++) {
            doc.append(i == 0 ? "" : ",").append("{\"name\":\"imported-").append(i)
                    .append("\",\"vhost\":\"/\",\"durable\":true,\"auto_delete\":false,\"arguments\":{}}");
        }
        doc.append("]}");
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + management + "/api/definitions"))
                .header("Authorization", "Basic " + Base64.getEncoder().encodeToString("guest:guest".getBytes(StandardCharsets.UTF_8)))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(doc.toString())).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(204, r.statusCode(), r.body());
        String after = await().atMost(Duration.ofSeconds(30)).until(() -> Files.readString(log),
                t -> t.contains("imported definitions: 0 users, 0 vhosts, 0 permissions, 0 topic permissions, 0 policies, "
                        + "0 exchanges, 40 queues, 0 bindings in "));
        assertTrue(after.contains("importing definitions: 1 of 40 (2%), "), after);
        assertTrue(after.contains("importing definitions: 40 of 40 (100%), "), after);
    }

    // --- helpers -----------------------------------------------------------------------

    private static Predicate<JsonNode> msg(Predicate<String> p) {
        return n -> n.has("msg") && p.test(n.get("msg").asText());
    }

    /** The one line whose msg is {@code expected} once connection numbers are replaced by #N. */
    private static JsonNode one(List<JsonNode> lines, String expected, Pattern number) {
        List<JsonNode> found = lines.stream()
                .filter(msg(m -> number.matcher(m).replaceAll("#N").equals(expected))).toList();
        assertEquals(1, found.size(), expected + " in " + lines);
        return found.get(0);
    }

    private static List<JsonNode> jsonLines(Path log) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        if (!Files.exists(log)) {
            return out;
        }
        for (String line : Files.readAllLines(log)) {
            out.add(JSON.readTree(line)); // a line that is not one JSON object fails the test
        }
        return out;
    }

    private static ConnectionFactory factory(int port) {
        ConnectionFactory f = new ConnectionFactory();
        f.setHost("127.0.0.1");
        f.setPort(port);
        f.setAutomaticRecoveryEnabled(false);
        return f;
    }

    private Path config(int port, int management, String line) throws IOException {
        Path conf = tmp.resolve("warren.conf");
        Files.writeString(conf, String.join("\n",
                "listeners.tcp.default = 127.0.0.1:" + port,
                "management.tcp.port = " + management,
                "data_dir = data",
                "log.file = log/warren.log",
                line,
                "prometheus.tcp.port = " + Processes.freePort()) + "\n");
        return conf;
    }

    private void start(Path conf, Map<String, String> env) throws Exception {
        Result r = warren(env, "start", "--config", conf.toString());
        assertEquals(0, r.code(), r.out());
        started.add(conf);
    }

    private Result warren(Map<String, String> env, String... args) throws Exception {
        List<String> command = new ArrayList<>();
        command.add(Processes.WARREN.toString());
        command.addAll(List.of(args));
        return Processes.runMerged(tmp, command, env, SCRIPT_TIMEOUT);
    }
}
