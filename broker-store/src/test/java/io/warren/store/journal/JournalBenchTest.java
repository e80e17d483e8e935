package io.warren.store.journal;

import io.warren.store.ChildProcess;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Figures, not assertions on speed. Excluded from the default run; run with
 * {@code mvn -B -o test -pl broker-store -Dgroups=bench -Dstore.excludedGroups=}
 * (sizes: {@code -Dbench.messages=N}, default 200,000 per throughput run and 1,000,000 for recovery).
 */
@Tag("bench")
class JournalBenchTest {
    private static final int SIZE = 1024;
    /** Unconfirmed messages per publisher, like a client's confirm window. */
    private static final int WINDOW = 2_000;

    @TempDir
    Path tmp;

    @Test
    void appendThroughputWith1KbMessages() throws Exception {
        int total = Integer.getInteger("bench.messages", 200_000);
        for (int threads : new int[]{1, 4, 8}) {
            run("append", tmp.resolve("append-" + threads), threads, total, false);
        }
    }

    @Test
    void publishAndAckThroughputWith1KbMessages() throws Exception {
        int total = Integer.getInteger("bench.messages", 200_000);
        run("append+remove", tmp.resolve("ack"), 4, total, true);
    }

    /** Returns nothing; prints appends/s, commits and MB/s. */
    private static void run(String name, Path dir, int threads, int total, boolean ack) throws Exception {
        try (JournalMessageStore s = JournalMessageStore.open(dir)) {
            int perThread = total / threads;
            CountDownLatch done = new CountDownLatch(threads * perThread);
            AtomicReference<Throwable> failed = new AtomicReference<>();
            byte[] body = new byte[SIZE];
            ByteBuf props = Unpooled.wrappedBuffer(new byte[]{(byte) 0x90, 0, 2}); // persistent, like a real header
            List<Thread> ts = new ArrayList<>();
            long t0 = System.nanoTime();
            for (int t = 0; t < threads; t++) {
                long queue = t;
                Thread th = new Thread(() -> {
                    Semaphore window = new Semaphore(WINDOW);
                    ByteBuf b = Unpooled.wrappedBuffer(body);
                    for (int i = 0; i < perThread; i++) {
                        window.acquireUninterruptibly();
                        long[] ref = new long[1];
                        Object lock = new Object();
                        synchronized (lock) {
                            ref[0] = s.append("bench", "rk", props, b, new long[]{queue}, f -> {
                                if (f != null) {
                                    failed.set(f);
                                }
                                if (ack) {
                                    synchronized (lock) {
                                        s.remove(ref[0]);
                                    }
                                }
                                window.release();
                                done.countDown();
                            });
                        }
                    }
                }, "publisher-" + t);
                ts.add(th);
                th.start();
            }
            assertTrue(done.await(10, TimeUnit.MINUTES));
            long nanos = System.nanoTime() - t0;
            assertEquals(null, failed.get());
            int n = threads * perThread;
            double secs = nanos / 1e9;
            System.out.printf("BENCH %-14s %d threads: %,d x 1 KB in %.2f s = %,.0f msg/s, %.0f MB/s, %,d commits (%,.0f/s, %.0f msg/commit)%n",
                    name, threads, n, secs, n / secs, n * (double) SIZE / secs / 1e6, s.commits(),
                    s.commits() / secs, n / (double) s.commits());
        }
    }

    @Test
    void recoveryOfAMillion1KbMessagesInASmallHeap() throws Exception {
        int total = Integer.getInteger("bench.messages", 1_000_000);
        Path dir = tmp.resolve("recover");
        run("fill", dir, 4, total, false);
        System.out.printf("BENCH journal is %,d bytes%n", journalBytes(dir));
        if (Boolean.getBoolean("bench.dropCaches")) {
            dropPageCache();
        }
        // A fresh JVM with a 128 MB heap, like a broker restart: open, recover, page in a queue's head.
        try (ChildProcess child = ChildProcess.start(JournalChild.class, "-Xmx128m", "recover", dir.toString())) {
            String line;
            while ((line = child.readLine()) != null) {
                System.out.println("BENCH " + line);
            }
            assertEquals(0, child.process.waitFor());
        }
    }

    private static long journalBytes(Path dir) throws java.io.IOException {
        try (var files = Files.list(dir.resolve(Journal.DIR))) {
            return files.mapToLong(p -> p.toFile().length()).sum();
        }
    }

    /** Cold-cache figure: needs root and a writable /proc/sys (not in most containers). */
    private static void dropPageCache() throws Exception {
        new ProcessBuilder("sync").inheritIO().start().waitFor();
        try {
            Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "3\n");
            System.out.println("BENCH page cache dropped: cold-cache recovery");
        } catch (java.io.IOException e) {
            System.out.println("BENCH cannot drop the page cache (" + e + "): warm-cache recovery");
        }
    }
}
