package io.warren.it.support;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs the real {@code bin/warren} and {@code bin/warrenctl} (and anything started like them)
 * from the tests that drive the broker as an operator or a script would: the process, its output
 * and exit code, free ports, the repository root, and pid and port checks.
 *
 * <p>Every process gets the environment of this JVM without {@code WARREN_CONFIG} (so a
 * developer's own config never leaks into a test) and with {@code WARREN_JAVA_OPTS} set to
 * {@link #JAVA_OPTS}, then the entries the caller gives, which win.
 */
public final class Processes {
    /**
     * The JVM options of the brokers tests start: a small heap, and C1 only. A test broker lives for
     * seconds, and C2 compiling its start-up code cost more CPU than the test itself (a broker started,
     * listed once and stopped used 2.9 s of CPU with C2, 1.6 s without), which on 2 cores is time every
     * other test waits for. What C2 would change is speed, which benchmarks measure, never tests.
     */
    public static final String JAVA_OPTS = "-Xmx256m -XX:TieredStopAtLevel=1";
    /** How long a script may run before the test fails. */
    public static final Duration TIMEOUT = Duration.ofSeconds(120);
    /** The repository: surefire runs in the module folder (and sets basedir), whose parent it is. */
    public static final Path ROOT = repoRoot();
    public static final Path WARREN = ROOT.resolve("bin/warren");
    public static final Path WARRENCTL = ROOT.resolve("bin/warrenctl");
    public static final Path SERVER_JAR = ROOT.resolve("broker-server/target/broker-server.jar");
    public static final Path CLI_JAR = ROOT.resolve("broker-cli/target/broker-cli.jar");

    private Processes() {
    }

    /** A finished process: exit code, stdout and stderr (empty when it went to stdout). */
    public record Result(int code, String out, String err) {
        /** Everything, for an assertion message. */
        public String all() {
            return "exit " + code + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    /** Runs {@code command} in {@code dir} with nothing on its stdin; stdout and stderr apart. */
    public static Result run(Path dir, List<String> command, Map<String, String> env) throws Exception {
        return run(dir, command, env, null, false, TIMEOUT);
    }

    /** Runs {@code command} in {@code dir} with stderr merged into stdout (as a terminal shows it). */
    public static Result runMerged(Path dir, List<String> command, Map<String, String> env, Duration timeout)
            throws Exception {
        return run(dir, command, env, null, true, timeout);
    }

    /**
     * Runs {@code command} in {@code dir} (null: this JVM's working directory) with {@code env}
     * over the environment described above, {@code stdin} (null: nothing) on its standard input,
     * and stderr either apart or merged into stdout; fails the test if it outlives {@code timeout}.
     */
    public static Result run(Path dir, List<String> command, Map<String, String> env, byte[] stdin,
            boolean mergeErrors, Duration timeout) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(mergeErrors);
        if (dir != null) {
            pb.directory(dir.toFile());
        }
        pb.environment().remove("WARREN_CONFIG");
        pb.environment().put("WARREN_JAVA_OPTS", JAVA_OPTS);
        pb.environment().putAll(env);
        Process p = pb.start();
        try (OutputStream in = p.getOutputStream()) {
            if (stdin != null) {
                in.write(stdin);
            }
        }
        CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> readAll(p.getInputStream()));
        CompletableFuture<String> err = mergeErrors ? CompletableFuture.completedFuture("")
                : CompletableFuture.supplyAsync(() -> readAll(p.getErrorStream()));
        if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", command) + " did not finish in " + timeout.toSeconds() + " s");
        }
        // A broker JVM the script started must not hold our pipes open: output ends with the script.
        return new Result(p.exitValue(), out.get(10, TimeUnit.SECONDS), err.get(10, TimeUnit.SECONDS));
    }

    /** The whole of {@code in} as UTF-8 (a marker instead if it cannot be read). */
    public static String readAll(InputStream in) {
        try {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "<unreadable: " + e + ">";
        }
    }

    /**
     * The surefire fork this JVM is (warren.it.fork, 1 to the fork count; see the pom), as a slot of
     * the port range: the forks start brokers at once, and between one fork's look at a port and
     * its broker's bind another fork's look found the same port free (CI: a cluster node's
     * management port "already in use"). Each of 4 slots is a quarter of the range; -1 without
     * the property (a run from an IDE): the whole range.
     */
    private static final int PORT_SLOT = portSlot();
    private static final int SLOT_PORTS = (32768 - 20000) / 4;

    private static int portSlot() {
        try {
            return (Integer.parseInt(System.getProperty("warren.it.fork", "")) - 1) % 4;
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** Ports this JVM has handed out already; a test that has not bound its port yet still owns it. */
    private static final java.util.Set<Integer> ISSUED = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /**
     * A TCP port nothing listens on right now, for a process started later to bind. It is drawn from
     * 20000-32767, below Linux's ephemeral range (32768-60999): a port the kernel picks with bind(0) is also
     * what it picks for outgoing connections, so one of the many client sockets a test run opens could take
     * it before the broker binds it (CI saw "address already in use" for a management port that way).
     */
    public static int freePort() throws IOException {
        java.util.concurrent.ThreadLocalRandom random = java.util.concurrent.ThreadLocalRandom.current();
        for (int attempt = 0; attempt < 1000; attempt++) {
            // the first tries in this fork's own part of the range (see PORT_SLOT), then anywhere
            int port = attempt < 500 && PORT_SLOT >= 0
                    ? random.nextInt(20000 + PORT_SLOT * SLOT_PORTS, 20000 + (PORT_SLOT + 1) * SLOT_PORTS)
                    : random.nextInt(20000, 32768);
            if (port == 25672 || !ISSUED.add(port)) {
                continue;
            }
            try (ServerSocket s = new ServerSocket()) {
                s.bind(new InetSocketAddress(port));
                return port;
            } catch (IOException inUse) {
                // taken by someone else: try another
            }
        }
        throw new IOException("no free TCP port in 20000-32767 after 1000 tries");
    }

    /** Whether something accepts TCP connections on 127.0.0.1:{@code port} (2 s to connect). */
    public static boolean accepts(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 2000);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** The pid written in {@code pidFile}. */
    public static long pid(Path pidFile) throws IOException {
        return Long.parseLong(Files.readString(pidFile).strip());
    }

    /** Whether process {@code pid} is alive. */
    public static boolean alive(long pid) {
        return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    }

    private static Path repoRoot() {
        String basedir = System.getProperty("basedir");
        Path module = basedir != null ? Path.of(basedir) : Path.of("").toAbsolutePath();
        Path root = module.toAbsolutePath().getParent();
        if (root == null) {
            throw new IllegalStateException("no repository above " + module);
        }
        return root;
    }
}
