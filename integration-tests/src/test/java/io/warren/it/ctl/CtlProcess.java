package io.warren.it.ctl;

import com.fasterxml.jackson.databind.JsonNode;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import io.warren.it.support.Processes;
import io.warren.it.support.Processes.Result;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A broker started with the real {@code bin/warren} and a config file of its own in {@code dir},
 * and the real {@code bin/warrenctl} run against it (through WARREN_CONFIG), as scripts do.
 */
final class CtlProcess {
    final Path dir;
    final Path conf;
    final int amqpPort;
    final int managementPort;

    /**
     * A broker for a whole test class: skips the class when the CLI has not been packaged, else
     * writes the config (with {@code extraLines}) and starts the broker.
     */
    static CtlProcess startPackaged(Path dir, String... extraLines) throws Exception {
        assumeTrue(Files.isRegularFile(Processes.CLI_JAR),
                "broker-cli.jar is missing: run mvn -q -B -DskipTests package first");
        return new CtlProcess(dir, extraLines);
    }

    /** Writes the config (with {@code extraLines}) and starts the broker. */
    CtlProcess(Path dir, String... extraLines) throws Exception {
        this.dir = dir;
        amqpPort = Processes.freePort();
        managementPort = Processes.freePort();
        conf = dir.resolve("warren.conf");
        StringBuilder c = new StringBuilder();
        c.append("listeners.tcp.default = 127.0.0.1:").append(amqpPort).append('\n')
                .append("management.tcp.port = ").append(managementPort).append('\n')
                .append("prometheus.tcp.port = ").append(Processes.freePort()).append('\n')
                .append("data_dir = data\nlog.file = log/warren.log\n");
        for (String l : extraLines) {
            c.append(l).append('\n');
        }
        Files.writeString(conf, c.toString());
        Result r = run(List.of(Processes.WARREN.toString(), "start", "--config", conf.toString()), Map.of());
        if (r.code() != 0) {
            stop(); // never leave a broker JVM behind a start that failed half way
        }
        assertEquals(0, r.code(), r.all());
    }

    void stop() throws Exception {
        run(List.of(Processes.WARREN.toString(), "stop", "--config", conf.toString()), Map.of());
    }

    /** An AMQP connection to this broker, without automatic recovery. */
    Connection connect(String user, String password, String vhost) throws Exception {
        ConnectionFactory f = new ConnectionFactory();
        f.setHost("127.0.0.1");
        f.setPort(amqpPort);
        f.setUsername(user);
        f.setPassword(password);
        f.setVirtualHost(vhost);
        f.setAutomaticRecoveryEnabled(false);
        return f.newConnection();
    }

    /** {@code bin/warrenctl ARGS} with WARREN_CONFIG naming this broker's config. */
    Result ctl(String... args) throws Exception {
        return run(cmd(args), Map.of("WARREN_CONFIG", conf.toString()));
    }

    /** {@link #ctl} with {@code stdin} on the standard input of warrenctl. */
    Result ctlWithInput(byte[] stdin, String... args) throws Exception {
        return Processes.run(dir, cmd(args), Map.of("WARREN_CONFIG", conf.toString()), stdin, false,
                Processes.TIMEOUT);
    }

    /** {@code command} in this broker's directory, {@code env} over the environment {@link Processes} gives. */
    Result run(List<String> command, Map<String, String> env) throws Exception {
        return Processes.run(dir, command, env);
    }

    /** {@code bin/warrenctl ARGS}. */
    static List<String> cmd(String... args) {
        List<String> c = new ArrayList<>();
        c.add(Processes.WARRENCTL.toString());
        c.addAll(List.of(args));
        return c;
    }

    /**
     * The first object in {@code array} (warrenctl's JSON output, an exported definitions file)
     * whose {@code field} is {@code value}; null if none.
     */
    static JsonNode find(JsonNode array, String field, String value) {
        for (JsonNode n : array) {
            if (value.equals(n.path(field).asText(null))) {
                return n;
            }
        }
        return null;
    }
}
