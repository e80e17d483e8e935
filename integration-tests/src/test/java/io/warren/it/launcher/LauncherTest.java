package io.warren.it.launcher;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.ShutdownSignalException;
import io.warren.it.support.Processes;
import io.warren.it.support.Processes.Result;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Runs the real {@code bin/warren} as an operator would: separate broker JVMs, configs with
 * their own ports and data dirs, the exit codes of an LSB service script. Needs
 * broker-server/target/broker-server.jar and target/lib, which the reactor has packaged
 * before this module's tests run.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class LauncherTest {
    private static final Path SCRIPT = Processes.WARREN;
    private static final Path JAR = Processes.SERVER_JAR;
    private static final Duration SCRIPT_TIMEOUT = Duration.ofSeconds(120);

    @TempDir
    Path tmp;

    /** Every config a test started a broker with; each is stopped after the test. */
    private final List<Path> started = new ArrayList<>();

    @BeforeAll
    static void needsThePackagedServer() {
        if (!Files.isRegularFile(JAR)) {
            System.err.println("LauncherTest skipped: " + JAR + " is missing (run mvn package first)");
        }
        assumeTrue(Files.isRegularFile(JAR), JAR + " is missing: run mvn -q -B -DskipTests package first");
    }

    @AfterEach
    void stopEveryBroker() throws Exception {
        for (Path conf : started) {
            Result r = warren(Map.of(), "stop", "--config", conf.toString());
            // Belt and braces: never leave a broker JVM behind a failed test.
            Path pidFile = conf.resolveSibling("data").resolve("warren.pid");
            if (r.code() != 0 && Files.exists(pidFile)) {
                ProcessHandle.of(Processes.pid(pidFile)).ifPresent(ProcessHandle::destroyForcibly);
            }
        }
    }

    @Test
    void startStatusStopWithConfigAfterTheCommand() throws Exception {
        Broker b = newConfig();
        Result start = warren(Map.of(), "start", "--config", b.conf().toString());
        started.add(b.conf());
        assertEquals(0, start.code(), start.out());
        assertTrue(start.out().contains("warren started"), start.out());
        assertTrue(Processes.accepts(b.port()), "AMQP port open after start returned");
        long pid = b.pid();
        assertTrue(Processes.alive(pid));
        // bin/warren returns once the AMQP port accepts; the broker logs "started" just after.
        await().atMost(Duration.ofSeconds(10)).until(() ->
                Files.readString(b.logFile()).contains("warren started, AMQP on 127.0.0.1:" + b.port()));

        Result status = warren(Map.of(), "status", "--config", b.conf().toString());
        assertEquals(0, status.code(), status.out());
        assertTrue(status.out().contains("running (pid " + pid + ")"), status.out());

        ConnectionFactory f = new ConnectionFactory();
        f.setPort(b.port());
        f.setAutomaticRecoveryEnabled(false);
        AtomicReference<ShutdownSignalException> closedBy = new AtomicReference<>();
        Connection c = f.newConnection();
        try {
            c.addShutdownListener(closedBy::set);
            Channel ch = c.createChannel();
            String q = ch.queueDeclare().getQueue();
            ch.basicPublish("", q, null, "through bin/warren".getBytes(StandardCharsets.UTF_8));
            AtomicReference<GetResponse> got = new AtomicReference<>();
            await().atMost(Duration.ofSeconds(10)).until(() -> {
                got.set(ch.basicGet(q, true));
                return got.get() != null;
            });
            assertEquals("through bin/warren", new String(got.get().getBody(), StandardCharsets.UTF_8));

            Result stop = warren(Map.of(), "stop", "--config", b.conf().toString());
            assertEquals(0, stop.code(), stop.out());
            assertTrue(stop.out().contains("warren stopped"), stop.out());
            // The shutdown hook closed the broker, which tells clients 320 CONNECTION_FORCED.
            await().atMost(Duration.ofSeconds(10)).until(() -> closedBy.get() != null);
            assertTrue(closedBy.get().getMessage().contains("reply-code=320"), closedBy.get().getMessage());
        } finally {
            if (c.isOpen()) {
                c.abort();
            }
        }
        assertFalse(Files.exists(b.pidFile()), "pid file removed by the shutdown hook");
        assertFalse(Processes.accepts(b.port()), "port closed after stop");
        assertEquals(3, warren(Map.of(), "status", "--config", b.conf().toString()).code());
    }

    /**
     * The JVM defaults (parallel collector, 64 MB young generation) are on the broker's command
     * line, and a collector named in WARREN_JAVA_OPTS replaces the default one instead of making
     * the JVM refuse to start with two.
     */
    @Test
    void javaOptionsDefaultsAndACollectorOfOnesOwn() throws Exception {
        Broker b = newConfig();
        Result start = warren(Map.of(), "start", "--config", b.conf().toString());
        started.add(b.conf());
        assertEquals(0, start.code(), start.out());
        String args = commandLine(b.pid());
        assertTrue(args.contains("-XX:+UseParallelGC") && args.contains("-Xmn64m"), args);
        assertEquals(0, warren(Map.of(), "stop", "--config", b.conf().toString()).code());

        start = warren(Map.of("WARREN_JAVA_OPTS", "-XX:+UseSerialGC -Xmx256m"), "start", "--config",
                b.conf().toString());
        assertEquals(0, start.code(), start.out());
        args = commandLine(b.pid());
        assertTrue(args.contains("-XX:+UseSerialGC") && args.contains("-Xmx256m"), args);
        assertFalse(args.contains("-XX:+UseParallelGC"), args);
        assertTrue(Processes.accepts(b.port()));
        assertEquals(0, warren(Map.of(), "stop", "--config", b.conf().toString()).code());
    }

    private static String commandLine(long pid) throws IOException {
        return Files.readString(Path.of("/proc/" + pid + "/cmdline")).replace('\0', ' ');
    }

    @Test
    void configBeforeTheCommandAndRestart() throws Exception {
        Broker b = newConfig();
        Result start = warren(Map.of(), "--config", b.conf().toString(), "start");
        started.add(b.conf());
        assertEquals(0, start.code(), start.out());
        long first = b.pid();

        Result again = warren(Map.of(), "--config=" + b.conf(), "start");
        assertEquals(0, again.code(), again.out());
        assertTrue(again.out().contains("already running"), again.out());
        assertEquals(first, b.pid());

        Result restart = warren(Map.of(), "--config=" + b.conf(), "restart");
        assertEquals(0, restart.code(), restart.out());
        long second = b.pid();
        assertNotEquals(first, second);
        assertTrue(Processes.accepts(b.port()));
        assertEquals(0, warren(Map.of(), "--config", b.conf().toString(), "status").code());
    }

    @Test
    void warrenConfigEnvironmentVariable() throws Exception {
        Broker b = newConfig();
        Map<String, String> env = Map.of("WARREN_CONFIG", b.conf().toString());
        Result start = warren(env, "start");
        started.add(b.conf());
        assertEquals(0, start.code(), start.out());
        assertTrue(Processes.accepts(b.port()));
        assertEquals(0, warren(env, "status").code());
        assertEquals(0, warren(env, "stop").code());
        assertEquals(3, warren(env, "status").code());
    }

    @Test
    void configOptionBeatsTheEnvironment() throws Exception {
        Broker good = newConfig();
        Path bad = writeConfig("bad.conf", "heartbeet = 1");
        Map<String, String> env = Map.of("WARREN_CONFIG", bad.toString());
        assertEquals(3, warren(env, "status", "--config", good.conf().toString()).code());
        Result fromEnv = warren(env, "status");
        assertEquals(4, fromEnv.code(), fromEnv.out());
        assertTrue(fromEnv.out().contains(bad + ":1: unknown key 'heartbeet'"), fromEnv.out());
    }

    @Test
    void badKeyIsReportedWithFileLineAndKey() throws Exception {
        Path conf = writeConfig("warren.conf", "# a comment", "", "heartbeet = 10");
        for (String command : List.of("start", "run", "stop")) {
            Result r = warren(Map.of(), command, "--config", conf.toString());
            assertEquals(2, r.code(), command + ": " + r.out());
            assertTrue(r.out().contains(conf + ":3: unknown key 'heartbeet'"), command + ": " + r.out());
            assertFalse(r.out().contains("Exception"), "no stack trace: " + r.out());
        }
        assertFalse(Files.exists(tmp.resolve("data")), "nothing started");
    }

    @Test
    void badValueIsReportedWithFileLineAndKey() throws Exception {
        Path conf = writeConfig("warren.conf", "heartbeat = abc");
        Result r = warren(Map.of(), "start", "--config", conf.toString());
        assertEquals(2, r.code(), r.out());
        assertTrue(r.out().contains(conf + ":1: bad value 'abc' for 'heartbeat': expected an integer 0..65535"), r.out());
    }

    @Test
    void aMissingExplicitConfigIsAnError() throws Exception {
        Path missing = tmp.resolve("nope.conf");
        Result cli = warren(Map.of(), "start", "--config", missing.toString());
        assertEquals(2, cli.code(), cli.out());
        assertTrue(cli.out().contains(missing + ": config file not found"), cli.out());
        Result env = warren(Map.of("WARREN_CONFIG", missing.toString()), "start");
        assertEquals(2, env.code(), env.out());
        assertTrue(env.out().contains(missing + ": config file not found (given by WARREN_CONFIG)"), env.out());
    }

    @Test
    void statusIsThreeAndStopIsZeroWhenNothingRuns() throws Exception {
        Broker b = newConfig();
        Result status = warren(Map.of(), "status", "--config", b.conf().toString());
        assertEquals(3, status.code(), status.out());
        assertTrue(status.out().contains("not running"), status.out());
        Result stop = warren(Map.of(), "stop", "--config", b.conf().toString());
        assertEquals(0, stop.code(), stop.out());
        assertTrue(stop.out().contains("not running"), stop.out());
    }

    @Test
    void aPidFileOfADeadProcessIsStale() throws Exception {
        Broker b = newConfig();
        Files.createDirectories(b.pidFile().getParent());
        Files.writeString(b.pidFile(), deadPid() + "\n");
        Result status = warren(Map.of(), "status", "--config", b.conf().toString());
        assertEquals(3, status.code(), status.out());
        assertTrue(status.out().contains("stale pid file"), status.out());
        assertFalse(Files.exists(b.pidFile()));
    }

    @Test
    void aPidFileOfAnotherProgramIsStaleAndThatProgramIsLeftAlone() throws Exception {
        Broker b = newConfig();
        Process sleeper = new ProcessBuilder("sleep", "60").start();
        try {
            Files.createDirectories(b.pidFile().getParent());
            Files.writeString(b.pidFile(), sleeper.pid() + "\n");
            Result stop = warren(Map.of(), "stop", "--config", b.conf().toString());
            assertEquals(0, stop.code(), stop.out());
            assertTrue(sleeper.isAlive(), "stop must not signal a pid that is not warren");
            assertFalse(Files.exists(b.pidFile()));
        } finally {
            sleeper.destroyForcibly().waitFor();
        }
    }

    @Test
    void aStalePidFileIsReplacedOnStart() throws Exception {
        Broker b = newConfig();
        long dead = deadPid();
        Files.createDirectories(b.pidFile().getParent());
        Files.writeString(b.pidFile(), dead + "\n");
        Result start = warren(Map.of(), "start", "--config", b.conf().toString());
        started.add(b.conf());
        assertEquals(0, start.code(), start.out());
        long pid = b.pid();
        assertNotEquals(dead, pid);
        assertTrue(Processes.alive(pid));
    }

    @Test
    void startFailsWhenThePortIsTaken() throws Exception {
        Broker b = newConfig();
        try (ServerSocket squatter = new ServerSocket()) {
            squatter.bind(new InetSocketAddress("127.0.0.1", b.port()));
            Result start = warren(Map.of(), "start", "--config", b.conf().toString());
            started.add(b.conf());
            assertEquals(1, start.code(), start.out());
            assertTrue(start.out().contains("already in use"), start.out());
        }
        assertEquals(3, warren(Map.of(), "status", "--config", b.conf().toString()).code());
    }

    @Test
    void aBrokerThatDiesOnStartIsReportedWithTheLog() throws Exception {
        Broker b = newConfig();
        // The log file path is a directory: WarrenMain exits 1 before binding.
        Files.createDirectories(b.logFile());
        Result start = warren(Map.of(), "start", "--config", b.conf().toString());
        started.add(b.conf());
        assertEquals(1, start.code(), start.out());
        assertTrue(start.out().contains("failed to start (exit code 1)"), start.out());
        assertTrue(start.out().contains("cannot open log file"), start.out());
        assertEquals(3, warren(Map.of(), "status", "--config", b.conf().toString()).code());
    }

    @Test
    void aTlsListenerFromTheConfigServesAmqpOverTls() throws Exception {
        io.warren.it.support.TestCertificates certs = io.warren.it.support.TestCertificates.create(tmp.resolve("certs"));
        int port = Processes.freePort();
        int tlsPort = Processes.freePort();
        Path conf = writeConfig("warren.conf",
                "listeners.tcp.default = 127.0.0.1:" + port,
                "management.tcp.port = " + Processes.freePort(),
                "listeners.ssl.default = 127.0.0.1:" + tlsPort,
                "ssl_options.certfile = certs/server.pem   # relative to this file",
                "ssl_options.keyfile = certs/server.key",
                "data_dir = data",
                "log.file = log/warren.log");
        Result start = warren(Map.of(), "start", "--config", conf.toString());
        started.add(conf);
        assertEquals(0, start.code(), start.out());
        // the log is written by the broker's own thread: the line may land just after start returns
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
                assertTrue(Files.readString(tmp.resolve("log/warren.log"))
                        .contains("AMQP over TLS on 127.0.0.1:" + tlsPort), "log names the TLS listener"));
        ConnectionFactory f = new ConnectionFactory();
        f.setPort(tlsPort);
        f.setAutomaticRecoveryEnabled(false);
        f.useSslProtocol(certs.clientContext(null));
        f.enableHostnameVerification();
        try (Connection c = f.newConnection()) {
            Channel ch = c.createChannel();
            String q = ch.queueDeclare().getQueue();
            ch.basicPublish("", q, null, "over TLS through bin/warren".getBytes(StandardCharsets.UTF_8));
            AtomicReference<GetResponse> got = new AtomicReference<>();
            await().atMost(Duration.ofSeconds(10)).until(() -> {
                got.set(ch.basicGet(q, true));
                return got.get() != null;
            });
            assertEquals("over TLS through bin/warren", new String(got.get().getBody(), StandardCharsets.UTF_8));
        }
    }

    @Test
    void aMissingKeyFileStopsTheStartNamingTheKeyAndFile() throws Exception {
        io.warren.it.support.TestCertificates.create(tmp.resolve("certs"));
        int port = Processes.freePort();
        Path conf = writeConfig("warren.conf",
                "listeners.tcp.default = 127.0.0.1:" + port,
                "management.tcp.port = " + Processes.freePort(),
                "listeners.ssl.default = 127.0.0.1:" + Processes.freePort(),
                "ssl_options.certfile = certs/server.pem",
                "ssl_options.keyfile = certs/missing.key",
                "data_dir = data",
                "log.file = log/warren.log");
        Result start = warren(Map.of(), "start", "--config", conf.toString());
        started.add(conf);
        assertEquals(1, start.code(), start.out());
        assertTrue(start.out().contains("failed to start: ssl_options.keyfile " + tmp.resolve("certs/missing.key")
                + ": no such file"), start.out());
        assertFalse(Processes.accepts(port), "nothing listens after a failed start");
    }

    @Test
    void worksThroughASymlinkFromAnyDirectoryWithARelativeConfig() throws Exception {
        Broker b = newConfig();
        Path link = Files.createSymbolicLink(tmp.resolve("warren-link"), SCRIPT);
        Path elsewhere = Files.createDirectories(tmp.resolve("elsewhere"));
        Result r = run(elsewhere, Map.of(), link.toString(), "status", "--config", "../warren.conf");
        assertEquals(3, r.code(), r.out());
        assertTrue(r.out().contains("not running"), r.out());
    }

    @Test
    void managementApiAnswersOnTheConfiguredPort() throws Exception {
        Broker b = newConfig();
        Result start = warren(Map.of(), "start", "--config", b.conf().toString());
        started.add(b.conf());
        assertEquals(0, start.code(), start.out());
        // As an operator would with curl -u guest:guest http://127.0.0.1:PORT/api/overview
        java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
        java.net.http.HttpRequest req = java.net.http.HttpRequest.newBuilder(
                        java.net.URI.create("http://127.0.0.1:" + b.managementPort() + "/api/overview"))
                .header("authorization", "Basic " + java.util.Base64.getEncoder()
                        .encodeToString("guest:guest".getBytes(StandardCharsets.UTF_8)))
                .timeout(Duration.ofSeconds(10)).build();
        java.net.http.HttpResponse<String> r = http.send(req, java.net.http.HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals("application/json", r.headers().firstValue("content-type").orElse(""));
        com.fasterxml.jackson.databind.JsonNode o = new com.fasterxml.jackson.databind.ObjectMapper().readTree(r.body());
        assertEquals("warren", o.get("product_name").asText());
        // No client: 0 connections once the launcher's readiness probe (a bare TCP connect to the
        // AMQP port, closed at once) has been seen to close; on a loaded machine that can come a
        // moment after the start returned.
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertEquals(0,
                new com.fasterxml.jackson.databind.ObjectMapper().readTree(http.send(req,
                        java.net.http.HttpResponse.BodyHandlers.ofString()).body())
                        .get("object_totals").get("connections").asInt()));
        await().atMost(Duration.ofSeconds(10)).until(() ->
                Files.readString(b.logFile()).contains("management API on http://127.0.0.1:" + b.managementPort()));
    }

    @Test
    void prometheusMetricsAnswerOnTheConfiguredPort() throws Exception {
        int port = Processes.freePort();
        int prometheus = Processes.freePort();
        Path conf = writeConfig("warren.conf",
                "listeners.tcp.default = 127.0.0.1:" + port,
                "management.tcp.port = " + Processes.freePort(),
                "prometheus.tcp.port = " + prometheus,
                "prometheus.path = /stats",
                "data_dir = data",
                "log.file = log/warren.log");
        Result start = warren(Map.of(), "start", "--config", conf.toString());
        started.add(conf);
        assertEquals(0, start.code(), start.out());
        // As Prometheus would scrape it: GET http://127.0.0.1:PORT/stats, no login
        java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
        java.net.http.HttpResponse<String> r = http.send(java.net.http.HttpRequest.newBuilder(
                        java.net.URI.create("http://127.0.0.1:" + prometheus + "/stats")).timeout(Duration.ofSeconds(10))
                .build(), java.net.http.HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals("text/plain; version=0.0.4; charset=utf-8", r.headers().firstValue("content-type").orElse(""));
        assertTrue(r.body().contains("\nrabbitmq_connections 0\n"), r.body());
        assertTrue(r.body().contains("rabbitmq_identity_info{rabbitmq_node=\"warren@"), r.body());
        await().atMost(Duration.ofSeconds(10)).until(() -> Files.readString(tmp.resolve("log/warren.log"))
                .contains("Prometheus metrics on http://127.0.0.1:" + prometheus + "/stats"));
    }

    @Test
    void aTakenPrometheusPortStopsStartupNamingTheKeys() throws Exception {
        int port = Processes.freePort();
        try (ServerSocket taken = new ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            Path conf = writeConfig("warren.conf",
                    "listeners.tcp.default = 127.0.0.1:" + port,
                    "management.tcp.port = " + Processes.freePort(),
                    "prometheus.tcp.port = " + taken.getLocalPort(),
                    "data_dir = data",
                    "log.file = log/warren.log");
            Result start = warren(Map.of(), "start", "--config", conf.toString());
            started.add(conf);
            assertNotEquals(0, start.code(), start.out());
            assertTrue(start.out().contains("cannot listen on 127.0.0.1:" + taken.getLocalPort()
                    + " for the Prometheus metrics (prometheus.tcp.ip / prometheus.tcp.port): address already in use"),
                    start.out());
            assertFalse(Processes.accepts(port), "the AMQP listener is not open");
        }
    }

    @Test
    void aTakenManagementPortStopsStartupNamingTheKey() throws Exception {
        Broker b = newConfig();
        try (ServerSocket taken = new ServerSocket(b.managementPort(), 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            Result start = warren(Map.of(), "start", "--config", b.conf().toString());
            started.add(b.conf());
            assertNotEquals(0, start.code(), start.out());
            assertTrue(start.out().contains("cannot listen on 127.0.0.1:" + b.managementPort()
                    + " for the management API (management.tcp.ip / management.tcp.port): address already in use"),
                    start.out());
            assertFalse(Processes.accepts(b.port()), "the AMQP listener is closed again");
        }
    }

    @Test
    void usageErrors() throws Exception {
        assertEquals(2, warren(Map.of(), "bogus").code());
        assertEquals(2, warren(Map.of()).code());
        assertEquals(2, warren(Map.of(), "status", "--config").code());
        assertEquals(2, warren(Map.of(), "start", "stop").code());
    }

    // --- helpers -----------------------------------------------------------------------

    /** A config in {@code tmp} with free ports, its data and log under {@code tmp}. */
    private record Broker(Path conf, int port, int managementPort, Path pidFile, Path logFile) {
        long pid() throws IOException {
            return Processes.pid(pidFile);
        }
    }

    private Broker newConfig() throws IOException {
        int port = Processes.freePort();
        int management = Processes.freePort();
        Path conf = writeConfig("warren.conf",
                "listeners.tcp.default = 127.0.0.1:" + port,
                "management.tcp.port = " + management,
                "data_dir = data        # relative: next to this file",
                "log.file = log/warren.log");
        return new Broker(conf, port, management, tmp.resolve("data/warren.pid"), tmp.resolve("log/warren.log"));
    }

    /** Writes a config; one that names no Prometheus port gets a free one (15692 may be taken). */
    private Path writeConfig(String name, String... lines) throws IOException {
        Path conf = tmp.resolve(name);
        String text = String.join("\n", lines) + "\n";
        if (!text.contains("prometheus.")) {
            text += "prometheus.tcp.port = " + Processes.freePort() + "\n";
        }
        Files.writeString(conf, text);
        return conf;
    }

    private Result warren(Map<String, String> env, String... args) throws Exception {
        List<String> command = new ArrayList<>();
        command.add(SCRIPT.toString());
        command.addAll(List.of(args));
        return run(tmp, env, command.toArray(String[]::new));
    }

    private static Result run(Path cwd, Map<String, String> env, String... command) throws Exception {
        return Processes.runMerged(cwd, List.of(command), env, SCRIPT_TIMEOUT);
    }

    private static long deadPid() throws Exception {
        Process p = new ProcessBuilder("true").start();
        p.waitFor();
        return p.pid();
    }
}
