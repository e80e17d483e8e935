package io.warren.it.durability;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import io.warren.it.support.Processes;
import io.warren.it.support.Processes.Result;
import io.warren.it.support.WarrenBroker;
import io.warren.server.Broker;
import io.warren.server.WarrenConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static io.warren.it.durability.Durable.PERSISTENT;
import static io.warren.it.durability.Durable.publishConfirmed;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The operator's view of a damaged store: {@code bin/warren start} on a data dir with a
 * corrupted file exits non-zero and says, in one line of its own, which file and what is
 * wrong (the stack trace goes to the log, it is never the only explanation). Needs
 * broker-server/target/broker-server.jar, which the reactor has packaged before this
 * module's tests run.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class CorruptStoreLauncherTest {
    private static final Path SCRIPT = Processes.WARREN;
    private static final Path JAR = Processes.SERVER_JAR;

    @TempDir
    Path tmp;
    private Path conf;

    @BeforeAll
    static void needsThePackagedServer() {
        assumeFalse(WarrenBroker.external(), "starts brokers itself");
        assumeTrue(Files.isRegularFile(JAR), JAR + " is missing: run mvn -q -B -DskipTests package first");
    }

    @AfterEach
    void stopTheBroker() throws Exception {
        if (conf != null) {
            warren("stop", "--config", conf.toString());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {CorruptStoreTest.DEFINITIONS, CorruptStoreTest.JOURNAL + "/00000000000000000000.seg"})
    void startOnACorruptedStoreFailsWithOneLineNamingTheFile(String fileName) throws Exception {
        int port = Processes.freePort();
        conf = tmp.resolve("warren.conf");
        Files.writeString(conf, String.join("\n",
                "listeners.tcp.default = 127.0.0.1:" + port,
                "management.tcp.port = " + Processes.freePort(),
                "prometheus.tcp.port = " + Processes.freePort(),
                "data_dir = data",
                "log.file = log/warren.log") + "\n");
        Path dataDir = tmp.resolve("data");
        populate(dataDir);
        Path file = dataDir.resolve(fileName);
        Path good = tmp.resolve(file.getFileName() + ".good");
        Files.copy(file, good);
        CorruptStoreTest.damage(file, CorruptStoreTest.Damage.HEADER_GARBAGE, null);

        Result start = warren("start", "--config", conf.toString());

        assertEquals(1, start.code(), start.out());
        // e.g. "warren: failed to start: definition store /x/data/definitions.dat is not a warren
        // definitions file (no warren-definitions/3 header: damaged or foreign)", "... message
        // journal file /x/data/journal/00000000000000000000.seg is not a warren message journal
        // segment (no warren-journal/1 header)"
        String line = start.out().lines().filter(l -> l.startsWith("warren: failed to start: "))
                .filter(l -> l.contains(" " + file + " is not a warren ")).findFirst().orElse(null);
        assertNotNull(line, "a line of its own naming the file and what is wrong:\n" + start.out());
        assertTrue(line.matches(".* is not a warren [a-z ]+ \\(no warren-[a-z]+/\\d+ header.*\\)"), line);
        assertEquals(3, warren("status", "--config", conf.toString()).code(), "not running");

        // Nothing was left locked or half-written: with the file restored the broker starts
        // and serves the data.
        Files.copy(good, file, StandardCopyOption.REPLACE_EXISTING);
        Result again = warren("start", "--config", conf.toString());
        assertEquals(0, again.code(), again.out());
        ConnectionFactory f = new ConnectionFactory();
        f.setPort(port);
        f.setAutomaticRecoveryEnabled(false);
        try (Connection c = f.newConnection()) {
            assertEquals(3, c.createChannel().queueDeclarePassive("q-launcher").getMessageCount());
        }
    }

    /** An in-process broker on {@code dataDir} leaves a durable queue with 3 persistent messages. */
    private static void populate(Path dataDir) throws Exception {
        Broker b = new Broker(WarrenConfig.defaults(dataDir.getParent()).withListener("127.0.0.1", 0, dataDir));
        b.start();
        try {
            ConnectionFactory f = new ConnectionFactory();
            f.setPort(b.port());
            f.setAutomaticRecoveryEnabled(false);
            try (Connection c = f.newConnection()) {
                Channel ch = c.createChannel();
                ch.queueDeclare("q-launcher", true, false, false, null);
                publishConfirmed(c, "", "q-launcher", PERSISTENT, List.of("a", "b", "c"));
            }
        } finally {
            b.close();
        }
    }

    /** bin/warren ARGS in the test's directory, stderr merged into stdout. */
    private Result warren(String... args) throws Exception {
        List<String> command = new ArrayList<>();
        command.add(SCRIPT.toString());
        command.addAll(List.of(args));
        return Processes.runMerged(tmp, command, Map.of(), Processes.TIMEOUT);
    }
}
