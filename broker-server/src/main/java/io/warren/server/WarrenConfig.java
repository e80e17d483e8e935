package io.warren.server;

import io.warren.server.config.ConfigParser;
import io.warren.server.flow.Watermark;

import java.nio.file.Path;
import java.util.List;

/**
 * The parsed configuration ({@code etc/warren.conf}, RabbitMQ's {@code rabbitmq.conf} style).
 * Keys: listeners.tcp.default, management.tcp.port, management.tcp.ip, management.enabled, default_user,
 * default_pass, default_vhost, loopback_users, heartbeat, frame_max, channel_max,
 * max_message_size, connection_max, tcp_listen_options.send_timeout, vm_memory_high_watermark.relative / .absolute,
 * vm_memory_high_watermark_paging_ratio, disk_free_limit.relative /
 * .absolute, data_dir, log.file, log.level, log.console, log.console.level, log.console.formatter,
 * log.file.level, log.file.formatter, listeners.ssl.default, ssl_options.certfile / keyfile /
 * password / cacertfile / verify / fail_if_no_peer_cert, prometheus.enabled, prometheus.tcp.port,
 * prometheus.tcp.ip, prometheus.path, prometheus.return_per_object_metrics, node.name, cluster.listener.port,
 * cluster.secret_file, cluster_formation.peer_discovery_backend, cluster_formation.classic_config.nodes.N.
 *
 * <p>{@code managementPort} is 0 for an ephemeral port and {@link #MANAGEMENT_DISABLED} when the
 * file says {@code management.enabled = false}.
 *
 * <p>{@code logFile} is null when the file says {@code log.file = false} (console only);
 * {@code logLevel} holds RabbitMQ's level names (debug, info, warning, error, none).
 */
public record WarrenConfig(
        String listenHost,
        int listenPort,
        String managementIp,
        int managementPort,
        String defaultUser,
        String defaultPass,
        String defaultVhost,
        List<String> loopbackUsers,
        int heartbeatSeconds,
        int frameMax,
        int channelMax,
        long maxMessageSize,
        int connectionMax,
        long sendTimeoutMs,
        Watermark memoryHighWatermark,
        double memoryPagingRatio,
        Watermark diskFreeLimit,
        Path dataDir,
        Path logFile,
        String logLevel,
        TlsConfig tls,
        AuthConfig auth,
        long consumerTimeoutMs,
        LogOutputs logOutputs,
        PrometheusConfig prometheus,
        ClusterConfig cluster) {

    /** Without cluster keys: a single node named warren@HOSTNAME. */
    public WarrenConfig(String listenHost, int listenPort, String managementIp, int managementPort, String defaultUser,
                        String defaultPass, String defaultVhost, List<String> loopbackUsers, int heartbeatSeconds,
                        int frameMax, int channelMax, long maxMessageSize, int connectionMax, long sendTimeoutMs,
                        Watermark memoryHighWatermark, double memoryPagingRatio, Watermark diskFreeLimit, Path dataDir,
                        Path logFile, String logLevel, TlsConfig tls, AuthConfig auth, long consumerTimeoutMs,
                        LogOutputs logOutputs, PrometheusConfig prometheus) {
        this(listenHost, listenPort, managementIp, managementPort, defaultUser, defaultPass, defaultVhost,
                loopbackUsers, heartbeatSeconds, frameMax, channelMax, maxMessageSize, connectionMax, sendTimeoutMs,
                memoryHighWatermark, memoryPagingRatio, diskFreeLimit, dataDir, logFile, logLevel, tls, auth,
                consumerTimeoutMs, logOutputs, prometheus, ClusterConfig.single());
    }

    /**
     * This node's name ({@code node.name}, RabbitMQ's {@code name@host}; default
     * {@code warren@HOSTNAME}) and, when {@code cluster_formation.peer_discovery_backend =
     * classic_config} lists the nodes, the cluster: {@code cluster_formation.classic_config.nodes.N
     * = NAME@HOST:PORT} (every node, this one included, PORT being its inter-node port),
     * {@code cluster.listener.port} (this node's inter-node port, default 25672) and
     * {@code cluster.secret_file} (the shared secret, RabbitMQ's Erlang cookie). {@code nodes}
     * is empty for a single node.
     */
    public record ClusterConfig(String nodeName, int port, List<Peer> nodes, Path secretFile, String leaderLocator) {
        public static final int DEFAULT_PORT = 25672;
        /** RabbitMQ's default queue_leader_locator: a new quorum queue is first led by the node it was declared through. */
        public static final String DEFAULT_LEADER_LOCATOR = "client-local";

        /** One node of the cluster: its name and where its inter-node port listens. */
        public record Peer(String name, String host, int port) {
            @Override public String toString() {
                return name + ":" + port;
            }
        }

        /** A single node named warren@HOSTNAME. */
        public static ClusterConfig single() {
            return new ClusterConfig(defaultNodeName(), DEFAULT_PORT, List.of(), null, DEFAULT_LEADER_LOCATOR);
        }

        public static String defaultNodeName() {
            String host;
            try {
                host = java.net.InetAddress.getLocalHost().getHostName();
            } catch (java.io.IOException e) {
                host = "localhost";
            }
            int dot = host.indexOf('.');
            return "warren@" + (dot > 0 ? host.substring(0, dot) : host);
        }

        public boolean clustered() {
            return !nodes.isEmpty();
        }

        /** Names the secret's file only when there is a cluster (configs end up in logs). */
        @Override public String toString() {
            return clustered() ? "ClusterConfig[node=" + nodeName + ", port=" + port + ", nodes=" + nodes
                    + ", keyFile=" + secretFile + ", leaderLocator=" + leaderLocator + "]"
                    : "ClusterConfig[node=" + nodeName + "]";
        }

        /** This node's entry in the node list. */
        public Peer self() {
            return nodes.stream().filter(n -> n.name().equals(nodeName)).findFirst().orElseThrow();
        }
    }

    /**
     * Where logs go and how they look, resolved from RabbitMQ's keys: {@code log.console} (default:
     * on only when {@code log.file = false}), {@code log.console.level} / {@code log.file.level}
     * (default {@code log.level}), {@code log.console.formatter} / {@code log.file.formatter}
     * ({@code plaintext}, the default, or {@code json}).
     */
    public record LogOutputs(boolean console, String consoleLevel, String consoleFormatter, String fileLevel,
                             String fileFormatter) {
        public static final String PLAINTEXT = "plaintext";
        public static final String JSON = "json";

        /** What {@code log.file} / {@code log.level} alone mean: console only without a file, plain text. */
        public static LogOutputs of(Path logFile, String logLevel) {
            return new LogOutputs(logFile == null, logLevel, PLAINTEXT, logLevel, PLAINTEXT);
        }
    }

    /** Before the per-output log keys: outputs follow {@code log.file} and {@code log.level}. */
    public WarrenConfig(String listenHost, int listenPort, String managementIp, int managementPort, String defaultUser,
                        String defaultPass, String defaultVhost, List<String> loopbackUsers, int heartbeatSeconds,
                        int frameMax, int channelMax, long maxMessageSize, int connectionMax, long sendTimeoutMs,
                        Watermark memoryHighWatermark, double memoryPagingRatio, Watermark diskFreeLimit, Path dataDir,
                        Path logFile, String logLevel, TlsConfig tls, AuthConfig auth, long consumerTimeoutMs) {
        this(listenHost, listenPort, managementIp, managementPort, defaultUser, defaultPass, defaultVhost,
                loopbackUsers, heartbeatSeconds, frameMax, channelMax, maxMessageSize, connectionMax, sendTimeoutMs,
                memoryHighWatermark, memoryPagingRatio, diskFreeLimit, dataDir, logFile, logLevel, tls, auth,
                consumerTimeoutMs, LogOutputs.of(logFile, logLevel), PrometheusConfig.OFF, ClusterConfig.single());
    }

    /** Without a TLS listener. */
    public WarrenConfig(String listenHost, int listenPort, String managementIp, int managementPort, String defaultUser,
                        String defaultPass, String defaultVhost, List<String> loopbackUsers, int heartbeatSeconds,
                        int frameMax, int channelMax, long maxMessageSize, int connectionMax, long sendTimeoutMs,
                        Watermark memoryHighWatermark, double memoryPagingRatio, Watermark diskFreeLimit, Path dataDir,
                        Path logFile, String logLevel) {
        this(listenHost, listenPort, managementIp, managementPort, defaultUser, defaultPass, defaultVhost,
                loopbackUsers, heartbeatSeconds, frameMax, channelMax, maxMessageSize, connectionMax, sendTimeoutMs,
                memoryHighWatermark, memoryPagingRatio, diskFreeLimit, dataDir, logFile, logLevel, null, AuthConfig.DEFAULT, 0);
    }

    /** With the default SASL mechanisms (PLAIN, AMQPLAIN). */
    public WarrenConfig(String listenHost, int listenPort, String managementIp, int managementPort, String defaultUser,
                        String defaultPass, String defaultVhost, List<String> loopbackUsers, int heartbeatSeconds,
                        int frameMax, int channelMax, long maxMessageSize, int connectionMax, long sendTimeoutMs,
                        Watermark memoryHighWatermark, double memoryPagingRatio, Watermark diskFreeLimit, Path dataDir,
                        Path logFile, String logLevel, TlsConfig tls) {
        this(listenHost, listenPort, managementIp, managementPort, defaultUser, defaultPass, defaultVhost,
                loopbackUsers, heartbeatSeconds, frameMax, channelMax, maxMessageSize, connectionMax, sendTimeoutMs,
                memoryHighWatermark, memoryPagingRatio, diskFreeLimit, dataDir, logFile, logLevel, tls, AuthConfig.DEFAULT, 0);
    }

    /**
     * The TLS listener ({@code listeners.ssl.default}) and RabbitMQ's {@code ssl_options.*}:
     * PEM files; {@code verifyPeer} asks clients for a certificate signed by a CA in
     * {@code caCertFile}, {@code failIfNoPeerCert} refuses clients without one.
     */
    public record TlsConfig(String host, int port, Path certFile, Path keyFile, String keyPassword, Path caCertFile,
                            boolean verifyPeer, boolean failIfNoPeerCert) {
        @Override public String toString() {
            return "TlsConfig[listen=" + (host == null ? "" : host + ":") + port + ", certFile=" + certFile
                    + ", keyFile=" + keyFile + ", keyPassword=" + (keyPassword == null ? "none" : "******")
                    + ", caCertFile=" + caCertFile + ", verifyPeer=" + verifyPeer + ", failIfNoPeerCert="
                    + failIfNoPeerCert + "]";
        }
    }

    /**
     * RabbitMQ's {@code auth_mechanisms.N} (the SASL mechanisms offered, in order; default PLAIN
     * and AMQPLAIN) and {@code ssl_cert_login_from} (how EXTERNAL names the user: the client
     * certificate's subject as an RFC 2253 string, {@code distinguished_name}, or its CN,
     * {@code common_name}).
     */
    public record AuthConfig(List<String> mechanisms, String certLoginFrom) {
        public static final AuthConfig DEFAULT = new AuthConfig(List.of("PLAIN", "AMQPLAIN"), "distinguished_name");
    }

    /** A copy with another consumer_timeout (ms; 0: none); for tests. */
    public WarrenConfig withConsumerTimeout(long ms) {
        return new WarrenConfig(listenHost, listenPort, managementIp, managementPort, defaultUser, defaultPass,
                defaultVhost, loopbackUsers, heartbeatSeconds, frameMax, channelMax, maxMessageSize,
                connectionMax, sendTimeoutMs, memoryHighWatermark, memoryPagingRatio, diskFreeLimit, dataDir, logFile,
                logLevel, tls, auth, ms, logOutputs, prometheus, cluster);
    }

    /** A copy with other SASL mechanisms and EXTERNAL naming; for tests. */
    public WarrenConfig withAuth(AuthConfig a) {
        return new WarrenConfig(listenHost, listenPort, managementIp, managementPort, defaultUser, defaultPass,
                defaultVhost, loopbackUsers, heartbeatSeconds, frameMax, channelMax, maxMessageSize,
                connectionMax, sendTimeoutMs, memoryHighWatermark, memoryPagingRatio, diskFreeLimit, dataDir, logFile,
                logLevel, tls, a, consumerTimeoutMs, logOutputs, prometheus, cluster);
    }

    /**
     * The Prometheus endpoint: RabbitMQ's {@code prometheus.tcp.port} (default 15692),
     * {@code prometheus.tcp.ip} (default 127.0.0.1, as the management API: the endpoint has no
     * login), {@code prometheus.path} (default /metrics), {@code prometheus.return_per_object_metrics}
     * (default false), and warren's {@code prometheus.enabled} (default true).
     */
    public record PrometheusConfig(boolean enabled, String ip, int port, String path, boolean perObject) {
        public static final PrometheusConfig DEFAULT = new PrometheusConfig(true, "127.0.0.1", 15692, "/metrics", false);
        /** No endpoint: what the constructors without one mean. */
        public static final PrometheusConfig OFF = new PrometheusConfig(false, "127.0.0.1", 15692, "/metrics", false);
    }

    /** A copy with another node name and cluster. */
    public WarrenConfig withCluster(ClusterConfig c) {
        return new WarrenConfig(listenHost, listenPort, managementIp, managementPort, defaultUser, defaultPass,
                defaultVhost, loopbackUsers, heartbeatSeconds, frameMax, channelMax, maxMessageSize,
                connectionMax, sendTimeoutMs, memoryHighWatermark, memoryPagingRatio, diskFreeLimit, dataDir, logFile,
                logLevel, tls, auth, consumerTimeoutMs, logOutputs, prometheus, c);
    }

    /** A copy with another Prometheus endpoint. */
    public WarrenConfig withPrometheus(PrometheusConfig p) {
        return new WarrenConfig(listenHost, listenPort, managementIp, managementPort, defaultUser, defaultPass,
                defaultVhost, loopbackUsers, heartbeatSeconds, frameMax, channelMax, maxMessageSize,
                connectionMax, sendTimeoutMs, memoryHighWatermark, memoryPagingRatio, diskFreeLimit, dataDir, logFile,
                logLevel, tls, auth, consumerTimeoutMs, logOutputs, p, cluster);
    }

    /** {@code managementPort} when the management API is off ({@code management.enabled = false}). */
    public static final int MANAGEMENT_DISABLED = -1;

    /** RabbitMQ's defaults: 0.4 of the memory the broker may use; 50 MB of free disk. */
    public static final Watermark DEFAULT_MEMORY_HIGH_WATERMARK = new Watermark.Relative(0.4);
    public static final Watermark DEFAULT_DISK_FREE_LIMIT = new Watermark.Absolute(50_000_000L);

    /** Defaults as documented in etc/warren.conf; paths resolve against {@code installDir}. */
    public static WarrenConfig defaults(Path installDir) {
        return new WarrenConfig(null, 5672, "127.0.0.1", 15672, "guest", "guest", "/",
                List.of("guest"), 60, 131072, 2047, 128L * 1024 * 1024, Integer.MAX_VALUE, 15_000,
                DEFAULT_MEMORY_HIGH_WATERMARK, 0.5, DEFAULT_DISK_FREE_LIMIT, installDir.resolve("data"), installDir.resolve("log/warren.log"), "info")
                .withPrometheus(PrometheusConfig.DEFAULT);
    }

    /**
     * Parses {@code file} ({@code warren.conf} syntax); keys it does not set keep their defaults,
     * whose paths resolve against {@code installDir}; relative paths in the file resolve against
     * the file's folder.
     *
     * @throws io.warren.server.config.ConfigException with a one-line {@code FILE:LINE: text} message
     */
    public static WarrenConfig load(Path file, Path installDir) {
        return ConfigParser.load(file, installDir);
    }

    /**
     * A copy listening on {@code port} (0: ephemeral) with its data in {@code dataDir}, and the
     * management API on an ephemeral loopback port; for tests.
     */
    public WarrenConfig withListener(String host, int port, Path dataDir) {
        return new WarrenConfig(host, port, "127.0.0.1", 0, defaultUser, defaultPass,
                defaultVhost, loopbackUsers, heartbeatSeconds, frameMax, channelMax, maxMessageSize,
                connectionMax, sendTimeoutMs, memoryHighWatermark, memoryPagingRatio, diskFreeLimit, dataDir, logFile,
                logLevel, tls, auth, consumerTimeoutMs, logOutputs,
                new PrometheusConfig(true, "127.0.0.1", 0, "/metrics", false), cluster);
    }

    /** The same config with another {@code vm_memory_high_watermark_paging_ratio}; for tests. */
    public WarrenConfig withMemoryPagingRatio(double ratio) {
        return new WarrenConfig(listenHost, listenPort, managementIp, managementPort, defaultUser, defaultPass,
                defaultVhost, loopbackUsers, heartbeatSeconds, frameMax, channelMax, maxMessageSize,
                connectionMax, sendTimeoutMs, memoryHighWatermark, ratio, diskFreeLimit, dataDir, logFile,
                logLevel, tls, auth, consumerTimeoutMs, logOutputs, prometheus, cluster);
    }

    /** A copy with a TLS listener (null: none); for tests. */
    public WarrenConfig withTls(TlsConfig t) {
        return new WarrenConfig(listenHost, listenPort, managementIp, managementPort, defaultUser, defaultPass,
                defaultVhost, loopbackUsers, heartbeatSeconds, frameMax, channelMax, maxMessageSize,
                connectionMax, sendTimeoutMs, memoryHighWatermark, memoryPagingRatio, diskFreeLimit, dataDir, logFile,
                logLevel, t, auth, consumerTimeoutMs, logOutputs, prometheus, cluster);
    }

    /** A copy with other connection limits; for tests. */
    public WarrenConfig withConnectionLimits(int connectionMax, long sendTimeoutMs) {
        return new WarrenConfig(listenHost, listenPort, managementIp, managementPort, defaultUser, defaultPass,
                defaultVhost, loopbackUsers, heartbeatSeconds, frameMax, channelMax, maxMessageSize,
                connectionMax, sendTimeoutMs, memoryHighWatermark, memoryPagingRatio, diskFreeLimit, dataDir, logFile,
                logLevel, tls, auth, consumerTimeoutMs, logOutputs, prometheus, cluster);
    }

    /** Like the record's, with the default password masked: configs end up in logs. */
    @Override public String toString() {
        return "WarrenConfig[listen=" + (listenHost == null ? "" : listenHost + ":") + listenPort
                + ", management=" + managementIp + ":" + managementPort + ", defaultUser=" + defaultUser
                + ", defaultPass=******, defaultVhost=" + defaultVhost + ", loopbackUsers=" + loopbackUsers
                + ", heartbeat=" + heartbeatSeconds + ", frameMax=" + frameMax + ", channelMax=" + channelMax
                + ", maxMessageSize=" + maxMessageSize + ", connectionMax=" + connectionMax
                + ", sendTimeoutMs=" + sendTimeoutMs + ", memoryHighWatermark=" + memoryHighWatermark + ", memoryPagingRatio=" + memoryPagingRatio
                + ", diskFreeLimit=" + diskFreeLimit + ", dataDir=" + dataDir + ", logFile=" + logFile
                + ", logLevel=" + logLevel + ", tls=" + tls + ", auth=" + auth + ", consumerTimeoutMs=" + consumerTimeoutMs
                + ", logOutputs=" + logOutputs + ", prometheus=" + prometheus + ", cluster=" + cluster + "]";
    }
}
