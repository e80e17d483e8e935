package io.warren.it.ctl;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.MessageProperties;
import com.rabbitmq.client.ShutdownSignalException;
import io.warren.it.support.Processes;
import io.warren.it.support.Processes.Result;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * warrenctl's node commands through the real {@code bin/warrenctl}: stop_app / start_app against
 * a broker in this JVM (AMQP and management on ephemeral ports, so start_app must come back on
 * the port it had), set_disk_free_limit, and stop against a broker started with bin/warren.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class LifecycleCommandsTest {
    private static final Path CTL = Processes.WARRENCTL;
    private static final ObjectMapper JSON = new ObjectMapper();

    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    @TempDir
    Path tmp;

    @BeforeAll
    static void needsThePackagedCli() {
        assumeTrue(Files.isRegularFile(Processes.CLI_JAR),
                "broker-cli.jar is missing: run mvn -q -B -DskipTests package first");
    }

    @Test
    void stopAppClosesClientsAndListenersAndStartAppRecoversDurableState() throws Exception {
        int port = broker.port();
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        ch.queueDeclare("lc-durable", true, false, false, null);
        ch.queueDeclare("lc-transient", false, false, false, null);
        ch.exchangeDeclare("lc-transient-x", "fanout", false);
        ch.exchangeDeclare("lc-durable-x", "fanout", true);
        ch.confirmSelect();
        ch.basicPublish("", "lc-durable", MessageProperties.PERSISTENT_TEXT_PLAIN, bytes("kept"));
        ch.basicPublish("", "lc-durable", MessageProperties.TEXT_PLAIN, bytes("transient message"));
        ch.basicPublish("", "lc-transient", MessageProperties.PERSISTENT_TEXT_PLAIN, bytes("in a transient queue"));
        ch.waitForConfirmsOrDie(10_000);
        AtomicReference<ShutdownSignalException> closedBy = new AtomicReference<>();
        c.addShutdownListener(closedBy::set);
        String node = "warren@" + hostName();

        Result stop = ctl("stop_app");
        assertEquals(0, stop.code(), stop.all());
        assertEquals("Stopping rabbit application on node " + node + " ...\n", stop.out());
        await().atMost(Duration.ofSeconds(10)).until(() -> closedBy.get() != null);
        assertTrue(closedBy.get().getMessage().contains("reply-code=320"), closedBy.get().getMessage());
        assertTrue(closedBy.get().getMessage().contains(
                "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"),
                closedBy.get().getMessage());
        assertFalse(Processes.accepts(port), "AMQP port refuses connections while the app is stopped");

        // The model is gone: the API says why, warrenctl exits 69 with one line.
        HttpResponse<String> queues = http("GET", "/api/queues");
        assertEquals(503, queues.statusCode(), queues.body());
        JsonNode err = JSON.readTree(queues.body());
        assertEquals("service_unavailable", err.get("error").asText());
        assertTrue(err.get("reason").asText().contains("stopped"), queues.body());
        assertEquals(503, http("GET", "/api/overview").statusCode());
        assertEquals(503, http("GET", "/api/connections").statusCode());
        assertEquals(503, http("GET", "/api/exchanges/%2F").statusCode());
        Result list = ctl("list_queues");
        assertEquals(69, list.code(), list.all());
        assertEquals(1, list.err().strip().lines().count(), list.err());
        assertTrue(list.err().contains("stopped"), list.err());
        assertFalse(list.out().contains("Listing"), "no banner before the error: " + list.out());
        Result status = ctl("status");
        assertEquals(0, status.code(), status.all());
        assertTrue(status.out().contains("Application: stopped"), status.out());
        assertFalse(JSON.readTree(ctl("status", "--formatter", "json").out()).get("app_running").asBoolean());
        // rabbitmqctl: stopping a stopped app succeeds.
        Result again = ctl("-q", "stop_app");
        assertEquals(0, again.code(), again.all());
        assertEquals("", again.out());

        Result start = ctl("start_app");
        assertEquals(0, start.code(), start.all());
        assertEquals("Starting node " + node + " ...\n", start.out());
        Result twice = ctl("start_app");
        assertEquals(0, twice.code(), twice.all());
        assertEquals(port, broker.port(), "port 0 in the config: start_app binds the port the app had");
        assertTrue(ctl("status").out().contains("Application: running"));

        ConnectionFactory f = broker.factory();
        f.setPort(port);
        try (Connection c2 = f.newConnection()) {
            Channel ch2 = c2.createChannel();
            AMQP.Queue.DeclareOk ok = ch2.queueDeclarePassive("lc-durable");
            assertEquals(1, ok.getMessageCount(), "the persistent message survives, the transient one does not");
            GetResponse got = ch2.basicGet("lc-durable", true);
            assertNotNull(got);
            assertEquals("kept", new String(got.getBody(), StandardCharsets.UTF_8));
            ch2.exchangeDeclarePassive("lc-durable-x");
            ch2.queueDelete("lc-durable");
            ch2.exchangeDelete("lc-durable-x");
            assertThrows(IOException.class, () -> c2.createChannel().queueDeclarePassive("lc-transient"));
            assertThrows(IOException.class, () -> c2.createChannel().exchangeDeclarePassive("lc-transient-x"));
        }
        assertEquals(200, http("GET", "/api/overview").statusCode());
        JsonNode listeners = JSON.readTree(http("GET", "/api/overview").body()).get("listeners");
        assertEquals(List.of("amqp", "http", "http/prometheus"), protocols(listeners), listeners.toString());
    }

    private static List<String> protocols(JsonNode listeners) {
        List<String> out = new java.util.ArrayList<>();
        listeners.forEach(l -> out.add(l.get("protocol").asText()));
        return out;
    }

    /** The TLS listener (configured on port 0) closes with stop_app and comes back on its port. */
    @Test
    void stopAppAndStartAppCloseAndReopenTheTlsListener() throws Exception {
        io.warren.it.support.TestCertificates certs = io.warren.it.support.TestCertificates.create(tmp);
        WarrenBroker tls = new WarrenBroker(c -> c.withTls(new io.warren.server.WarrenConfig.TlsConfig("127.0.0.1", 0,
                certs.server.certPem(), certs.server.keyPem(), null, null, false, false)));
        tls.start();
        try {
            int management = tls.broker().managementPort();
            int amqp = tls.port();
            int tlsPort = tls.broker().tlsPort();
            assertTrue(Processes.accepts(tlsPort));
            Result stop = ctlAt(management, "stop_app");
            assertEquals(0, stop.code(), stop.all());
            assertFalse(Processes.accepts(tlsPort), "TLS port closed by stop_app");
            assertFalse(Processes.accepts(amqp), "AMQP port closed by stop_app");
            Result start = ctlAt(management, "start_app");
            assertEquals(0, start.code(), start.all());
            assertEquals(tlsPort, tls.broker().tlsPort());
            assertEquals(amqp, tls.broker().port());
            assertTrue(Processes.accepts(tlsPort), "TLS port open again");
            assertTrue(Processes.accepts(amqp), "AMQP port open again");
            JsonNode listeners = JSON.readTree(http(management, "GET", "/api/overview").body()).get("listeners");
            assertEquals(List.of("amqp", "amqp/ssl", "http", "http/prometheus"), protocols(listeners),
                    listeners.toString());
            assertTrue(listeners.toString().contains("\"protocol\":\"amqp/ssl\",\"ip_address\":\"127.0.0.1\",\"port\":"
                    + tlsPort), listeners.toString());
        } finally {
            tls.stop();
        }
    }

    @Test
    void setDiskFreeLimitChangesTheLimitAndRaisesAndClearsTheAlarm() throws Exception {
        try {
            // More than any disk has: the disk alarm goes on.
            Result huge = ctl("set_disk_free_limit", "1000000GB");
            assertEquals(0, huge.code(), huge.all());
            assertEquals("Setting disk free limit on 127.0.0.1:" + managementPort() + " to 1000000GB bytes ...\n",
                    huge.out());
            JsonNode limit = JSON.readTree(http("GET", "/api/warren/disk_free_limit").body());
            assertEquals(1_000_000_000_000_000L, limit.get("absolute").asLong(), limit.toString());
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                    assertTrue(ctl("status").out().contains("Free disk space alarm on node warren@")));

            Result small = ctl("-q", "set_disk_free_limit", "1MB");
            assertEquals(0, small.code(), small.all());
            assertEquals("", small.out());
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                    assertTrue(ctl("status").out().contains("Alarms\n\n(none)\n")));
            assertEquals(1_000_000L, JSON.readTree(http("GET", "/api/warren/disk_free_limit").body())
                    .get("limit").asLong());

            Result rel = ctl("set_disk_free_limit", "mem_relative", "0.001");
            assertEquals(0, rel.code(), rel.all());
            assertTrue(rel.out().contains("to 0.001 times the total RAM ..."), rel.out());
            assertEquals(0.001, JSON.readTree(http("GET", "/api/warren/disk_free_limit").body())
                    .get("relative").asDouble());
            assertTrue(ctl("environment").out().contains("\ndisk_free_limit.relative = 0.001\n"));

            for (List<String> bad : List.<List<String>>of(List.of("lots"), List.of("5xx"), List.of("-1"), List.of(),
                    List.of("mem_relative", "x"), List.of("mem_relative", "-1"), List.of("relative", "1"),
                    List.of("1GB", "2GB"))) {
                List<String> args = new ArrayList<>(List.of("set_disk_free_limit"));
                args.addAll(bad);
                Result r = ctl(args.toArray(String[]::new));
                assertEquals(64, r.code(), bad + ": " + r.all());
                assertEquals(1, r.err().strip().lines().filter(l -> l.startsWith("Error")).count(), r.err());
            }
        } finally {
            ctl("set_disk_free_limit", "50MB");
        }
    }

    @Test
    void helpDocumentsTheNodeCommands() throws Exception {
        Result help = ctl("help");
        for (String cmd : List.of("stop_app", "start_app", "stop", "set_disk_free_limit")) {
            assertTrue(help.out().contains("  " + cmd + " "), cmd + " in: " + help.out());
            Result one = ctl("help", cmd);
            assertEquals(0, one.code(), one.all());
        }
        assertTrue(ctl("help", "stop_app").out().contains("durable"));
    }

    /** warrenctl stop ends a broker started with bin/warren as bin/warren stop does. */
    @Test
    void stopStopsTheBrokerProcess() throws Exception {
        CtlProcess b = new CtlProcess(tmp);
        int amqp = b.amqpPort;
        Path conf = b.conf;
        Path pidFile = tmp.resolve("data/warren.pid");
        long pid = Processes.pid(pidFile);
        try {
            ConnectionFactory f = new ConnectionFactory();
            f.setPort(amqp);
            f.setAutomaticRecoveryEnabled(false);
            Connection c = f.newConnection();
            AtomicReference<ShutdownSignalException> closedBy = new AtomicReference<>();
            c.addShutdownListener(closedBy::set);

            Result stop = b.run(List.of(CTL.toString(), "stop", "--config", conf.toString()), Map.of());
            assertEquals(0, stop.code(), stop.all());
            assertEquals("Stopping and halting node warren@" + hostName() + " ...\n", stop.out());
            // warrenctl returned once the process was gone.
            assertFalse(Processes.alive(pid), "broker process gone");
            assertFalse(Files.exists(pidFile), "pid file removed by the shutdown hook");
            assertFalse(Processes.accepts(amqp));
            await().atMost(Duration.ofSeconds(10)).until(() -> closedBy.get() != null);
            assertTrue(closedBy.get().getMessage().contains("reply-code=320"), closedBy.get().getMessage());
            String log = Files.readString(tmp.resolve("log/warren.log"));
            assertTrue(log.contains("stop requested through the management API"), log);
            assertTrue(log.contains("warren stopped"), log);
            Result status = b.run(List.of(Processes.WARREN.toString(), "status", "--config", conf.toString()),
                    Map.of());
            assertEquals(3, status.code(), status.all());
            // A broker that is down: 69, as for every command.
            Result down = b.run(List.of(CTL.toString(), "stop", "--config", conf.toString()), Map.of());
            assertEquals(69, down.code(), down.all());
        } finally {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        }
    }

    // ---- helpers ----------------------------------------------------------------------------

    private static int managementPort() {
        return broker.broker().managementPort();
    }

    /** bin/warrenctl against the in-process broker: explicit host, port and credentials, no config. */
    private Result ctl(String... args) throws Exception {
        return ctlAt(managementPort(), args);
    }

    private Result ctlAt(int managementPort, String... args) throws Exception {
        List<String> command = new ArrayList<>();
        command.add(CTL.toString());
        command.addAll(List.of(args));
        command.addAll(List.of("--host", "127.0.0.1", "--port", String.valueOf(managementPort),
                "--username", "guest", "--password", "guest"));
        return run(command, Map.of("WARREN_CONFIG", tmp.resolve("none.conf").toString()));
    }

    private Result run(List<String> command, Map<String, String> env) throws Exception {
        return Processes.run(tmp, command, env);
    }

    private static HttpResponse<String> http(String method, String path) throws Exception {
        return http(managementPort(), method, path);
    }

    private static HttpResponse<String> http(int port, String method, String path) throws Exception {
        HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .header("authorization", "Basic " + Base64.getEncoder()
                        .encodeToString("guest:guest".getBytes(StandardCharsets.UTF_8)))
                .method(method, HttpRequest.BodyPublishers.noBody())
                .timeout(Duration.ofSeconds(30)).build();
        return HttpClient.newHttpClient().send(req, HttpResponse.BodyHandlers.ofString());
    }

    private static String hostName() {
        return io.warren.amqp.connection.AmqpConnection.hostName();
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
