package io.warren.server;

import java.nio.file.Path;
import java.util.List;

/**
 * The parsed configuration ({@code etc/warren.conf}, RabbitMQ's {@code rabbitmq.conf} style).
 * Keys: listeners.tcp.default, management.tcp.port, management.tcp.ip, default_user,
 * default_pass, default_vhost, loopback_users, heartbeat, frame_max, channel_max,
 * max_message_size, data_dir, log.file, log.level.
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
        Path dataDir,
        Path logFile,
        String logLevel) {

    /** Defaults as documented in etc/warren.conf; paths resolve against {@code installDir}. */
    public static WarrenConfig defaults(Path installDir) {
        return new WarrenConfig(null, 5672, "127.0.0.1", 15672, "guest", "guest", "/",
                List.of("guest"), 60, 131072, 2047, 128L * 1024 * 1024,
                installDir.resolve("data"), installDir.resolve("log/warren.log"), "info");
    }

    /** A copy listening on {@code port} (0: ephemeral) with its data in {@code dataDir}; for tests. */
    public WarrenConfig withListener(String host, int port, Path dataDir) {
        return new WarrenConfig(host, port, managementIp, managementPort, defaultUser, defaultPass,
                defaultVhost, loopbackUsers, heartbeatSeconds, frameMax, channelMax, maxMessageSize,
                dataDir, logFile, logLevel);
    }
}
