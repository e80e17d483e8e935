package io.warren.store;


import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A second JVM for the tests that need a real other process (one holding the data-dir lock, a
 * journal writer killed with SIGKILL, ...): it runs a given class's main on this test classpath.
 * {@link #main} is the lock holder's side.
 */
public final class ChildProcess implements AutoCloseable {
    public final Process process;
    private final BufferedReader out;

    private ChildProcess(Process process) {
        this.process = process;
        this.out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
    }

    /** Runs this class's main (the lock holder). */
    static ChildProcess start(String... args) throws IOException {
        return start(ChildProcess.class, args);
    }

    /** Runs {@code mainClass}; leading arguments starting with "-" are JVM options (default heap: 256 MB). */
    public static ChildProcess start(Class<?> mainClass, String... args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
        int i = 0;
        while (i < args.length && args[i].startsWith("-")) {
            cmd.add(args[i++]);
        }
        if (i == 0) {
            cmd.add("-Xmx256m");
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), mainClass.getName()));
        cmd.addAll(Arrays.asList(args).subList(i, args.length));
        return new ChildProcess(new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start());
    }

    /** Next line of the child's stdout, or null at its end. */
    public String readLine() throws IOException {
        return out.readLine();
    }

    /**
     * SIGKILL on Unix: no shutdown hook, no close, like {@code kill -9}. Through the process
     * handle, because {@code Process.destroyForcibly()} also closes our end of its stdout and
     * would drop the confirmations still in the pipe.
     */
    public void kill() throws InterruptedException {
        process.toHandle().destroyForcibly();
        process.waitFor();
    }

    @Override
    public void close() throws Exception {
        if (process.isAlive()) {
            kill();
        }
    }

    public static void main(String[] args) throws Exception {
        Path dir = Paths.get(args[1]);
        PrintStream stdout = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true,
                StandardCharsets.UTF_8);
        if (!args[0].equals("lock")) {
            throw new IllegalArgumentException(args[0]);
        }
        DataDirLock.acquire(dir);
        stdout.println("locked");
        while (System.in.read() >= 0) {
            // hold the lock until the parent closes our stdin or kills us
        }
    }
}
