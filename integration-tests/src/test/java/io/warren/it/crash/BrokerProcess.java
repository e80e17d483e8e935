package io.warren.it.crash;

import com.rabbitmq.client.ConnectionFactory;
import io.warren.it.support.Processes;
import io.warren.it.support.Processes.Result;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A warren broker in its own JVM, driven through the real {@code bin/warren} with a config of
 * its own (free ports, data dir and log under {@code dir}), so it can be killed with SIGKILL
 * and restarted on the same data dir. Needs broker-server/target/broker-server.jar, which the
 * reactor has packaged before this module's tests run.
 */
final class BrokerProcess implements AutoCloseable {
    static final Path JAR = Processes.SERVER_JAR;

    final Path conf;
    final Path dataDir;
    final Path logFile;
    final int port;
    final int managementPort;
    private final String javaOpts;

    /**
     * A config for a broker whose data lives in {@code dataDir} and whose log is under {@code dir};
     * {@code extraConfig} lines are appended to it.
     */
    BrokerProcess(Path dir, Path dataDir, String javaOpts, String... extraConfig) throws IOException {
        this.dataDir = dataDir;
        this.logFile = dir.resolve("log/warren.log");
        this.port = Processes.freePort();
        this.managementPort = Processes.freePort();
        this.javaOpts = javaOpts;
        this.conf = dir.resolve("warren.conf");
        Files.writeString(conf, String.join("\n",
                "listeners.tcp.default = 127.0.0.1:" + port,
                "management.tcp.port = " + managementPort,
                "prometheus.tcp.port = " + Processes.freePort(),
                "data_dir = " + dataDir,
                "log.file = " + logFile,
                "log.level = info") + "\n" + String.join("\n", extraConfig) + "\n");
    }

    static boolean packaged() {
        return Files.isRegularFile(JAR);
    }

    /**
     * The crash and disk-full tests run by default; {@code -Dwarren.crash-tests=false} skips them
     * (they take minutes). They were off while the message store was MapDB 3.1.0, whose
     * StoreWAL applied commits to messages.db in place and never replayed its WAL, so a kill -9
     * or ENOSPC mid-commit left a corrupt store. The journal store writes one CRC'd frame per
     * commit and cuts a torn tail off at open, so these tests must pass.
     */
    static final boolean CRASH_TESTS = Boolean.parseBoolean(System.getProperty("warren.crash-tests", "true"));

    static String crashTestsOff() {
        return CRASH_TESTS ? null : "turned off with -Dwarren.crash-tests=false";
    }

    ConnectionFactory factory() {
        ConnectionFactory f = new ConnectionFactory();
        f.setHost("127.0.0.1");
        f.setPort(port);
        f.setAutomaticRecoveryEnabled(false);
        f.setTopologyRecoveryEnabled(false);
        f.setConnectionTimeout(10_000);
        f.setShutdownTimeout(2_000);
        return f;
    }

    /** bin/warren start; returns once the AMQP port accepts connections. */
    void start() throws Exception {
        Result r = warren("start");
        if (r.code() != 0) {
            throw new AssertionError("bin/warren start exited " + r.code() + ":\n" + r.out() + "\n" + logTail()
                    + "\n" + keepDataDir());
        }
    }

    /** Copies the data dir under target/ (the temp dir goes with the test) for a post-mortem. */
    String keepDataDir() {
        Path to = Processes.ROOT.resolve("integration-tests/target/failed-data-dirs/" + System.currentTimeMillis());
        try {
            Files.createDirectories(to);
            try (var files = Files.list(dataDir)) {
                for (Path f : (Iterable<Path>) files::iterator) {
                    Files.copy(f, to.resolve(f.getFileName()));
                }
            }
            return "data dir copied to " + to;
        } catch (IOException e) {
            return "data dir not copied: " + e;
        }
    }

    /** bin/warren stop (SIGTERM, a graceful stop). */
    void stop() throws Exception {
        Result r = warren("stop");
        if (r.code() != 0) {
            throw new AssertionError("bin/warren stop exited " + r.code() + ":\n" + r.out());
        }
    }

    /** The broker JVM's pid, from the pid file it wrote. */
    long pid() throws IOException {
        return Processes.pid(dataDir.resolve("warren.pid"));
    }

    /** kill -9 of the broker JVM; returns once it is gone. */
    void kill9() throws Exception {
        ProcessHandle h = ProcessHandle.of(pid()).orElseThrow(() -> new AssertionError("broker not running"));
        if (!h.destroyForcibly()) {
            throw new AssertionError("cannot SIGKILL pid " + h.pid());
        }
        h.onExit().get(30, TimeUnit.SECONDS);
    }

    boolean running() {
        try {
            return Processes.alive(pid());
        } catch (IOException | NumberFormatException e) {
            return false;
        }
    }

    String logTail() {
        try {
            List<String> lines = Files.readAllLines(logFile);
            return "--- last lines of " + logFile + "\n"
                    + String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    String log() throws IOException {
        return Files.exists(logFile) ? Files.readString(logFile) : "";
    }

    /** Stops the broker whatever state it is in: never leave a JVM behind. */
    @Override public void close() {
        try {
            if (running()) {
                warren("stop");
            }
        } catch (Exception e) {
            // fall through to the kill
        }
        try {
            if (running()) {
                kill9();
            }
        } catch (Exception ignored) {
            // gone
        }
        keepLog();
    }

    /** The log goes with the temp dir: keep a copy under target/broker-logs for a post-mortem. */
    private void keepLog() {
        try {
            if (Files.exists(logFile)) {
                Path to = Processes.ROOT.resolve("integration-tests/target/broker-logs");
                Files.createDirectories(to);
                Files.copy(logFile, to.resolve("warren-" + port + "-" + System.currentTimeMillis() + ".log"));
            }
        } catch (IOException ignored) {
            // only a convenience
        }
    }

    /** bin/warren COMMAND --config CONF, stderr merged into stdout, with this broker's WARREN_JAVA_OPTS. */
    private Result warren(String command) throws Exception {
        List<String> cmd = List.of(Processes.WARREN.toString(), command, "--config", conf.toString());
        return Processes.runMerged(null, cmd, Map.of("WARREN_JAVA_OPTS", javaOpts), Processes.TIMEOUT);
    }
}
