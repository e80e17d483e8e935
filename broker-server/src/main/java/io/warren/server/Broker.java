package io.warren.server;

import io.warren.amqp.server.AmqpServer;
import io.warren.amqp.server.AmqpSettings;
import io.warren.amqp.server.BrokerContext;
import io.warren.core.auth.Users;
import io.warren.core.vhost.VirtualHosts;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.HashSet;
import java.util.Map;

/**
 * Wires the broker from a {@link WarrenConfig} and owns its lifecycle: the one place where
 * the parts are constructed and connected (no container, no global state).
 */
public final class Broker implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Broker.class);

    private final WarrenConfig config;
    private AmqpServer server;
    private BrokerContext context;

    public Broker(WarrenConfig config) {
        this.config = config;
    }

    /** Binds the AMQP listener; returns once it accepts connections. */
    public synchronized void start() throws Exception {
        if (server != null) {
            throw new IllegalStateException("already started");
        }
        AmqpServer s = new AmqpServer(Runtime.getRuntime().availableProcessors());
        try {
            VirtualHosts vhosts = new VirtualHosts(s.loops(), config.defaultVhost());
            Users users = new Users(Map.of(config.defaultUser(), config.defaultPass()),
                    new HashSet<>(config.loopbackUsers()));
            AmqpSettings settings = new AmqpSettings(config.heartbeatSeconds(), config.frameMax(),
                    config.channelMax(), config.maxMessageSize());
            context = new BrokerContext(vhosts, users, settings);
            s.bind(config.listenHost(), config.listenPort(), context);
        } catch (Exception e) {
            s.close(context == null ? new BrokerContext(null, null, null) : context);
            throw e;
        }
        server = s;
    }

    /** The bound AMQP port (useful when configured with port 0). */
    public int port() {
        return server == null ? config.listenPort() : server.port();
    }

    public WarrenConfig config() {
        return config;
    }

    /** Closes every client connection with 320 CONNECTION_FORCED, then the listener. */
    @Override public synchronized void close() {
        if (server != null) {
            log.info("stopping warren");
            server.close(context);
            server = null;
        }
    }
}
