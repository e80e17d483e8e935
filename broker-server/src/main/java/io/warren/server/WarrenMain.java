package io.warren.server;

import io.warren.server.config.ConfigException;
import io.warren.server.config.ConfigLocator;
import io.warren.server.launch.LaunchArgs;
import io.warren.server.launch.LogSetup;
import io.warren.server.launch.PidFile;
import io.warren.server.launch.StartupFailure;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.PrintStream;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The process entry point: {@code [--config FILE]}. Exit codes: 2 for a bad command line or
 * config (one line on stderr, no stack trace), 1 when the broker cannot start, otherwise it
 * serves until SIGTERM/SIGINT (bin/warren stop) or {@code warrenctl stop} (which exits 0 through
 * the same path), when the shutdown hook closes the broker (clients get 320 CONNECTION_FORCED)
 * and removes the pid file.
 *
 * <p>No logger is touched before {@link LogSetup} runs, so the {@code --print-*} modes used by
 * bin/warren stay fast and never initialise logback.
 */
public final class WarrenMain {
    /** Set by bin/warren; without it the current directory is the install dir. */
    public static final String HOME_PROPERTY = "warren.home";

    private WarrenMain() {
    }

    /**
     * On a machine with 2 cores or fewer the JDK's common pool has one thread, and then
     * CompletableFuture runs every async step that names no executor on a new thread of its own
     * (its ThreadPerTaskExecutor). Ratis does that on its log and append paths: a follower of a
     * busy quorum queue started 20-25 threads a second (JFR, bench/quorum.sh on this 2-core
     * VM), and the JVM's monitor-deflation thread then took a tenth of a core per node. Two
     * threads at least make those steps run in the pool. Set before anything touches the pool;
     * an operator's -Djava.util.concurrent.ForkJoinPool.common.parallelism wins.
     */
    static void commonPoolOfTwoAtLeast() {
        String key = "java.util.concurrent.ForkJoinPool.common.parallelism";
        if (System.getProperty(key) == null) {
            System.setProperty(key, Integer.toString(Math.max(2, Runtime.getRuntime().availableProcessors() - 1)));
        }
    }

    public static void main(String[] args) {
        commonPoolOfTwoAtLeast();
        Path installDir = installDir();
        LaunchArgs launch;
        WarrenConfig config;
        try {
            launch = LaunchArgs.parse(args);
            if (launch.mode() == LaunchArgs.Mode.HELP) {
                System.out.println(LaunchArgs.USAGE);
                return;
            }
            config = loadConfig(launch, System.getenv(), installDir);
        } catch (LaunchArgs.UsageException e) {
            System.err.println("warren: " + e.getMessage());
            System.err.println(LaunchArgs.USAGE);
            System.exit(2);
            return;
        } catch (ConfigException e) {
            System.err.println(e.getMessage());
            System.exit(2);
            return;
        }
        switch (launch.mode()) {
            case PRINT_DATA_DIR -> System.out.println(config.dataDir());
            case PRINT_LAUNCH_INFO -> printLaunchInfo(config, System.out);
            default -> {
                int code = serve(config);
                // After a normal stop the JVM is already in its shutdown sequence, where
                // System.exit would block; just return.
                if (code != 0) {
                    System.exit(code);
                }
            }
        }
    }

    static WarrenConfig loadConfig(LaunchArgs launch, Map<String, String> env, Path installDir) {
        return ConfigLocator.load(ConfigLocator.choose(launch.config(), env, installDir), installDir);
    }

    static Path installDir() {
        String home = System.getProperty(HOME_PROPERTY);
        return Path.of(home == null || home.isBlank() ? "" : home).toAbsolutePath().normalize();
    }

    /**
     * {@code key=value} lines read by bin/warren; amqp_host is where to probe the listener,
     * clustered picks the collector.
     */
    static void printLaunchInfo(WarrenConfig config, PrintStream out) {
        out.println("data_dir=" + config.dataDir());
        out.println("pid_file=" + PidFile.pathIn(config.dataDir()));
        out.println("log_file=" + (config.logFile() == null ? "" : config.logFile()));
        out.println("amqp_host=" + probeHost(config.listenHost()));
        out.println("amqp_port=" + config.listenPort());
        out.println("clustered=" + config.cluster().clustered());
    }

    /** A wildcard listener is reached on loopback; anything else at its own address. */
    static String probeHost(String listenHost) {
        if (listenHost == null) {
            return "127.0.0.1";
        }
        try {
            InetAddress a = InetAddress.getByName(listenHost);
            if (a.isAnyLocalAddress()) {
                return a instanceof Inet6Address ? "::1" : "127.0.0.1";
            }
        } catch (UnknownHostException e) {
            // not resolvable here: let the probe report it
        }
        return listenHost;
    }

    static String address(String host, int port) {
        String h = host == null ? "0.0.0.0" : host;
        return (h.contains(":") ? "[" + h + "]" : h) + ":" + port;
    }

    /** Starts the broker and blocks until shutdown; returns 0 after a normal stop, else the exit code. */
    private static int serve(WarrenConfig config) {
        try {
            LogSetup.configure(config, System.console() != null);
        } catch (IOException e) {
            System.err.println("warren: cannot open log file " + config.logFile() + ": " + e.getMessage());
            return 1;
        }
        Logger log = LoggerFactory.getLogger(WarrenMain.class);
        PidFile pidFile;
        try {
            pidFile = PidFile.claim(config.dataDir());
        } catch (PidFile.AlreadyRunningException e) {
            return fail(log, e.getMessage(), null);
        } catch (IOException e) {
            return fail(log, "cannot write pid file in data dir " + config.dataDir() + ": " + e, null);
        }
        Lifecycle lifecycle = new Lifecycle(pidFile, log);
        Runtime.getRuntime().addShutdownHook(new Thread(lifecycle::stop, "warren-shutdown"));
        try {
            lifecycle.broker = new Broker(config);
            // warrenctl stop: the process exits 0 through the same shutdown hook as bin/warren
            // stop's SIGTERM (clients get 320, the store closes, the pid file goes).
            lifecycle.broker.onStopRequest(() -> System.exit(0));
            lifecycle.broker.start();
        } catch (Exception | LinkageError e) {
            String address = address(config.listenHost(), config.listenPort());
            int code = fail(log, StartupFailure.describe(e, address), e);
            lifecycle.stop();
            return code;
        }
        lifecycle.started = true;
        log.info("warren started, AMQP on {}{}", address(config.listenHost(), lifecycle.broker.port()),
                config.tls() == null ? "" : ", AMQP over TLS on " + address(config.tls().host(), lifecycle.broker.tlsPort()));
        lifecycle.awaitStop();
        return 0;
    }

    private static int fail(Logger log, String message, Throwable cause) {
        log.error(message, cause);
        System.err.println("warren: " + message);
        return 1;
    }

    /** Stops the broker exactly once, from the shutdown hook or a failed start. */
    private static final class Lifecycle {
        private final PidFile pidFile;
        private final Logger log;
        private final AtomicBoolean stopping = new AtomicBoolean();
        private final CountDownLatch stopped = new CountDownLatch(1);
        volatile Broker broker;
        volatile boolean started;

        Lifecycle(PidFile pidFile, Logger log) {
            this.pidFile = pidFile;
            this.log = log;
        }

        void stop() {
            if (!stopping.compareAndSet(false, true)) {
                return;
            }
            try {
                Broker b = broker;
                if (b != null) {
                    // After a failed start close() still runs: start() may have bound part of it.
                    if (started) {
                        log.info("warren stopping");
                    }
                    b.close();
                    if (started) {
                        log.info("warren stopped");
                    }
                }
            } catch (RuntimeException e) {
                log.error("error while stopping the broker", e);
            } finally {
                pidFile.release();
                stopped.countDown();
                LogSetup.shutdown();
            }
        }

        /** Parks the main thread: the broker runs on its own threads until the hook runs. */
        void awaitStop() {
            try {
                stopped.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
