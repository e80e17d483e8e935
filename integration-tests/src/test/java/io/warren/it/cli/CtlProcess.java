package io.warren.it.cli;

import java.io.IOException;
import java.io.InputStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A broker started with the real {@code bin/warren} and a config file of its own in {@code dir},
 * and the real {@code bin/warrenctl} run against it (through WARREN_CONFIG), as scripts do.
 */
final class CtlProcess {
    static final Path ROOT = repoRoot();
    static final Path CTL = ROOT.resolve("bin/warrenctl");
    static final Path WARREN = ROOT.resolve("bin/warren");

    record Result(int code, String out, String err) {
        String all() {
            return "exit " + code + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    final Path dir;
    final Path conf;
    final int amqpPort;
    final int managementPort;

    /** Writes the config (with {@code extraLines}) and starts the broker. */
    CtlProcess(Path dir, String... extraLines) throws Exception {
        this.dir = dir;
        amqpPort = freePort();
        managementPort = freePort();
        conf = dir.resolve("warren.conf");
        StringBuilder c = new StringBuilder();
        c.append("listeners.tcp.default = 127.0.0.1:").append(amqpPort).append('\n')
                .append("management.tcp.port = ").append(managementPort).append('\n')
                .append("data_dir = data\nlog.file = log/warren.log\n");
        for (String l : extraLines) {
            c.append(l).append('\n');
        }
        Files.writeString(conf, c.toString());
        Result r = run(List.of(WARREN.toString(), "start", "--config", conf.toString()), Map.of());
        assertEquals(0, r.code(), r.all());
    }

    void stop() throws Exception {
        run(List.of(WARREN.toString(), "stop", "--config", conf.toString()), Map.of());
    }

    /** {@code bin/warrenctl ARGS} with WARREN_CONFIG naming this broker's config. */
    Result ctl(String... args) throws Exception {
        List<String> command = new java.util.ArrayList<>();
        command.add(CTL.toString());
        command.addAll(List.of(args));
        return run(command, Map.of("WARREN_CONFIG", conf.toString()));
    }

    Result run(List<String> command, Map<String, String> env) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile());
        pb.environment().remove("WARREN_CONFIG");
        pb.environment().put("WARREN_JAVA_OPTS", "-Xmx256m");
        pb.environment().putAll(new HashMap<>(env));
        Process p = pb.start();
        p.getOutputStream().close();
        CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> readAll(p.getInputStream()));
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> readAll(p.getErrorStream()));
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", command) + " did not finish in 120 s");
        }
        return new Result(p.exitValue(), out.get(10, TimeUnit.SECONDS), err.get(10, TimeUnit.SECONDS));
    }

    private static String readAll(InputStream in) {
        try {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "<unreadable: " + e + ">";
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static Path repoRoot() {
        String basedir = System.getProperty("basedir");
        Path module = basedir != null ? Path.of(basedir) : Path.of("").toAbsolutePath();
        return module.toAbsolutePath().getParent();
    }
}
