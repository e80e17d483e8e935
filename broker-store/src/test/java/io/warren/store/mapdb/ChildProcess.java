package io.warren.store.mapdb;

import io.netty.buffer.Unpooled;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.concurrent.Semaphore;

/**
 * A second JVM for the tests that need a real other process: one holding the data-dir lock,
 * one publishing until it is killed with SIGKILL. {@link #main} is the child's side.
 */
final class ChildProcess implements AutoCloseable {
    final Process process;
    final BufferedReader out;

    private ChildProcess(Process process) {
        this.process = process;
        this.out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
    }

    static ChildProcess start(String... args) throws IOException {
        String java = Paths.get(System.getProperty("java.home"), "bin", "java").toString();
        String[] cmd = new String[args.length + 5];
        cmd[0] = java;
        cmd[1] = "-Xmx256m";
        cmd[2] = "-cp";
        cmd[3] = System.getProperty("java.class.path");
        cmd[4] = ChildProcess.class.getName();
        System.arraycopy(args, 0, cmd, 5, args.length);
        return new ChildProcess(new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start());
    }

    /** Next line of the child's stdout, or null at its end. */
    String readLine() throws IOException {
        return out.readLine();
    }

    /**
     * SIGKILL on Unix: no shutdown hook, no close, like {@code kill -9}. Through the process
     * handle, because {@code Process.destroyForcibly()} also closes our end of its stdout and
     * would drop the confirmations still in the pipe.
     */
    void kill() throws InterruptedException {
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
        switch (args[0]) {
            case "lock" -> {
                DataDirLock.acquire(dir);
                stdout.println("locked");
                while (System.in.read() >= 0) {
                    // hold the lock until the parent closes our stdin or kills us
                }
            }
            case "publish" -> publish(dir, Integer.parseInt(args[2]), stdout);
            default -> throw new IllegalArgumentException(args[0]);
        }
    }

    /** Publishes forever with a window of 2,000 unconfirmed messages, printing "ok i ref" per confirm. */
    private static void publish(Path dir, int size, PrintStream stdout) {
        DataDirLock.acquire(dir);
        MapDbMessageStore store = MapDbMessageStore.open(dir);
        Semaphore window = new Semaphore(2_000);
        byte[] pad = new byte[size];
        for (long i = 0; ; i++) {
            window.acquireUninterruptibly();
            byte[] id = ("msg-" + i + "-").getBytes(StandardCharsets.US_ASCII);
            byte[] body = pad.clone();
            System.arraycopy(id, 0, body, 0, Math.min(id.length, body.length));
            long[] ref = new long[1];
            long n = i;
            Object refSet = new Object();
            synchronized (refSet) {
                ref[0] = store.append("e", "r", Unpooled.EMPTY_BUFFER, Unpooled.wrappedBuffer(body), new long[]{1 + i % 3},
                        failure -> {
                            synchronized (refSet) {
                                if (failure == null) {
                                    stdout.println("ok " + n + " " + ref[0]);
                                }
                            }
                            window.release();
                        });
            }
        }
    }
}
