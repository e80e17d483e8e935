package io.warren.it.support;

import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import io.warren.server.Broker;
import io.warren.server.WarrenConfig;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

/**
 * Starts a warren broker in-process on an ephemeral port with a temporary data dir, for one
 * test class. Use as {@code @RegisterExtension static WarrenBroker broker = new WarrenBroker();}.
 *
 * <p>With {@code -Dwarren.it.external.port=PORT} no broker is started and the tests talk to
 * whatever listens on 127.0.0.1:PORT (e.g. the reference RabbitMQ, to check a test itself).
 * {@link #restart()} then runs the shell command {@code -Dwarren.it.external.restart=CMD}, if
 * given (e.g. {@code reference-rabbitmq.sh ctl PORT stop_app && reference-rabbitmq.sh ctl PORT
 * start_app}), so the restart tests can be checked against RabbitMQ too.
 */
public class WarrenBroker implements BeforeAllCallback, AfterAllCallback {
    private static final Integer EXTERNAL = Integer.getInteger("warren.it.external.port");
    private static final String EXTERNAL_RESTART = System.getProperty("warren.it.external.restart");

    private final UnaryOperator<WarrenConfig> customizer;
    private final io.netty.buffer.ByteBufAllocator allocator;
    private final List<Connection> connections = new ArrayList<>();
    private Broker broker;
    private Path dataDir;
    private WarrenConfig config;

    public WarrenBroker() {
        this(UnaryOperator.identity());
    }

    /** A broker whose config is changed by {@code customizer} (e.g. a small frame_max). */
    public WarrenBroker(UnaryOperator<WarrenConfig> customizer) {
        this(customizer, null);
    }

    /** A broker whose client connections allocate buffers from {@code allocator} (fault injection). */
    public WarrenBroker(UnaryOperator<WarrenConfig> customizer, io.netty.buffer.ByteBufAllocator allocator) {
        this.customizer = customizer;
        this.allocator = allocator;
    }

    @Override public void beforeAll(ExtensionContext context) throws Exception {
        start();
    }

    @Override public void afterAll(ExtensionContext context) throws Exception {
        stop();
    }

    public void start() throws Exception {
        if (EXTERNAL != null) {
            return;
        }
        if (dataDir == null) {
            dataDir = Files.createTempDirectory("warren-it");
        }
        config = customizer.apply(WarrenConfig.defaults(dataDir).withListener("127.0.0.1", 0, dataDir.resolve("data")));
        broker = new Broker(config, allocator);
        broker.start();
    }

    public void stop() throws IOException {
        for (Connection c : connections) {
            try {
                if (c.isOpen()) {
                    c.abort(1000);
                }
            } catch (RuntimeException ignored) {
                // closing anyway
            }
        }
        connections.clear();
        if (broker != null) {
            broker.close();
            broker = null;
        }
    }

    /** Stops and starts the broker on the same data dir (a new port). */
    public void restart() throws Exception {
        stop();
        if (EXTERNAL != null && EXTERNAL_RESTART != null) {
            Process p = new ProcessBuilder("bash", "-c", EXTERNAL_RESTART).inheritIO().start();
            if (p.waitFor() != 0) {
                throw new IllegalStateException("external restart command failed: " + EXTERNAL_RESTART);
            }
        }
        start();
    }

    public Broker broker() {
        return broker;
    }

    public WarrenConfig config() {
        return config;
    }

    public String host() {
        return "127.0.0.1";
    }

    public int port() {
        return EXTERNAL != null ? EXTERNAL : broker.port();
    }

    /** True when the suite runs against an external broker (see the class comment). */
    public static boolean external() {
        return EXTERNAL != null;
    }

    public ConnectionFactory factory() {
        ConnectionFactory f = new ConnectionFactory();
        f.setHost(host());
        f.setPort(port());
        f.setAutomaticRecoveryEnabled(false);
        f.setTopologyRecoveryEnabled(false);
        return f;
    }

    /** A new connection, closed when the broker stops. */
    public Connection connect() throws Exception {
        Connection c = factory().newConnection();
        connections.add(c);
        return c;
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            s.sorted(Comparator.reverseOrder()).forEach(x -> x.toFile().delete());
        }
    }
}
