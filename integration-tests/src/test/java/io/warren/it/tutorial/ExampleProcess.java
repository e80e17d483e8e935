package io.warren.it.tutorial;

import org.awaitility.core.ConditionTimeoutException;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import static org.awaitility.Awaitility.await;

/**
 * One tutorial program running as a real subprocess, its stdout and stderr (merged) collected line
 * by line. Closing it kills it; a JVM shutdown hook kills any left alive, so a crashed test run
 * leaves no consumers behind.
 */
final class ExampleProcess implements AutoCloseable {
    private static final Set<Process> ALIVE = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> ALIVE.forEach(Process::destroyForcibly)));
    }

    private final String name;
    private final Process process;
    private final Thread reader;
    private final List<String> lines = new CopyOnWriteArrayList<>();

    private ExampleProcess(String name, Process process) {
        this.name = name;
        this.process = process;
        this.reader = new Thread(this::readOutput, "output of " + name);
        this.reader.setDaemon(true);
        this.reader.start();
    }

    static ExampleProcess start(String name, List<String> command, Map<String, String> env) throws IOException {
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().putAll(env);
        Process process = builder.start();
        ALIVE.add(process);
        process.getOutputStream().close();
        return new ExampleProcess(name, process);
    }

    private void readOutput() {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null; ) {
                lines.add(line);
            }
        } catch (IOException e) {
            lines.add("<output read failed: " + e + ">");
        }
    }

    String name() {
        return name;
    }

    List<String> lines() {
        return List.copyOf(lines);
    }

    /** The lines that start with {@code prefix}, in the order printed. */
    List<String> linesStartingWith(String prefix) {
        return lines.stream().filter(l -> l.startsWith(prefix)).toList();
    }

    long count(Predicate<String> line) {
        return lines.stream().filter(line).count();
    }

    /** Waits (bounded) until some line matches; fails at once if the process exits without one. */
    void awaitLine(Predicate<String> line, String what, Duration timeout) {
        awaitCount(line, 1, what, timeout);
    }

    /** Waits (bounded) until at least {@code n} lines match; fails at once if the process exits first. */
    void awaitCount(Predicate<String> line, long n, String what, Duration timeout) {
        awaitCondition(() -> count(line) >= n, what, timeout);
    }

    /** Waits (bounded) for a condition on this process's output; fails at once if it exits first. */
    void awaitCondition(Callable<Boolean> condition, String what, Duration timeout) {
        try {
            await(name + ": " + what).atMost(timeout).pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(25))
                    .until(() -> {
                        if (condition.call()) {
                            return true;
                        }
                        if (!process.isAlive()) {
                            reader.join(TimeUnit.SECONDS.toMillis(5));
                            if (condition.call()) {
                                return true;
                            }
                            throw new IllegalStateException(name + " exited with status " + process.exitValue()
                                    + " before " + what + "\n" + transcript());
                        }
                        return false;
                    });
        } catch (ConditionTimeoutException e) {
            throw new AssertionError(name + ": no " + what + " within " + timeout + "\n" + transcript(), e);
        }
    }

    /** Waits (bounded) for the process to end and its output to be read; returns its exit status. */
    int awaitExit(Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new AssertionError(name + " still running after " + timeout + "\n" + transcript());
        }
        reader.join(TimeUnit.SECONDS.toMillis(5));
        ALIVE.remove(process);
        return process.exitValue();
    }

    String transcript() {
        StringBuilder b = new StringBuilder("---- output of ").append(name).append(" ----\n");
        lines.forEach(l -> b.append(l).append('\n'));
        return b.append("---- end of ").append(name).append(" ----").toString();
    }

    @Override
    public void close() {
        try {
            if (process.isAlive()) {
                process.destroy();
                if (!process.waitFor(5, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                    process.waitFor(5, TimeUnit.SECONDS);
                }
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        } finally {
            ALIVE.remove(process);
        }
    }

    @Override
    public String toString() {
        return name;
    }
}
