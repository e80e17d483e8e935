package io.warren.server.config;

import io.warren.server.WarrenConfig;
import io.warren.server.flow.Watermark;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Reads {@code warren.conf}, RabbitMQ's {@code rabbitmq.conf} format: {@code key = value} lines,
 * {@code #} comments (whole lines, or trailing after whitespace, so {@code pa#ss} stays a value),
 * blank lines. Keys are a fixed table: an unknown key is an error, never ignored, because a
 * misspelt key silently falling back to its default is the classic config bug. A key given
 * twice takes its last value, as in RabbitMQ.
 */
public final class ConfigParser {
    /** Accepted {@code log.level} values (RabbitMQ's names); {@code LogSetup} maps them to logback. */
    public static final Set<String> LOG_LEVELS = Set.of("debug", "info", "warning", "error", "none");

    private static final String LOOPBACK_USER_PREFIX = "loopback_users.";
    private static final Set<String> MECHANISMS = Set.of("PLAIN", "AMQPLAIN", "EXTERNAL");
    private static final int MAX_PORT = 65535;
    // 0-9-1 §4.2.1: frames are at least 4096 bytes; frame_max is a 32-bit field but Java
    // arrays and ByteBufs are int-indexed, so the ceiling is 2^31-1.
    private static final int MIN_FRAME = 4096;
    // RabbitMQ's hard ceiling for max_message_size (512 MiB).
    private static final long MAX_MESSAGE_CEILING = 536_870_912L;

    private static final Map<String, Setter> KEYS = keys();

    private ConfigParser() {
    }

    /** Parses {@code file}; defaults (and the paths not set in the file) come from {@code installDir}. */
    public static WarrenConfig load(Path file, Path installDir) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new ConfigException(file + ": config file not found");
        } catch (CharacterCodingException e) {
            throw new ConfigException(file + ": not a UTF-8 text file");
        } catch (IOException e) {
            throw new ConfigException(file + ": cannot read: " + e.getMessage(), e);
        }
        Path base = file.toAbsolutePath().getParent();
        return parse(file.toString(), lines, base, installDir);
    }

    /**
     * Parses {@code lines} as the content of {@code fileName} (used in messages only); relative
     * paths resolve against {@code baseDir}.
     */
    public static WarrenConfig parse(String fileName, List<String> lines, Path baseDir, Path installDir) {
        Builder b = new Builder(WarrenConfig.defaults(installDir.toAbsolutePath().normalize()));
        for (int i = 0; i < lines.size(); i++) {
            String raw = i == 0 ? stripBom(lines.get(i)) : lines.get(i);
            String text = stripComment(raw).strip();
            if (text.isEmpty()) {
                continue;
            }
            int lineNo = i + 1;
            int eq = text.indexOf('=');
            if (eq < 0) {
                throw error(fileName, lineNo, null, "expected 'key = value', got '" + text + "'");
            }
            String key = text.substring(0, eq).strip();
            String value = text.substring(eq + 1).strip();
            if (key.isEmpty()) {
                throw error(fileName, lineNo, null, "missing key before '='");
            }
            Setter setter = setterFor(key);
            if (setter == null) {
                throw error(fileName, lineNo, key, "unknown key '" + key + "'");
            }
            if (value.isEmpty()) {
                throw error(fileName, lineNo, key, "missing value for '" + key + "'");
            }
            try {
                setter.apply(b, key, value, baseDir);
            } catch (BadValueException e) {
                throw error(fileName, lineNo, key, "bad value '" + value + "' for '" + key + "': " + e.expected());
            }
        }
        try {
            return b.build();
        } catch (ConfigException e) {
            // Checks across keys (TLS): the file, then the text naming the keys.
            throw new ConfigException(fileName + ": " + e.getMessage());
        }
    }

    /**
     * An amount of memory as {@code vm_memory_high_watermark.absolute} takes it (e.g. {@code 512MB},
     * {@code 1GiB}, {@code 1073741824}); for the management API's run-time change.
     *
     * @throws IllegalArgumentException saying what was expected
     */
    public static long bytes(String value) {
        try {
            return Values.bytes(value.strip());
        } catch (BadValueException e) {
            throw new IllegalArgumentException(e.expected());
        }
    }

    private static Setter setterFor(String key) {
        if (key.startsWith(LOOPBACK_USER_PREFIX) && key.length() > LOOPBACK_USER_PREFIX.length()) {
            return (b, k, v, base) -> b.loopbackUsers.put(k.substring(LOOPBACK_USER_PREFIX.length()), Values.bool(v));
        }
        if (key.matches("cluster_formation\\.classic_config\\.nodes\\.[1-9][0-9]{0,2}")) {
            // RabbitMQ's classic_config peer list, with each node's inter-node port (warren has no epmd).
            return (b, k, v, base) -> b.clusterNodes.put(Integer.parseInt(k.substring(k.lastIndexOf('.') + 1)),
                    peer(v));
        }
        if (key.matches("auth_mechanisms\\.[1-9][0-9]{0,2}")) {
            // RabbitMQ's auth_mechanisms.N: the mechanisms offered, in the order of N.
            return (b, k, v, base) -> {
                if (!MECHANISMS.contains(v)) {
                    throw new BadValueException("expected one of PLAIN, AMQPLAIN, EXTERNAL");
                }
                b.mechanisms.put(Integer.parseInt(k.substring(k.indexOf('.') + 1)), v);
            };
        }
        return KEYS.get(key);
    }

    private static Map<String, Setter> keys() {
        Map<String, Setter> m = new LinkedHashMap<>();
        m.put("listeners.tcp.default", (b, k, v, base) -> b.listener(v));
        m.put("listeners.ssl.default", (b, k, v, base) -> {
            b.sslListener(v);
            b.sslKeys.putIfAbsent(k, true);
        });
        m.put("ssl_options.certfile", (b, k, v, base) -> b.ssl(k).certFile = Values.path(v, base));
        m.put("ssl_options.keyfile", (b, k, v, base) -> b.ssl(k).keyFile = Values.path(v, base));
        m.put("ssl_options.password", (b, k, v, base) -> b.ssl(k).password = v);
        m.put("ssl_options.cacertfile", (b, k, v, base) -> b.ssl(k).caCertFile = Values.path(v, base));
        m.put("ssl_options.verify", (b, k, v, base) -> {
            // RabbitMQ's values (Erlang ssl's): verify_peer asks for a client certificate.
            b.ssl(k).verifyPeer = switch (v) {
                case "verify_peer" -> true;
                case "verify_none" -> false;
                default -> throw new BadValueException("expected verify_peer or verify_none");
            };
        });
        m.put("ssl_options.fail_if_no_peer_cert", (b, k, v, base) -> b.ssl(k).failIfNoPeerCert = Values.bool(v));
        // 0: an ephemeral port, logged at start (for tests and side-by-side brokers).
        m.put("management.tcp.port", (b, k, v, base) -> b.managementPort = Values.intIn(v, 0, MAX_PORT));
        m.put("management.enabled", (b, k, v, base) -> b.managementEnabled = Values.bool(v));
        m.put("management.tcp.ip", (b, k, v, base) -> b.managementIp = Values.ip(v));
        m.put("prometheus.enabled", (b, k, v, base) -> b.prometheusEnabled = Values.bool(v));
        m.put("prometheus.tcp.port", (b, k, v, base) -> b.prometheusPort = Values.intIn(v, 0, MAX_PORT));
        m.put("prometheus.tcp.ip", (b, k, v, base) -> b.prometheusIp = Values.ip(v));
        m.put("prometheus.path", (b, k, v, base) -> {
            // RabbitMQ's default /metrics; /per-object and /detailed hang off it.
            if (!v.matches("/[A-Za-z0-9._~/-]*") || v.endsWith("/") && v.length() > 1 || v.contains("//")) {
                throw new BadValueException("expected a URL path such as /metrics");
            }
            b.prometheusPath = v.equals("/") ? "" : v;
        });
        m.put("prometheus.return_per_object_metrics", (b, k, v, base) -> b.prometheusPerObject = Values.bool(v));
        m.put("default_user", (b, k, v, base) -> b.defaultUser = v);
        m.put("default_pass", (b, k, v, base) -> b.defaultPass = v);
        m.put("default_vhost", (b, k, v, base) -> b.defaultVhost = v);
        m.put("consumer_timeout", (b, k, v, base) -> {
            // RabbitMQ's key, in ms; warren's default is none (the tutorials' promise that a slow
            // consumer is never cut off). 0 turns it off too.
            b.consumerTimeoutMs = Values.longIn(v, 0, 86_400_000L * 365);
        });
        m.put("ssl_cert_login_from", (b, k, v, base) -> {
            if (!v.equals("distinguished_name") && !v.equals("common_name")) {
                throw new BadValueException("expected distinguished_name or common_name");
            }
            b.certLoginFrom = v;
        });
        m.put("loopback_users", (b, k, v, base) -> {
            if (!v.equals("none")) {
                throw new BadValueException("expected 'none' (list users with loopback_users.NAME = true)");
            }
            b.loopbackNone = true;
        });
        m.put("heartbeat", (b, k, v, base) -> b.heartbeat = Values.intIn(v, 0, MAX_PORT));
        m.put("frame_max", (b, k, v, base) -> b.frameMax = frameMax(v));
        m.put("channel_max", (b, k, v, base) -> {
            // 0-9-1 §4.2.3 / RabbitMQ: 0 means "no limit", i.e. the 16-bit protocol maximum.
            int n = Values.intIn(v, 0, MAX_PORT);
            b.channelMax = n == 0 ? MAX_PORT : n;
        });
        m.put("max_message_size", (b, k, v, base) -> b.maxMessageSize = Values.longIn(v, 1, MAX_MESSAGE_CEILING));
        m.put("connection_max", (b, k, v, base) -> {
            // RabbitMQ's key: an integer or "infinity" (its default).
            b.connectionMax = v.equals("infinity") ? Integer.MAX_VALUE : Values.intIn(v, 1, Integer.MAX_VALUE - 1);
        });
        m.put("tcp_listen_options.send_timeout", (b, k, v, base) -> {
            // Milliseconds, as in RabbitMQ (default 15000); 0 turns the timeout off.
            b.sendTimeoutMs = Values.longIn(v, 0, 86_400_000L);
        });
        m.put("vm_memory_high_watermark.relative", (b, k, v, base) -> {
            // RabbitMQ accepts any fraction >= 0 (0 blocks every publisher); above 1.0 would let
            // the JVM hit its own limits before the alarm, so that is refused here.
            b.memory(k, new Watermark.Relative(Values.fraction(v, 0.0, 1.0)));
        });
        m.put("vm_memory_high_watermark.absolute", (b, k, v, base) -> b.memory(k, new Watermark.Absolute(Values.bytes(v))));
        m.put("vm_memory_high_watermark_paging_ratio", (b, k, v, base) -> {
            // RabbitMQ's key (default 0.5): above this share of the watermark queues page sooner.
            b.pagingRatio = Values.fraction(v, 0.0, 1.0);
        });
        m.put("disk_free_limit.relative", (b, k, v, base) -> {
            // A multiple of the machine's RAM, as in RabbitMQ (1.0 to 2.0 are its suggestions).
            b.disk(k, new Watermark.Relative(Values.fraction(v, 0.0, 100.0)));
        });
        m.put("disk_free_limit.absolute", (b, k, v, base) -> b.disk(k, new Watermark.Absolute(Values.bytes(v))));
        m.put("data_dir", (b, k, v, base) -> b.dataDir = Values.path(v, base));
        m.put("node.name", (b, k, v, base) -> b.nodeName = nodeName(v));
        m.put("cluster.listener.port", (b, k, v, base) -> b.clusterPort = Values.intIn(v, 1, MAX_PORT));
        m.put("cluster.secret_file", (b, k, v, base) -> b.clusterSecret = Values.path(v, base));
        // RabbitMQ's key: which node first leads a new quorum queue (the policy key queue-leader-locator
        // and the x-queue-leader-locator argument win over it).
        m.put("queue_leader_locator", (b, k, v, base) -> {
            if (!v.equals("client-local") && !v.equals("balanced")) {
                throw new BadValueException("expected client-local or balanced");
            }
            b.leaderLocator = v;
        });
        m.put("cluster_formation.peer_discovery_backend", (b, k, v, base) -> {
            // RabbitMQ also takes the module's name.
            if (!v.equals("classic_config") && !v.equals("rabbit_peer_discovery_classic_config")) {
                throw new BadValueException("expected classic_config (the only peer discovery warren has)");
            }
            b.discovery = v;
        });
        m.put("log.file", (b, k, v, base) -> b.logFile = v.equals("false") ? null : Values.path(v, base));
        m.put("log.level", (b, k, v, base) -> b.logLevel = logLevel(v));
        // RabbitMQ's per-output keys; an output's level defaults to log.level whichever line comes first.
        m.put("log.console", (b, k, v, base) -> b.logConsole = Values.bool(v));
        m.put("log.console.level", (b, k, v, base) -> b.consoleLevel = logLevel(v));
        m.put("log.file.level", (b, k, v, base) -> b.fileLevel = logLevel(v));
        m.put("log.console.formatter", (b, k, v, base) -> b.consoleFormatter = formatter(v));
        m.put("log.file.formatter", (b, k, v, base) -> b.fileFormatter = formatter(v));
        return Map.copyOf(m);
    }

    private static String logLevel(String v) throws BadValueException {
        String level = v.toLowerCase(Locale.ROOT);
        if (!LOG_LEVELS.contains(level)) {
            throw new BadValueException("expected one of debug, info, warning, error, none");
        }
        return level;
    }

    private static String formatter(String v) throws BadValueException {
        String f = v.toLowerCase(Locale.ROOT);
        if (!f.equals(WarrenConfig.LogOutputs.PLAINTEXT) && !f.equals(WarrenConfig.LogOutputs.JSON)) {
            throw new BadValueException("expected plaintext or json");
        }
        return f;
    }

    private static int frameMax(String v) throws BadValueException {
        String expected = "expected 0 (no limit) or an integer " + MIN_FRAME + ".." + Integer.MAX_VALUE;
        long n;
        try {
            n = Values.longIn(v, 0, Integer.MAX_VALUE);
        } catch (BadValueException e) {
            throw new BadValueException(expected);
        }
        if (n == 0) {
            // RabbitMQ and 0-9-1 §4.2.3 read frame_max = 0 as "no limit". We map it to the
            // largest frame we can buffer, so the rest of the broker never special-cases 0.
            return Integer.MAX_VALUE;
        }
        if (n < MIN_FRAME) {
            throw new BadValueException(expected);
        }
        return (int) n;
    }

    /** Drops a whole-line comment, or a {@code #} that follows whitespace and everything after it. */
    static String stripComment(String line) {
        if (line.strip().startsWith("#")) {
            return "";
        }
        for (int i = 1; i < line.length(); i++) {
            if (line.charAt(i) == '#' && Character.isWhitespace(line.charAt(i - 1))) {
                return line.substring(0, i);
            }
        }
        return line;
    }

    private static String stripBom(String line) {
        return line.startsWith("\uFEFF") ? line.substring(1) : line;
    }

    /** RabbitMQ's node name shape, {@code name@host}: letters, digits, '_' and '-' before the '@'. */
    static String nodeName(String v) throws BadValueException {
        if (!v.matches("[A-Za-z0-9_-]{1,64}@[A-Za-z0-9.-]{1,200}")) {
            throw new BadValueException("expected a node name NAME@HOST (NAME: letters, digits, _ and -; "
                    + "HOST: letters, digits, . and -)");
        }
        return v;
    }

    /**
     * A node named as in {@code cluster_formation.classic_config.nodes.N} (warrenctl join_cluster's
     * argument); IllegalArgumentException saying what is expected.
     */
    public static WarrenConfig.ClusterConfig.Peer clusterNode(String v) {
        try {
            return peer(v);
        } catch (BadValueException e) {
            throw new IllegalArgumentException(e.getMessage());
        }
    }

    /** One node of {@code cluster_formation.classic_config.nodes.N}: {@code NAME@HOST:PORT}. */
    static WarrenConfig.ClusterConfig.Peer peer(String v) throws BadValueException {
        int colon = v.lastIndexOf(':');
        String expected = "expected NAME@HOST:PORT (the node's name and its inter-node port, cluster.listener.port)";
        if (colon < 0) {
            throw new BadValueException(expected);
        }
        String name;
        int port;
        try {
            name = nodeName(v.substring(0, colon));
            port = Values.intIn(v.substring(colon + 1), 1, MAX_PORT);
        } catch (BadValueException e) {
            throw new BadValueException(expected);
        }
        return new WarrenConfig.ClusterConfig.Peer(name, name.substring(name.indexOf('@') + 1), port);
    }

    private static ConfigException error(String file, int line, String key, String text) {
        return new ConfigException(file + ":" + line + ": " + text, line, key, null);
    }

    @FunctionalInterface
    private interface Setter {
        void apply(Builder b, String key, String value, Path baseDir) throws BadValueException;
    }

    /** Mutable while parsing; {@link #build()} makes the immutable record. */
    private static final class Builder {
        String listenHost;
        int listenPort;
        String managementIp;
        int managementPort;
        boolean managementEnabled = true;
        boolean prometheusEnabled;
        String nodeName;
        int clusterPort;
        Path clusterSecret;
        String leaderLocator;
        String discovery;
        final java.util.TreeMap<Integer, WarrenConfig.ClusterConfig.Peer> clusterNodes = new java.util.TreeMap<>();
        int prometheusPort;
        String prometheusIp;
        String prometheusPath;
        boolean prometheusPerObject;
        String defaultUser;
        String defaultPass;
        String defaultVhost;
        boolean loopbackNone;
        long consumerTimeoutMs;
        final java.util.TreeMap<Integer, String> mechanisms = new java.util.TreeMap<>();
        String certLoginFrom = WarrenConfig.AuthConfig.DEFAULT.certLoginFrom();
        final Map<String, Boolean> loopbackUsers = new LinkedHashMap<>();
        final List<String> defaultLoopbackUsers;
        int heartbeat;
        int frameMax;
        int channelMax;
        long maxMessageSize;
        int connectionMax;
        long sendTimeoutMs;
        Watermark memory;
        double pagingRatio;
        String memoryKey;
        Watermark disk;
        String diskKey;
        Path dataDir;
        Path logFile;
        String logLevel;
        /** The per-output log keys; null: not set (see {@link #logOutputs()}). */
        Boolean logConsole;
        String consoleLevel;
        String fileLevel;
        String consoleFormatter;
        String fileFormatter;
        String sslHost;
        int sslPort;
        /** The TLS keys set, in order (for the messages of tls()). */
        final Map<String, Boolean> sslKeys = new LinkedHashMap<>();
        final SslOptions sslOptions = new SslOptions();

        static final class SslOptions {
            Path certFile;
            Path keyFile;
            String password;
            Path caCertFile;
            boolean verifyPeer;
            boolean failIfNoPeerCert;
        }

        SslOptions ssl(String key) {
            sslKeys.putIfAbsent(key, true);
            return sslOptions;
        }

        void sslListener(String v) throws BadValueException {
            String host = listenHost;
            int port = listenPort;
            listener(v);
            sslHost = listenHost;
            sslPort = listenPort;
            listenHost = host;
            listenPort = port;
        }

        /**
         * The TLS listener, or null. Checked as a whole, since each key alone is fine: options
         * without a listener would be accepted and do nothing, a listener needs its certificate
         * and key, and asking for client certificates needs the CA that signs them.
         */
        WarrenConfig.TlsConfig tls() {
            if (sslKeys.isEmpty()) {
                return null;
            }
            if (!sslKeys.containsKey("listeners.ssl.default")) {
                throw new ConfigException("'" + sslKeys.keySet().iterator().next()
                        + "' is set but there is no TLS listener: set listeners.ssl.default (e.g. 5671) too");
            }
            SslOptions o = sslOptions;
            if (o.certFile == null || o.keyFile == null) {
                throw new ConfigException("listeners.ssl.default needs ssl_options.certfile and ssl_options.keyfile "
                        + "(PEM files)");
            }
            if (o.failIfNoPeerCert && !o.verifyPeer) {
                throw new ConfigException("ssl_options.fail_if_no_peer_cert = true needs ssl_options.verify = verify_peer");
            }
            if (o.verifyPeer && o.caCertFile == null) {
                throw new ConfigException("ssl_options.verify = verify_peer needs ssl_options.cacertfile (the CA "
                        + "certificates that sign client certificates, PEM)");
            }
            return new WarrenConfig.TlsConfig(sslHost, sslPort, o.certFile, o.keyFile, o.password, o.caCertFile,
                    o.verifyPeer, o.failIfNoPeerCert);
        }

        /**
         * RabbitMQ's schema quietly prefers the relative watermark when both are set; a config
         * that sets both is ambiguous, so it is refused (a key given twice keeps its last value).
         */
        void memory(String key, Watermark w) throws BadValueException {
            memoryKey = onlyOne(memoryKey, key, "vm_memory_high_watermark");
            memory = w;
        }

        void disk(String key, Watermark w) throws BadValueException {
            diskKey = onlyOne(diskKey, key, "disk_free_limit");
            disk = w;
        }

        /** {@code key}, unless the other form of {@code family} ({@code earlier}) was set. */
        private static String onlyOne(String earlier, String key, String family) throws BadValueException {
            if (earlier != null && !earlier.equals(key)) {
                throw new BadValueException("'" + earlier + "' is set too: use only one of " + family + ".relative and "
                        + family + ".absolute");
            }
            return key;
        }

        Builder(WarrenConfig d) {
            listenHost = d.listenHost();
            listenPort = d.listenPort();
            managementIp = d.managementIp();
            managementPort = d.managementPort();
            prometheusEnabled = d.prometheus().enabled();
            nodeName = d.cluster().nodeName();
            clusterPort = d.cluster().port();
            clusterSecret = d.cluster().secretFile();
            leaderLocator = d.cluster().leaderLocator();
            prometheusPort = d.prometheus().port();
            prometheusIp = d.prometheus().ip();
            prometheusPath = d.prometheus().path();
            prometheusPerObject = d.prometheus().perObject();
            defaultUser = d.defaultUser();
            defaultPass = d.defaultPass();
            defaultVhost = d.defaultVhost();
            defaultLoopbackUsers = d.loopbackUsers();
            heartbeat = d.heartbeatSeconds();
            frameMax = d.frameMax();
            channelMax = d.channelMax();
            maxMessageSize = d.maxMessageSize();
            connectionMax = d.connectionMax();
            sendTimeoutMs = d.sendTimeoutMs();
            memory = d.memoryHighWatermark();
            pagingRatio = d.memoryPagingRatio();
            disk = d.diskFreeLimit();
            dataDir = d.dataDir();
            logFile = d.logFile();
            logLevel = d.logLevel();
            consumerTimeoutMs = d.consumerTimeoutMs();
        }

        /** {@code PORT}, {@code IP:PORT}, {@code [IPv6]:PORT} or RabbitMQ's {@code IPv6:PORT}. */
        void listener(String v) throws BadValueException {
            String expected = "expected PORT or IP:PORT with a port 1..65535";
            int colon = v.lastIndexOf(':');
            String portText = colon < 0 ? v : v.substring(colon + 1);
            String host = colon < 0 ? null : v.substring(0, colon);
            try {
                listenPort = Values.intIn(portText, 1, MAX_PORT);
                listenHost = host == null ? null : Values.ip(host);
            } catch (BadValueException e) {
                throw new BadValueException(expected);
            }
        }

        /**
         * RabbitMQ's translation: {@code loopback_users = none} empties the list whatever else is
         * set; otherwise, if any {@code loopback_users.NAME} is set, the list is exactly the names
         * set to true (so {@code loopback_users.guest = false} lets guest in from anywhere);
         * otherwise the default [guest].
         */
        List<String> loopbackList() {
            if (loopbackNone) {
                return List.of();
            }
            if (loopbackUsers.isEmpty()) {
                return defaultLoopbackUsers;
            }
            List<String> users = new ArrayList<>();
            loopbackUsers.forEach((user, restricted) -> {
                if (restricted) {
                    users.add(user);
                }
            });
            return List.copyOf(users);
        }

        /**
         * The mechanisms offered. EXTERNAL logs in by client certificate, so it needs a TLS
         * listener that asks for one; offered without, it would be accepted and never usable.
         */
        WarrenConfig.AuthConfig auth() {
            List<String> list = mechanisms.isEmpty() ? WarrenConfig.AuthConfig.DEFAULT.mechanisms()
                    : List.copyOf(new java.util.LinkedHashSet<>(mechanisms.values()));
            if (list.contains("EXTERNAL") && (!sslKeys.containsKey("listeners.ssl.default") || !sslOptions.verifyPeer)) {
                throw new ConfigException("auth_mechanisms EXTERNAL needs a TLS listener that asks for client "
                        + "certificates: set listeners.ssl.default and ssl_options.verify = verify_peer");
            }
            return new WarrenConfig.AuthConfig(list, certLoginFrom);
        }

        /**
         * The console is on when {@code log.console = true}, or when it is not set and there is no
         * log file ({@code log.file = false}, warren's console-only mode). {@code log.console =
         * false} with {@code log.file = false} logs nothing, as it would in RabbitMQ.
         */
        WarrenConfig.LogOutputs logOutputs() {
            WarrenConfig.LogOutputs d = WarrenConfig.LogOutputs.of(logFile, logLevel);
            return new WarrenConfig.LogOutputs(logConsole == null ? d.console() : logConsole,
                    consoleLevel == null ? logLevel : consoleLevel,
                    consoleFormatter == null ? d.consoleFormatter() : consoleFormatter,
                    fileLevel == null ? logLevel : fileLevel,
                    fileFormatter == null ? d.fileFormatter() : fileFormatter);
        }

        WarrenConfig build() {
            return new WarrenConfig(listenHost, listenPort, managementIp,
                    managementEnabled ? managementPort : WarrenConfig.MANAGEMENT_DISABLED, defaultUser,
                    defaultPass, defaultVhost, loopbackList(), heartbeat, frameMax, channelMax,
                    maxMessageSize, connectionMax, sendTimeoutMs, memory, pagingRatio, disk, dataDir, logFile, logLevel,
                    tls(), auth(), consumerTimeoutMs, logOutputs(), new WarrenConfig.PrometheusConfig(prometheusEnabled,
                    prometheusIp, prometheusPort, prometheusPath, prometheusPerObject), cluster());
        }

        /** The cluster keys, checked together: a node list needs the backend, this node in it, and a secret. */
        WarrenConfig.ClusterConfig cluster() {
            List<WarrenConfig.ClusterConfig.Peer> nodes = new ArrayList<>(clusterNodes.values());
            if (discovery == null) {
                if (!nodes.isEmpty()) {
                    throw new ConfigException("cluster_formation.classic_config.nodes.N needs "
                            + "cluster_formation.peer_discovery_backend = classic_config");
                }
                if (clusterSecret != null) {
                    throw new ConfigException("cluster.secret_file is set but no cluster is: set "
                            + "cluster_formation.peer_discovery_backend = classic_config and the nodes");
                }
                return new WarrenConfig.ClusterConfig(nodeName, clusterPort, List.of(), null, leaderLocator);
            }
            if (nodes.isEmpty()) {
                throw new ConfigException("cluster_formation.peer_discovery_backend = classic_config needs the nodes: "
                        + "cluster_formation.classic_config.nodes.1 = NAME@HOST:PORT, one line per node");
            }
            java.util.Set<String> names = new java.util.HashSet<>();
            java.util.Set<String> addresses = new java.util.HashSet<>();
            for (WarrenConfig.ClusterConfig.Peer n : nodes) {
                if (!names.add(n.name())) {
                    throw new ConfigException("cluster_formation.classic_config.nodes: node " + n.name()
                            + " is listed twice");
                }
                if (!addresses.add(n.host() + ":" + n.port())) {
                    throw new ConfigException("cluster_formation.classic_config.nodes: two nodes on " + n.host()
                            + ":" + n.port());
                }
            }
            WarrenConfig.ClusterConfig.Peer self = nodes.stream().filter(n -> n.name().equals(nodeName)).findFirst()
                    .orElseThrow(() -> new ConfigException("node.name " + nodeName + " is not in "
                            + "cluster_formation.classic_config.nodes (list this node too, with its port)"));
            // This node's entry may name another port than cluster.listener.port: the list says where
            // the others reach it, which differs behind a port forward or a proxy (ClusterNode warns).
            if (clusterSecret == null) {
                throw new ConfigException("a cluster needs cluster.secret_file: the file with the secret the "
                        + "nodes share (RabbitMQ's Erlang cookie)");
            }
            return new WarrenConfig.ClusterConfig(nodeName, clusterPort, List.copyOf(nodes), clusterSecret,
                    leaderLocator);
        }
    }
}
