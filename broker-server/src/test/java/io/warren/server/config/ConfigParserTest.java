package io.warren.server.config;

import io.warren.server.WarrenConfig;
import io.warren.server.flow.Watermark;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ConfigParserTest {
    private static final Path INSTALL = Path.of("/opt/warren");
    private static final Path ETC = INSTALL.resolve("etc");

    private static WarrenConfig parse(String... lines) {
        return ConfigParser.parse("etc/warren.conf", List.of(lines), ETC, INSTALL);
    }

    private static ConfigException error(String... lines) {
        return assertThrows(ConfigException.class, () -> parse(lines));
    }

    @Test
    void emptyFileGivesTheDefaults() {
        assertEquals(WarrenConfig.defaults(INSTALL), parse());
        assertEquals(WarrenConfig.defaults(INSTALL), parse("", "   ", "# only a comment", "   # indented comment"));
    }

    @Test
    void defaultsAreTheDocumentedOnes() {
        WarrenConfig d = parse();
        assertNull(d.listenHost());
        assertEquals(5672, d.listenPort());
        assertEquals("127.0.0.1", d.managementIp());
        assertEquals(15672, d.managementPort());
        assertEquals(List.of("guest"), d.loopbackUsers());
        assertEquals(134217728L, d.maxMessageSize());
        assertEquals(INSTALL.resolve("data"), d.dataDir());
        assertEquals(INSTALL.resolve("log/warren.log"), d.logFile());
        assertEquals("info", d.logLevel());
    }

    @Test
    void everyKeyIsRead() {
        WarrenConfig c = parse(
                "listeners.tcp.default = 10.0.0.5:5673",
                "management.tcp.port = 15673",
                "management.tcp.ip = 0.0.0.0",
                "default_user = admin",
                "default_pass = s3cret",
                "default_vhost = /prod",
                "loopback_users = none",
                "heartbeat = 30",
                "frame_max = 65536",
                "channel_max = 128",
                "max_message_size = 1048576",
                "connection_max = 5000",
                "tcp_listen_options.send_timeout = 30000",
                "vm_memory_high_watermark.absolute = 512MB",
                "vm_memory_high_watermark_paging_ratio = 0.75",
                "disk_free_limit.relative = 1.5",
                "data_dir = /var/lib/warren",
                "log.file = /var/log/warren/w.log",
                "log.level = warning",
                "prometheus.tcp.port = 9419",
                "prometheus.tcp.ip = 0.0.0.0",
                "prometheus.path = /stats",
                "prometheus.return_per_object_metrics = true");
        assertEquals(new WarrenConfig("10.0.0.5", 5673, "0.0.0.0", 15673, "admin", "s3cret", "/prod",
                List.of(), 30, 65536, 128, 1048576L, 5000, 30_000L, new Watermark.Absolute(512_000_000L), 0.75, new Watermark.Relative(1.5),
                Path.of("/var/lib/warren"),
                Path.of("/var/log/warren/w.log"), "warning")
                .withPrometheus(new WarrenConfig.PrometheusConfig(true, "0.0.0.0", 9419, "/stats", true)), c);
    }

    @Test
    void prometheusDefaultsAndOff() {
        assertEquals(new WarrenConfig.PrometheusConfig(true, "127.0.0.1", 15692, "/metrics", false), parse().prometheus());
        assertEquals(false, parse("prometheus.enabled = false").prometheus().enabled());
        assertEquals("", parse("prometheus.path = /").prometheus().path());
        assertEquals(0, parse("prometheus.tcp.port = 0").prometheus().port());
    }

    @Test
    void commentsAndWhitespace() {
        WarrenConfig c = parse(
                "# heartbeat = 1",
                "  heartbeat=15   # seconds",
                "\tdefault_pass = pa#ss\t# the # inside the value stays",
                "default_user =   two words  ");
        assertEquals(15, c.heartbeatSeconds());
        assertEquals("pa#ss", c.defaultPass());
        assertEquals("two words", c.defaultUser());
    }

    @Test
    void valueMayContainEquals() {
        assertEquals("a=b", parse("default_pass = a=b").defaultPass());
    }

    @Test
    void byteOrderMarkIsIgnored() {
        assertEquals(7, parse("\uFEFFheartbeat = 7").heartbeatSeconds());
    }

    @Test
    void lastValueWins() {
        assertEquals(9, parse("heartbeat = 8", "heartbeat = 9").heartbeatSeconds());
    }

    @Test
    void listenerForms() {
        WarrenConfig port = parse("listeners.tcp.default = 5673");
        assertNull(port.listenHost());
        assertEquals(5673, port.listenPort());
        assertEquals("127.0.0.1", parse("listeners.tcp.default = 127.0.0.1:5674").listenHost());
        WarrenConfig v6 = parse("listeners.tcp.default = ::1:5675");
        assertEquals("::1", v6.listenHost());
        assertEquals(5675, v6.listenPort());
        assertEquals("::", parse("listeners.tcp.default = [::]:5676").listenHost());
    }

    @Test
    void managementPortZeroIsEphemeralAndTheApiCanBeTurnedOff() {
        assertEquals(0, parse("management.tcp.port = 0").managementPort());
        assertEquals(WarrenConfig.MANAGEMENT_DISABLED, parse("management.enabled = false").managementPort());
        assertEquals(WarrenConfig.MANAGEMENT_DISABLED,
                parse("management.enabled = false", "management.tcp.port = 15999").managementPort());
        assertEquals(15999, parse("management.enabled = true", "management.tcp.port = 15999").managementPort());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "listeners.tcp.default = abc       | bad value 'abc' for 'listeners.tcp.default': expected PORT or IP:PORT with a port 1..65535",
            "listeners.tcp.default = 0         | bad value '0' for 'listeners.tcp.default'",
            "listeners.tcp.default = 70000     | bad value '70000' for 'listeners.tcp.default'",
            "listeners.tcp.default = host:5672 | bad value 'host:5672' for 'listeners.tcp.default'",
            "listeners.tcp.default = 1.2.3.256:5672 | bad value '1.2.3.256:5672'",
            "listeners.tcp.default = :5672     | bad value ':5672'",
            "management.tcp.port = -1          | bad value '-1' for 'management.tcp.port': expected an integer 0..65535",
            "management.tcp.port = 65536       | bad value '65536' for 'management.tcp.port'",
            "management.enabled = maybe        | bad value 'maybe' for 'management.enabled'",
            "management.tcp.ip = localhost     | bad value 'localhost' for 'management.tcp.ip': expected an IP address",
            "heartbeat = abc                   | bad value 'abc' for 'heartbeat': expected an integer 0..65535",
            "heartbeat = -1                    | bad value '-1' for 'heartbeat': expected an integer 0..65535",
            "heartbeat = 65536                 | bad value '65536' for 'heartbeat'",
            "heartbeat = 99999999999999999999  | bad value '99999999999999999999' for 'heartbeat'",
            "heartbeat = 1.5                   | bad value '1.5' for 'heartbeat'",
            "frame_max = 4095                  | bad value '4095' for 'frame_max': expected 0 (no limit) or an integer 4096..2147483647",
            "frame_max = 2147483648            | bad value '2147483648' for 'frame_max'",
            "channel_max = 65536               | bad value '65536' for 'channel_max': expected an integer 0..65535",
            "max_message_size = 0              | bad value '0' for 'max_message_size': expected an integer 1..536870912",
            "max_message_size = 536870913      | bad value '536870913' for 'max_message_size'",
            "log.level = verbose               | bad value 'verbose' for 'log.level': expected one of debug, info, warning, error, none",
            "log.console.level = warn          | bad value 'warn' for 'log.console.level': expected one of debug, info, warning, error, none",
            "log.file.level = all              | bad value 'all' for 'log.file.level': expected one of debug, info, warning, error, none",
            "log.console = yes                 | bad value 'yes' for 'log.console': expected true or false",
            "log.console.formatter = xml       | bad value 'xml' for 'log.console.formatter': expected plaintext or json",
            "log.file.formatter = jsonl        | bad value 'jsonl' for 'log.file.formatter': expected plaintext or json",
            "loopback_users = guest            | bad value 'guest' for 'loopback_users': expected 'none'",
            "loopback_users.guest = yes        | bad value 'yes' for 'loopback_users.guest': expected true or false",
            "data_dir = a\u0000b               | bad value",
            "vm_memory_high_watermark.relative = 1.5 | bad value '1.5' for 'vm_memory_high_watermark.relative': expected a number 0.0..1.0",
            "vm_memory_high_watermark.relative = lots | bad value 'lots' for 'vm_memory_high_watermark.relative'",
            "vm_memory_high_watermark.absolute = 512XB | bad value '512XB' for 'vm_memory_high_watermark.absolute': expected bytes, or a number with a unit",
            "vm_memory_high_watermark.absolute = -1 | bad value '-1' for 'vm_memory_high_watermark.absolute'",
            "vm_memory_high_watermark.absolute = 99999999999TB | bad value '99999999999TB'",
            "disk_free_limit.absolute = 1.5GB  | bad value '1.5GB' for 'disk_free_limit.absolute'",
            "connection_max = 0                | bad value '0' for 'connection_max': expected an integer 1..2147483646",
            "connection_max = lots             | bad value 'lots' for 'connection_max'",
            "tcp_listen_options.send_timeout = -5 | bad value '-5' for 'tcp_listen_options.send_timeout': expected an integer 0..86400000",
            "vm_memory_high_watermark_paging_ratio = 2 | bad value '2' for 'vm_memory_high_watermark_paging_ratio': expected a number 0.0..1.0",
            "disk_free_limit.relative = 101    | bad value '101' for 'disk_free_limit.relative': expected a number 0.0..100.0",
            "prometheus.tcp.port = 70000       | bad value '70000' for 'prometheus.tcp.port': expected an integer 0..65535",
            "prometheus.tcp.ip = not-an-ip     | bad value 'not-an-ip' for 'prometheus.tcp.ip'",
            "prometheus.path = metrics         | bad value 'metrics' for 'prometheus.path': expected a URL path such as /metrics",
            "prometheus.path = /metrics/       | bad value '/metrics/' for 'prometheus.path'",
            "prometheus.enabled = yes          | bad value 'yes' for 'prometheus.enabled': expected true or false",
            "prometheus.return_per_object_metrics = 1 | bad value '1' for 'prometheus.return_per_object_metrics'",
    })
    void badValuesNameFileLineAndKey(String line, String expected) {
        ConfigException e = error("# first line", line);
        String key = line.substring(0, line.indexOf('=')).strip();
        assertEquals(2, e.line());
        assertEquals(key, e.key());
        assertStartsWith("etc/warren.conf:2: " + expected, e.getMessage());
    }

    @Test
    void resourceLimitsTakeRabbitMqUnits() {
        assertEquals(new Watermark.Relative(0.4), parse("# nothing").memoryHighWatermark());
        assertEquals(new Watermark.Absolute(50_000_000L), parse("# nothing").diskFreeLimit());
        assertEquals(new Watermark.Relative(0.6), parse("vm_memory_high_watermark.relative = 0.6").memoryHighWatermark());
        assertEquals(new Watermark.Absolute(1_073_741_824L),
                parse("vm_memory_high_watermark.absolute = 1GiB").memoryHighWatermark());
        assertEquals(new Watermark.Absolute(2_000_000_000L),
                parse("vm_memory_high_watermark.absolute = 2GB").memoryHighWatermark());
        assertEquals(new Watermark.Absolute(512L << 20), parse("vm_memory_high_watermark.absolute = 512M").memoryHighWatermark());
        assertEquals(new Watermark.Absolute(4096), parse("disk_free_limit.absolute = 4k").diskFreeLimit());
        assertEquals(new Watermark.Absolute(123), parse("disk_free_limit.absolute = 123").diskFreeLimit());
        assertEquals(new Watermark.Relative(2.0), parse("disk_free_limit.relative = 2.0").diskFreeLimit());
        // The same key twice keeps its last value, as every key does.
        assertEquals(new Watermark.Relative(0.5), parse("vm_memory_high_watermark.relative = 0.3",
                "vm_memory_high_watermark.relative = 0.5").memoryHighWatermark());
    }

    @Test
    void connectionLimits() {
        assertEquals(Integer.MAX_VALUE, parse("# nothing").connectionMax());
        assertEquals(Integer.MAX_VALUE, parse("connection_max = infinity").connectionMax());
        assertEquals(15_000L, parse("# nothing").sendTimeoutMs());
        assertEquals(0L, parse("tcp_listen_options.send_timeout = 0").sendTimeoutMs());
    }

    @Test
    void relativeAndAbsoluteTogetherAreRefused() {
        assertEquals("etc/warren.conf:2: bad value '1GB' for 'vm_memory_high_watermark.absolute': "
                        + "'vm_memory_high_watermark.relative' is set too: use only one of "
                        + "vm_memory_high_watermark.relative and vm_memory_high_watermark.absolute",
                error("vm_memory_high_watermark.relative = 0.4", "vm_memory_high_watermark.absolute = 1GB").getMessage());
        assertStartsWith("etc/warren.conf:2: bad value '1.0' for 'disk_free_limit.relative': 'disk_free_limit.absolute' is set too",
                error("disk_free_limit.absolute = 1GB", "disk_free_limit.relative = 1.0").getMessage());
    }

    @Test
    void tlsListenerAndOptions() {
        assertNull(parse().tls());
        WarrenConfig c = parse("listeners.ssl.default = 5671",
                "ssl_options.certfile = certs/server.pem",
                "ssl_options.keyfile = /etc/warren/server.key",
                "ssl_options.password = secret",
                "ssl_options.cacertfile = certs/ca.pem",
                "ssl_options.verify = verify_peer",
                "ssl_options.fail_if_no_peer_cert = true");
        assertEquals(new WarrenConfig.TlsConfig(null, 5671, ETC.resolve("certs/server.pem"),
                Path.of("/etc/warren/server.key"), "secret", ETC.resolve("certs/ca.pem"), true, true), c.tls());
        assertEquals(5672, c.listenPort(), "the plain listener keeps its port");
        assertFalse(c.toString().contains("secret"), c.toString());
        WarrenConfig local = parse("listeners.ssl.default = 127.0.0.1:5671", "ssl_options.certfile = a.pem",
                "ssl_options.keyfile = a.key");
        assertEquals(new WarrenConfig.TlsConfig("127.0.0.1", 5671, ETC.resolve("a.pem"), ETC.resolve("a.key"), null,
                null, false, false), local.tls());
    }

    @Test
    void tlsSettingsThatWouldDoNothingOrCannotWorkAreRefused() {
        assertEquals("etc/warren.conf: 'ssl_options.certfile' is set but there is no TLS listener: set "
                + "listeners.ssl.default (e.g. 5671) too", error("ssl_options.certfile = a.pem").getMessage());
        assertEquals("etc/warren.conf: listeners.ssl.default needs ssl_options.certfile and ssl_options.keyfile (PEM files)",
                error("listeners.ssl.default = 5671", "ssl_options.certfile = a.pem").getMessage());
        assertEquals("etc/warren.conf: ssl_options.verify = verify_peer needs ssl_options.cacertfile (the CA "
                        + "certificates that sign client certificates, PEM)",
                error("listeners.ssl.default = 5671", "ssl_options.certfile = a.pem", "ssl_options.keyfile = a.key",
                        "ssl_options.verify = verify_peer").getMessage());
        assertEquals("etc/warren.conf: ssl_options.fail_if_no_peer_cert = true needs ssl_options.verify = verify_peer",
                error("listeners.ssl.default = 5671", "ssl_options.certfile = a.pem", "ssl_options.keyfile = a.key",
                        "ssl_options.fail_if_no_peer_cert = true").getMessage());
        assertEquals("etc/warren.conf:1: bad value 'verify_all' for 'ssl_options.verify': expected verify_peer or verify_none",
                error("ssl_options.verify = verify_all").getMessage());
        assertStartsWith("etc/warren.conf:1: bad value '0' for 'listeners.ssl.default'",
                error("listeners.ssl.default = 0").getMessage());
    }

    @Test
    void exampleMessages() {
        String[] lines = new String[7];
        java.util.Arrays.fill(lines, "");
        lines[6] = "heartbeet = 10";
        assertEquals("etc/warren.conf:7: unknown key 'heartbeet'", error(lines).getMessage());
        assertEquals("etc/warren.conf:3: bad value 'abc' for 'heartbeat': expected an integer 0..65535",
                error("", "", "heartbeat = abc").getMessage());
    }

    @Test
    void unknownKeys() {
        assertEquals("etc/warren.conf:1: unknown key 'listeners.tcp.other'",
                error("listeners.tcp.other = 5673").getMessage());
        assertEquals("etc/warren.conf:1: unknown key 'loopback_users.'", error("loopback_users. = true").getMessage());
        assertEquals("etc/warren.conf:1: unknown key 'Heartbeat'", error("Heartbeat = 5").getMessage());
    }

    @Test
    void malformedLines() {
        assertEquals("etc/warren.conf:2: expected 'key = value', got 'heartbeat 5'",
                error("", "heartbeat 5  # no equals").getMessage());
        assertEquals("etc/warren.conf:1: missing key before '='", error(" = 5").getMessage());
        assertEquals("etc/warren.conf:1: missing value for 'heartbeat'", error("heartbeat =").getMessage());
        assertEquals("etc/warren.conf:1: missing value for 'heartbeat'", error("heartbeat = # none").getMessage());
    }

    @Test
    void messagesAreOneLine() {
        assertEquals(1, error("default_user", "x").getMessage().lines().count());
    }

    @Test
    void zeroMeansProtocolMaximum() {
        assertEquals(Integer.MAX_VALUE, parse("frame_max = 0").frameMax());
        assertEquals(4096, parse("frame_max = 4096").frameMax());
        assertEquals(Integer.MAX_VALUE, parse("frame_max = 2147483647").frameMax());
        assertEquals(65535, parse("channel_max = 0").channelMax());
        assertEquals(1, parse("channel_max = 1").channelMax());
        assertEquals(0, parse("heartbeat = 0").heartbeatSeconds());
        assertEquals(536870912L, parse("max_message_size = 536870912").maxMessageSize());
    }

    @Test
    void loopbackUsersFollowRabbitMq() {
        assertEquals(List.of(), parse("loopback_users = none").loopbackUsers());
        assertEquals(List.of(), parse("loopback_users.guest = false").loopbackUsers());
        assertEquals(List.of("guest"), parse("loopback_users.guest = true").loopbackUsers());
        assertEquals(List.of("alice"), parse("loopback_users.alice = true").loopbackUsers());
        assertEquals(List.of("guest", "bob"),
                parse("loopback_users.guest = true", "loopback_users.alice = false", "loopback_users.bob = true")
                        .loopbackUsers());
        assertEquals(List.of(), parse("loopback_users.alice = true", "loopback_users = none").loopbackUsers());
        assertEquals(List.of("alice"),
                parse("loopback_users.alice = false", "loopback_users.alice = true").loopbackUsers());
    }

    @Test
    void logSettings() {
        assertNull(parse("log.file = false").logFile());
        assertEquals("warning", parse("log.level = WARNING").logLevel());
        for (String level : List.of("debug", "info", "warning", "error", "none")) {
            assertEquals(level, parse("log.level = " + level).logLevel());
        }
    }

    @Test
    void perOutputLogSettingsFollowRabbitMq() {
        // Defaults: a file in plain text at log.level; the console only when there is no file.
        assertEquals(new WarrenConfig.LogOutputs(false, "info", "plaintext", "info", "plaintext"),
                parse().logOutputs());
        assertEquals(new WarrenConfig.LogOutputs(true, "warning", "plaintext", "warning", "plaintext"),
                parse("log.file = false", "log.level = warning").logOutputs());
        // An output's level defaults to log.level wherever that line is; its own key wins.
        assertEquals(new WarrenConfig.LogOutputs(true, "debug", "json", "error", "json"),
                parse("log.console = true", "log.console.level = debug", "log.file.level = ERROR",
                        "log.console.formatter = json", "log.file.formatter = JSON", "log.level = warning").logOutputs());
        assertEquals(new WarrenConfig.LogOutputs(true, "warning", "plaintext", "error", "json"),
                parse("log.file.level = error", "log.level = warning", "log.file.formatter = json",
                        "log.console = true").logOutputs());
        // Both outputs off is what it says: nothing is logged.
        assertFalse(parse("log.file = false", "log.console = false").logOutputs().console());
        // The test-only copies keep the outputs.
        WarrenConfig json = parse("log.file.formatter = json");
        assertEquals("json", json.withConsumerTimeout(5).logOutputs().fileFormatter());
    }

    @Test
    void relativePathsResolveAgainstTheConfigFolder() {
        WarrenConfig c = parse("data_dir = ../var/data", "log.file = logs/w.log");
        assertEquals(INSTALL.resolve("var/data"), c.dataDir());
        assertEquals(ETC.resolve("logs/w.log"), c.logFile());
    }

    @Test
    void loadReadsTheFileAndResolvesAgainstItsFolder(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("conf.d"));
        Path file = dir.resolve("w.conf");
        Files.writeString(file, "heartbeat = 11\ndata_dir = d\n");
        WarrenConfig c = WarrenConfig.load(file, tmp.resolve("install"));
        assertEquals(11, c.heartbeatSeconds());
        assertEquals(dir.resolve("d"), c.dataDir());
        assertEquals(tmp.resolve("install/log/warren.log"), c.logFile());
    }

    @Test
    void loadNamesTheFileInErrors(@TempDir Path tmp) throws Exception {
        Path file = tmp.resolve("w.conf");
        Files.writeString(file, "# c\n\nheartbeet = 1\n");
        ConfigException e = assertThrows(ConfigException.class, () -> WarrenConfig.load(file, tmp));
        assertEquals(file + ":3: unknown key 'heartbeet'", e.getMessage());
        ConfigException missing = assertThrows(ConfigException.class, () -> WarrenConfig.load(tmp.resolve("no.conf"), tmp));
        assertEquals(tmp.resolve("no.conf") + ": config file not found", missing.getMessage());
        Files.write(file, new byte[] {'h', '=', (byte) 0xff, '\n'});
        assertEquals(file + ": not a UTF-8 text file",
                assertThrows(ConfigException.class, () -> WarrenConfig.load(file, tmp)).getMessage());
    }

    private static void assertStartsWith(String prefix, String actual) {
        if (!actual.startsWith(prefix)) {
            throw new AssertionError("expected a message starting with <" + prefix + "> but was <" + actual + ">");
        }
    }

    @Test
    void authMechanismsAndCertificateLogin() {
        assertEquals(WarrenConfig.AuthConfig.DEFAULT, parse().auth());
        WarrenConfig c = parse("listeners.ssl.default = 5671", "ssl_options.certfile = c.pem", "ssl_options.keyfile = k.pem",
                "ssl_options.cacertfile = ca.pem", "ssl_options.verify = verify_peer",
                "auth_mechanisms.2 = PLAIN", "auth_mechanisms.1 = EXTERNAL", "ssl_cert_login_from = common_name");
        assertEquals(List.of("EXTERNAL", "PLAIN"), c.auth().mechanisms());
        assertEquals("common_name", c.auth().certLoginFrom());
        assertEquals(List.of("AMQPLAIN"), parse("auth_mechanisms.1 = AMQPLAIN").auth().mechanisms());
        assertTrue(error("auth_mechanisms.1 = CRAM-MD5").getMessage().contains("auth_mechanisms.1"));
        assertTrue(error("ssl_cert_login_from = serial").getMessage().contains("ssl_cert_login_from"));
        // EXTERNAL without a TLS listener that verifies peers could never log anyone in.
        assertTrue(error("auth_mechanisms.1 = EXTERNAL").getMessage().contains("verify_peer"));
    }

    private static final String[] CLUSTER = {
        "node.name = warren2@localhost",
        "cluster.listener.port = 25702",
        "cluster.secret_file = secret",
        "cluster_formation.peer_discovery_backend = classic_config",
        "cluster_formation.classic_config.nodes.1 = warren1@localhost:25701",
        "cluster_formation.classic_config.nodes.2 = warren2@localhost:25702",
        "cluster_formation.classic_config.nodes.3 = warren3@host-3.example:25703",
    };

    @Test
    void clusterKeys() {
        WarrenConfig.ClusterConfig c = parse(CLUSTER).cluster();
        assertTrue(c.clustered());
        assertEquals("warren2@localhost", c.nodeName());
        assertEquals(25702, c.port());
        assertEquals(ETC.resolve("secret"), c.secretFile(), "relative to the config's folder");
        assertEquals(List.of(new WarrenConfig.ClusterConfig.Peer("warren1@localhost", "localhost", 25701),
                new WarrenConfig.ClusterConfig.Peer("warren2@localhost", "localhost", 25702),
                new WarrenConfig.ClusterConfig.Peer("warren3@host-3.example", "host-3.example", 25703)), c.nodes());
        assertEquals(c.nodes().get(1), c.self());
        // The list says where the others reach a node; it may listen on another port behind a
        // port forward or proxy.
        String[] forwarded = CLUSTER.clone();
        forwarded[1] = "cluster.listener.port = 26702";
        WarrenConfig.ClusterConfig f = parse(forwarded).cluster();
        assertEquals(26702, f.port());
        assertEquals(25702, f.self().port());
        // RabbitMQ's defaults without the keys: a single node named after the host, port 25672
        WarrenConfig.ClusterConfig single = parse().cluster();
        assertFalse(single.clustered());
        assertTrue(single.nodeName().startsWith("warren@"), single.nodeName());
        assertEquals(25672, single.port());
        assertEquals("warren9@box", parse("node.name = warren9@box").cluster().nodeName());
        // RabbitMQ's queue_leader_locator: client-local by default
        assertEquals("client-local", c.leaderLocator());
        String[] balanced = java.util.Arrays.copyOf(CLUSTER, CLUSTER.length + 1);
        balanced[CLUSTER.length] = "queue_leader_locator = balanced";
        assertEquals("balanced", parse(balanced).cluster().leaderLocator());
        assertEquals("etc/warren.conf:1: bad value 'random' for 'queue_leader_locator': expected client-local "
                + "or balanced", error("queue_leader_locator = random").getMessage());
    }

    @Test
    void clusterKeysThatCannotWorkAreRefused() {
        assertTrue(error("node.name = warren").getMessage().contains("bad value 'warren' for 'node.name': expected "
                + "a node name NAME@HOST"), error("node.name = warren").getMessage());
        assertTrue(error("cluster_formation.classic_config.nodes.1 = warren1@localhost").getMessage()
                .contains("expected NAME@HOST:PORT"));
        assertTrue(error("cluster_formation.peer_discovery_backend = k8s").getMessage()
                .contains("expected classic_config"));
        assertEquals("etc/warren.conf: cluster_formation.classic_config.nodes.N needs "
                        + "cluster_formation.peer_discovery_backend = classic_config",
                error("cluster_formation.classic_config.nodes.1 = a@b:1").getMessage());
        assertTrue(error("cluster.secret_file = s").getMessage().contains("cluster.secret_file is set but no cluster is"));
        assertTrue(error("cluster_formation.peer_discovery_backend = classic_config").getMessage()
                .contains("needs the nodes"));
        String[] notListed = CLUSTER.clone();
        notListed[0] = "node.name = warren4@localhost";
        assertTrue(error(notListed).getMessage().contains("node.name warren4@localhost is not in "
                + "cluster_formation.classic_config.nodes"), error(notListed).getMessage());
        String[] noSecret = java.util.Arrays.stream(CLUSTER).filter(l -> !l.startsWith("cluster.secret_file"))
                .toArray(String[]::new);
        assertTrue(error(noSecret).getMessage().contains("a cluster needs cluster.secret_file"));
        String[] twice = java.util.Arrays.copyOf(CLUSTER, CLUSTER.length + 1);
        twice[CLUSTER.length] = "cluster_formation.classic_config.nodes.4 = warren1@localhost:25709";
        assertTrue(error(twice).getMessage().contains("node warren1@localhost is listed twice"));
    }
}
