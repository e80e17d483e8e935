package io.warren.it.ctl;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.ShutdownSignalException;
import io.warren.it.support.Processes;
import io.warren.it.support.Processes.Result;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static io.warren.it.ctl.CtlProcess.find;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Runs the real {@code bin/warrenctl} as scripts do, against a broker started with
 * {@code bin/warren} and a config file whose management port is free: every command of the
 * first increment, the config lookup (--config, WARREN_CONFIG, explicit --host/--port/...),
 * -p / -q / -s / --formatter json, and rabbitmqctl's exit codes for usage errors, a broker
 * that is down, wrong credentials and names that do not exist. Outputs were compared with
 * RabbitMQ 3.10.8's rabbitmqctl.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class WarrenctlTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PASSWORD = "s3cret-pass";

    @TempDir
    static Path dir;
    private static CtlProcess broker;
    private static Path conf;
    private static int amqpPort;
    private static int managementPort;

    private Connection conn;

    @BeforeAll
    static void startBroker() throws Exception {
        broker = CtlProcess.startPackaged(dir, "default_pass = " + PASSWORD);
        conf = broker.conf;
        amqpPort = broker.amqpPort;
        managementPort = broker.managementPort;
    }

    @AfterAll
    static void stopBroker() throws Exception {
        if (broker != null) {
            broker.stop();
        }
    }

    @BeforeEach
    void cleanSlate() throws Exception {
        try (Connection c = connect(); Channel ch = c.createChannel()) {
            for (String q : List.of("wq1", "wq2", "wq 3", "held")) {
                ch.queueDelete(q);
            }
        }
    }

    @org.junit.jupiter.api.AfterEach
    void closeConnection() throws Exception {
        if (conn != null && conn.isOpen()) {
            conn.close();
        }
    }

    private static Connection connect() throws Exception {
        return broker.connect("guest", PASSWORD, "/");
    }

    // ---- config lookup ------------------------------------------------------------------

    @Test
    void warrenConfigEnvironmentVariableFindsTheBroker() throws Exception {
        Result r = ctl("list_vhosts");
        assertEquals(0, r.code(), r.all());
        assertEquals("Listing vhosts ...\nname\n/\n", r.out());
        assertEquals("", r.err());
    }

    @Test
    void configOptionBeatsTheEnvironmentBeforeOrAfterTheCommand() throws Exception {
        Map<String, String> env = Map.of("WARREN_CONFIG", dir.resolve("missing.conf").toString());
        Result before = run(cmd("--config", conf.toString(), "list_vhosts", "-q"), env);
        assertEquals(0, before.code(), before.all());
        assertEquals("name\n/\n", before.out());
        Result after = run(cmd("list_vhosts", "--config", conf.toString()), env);
        assertEquals(0, after.code(), after.all());
        // A named config that does not exist is an error (EX_CONFIG), not a silent default.
        Result missing = run(cmd("list_vhosts"), env);
        assertEquals(78, missing.code(), missing.all());
        assertTrue(missing.err().contains("missing.conf"), missing.err());
    }

    @Test
    void explicitHostPortAndCredentialsNeedNoConfig() throws Exception {
        Map<String, String> env = Map.of("WARREN_CONFIG", dir.resolve("missing.conf").toString());
        Result r = run(cmd("--host", "127.0.0.1", "--port", String.valueOf(managementPort), "--username", "guest",
                "--password", PASSWORD, "-q", "list_vhosts"), env);
        assertEquals(0, r.code(), r.all());
        assertEquals("name\n/\n", r.out());
    }

    @Test
    void worksThroughASymlinkFromAnotherDirectory() throws Exception {
        Path link = dir.resolve("ctl-link");
        Files.deleteIfExists(link);
        Files.createSymbolicLink(link, Processes.WARRENCTL);
        Result r = run(List.of(link.toString(), "-q", "list_vhosts"), Map.of("WARREN_CONFIG", conf.toString()));
        assertEquals(0, r.code(), r.all());
        assertEquals("name\n/\n", r.out());
    }

    // ---- listings ------------------------------------------------------------------------

    @Test
    void listQueuesAsRabbitmqctl() throws Exception {
        try (Connection c = connect(); Channel ch = c.createChannel()) {
            ch.queueDeclare("wq1", true, false, false, Map.of("x-max-length", 10));
            ch.queueDeclare("wq2", false, false, false, null);
            ch.basicPublish("", "wq1", null, "a".getBytes());
            ch.basicPublish("", "wq1", null, "b".getBytes());
            await().atMost(Duration.ofSeconds(5)).until(() -> ch.messageCount("wq1") == 2);
        }
        Result r = ctl("list_queues");
        assertEquals(0, r.code(), r.all());
        assertEquals("Timeout: 60.0 seconds ...\nListing queues for vhost / ...\nname\tmessages\n", head(r.out(), 3));
        assertTrue(r.out().contains("\nwq1\t2\n"), r.out());
        assertTrue(r.out().contains("\nwq2\t0\n"), r.out());

        Result cols = ctl("-q", "list_queues", "name", "messages_ready", "durable", "auto_delete", "exclusive",
                "arguments", "consumers", "messages_unacknowledged");
        assertEquals(0, cols.code(), cols.all());
        assertTrue(cols.out().startsWith("name\tmessages_ready\tdurable\tauto_delete\texclusive\targuments\t"
                + "consumers\tmessages_unacknowledged\n"), cols.out());
        assertTrue(cols.out().contains("wq1\t2\ttrue\tfalse\tfalse\t[{\"x-max-length\",10}]\t0\t0\n"), cols.out());
        assertTrue(cols.out().contains("wq2\t0\tfalse\tfalse\tfalse\t[]\t0\t0\n"), cols.out());

        // -s: no banner, no header row.
        Result silent = ctl("list_queues", "-s", "name");
        assertFalse(silent.out().contains("name\n"), silent.out());
        assertFalse(silent.out().contains("Listing"), silent.out());
        assertTrue(silent.out().contains("wq1\n"), silent.out());
    }

    @Test
    void jsonFormatterPrintsAnArray() throws Exception {
        try (Connection c = connect(); Channel ch = c.createChannel()) {
            ch.queueDeclare("wq1", true, false, false, null);
        }
        Result r = ctl("list_queues", "--formatter", "json", "name", "durable", "messages");
        assertEquals(0, r.code(), r.all());
        assertTrue(r.out().startsWith("[\n"), r.out());
        JsonNode arr = JSON.readTree(r.out());
        assertTrue(arr.isArray());
        JsonNode wq1 = find(arr, "name", "wq1");
        assertNotNull(wq1, r.out());
        assertTrue(wq1.get("durable").asBoolean());
        assertEquals(0, wq1.get("messages").asInt());
        assertEquals(3, wq1.size());
        // An empty listing is an empty array, still without a banner.
        Result none = ctl("--formatter", "json", "list_connections");
        assertEquals("[\n]\n", none.out());
        Result bad = ctl("--formatter", "csv", "list_queues");
        assertEquals(64, bad.code(), bad.all());
    }

    @Test
    void vhostOptionBeforeOrAfterTheCommand() throws Exception {
        Result before = ctl("-p", "/", "list_queues");
        assertEquals(0, before.code(), before.all());
        assertTrue(before.out().contains("Listing queues for vhost / ..."), before.out());
        Result after = ctl("list_exchanges", "-p", "/", "-q");
        assertEquals(0, after.code(), after.all());
        assertTrue(after.out().contains("amq.topic\ttopic\n"), after.out());
        Result missing = ctl("list_queues", "-p", "nosuch");
        assertEquals(65, missing.code(), missing.all());
        assertEquals("Error: virtual host 'nosuch' does not exist\n", missing.err());
    }

    @Test
    void listExchangesAndBindings() throws Exception {
        try (Connection c = connect(); Channel ch = c.createChannel()) {
            ch.queueDeclare("wq1", false, false, false, null);
            ch.queueBind("wq1", "amq.topic", "a.#");
        }
        Result x = ctl("list_exchanges", "name", "type", "durable", "auto_delete", "internal", "arguments");
        assertEquals(0, x.code(), x.all());
        assertTrue(x.out().startsWith("Listing exchanges for vhost / ...\nname\ttype\tdurable\tauto_delete\tinternal\targuments\n"),
                x.out());
        assertTrue(x.out().contains("\namq.fanout\tfanout\ttrue\tfalse\tfalse\t[]\n"), x.out());
        Result b = ctl("list_bindings");
        assertEquals(0, b.code(), b.all());
        assertTrue(b.out().startsWith("Listing bindings for vhost /...\n"
                + "source_name\tsource_kind\tdestination_name\tdestination_kind\trouting_key\targuments\n"), b.out());
        assertTrue(b.out().contains("\n\texchange\twq1\tqueue\twq1\t[]\n"), b.out());
        assertTrue(b.out().contains("\namq.topic\texchange\twq1\tqueue\ta.#\t[]\n"), b.out());
        Result some = ctl("-q", "list_bindings", "source_name", "routing_key");
        assertTrue(some.out().contains("amq.topic\ta.#\n"), some.out());
    }

    @Test
    void connectionsChannelsAndConsumers() throws Exception {
        conn = connect();
        Channel ch = conn.createChannel();
        ch.queueDeclare("held", false, false, false, null);
        ch.basicQos(7);
        ch.basicConsume("held", false, "ctag-1", new DefaultConsumer(ch));
        int port = ((com.rabbitmq.client.impl.AMQConnection) conn).getLocalPort();

        Result c = ctl("list_connections");
        assertEquals(0, c.code(), c.all());
        assertTrue(c.out().startsWith("Listing connections ...\nuser\tpeer_host\tpeer_port\tstate\n"), c.out());
        assertTrue(c.out().contains("guest\t127.0.0.1\t" + port + "\trunning\n"), c.out());

        Result named = ctl("-q", "list_connections", "name", "vhost", "channels", "client_properties");
        assertTrue(named.out().contains("127.0.0.1:" + port + " -> 127.0.0.1:" + amqpPort + "\t/\t1\t[{"), named.out());
        assertTrue(named.out().contains("{\"product\",\"RabbitMQ\"}"), named.out());

        Result ch1 = ctl("list_channels");
        assertEquals(0, ch1.code(), ch1.all());
        assertTrue(ch1.out().startsWith("Listing channels ...\npid\tuser\tconsumer_count\tmessages_unacknowledged\n"),
                ch1.out());
        assertTrue(ch1.out().contains("<warren.127.0.0.1." + port + ".1>\tguest\t1\t0\n"), ch1.out());
        Result pf = ctl("-q", "list_channels", "number", "prefetch_count", "connection");
        assertTrue(pf.out().contains("1\t7\t127.0.0.1:" + port + " -> "), pf.out());

        Result k = ctl("list_consumers");
        assertEquals(0, k.code(), k.all());
        assertTrue(k.out().startsWith("Listing consumers in vhost / ...\nqueue_name\tchannel_pid\tconsumer_tag\t"
                + "ack_required\tprefetch_count\tactive\tactivity_status\targuments\n"), k.out());
        assertTrue(k.out().contains("held\t<warren.127.0.0.1." + port + ".1>\tctag-1\ttrue\t7\ttrue\tup\t[]\n"), k.out());
    }

    @Test
    void closeConnectionByNameWithTheReason() throws Exception {
        conn = connect();
        AtomicReference<ShutdownSignalException> closed = new AtomicReference<>();
        conn.addShutdownListener(closed::set);
        int port = ((com.rabbitmq.client.impl.AMQConnection) conn).getLocalPort();
        String name = "127.0.0.1:" + port + " -> 127.0.0.1:" + amqpPort;
        Result r = ctl("close_connection", name, "go away");
        assertEquals(0, r.code(), r.all());
        assertEquals("Closing connection " + name + ", reason: go away...\n", r.out());
        await().atMost(Duration.ofSeconds(10)).until(() -> closed.get() != null);
        assertTrue(closed.get().getMessage().contains("CONNECTION_FORCED - go away"), closed.get().getMessage());

        Result missing = ctl("close_connection", name, "again");
        assertEquals(69, missing.code(), missing.all());
        assertEquals(1, missing.err().lines().count(), missing.err());
    }

    @Test
    void closeAllConnectionsClosesEveryConnectionOfTheVhostWithTheReason() throws Exception {
        Connection a = connect();
        Connection b = connect();
        AtomicReference<ShutdownSignalException> closedA = new AtomicReference<>();
        AtomicReference<ShutdownSignalException> closedB = new AtomicReference<>();
        a.addShutdownListener(closedA::set);
        b.addShutdownListener(closedB::set);
        try {
            Result limited = ctl("close_all_connections", "--limit", "1", "first one");
            assertEquals(0, limited.code(), limited.all());
            await().atMost(Duration.ofSeconds(10)).until(() -> closedA.get() != null || closedB.get() != null);
            Thread.sleep(300);
            assertTrue(closedA.get() == null || closedB.get() == null, "--limit 1 closed only one");
            Result r = ctl("close_all_connections", "--per-connection-delay", "10", "Closed via rabbitmqctl");
            assertEquals(0, r.code(), r.all());
            await().atMost(Duration.ofSeconds(10)).until(() -> closedA.get() != null && closedB.get() != null);
            ShutdownSignalException last = closedA.get().getMessage().contains("first one") ? closedB.get()
                    : closedA.get();
            assertTrue(last.getMessage().contains("CONNECTION_FORCED - Closed via rabbitmqctl"), last.getMessage());
            assertEquals(64, ctl("close_all_connections").code(), "the explanation is required");
            assertEquals(65, ctl("close_all_connections", "--limit", "-1", "x").code());
        } finally {
            a.abort();
            b.abort();
        }
    }

    @Test
    void closeConnectionByThePidListConnectionsShows() throws Exception {
        conn = connect();
        AtomicReference<ShutdownSignalException> closed = new AtomicReference<>();
        conn.addShutdownListener(closed::set);
        int port = ((com.rabbitmq.client.impl.AMQConnection) conn).getLocalPort();
        Result list = ctl("-q", "list_connections", "pid", "peer_port");
        String pid = null;
        for (String line : list.out().split("\n")) {
            String[] cells = line.split("\t");
            if (cells.length == 2 && cells[1].equals(String.valueOf(port))) {
                pid = cells[0];
            }
        }
        assertNotNull(pid, list.out());
        assertFalse(pid.contains(" "), pid);
        Result r = ctl("close_connection", pid, "Closed via warrenctl");
        assertEquals(0, r.code(), r.all());
        await().atMost(Duration.ofSeconds(10)).until(() -> closed.get() != null);
        assertTrue(closed.get().getMessage().contains("Closed via warrenctl"), closed.get().getMessage());
    }

    // ---- queues --------------------------------------------------------------------------

    @Test
    void deleteQueueReportsItsReadyMessages() throws Exception {
        try (Connection c = connect(); Channel ch = c.createChannel()) {
            ch.queueDeclare("wq 3", false, false, false, null);
            ch.basicPublish("", "wq 3", null, "a".getBytes());
            await().atMost(Duration.ofSeconds(5)).until(() -> ch.messageCount("wq 3") == 1);
            Result refused = ctl("delete_queue", "wq 3", "--if-empty");
            assertEquals(70, refused.code(), refused.all());
            assertEquals(1, refused.err().lines().count(), refused.err());
            assertEquals(1, ch.messageCount("wq 3"));
            Result r = ctl("delete_queue", "wq 3");
            assertEquals(0, r.code(), r.all());
            assertEquals("Deleting queue 'wq 3' on vhost '/' ...\nQueue was successfully deleted with 1 ready messages\n",
                    r.out());
        }
        Result missing = ctl("delete_queue", "wq 3");
        assertEquals(64, missing.code(), missing.all());
        assertEquals("Error: queue 'wq 3' not found in vhost '/'\n", missing.err());
        Result usage = ctl("delete_queue");
        assertEquals(64, usage.code(), usage.all());
    }

    @Test
    void deleteQueueIfUnusedRefusesAQueueWithConsumers() throws Exception {
        conn = connect();
        Channel ch = conn.createChannel();
        ch.queueDeclare("held", false, false, false, null);
        ch.basicConsume("held", true, new DefaultConsumer(ch));
        Result refused = ctl("-q", "delete_queue", "-u", "held");
        assertEquals(70, refused.code(), refused.all());
        Result r = ctl("-q", "delete_queue", "--if-empty", "held");
        assertEquals(0, r.code(), r.all());
        assertEquals("Queue was successfully deleted with 0 ready messages\n", r.out());
    }

    @Test
    void purgeQueue() throws Exception {
        try (Connection c = connect(); Channel ch = c.createChannel()) {
            ch.queueDeclare("wq1", false, false, false, null);
            for (int i = 0; i < 3; i++) {
                ch.basicPublish("", "wq1", null, "a".getBytes());
            }
            await().atMost(Duration.ofSeconds(5)).until(() -> ch.messageCount("wq1") == 3);
            Result r = ctl("purge_queue", "wq1");
            assertEquals(0, r.code(), r.all());
            assertEquals("Purging queue 'wq1' in vhost '/' ...\n", r.out());
            assertEquals(0, ch.messageCount("wq1"));
        }
        Result missing = ctl("purge_queue", "nosuch");
        assertEquals(69, missing.code(), missing.all());
        assertEquals("Error: queue 'nosuch' not found in vhost '/'\n", missing.err());
    }

    // ---- node ----------------------------------------------------------------------------

    @Test
    void statusShowsTheNode() throws Exception {
        Result r = ctl("status");
        assertEquals(0, r.code(), r.all());
        assertTrue(r.out().startsWith("Status of node warren@"), r.out());
        assertTrue(r.out().contains("Interface: 127.0.0.1, port: " + amqpPort + ", protocol: amqp"), r.out());
        assertTrue(r.out().contains("port: " + managementPort + ", protocol: http"), r.out());
        assertTrue(r.out().contains("Alarms\n\n(none)\n"), r.out());
        Result json = ctl("status", "--formatter", "json");
        assertEquals(0, json.code(), json.all());
        JsonNode s = JSON.readTree(json.out());
        assertTrue(s.get("node_name").asText().startsWith("warren@"), json.out());
        assertTrue(s.get("mem_limit").asLong() > 0, json.out());
    }

    @Test
    void environmentMasksThePassword() throws Exception {
        Result r = ctl("environment");
        assertEquals(0, r.code(), r.all());
        assertTrue(r.out().startsWith("Application environment of node 127.0.0.1:" + managementPort + " ...\n"), r.out());
        assertTrue(r.out().contains("\nmanagement.tcp.port = " + managementPort + "\n"), r.out());
        assertTrue(r.out().contains("\ndefault_pass = ********\n"), r.out());
        assertFalse(r.out().contains(PASSWORD), r.out());
        JsonNode json = JSON.readTree(ctl("environment", "--formatter", "json").out());
        assertEquals("listeners.tcp.default", json.fieldNames().next());
        assertEquals("127.0.0.1:" + amqpPort, json.get("listeners.tcp.default").asText());
    }

    /**
     * How long a poll of {@code warrenctl status} may take to show an alarm: each poll starts a
     * CLI JVM, and on 2 cores under the parallel integration tests one start alone once took more
     * than 10 s (CI, 2026-12-02), which failed the wait before the broker was even asked.
     */
    private static final Duration STATUS_WAIT = Duration.ofSeconds(60);

    @Test
    void setVmMemoryHighWatermark() throws Exception {
        try {
            Result abs = ctl("set_vm_memory_high_watermark", "absolute", "512MB");
            assertEquals(0, abs.code(), abs.all());
            assertEquals("Setting memory threshold on 127.0.0.1:" + managementPort + " to 512MB bytes ...\n", abs.out());
            assertTrue(ctl("environment").out().contains("\nvm_memory_high_watermark.absolute = 512000000\n"));

            Result zero = ctl("set_vm_memory_high_watermark", "0");
            assertEquals(0, zero.code(), zero.all());
            await().atMost(STATUS_WAIT).untilAsserted(() ->
                    assertTrue(ctl("status").out().contains("Memory alarm on node warren@")));

            Result rel = ctl("-q", "set_vm_memory_high_watermark", "0.4");
            assertEquals(0, rel.code(), rel.all());
            assertEquals("", rel.out());
            assertTrue(ctl("environment").out().contains("\nvm_memory_high_watermark.relative = 0.4\n"));
            await().atMost(STATUS_WAIT).untilAsserted(() ->
                    assertTrue(ctl("status").out().contains("Alarms\n\n(none)\n")));

            assertEquals(65, ctl("set_vm_memory_high_watermark", "2.5").code());
            assertEquals(65, ctl("set_vm_memory_high_watermark", "lots").code());
            assertEquals(65, ctl("set_vm_memory_high_watermark", "absolute", "5xx").code());
            assertEquals(64, ctl("set_vm_memory_high_watermark", "relative", "0.4").code());
            assertEquals(64, ctl("set_vm_memory_high_watermark").code());
            assertEquals(64, ctl("set_vm_memory_high_watermark", "absolute", "1GB", "x").code());
        } finally {
            ctl("set_vm_memory_high_watermark", "0.4");
        }
    }

    /**
     * The two rabbit_alarm expressions RabbitMQ's client suites pass to rabbitmqctl eval raise and
     * clear an alarm by hand: a publisher is blocked (connection.blocked) until it is cleared,
     * whatever the memory monitor measures; any other expression is refused.
     */
    @Test
    void evalRaisesAndClearsAnAlarmByHand() throws Exception {
        com.rabbitmq.client.Connection conn = connect();
        java.util.concurrent.CountDownLatch blocked = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch unblocked = new java.util.concurrent.CountDownLatch(1);
        conn.addBlockedListener(reason -> blocked.countDown(), unblocked::countDown);
        try {
            Result set = ctl("eval", "rabbit_alarm:set_alarm({{resource_limit, disk, node()}, []}).");
            assertEquals(0, set.code(), set.all());
            assertEquals("ok\n", set.out());
            await().atMost(STATUS_WAIT).untilAsserted(() ->
                    assertTrue(ctl("status").out().contains("Free disk space alarm on node"), ctl("status").out()));
            Result cluster = ctl("cluster_status", "--formatter", "json");
            assertEquals(0, cluster.code(), cluster.all());
            JsonNode alarms = JSON.readTree(cluster.out()).path("alarms");
            assertEquals(1, alarms.size(), cluster.out());
            assertTrue(alarms.path(0).path("node").asText().startsWith("warren@"), cluster.out());
            assertEquals("disk", alarms.path(0).path("resource").asText(), cluster.out());
            assertEquals("resource_limit", alarms.path(0).path("type").asText(), cluster.out());
            assertTrue(ctl("cluster_status").out().contains("Alarms\n\nFree disk space alarm on node warren@"));
            conn.createChannel().basicPublish("", "nowhere", null, new byte[] {1});
            assertTrue(blocked.await(10, java.util.concurrent.TimeUnit.SECONDS), "publisher blocked");
            Result clear = ctl("eval", "rabbit_alarm:clear_alarm({resource_limit, disk, node()}).");
            assertEquals(0, clear.code(), clear.all());
            assertTrue(unblocked.await(10, java.util.concurrent.TimeUnit.SECONDS), "publisher unblocked");
            assertTrue(ctl("cluster_status").out().contains("Alarms\n\n(none)\n"));
            Result other = ctl("eval", "io:format(\"hi\").");
            assertEquals(64, other.code(), other.all());
            assertTrue(other.err().startsWith("Error: warren runs no Erlang"), other.err());
        } finally {
            ctl("eval", "rabbit_alarm:clear_alarm({resource_limit, disk, node()}).");
            conn.abort();
        }
    }

    // ---- usage, help, errors ---------------------------------------------------------------

    @Test
    void unknownCommandsOptionsAndColumnsAreUsageErrors() throws Exception {
        Result cmd = ctl("frobnicate");
        assertEquals(64, cmd.code(), cmd.all());
        assertEquals("Error: command 'frobnicate' not found. Use 'warrenctl help' for the list of commands.\n",
                cmd.err());
        assertEquals(64, ctl().code());
        Result opt = ctl("list_queues", "--no-such-option");
        assertEquals(64, opt.code(), opt.all());
        Result col = ctl("list_queues", "name", "nosuch");
        assertEquals(64, col.code(), col.all());
        assertTrue(col.err().startsWith("Error (argument validation): Info key(s) nosuch are not supported"), col.err());
        // A single broker (no cluster_formation keys) cannot join a cluster, and has no cluster to
        // forget a node of.
        Result join = ctl("join_cluster", "rabbit@elsewhere:25672");
        assertEquals(70, join.code(), join.all());
        assertTrue(join.err().contains("not part of a cluster"), join.err());
        Result forget = ctl("forget_cluster_node", "rabbit@elsewhere");
        assertEquals(70, forget.code(), forget.all());
        assertTrue(forget.err().contains("not part of a cluster"), forget.err());
        // -n is accepted and changes nothing; -t is the request timeout.
        Result n = ctl("-n", "rabbit@elsewhere", "-t", "5", "-q", "list_vhosts");
        assertEquals(0, n.code(), n.all());
        assertEquals("name\n/\n", n.out());
        Result t0 = ctl("-t", "0", "list_queues");
        assertEquals(75, t0.code(), t0.all());
    }

    @Test
    void helpDocumentsEveryCommand() throws Exception {
        // Through the launcher; broker-cli's HelpTest runs `help COMMAND` for every command in one JVM.
        Result all = ctl("help");
        assertEquals(0, all.code(), all.all());
        for (String c : List.of("status", "list_queues", "list_exchanges", "list_bindings", "list_connections",
                "list_channels", "list_consumers", "list_vhosts", "delete_queue", "purge_queue", "close_connection",
                "environment", "set_vm_memory_high_watermark", "help")) {
            assertTrue(all.out().contains(c), c + " missing from:\n" + all.out());
        }
        Result one = ctl("help", "delete_queue");
        assertEquals(0, one.code(), one.all());
        assertTrue(one.out().startsWith("Usage: warrenctl delete_queue") && one.out().contains("--if-empty"), one.out());
        assertEquals(64, ctl("help", "nosuch").code());
    }

    @Test
    void brokerDownIs69NamingTheAddress() throws Exception {
        int port = Processes.freePort();
        Result r = ctl("--port", String.valueOf(port), "list_queues");
        assertEquals(69, r.code(), r.all());
        assertEquals(1, r.err().lines().count(), r.err());
        assertTrue(r.err().startsWith("Error: unable to perform an operation on node 127.0.0.1:" + port), r.err());
        assertEquals("", r.out());
    }

    /** rabbitmq-queues check_if_node_is_quorum_critical on a single node: the check does not apply (3.10.8's texts). */
    @Test
    void quorumCriticalCheckDoesNotApplyToASingleBroker() throws Exception {
        try (Connection c = connect(); Channel ch = c.createChannel()) {
            // a quorum queue of one member: in a cluster stopping its node would lose it
            ch.queueDeclare("qc.q", true, false, false, Map.of("x-queue-type", "quorum"));
        }
        try {
            Result r = ctl("check_if_node_is_quorum_critical");
            assertEquals(0, r.code(), r.all());
            List<String> lines = r.out().lines().toList();
            assertEquals(2, lines.size(), r.out());
            java.util.regex.Matcher m = java.util.regex.Pattern.compile(
                    "Checking if node (\\S+) is critical for quorum of any quorum queues \\.\\.\\.").matcher(lines.get(0));
            assertTrue(m.matches(), r.out());
            assertEquals("Node " + m.group(1) + " seems to be the only one in a single node cluster, the check does "
                    + "not apply", lines.get(1));
            Result json = ctl("check_if_node_is_quorum_critical", "--formatter", "json");
            assertEquals(0, json.code(), json.all());
            assertEquals("{\"message\":\"Target node seems to be the only one in a single node cluster, the check does "
                    + "not apply\",\"result\":\"ok\"}", json.out().strip());
            Result silent = ctl("-s", "check_if_node_is_quorum_critical");
            assertEquals(0, silent.code(), silent.all());
            assertEquals("", silent.out());
        } finally {
            try (Connection c = connect(); Channel ch = c.createChannel()) {
                ch.queueDelete("qc.q");
            }
        }
    }

    @Test
    void rebalanceAsRabbitmqQueuesOnASingleBroker() throws Exception {
        try (Connection c = connect(); Channel ch = c.createChannel()) {
            ch.queueDeclare("rb.q1", true, false, false, Map.of("x-queue-type", "quorum"));
            ch.queueDeclare("rb.q2", true, false, false, Map.of("x-queue-type", "quorum"));
            ch.queueDeclare("rb.c", true, false, false, null);
        }
        try {
            // a single broker leads all its quorum queues: nothing moves, and it is listed with them
            Result r = ctl("rebalance", "quorum", "--queue-pattern", "^rb\\.");
            assertEquals(0, r.code(), r.all());
            List<String> lines = r.out().lines().toList();
            assertEquals("Re-balancing leaders of quorum queues...", lines.get(0), r.out());
            assertEquals(List.of("Node name", "Number of quorum queues", "Number of replicated classic queues"),
                    cells(lines.get(2)), r.out());
            String node = ctl("-q", "status", "--formatter", "json").out();
            List<String> row = cells(lines.get(4));
            assertTrue(node.contains("\"" + row.get(0) + "\""), row + " is this node: " + node);
            assertEquals(List.of("2", "0"), row.subList(1, 3), r.out());
            assertEquals(6, lines.size(), r.out());
            // the patterns choose the queues; --formatter json prints the rows as objects
            Result one = ctl("rebalance", "all", "--queue-pattern", "q1$", "--vhost-pattern", "^/$", "--formatter",
                    "json");
            assertEquals(0, one.code(), one.all());
            JsonNode a = new com.fasterxml.jackson.databind.ObjectMapper().readTree(one.out());
            assertEquals(1, a.get(0).path("Number of quorum queues").asInt(), one.out());
            // nothing matched (and warren has no mirrored classic queues): rabbitmq-queues' empty table
            for (String[] args : new String[][] {{"rebalance", "classic"}, {"rebalance", "all", "--vhost-pattern",
                    "nosuch"}}) {
                Result none = ctl(args);
                assertEquals(0, none.code(), none.all());
                List<String> l = none.out().lines().toList();
                assertEquals(List.of("Output"), cells(l.get(2)), none.out());
                assertEquals(List.of("[]"), cells(l.get(4)), none.out());
            }
            // refusals as rabbitmq-queues': a bad type (69), none (64), a bad pattern (69, naming it)
            Result type = ctl("rebalance", "foo");
            assertEquals(69, type.code(), type.all());
            assertEquals("Error:\ntype foo is not supported. Try one of all, classic, quorum.\n", type.err());
            assertEquals(64, ctl("rebalance").code());
            Result bad = ctl("rebalance", "quorum", "--queue-pattern", "(");
            assertEquals(69, bad.code(), bad.all());
            assertTrue(bad.err().contains("invalid queue_pattern '('"), bad.err());
        } finally {
            try (Connection c = connect(); Channel ch = c.createChannel()) {
                ch.queueDelete("rb.q1");
                ch.queueDelete("rb.q2");
                ch.queueDelete("rb.c");
            }
        }
    }

    /**
     * rabbitmq-queues add_member, delete_member, grow and shrink on a single broker, as on a
     * RabbitMQ node of its own: its quorum queues have their one member on it.
     */
    @Test
    void quorumQueueMembersOnASingleBrokerAsOnALoneRabbitMQNode() throws Exception {
        try (Connection c = connect(); Channel ch = c.createChannel()) {
            ch.queueDeclare("qm.q", true, false, false, Map.of("x-queue-type", "quorum"));
            ch.queueDeclare("qm.c", true, false, false, null);
        }
        try {
            String self = new com.fasterxml.jackson.databind.ObjectMapper().readTree(
                    ctl("-q", "status", "--formatter", "json").out()).path("node_name").asText();
            Result add = ctl("add_member", "qm.q", self);
            assertEquals(0, add.code(), add.all());
            assertEquals("Adding a replica for queue qm.q on node " + self + "...\n", add.out(), "a member already");
            Result other = ctl("add_member", "qm.q", "rabbit@elsewhere");
            assertEquals(69, other.code(), other.all());
            assertEquals("Error:\nnode_not_running\n", other.err());
            Result last = ctl("delete_member", "qm.q", self);
            assertEquals(69, last.code(), last.all());
            assertEquals("Removing a replica of queue qm.q on node " + self + "...\n", last.out());
            assertEquals("Error:\nlast_node\n", last.err());
            Result none = ctl("-q", "delete_member", "qm.q", "rabbit@elsewhere");
            assertEquals(0, none.code(), none.all());
            assertEquals("", none.out());
            Result classic = ctl("add_member", "qm.c", self);
            assertEquals(69, classic.code(), classic.all());
            assertEquals("Error:\nCannot add members to a classic queue\n", classic.err());
            Result missing = ctl("delete_member", "qm.nosuch", self);
            assertEquals(69, missing.code(), missing.all());
            assertEquals("Error:\nnot_found\n", missing.err());
            Result grow = ctl("grow", self, "all", "--queue-pattern", "^qm\\.");
            assertEquals(0, grow.code(), grow.all());
            assertEquals("Growing all quorum queues on " + self + "...\n\n", grow.out());
            Result shrink = ctl("shrink", self, "--formatter", "json");
            assertEquals(0, shrink.code(), shrink.all());
            JsonNode rows = new com.fasterxml.jackson.databind.ObjectMapper().readTree(shrink.out());
            JsonNode row = null;
            for (JsonNode n : rows) {
                if (n.path("name").asText().equals("qm.q")) {
                    row = n;
                }
            }
            assertNotNull(row, shrink.out());
            assertEquals("{\"vhost\":\"/\",\"name\":\"qm.q\",\"size\":1,\"result\":\"error: the last node cannot be "
                    + "removed\"}", row.toString());
            Result bad = ctl("grow", self, "some");
            assertEquals(64, bad.code(), bad.all());
            assertEquals("Error (argument validation): \"strategy 'some' is not recognised.\"\n", bad.err());
        } finally {
            try (Connection c = connect(); Channel ch = c.createChannel()) {
                ch.queueDelete("qm.q");
                ch.queueDelete("qm.c");
            }
        }
    }

    /** The cells of a row of rabbitmq-queues' boxed table (Unicode's box characters, or + - | under an ASCII locale). */
    private static List<String> cells(String row) {
        List<String> out = new java.util.ArrayList<>();
        for (String c : row.split("[\u2502|]")) {
            if (!c.isBlank()) {
                out.add(c.strip());
            }
        }
        return out;
    }

    @Test
    void wrongPasswordIsRefusedInOneLine() throws Exception {
        Result r = ctl("--password", "wrong", "list_queues");
        assertEquals(77, r.code(), r.all());
        assertEquals(1, r.err().lines().count(), r.err());
        assertTrue(r.err().startsWith("Error: authentication failed for user 'guest'"), r.err());
        assertEquals("", r.out());
        Result user = ctl("--username", "nobody", "status");
        assertEquals(77, user.code(), user.all());
    }

    // ---- helpers -------------------------------------------------------------------------

    private static List<String> cmd(String... args) {
        return CtlProcess.cmd(args);
    }

    /** bin/warrenctl with WARREN_CONFIG naming the test broker's config. */
    private static Result ctl(String... args) throws Exception {
        return broker.ctl(args);
    }

    private static Result run(List<String> command, Map<String, String> env) throws Exception {
        return broker.run(command, env);
    }

    private static String head(String text, int lines) {
        StringBuilder sb = new StringBuilder();
        String[] all = text.split("\n", -1);
        for (int i = 0; i < lines && i < all.length; i++) {
            sb.append(all[i]).append('\n');
        }
        return sb.toString();
    }

}
