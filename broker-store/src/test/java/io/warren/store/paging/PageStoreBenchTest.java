package io.warren.store.paging;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.warren.core.message.Message;
import io.warren.core.message.QueueEntry;
import io.warren.core.store.MessageStore;
import io.warren.core.store.SpillStore;
import io.warren.store.spill.FileSpillStore;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The page-out store candidates side by side: {@link FileSpillStore} (what the broker uses: one
 * FIFO of segment files per queue) and {@link MapDbPageStore} (mmap and file channel; the
 * journal's segment format, which page-out used before, measured 2-3x faster than MapDB).
 * Figures, not assertions on speed. Excluded from the default run; run with
 * {@code mvn -B -o -q test -pl broker-store -Dtest=PageStoreBenchTest -Dgroups=bench -Dstore.excludedGroups=}
 * (sizes: {@code -Dbench.messages=N}, default 1,000,000; {@code -Dbench.warmup=N}, default 100,000;
 * {@code -Dbench.only=journal-segments,mapdb-mmap} runs a subset).
 *
 * <p>Page-out: one thread appends 1 KB messages as a queue's event loop would (no waiting per
 * message), with at most {@link #OUT_WINDOW} unwritten so the heap stays bounded, then syncs.
 * Page-in: loads in order, {@link #LOAD_AHEAD} at a time, waiting for all sinks of a batch
 * before the next (like MessageQueue.loadAhead). Then every message is removed and synced.
 * CPU is the whole process's (all threads, GC included) over each phase.
 */
@Tag("bench")
class PageStoreBenchTest {
    private static final int SIZE = 1024;
    private static final int OUT_WINDOW = 16_384;
    private static final int LOAD_AHEAD = 256;

    @TempDir
    Path tmp;

    record Candidate(String name, Function<Path, MessageStore> open) {}

    private static final Candidate[] CANDIDATES = {
            new Candidate("mapdb-mmap", dir -> MapDbPageStore.open(dir, true)),
            new Candidate("mapdb-filechannel", dir -> MapDbPageStore.open(dir, false)),
            new Candidate("mapdb-btree-mmap", dir -> MapDbPageStore.open(dir, true, true)),
    };

    @Test
    void pageOutAndInOfAMillion1KbMessages() throws Exception {
        int total = Integer.getInteger("bench.messages", 1_000_000);
        int warmup = Integer.getInteger("bench.warmup", 100_000);
        // -Dbench.only=journal-segments,mapdb-mmap runs a subset
        java.util.List<String> only = java.util.List.of(System.getProperty("bench.only", "").split(","));
        java.util.List<Candidate> chosen = java.util.Arrays.stream(CANDIDATES)
                .filter(c -> only.equals(java.util.List.of("")) || only.contains(c.name)).toList();
        boolean spill = only.equals(java.util.List.of("")) || only.contains("file-spill");
        if (spill) {
            runSpill(tmp.resolve("warmup-spill"), warmup, false);
        }
        for (Candidate c : chosen) {
            run(c, tmp.resolve("warmup-" + c.name), warmup, false);
        }
        if (spill) {
            runSpill(tmp.resolve("file-spill"), total, true);
        }
        for (Candidate c : chosen) {
            run(c, tmp.resolve(c.name), total, true);
        }
    }

    /**
     * The same shape for the spill: append every message (the spill copies it), then read back in
     * the broker's batches; page-out ends when a one-entry read, queued behind every write,
     * returns. Removal is free: a segment is deleted once read.
     */
    private static void runSpill(Path dir, int n, boolean print) throws Exception {
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        var memory = ManagementFactory.getMemoryMXBean();
        byte[] content = new byte[SIZE];
        for (int i = 0; i < SIZE; i++) {
            content[i] = (byte) i;
        }
        System.gc();
        try (FileSpillStore store = FileSpillStore.open(dir, p -> null)) {
            SpillStore.Spill s = store.open("bench");
            Message m = new Message("", "q", Unpooled.wrappedBuffer(new byte[]{(byte) 0x10, 0, 1}),
                    Unpooled.wrappedBuffer(content), false, p -> null);
            long cpu0 = os.getProcessCpuTime();
            long t0 = System.nanoTime();
            for (int i = 0; i < n; i++) {
                s.append(new QueueEntry(m, i, false, QueueEntry.NOT_STORED));
            }
            m.release();
            AtomicLong loadedBytes = new AtomicLong();
            AtomicReference<Throwable> failed = new AtomicReference<>();
            int got = readBack(s, 1, loadedBytes, failed);
            long outNanos = System.nanoTime() - t0;
            long outCpu = os.getProcessCpuTime() - cpu0;
            System.gc();
            long heapStored = memory.getHeapMemoryUsage().getUsed();
            long diskBytes = diskBytes(dir);
            cpu0 = os.getProcessCpuTime();
            t0 = System.nanoTime();
            while (got < n) {
                int k = readBack(s, 4096, loadedBytes, failed);
                assertTrue(k > 0);
                got += k;
            }
            long inNanos = System.nanoTime() - t0;
            long inCpu = os.getProcessCpuTime() - cpu0;
            assertNull(failed.get());
            assertEquals((long) n * SIZE, loadedBytes.get());
            if (print) {
                double mb = (double) n * SIZE / 1e6;
                System.out.printf("BENCH %-18s %,d x 1 KB | page-out %.2f s %,.0f MB/s %.2f us CPU/msg"
                                + " | page-in %.2f s %,.0f MB/s %.2f us CPU/msg | remove: none (read segments are deleted)"
                                + " | on disk %,.0f MB, heap with all stored %,.0f MB%n",
                        "file-spill", n, outNanos / 1e9, mb / (outNanos / 1e9), outCpu / 1e3 / n,
                        inNanos / 1e9, mb / (inNanos / 1e9), inCpu / 1e3 / n, diskBytes / 1e6, heapStored / 1e6);
            }
        }
    }

    private static int readBack(SpillStore.Spill s, int max, AtomicLong loadedBytes, AtomicReference<Throwable> failed)
            throws Exception {
        CompletableFuture<Integer> f = new CompletableFuture<>();
        s.read(max, 2 << 20, (entries, failure) -> {
            if (failure != null) {
                failed.compareAndSet(null, failure);
            }
            for (QueueEntry e : entries) {
                ByteBuf b = e.message().body();
                loadedBytes.addAndGet(b.readableBytes());
                if (b.getByte(b.readerIndex() + 7) != 7) {
                    failed.compareAndSet(null, new AssertionError("wrong body"));
                }
                e.message().release();
            }
            f.complete(entries.size());
        });
        return f.get(5, TimeUnit.MINUTES);
    }

    private static void run(Candidate c, Path dir, int n, boolean print) throws Exception {
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        var memory = ManagementFactory.getMemoryMXBean();
        byte[] content = new byte[SIZE];
        for (int i = 0; i < SIZE; i++) {
            content[i] = (byte) i;
        }
        ByteBuf props = Unpooled.wrappedBuffer(new byte[]{(byte) 0x10, 0, 1}); // delivery-mode 1, like a transient header
        ByteBuf body = Unpooled.wrappedBuffer(content);
        long[] queue = {42};
        long[] refs = new long[n];
        AtomicReference<Throwable> failed = new AtomicReference<>();
        System.gc();
        try (MessageStore s = c.open.apply(dir)) {
            // Page-out.
            Semaphore window = new Semaphore(OUT_WINDOW);
            MessageStore.Durable written = f -> {
                if (f != null) {
                    failed.compareAndSet(null, f);
                }
                window.release();
            };
            long cpu0 = os.getProcessCpuTime();
            long t0 = System.nanoTime();
            for (int i = 0; i < n; i++) {
                window.acquireUninterruptibly();
                refs[i] = s.append("", "q", props, body, queue, written);
            }
            sync(s);
            long outNanos = System.nanoTime() - t0;
            long outCpu = os.getProcessCpuTime() - cpu0;
            assertNull(failed.get());
            System.gc();
            long heapStored = memory.getHeapMemoryUsage().getUsed();
            long diskBytes = diskBytes(dir);

            // Page-in.
            AtomicLong loadedBytes = new AtomicLong();
            cpu0 = os.getProcessCpuTime();
            t0 = System.nanoTime();
            for (int from = 0; from < n; from += LOAD_AHEAD) {
                int to = Math.min(n, from + LOAD_AHEAD);
                CountDownLatch batch = new CountDownLatch(to - from);
                for (int i = from; i < to; i++) {
                    s.load(refs[i], (p, b, f) -> {
                        if (f != null) {
                            failed.compareAndSet(null, f);
                        } else {
                            loadedBytes.addAndGet(b.readableBytes());
                            if (b.getByte(b.readerIndex() + 7) != 7) {
                                failed.compareAndSet(null, new AssertionError("wrong body"));
                            }
                            p.release();
                            b.release();
                        }
                        batch.countDown();
                    });
                }
                assertTrue(batch.await(5, TimeUnit.MINUTES));
            }
            long inNanos = System.nanoTime() - t0;
            long inCpu = os.getProcessCpuTime() - cpu0;
            assertNull(failed.get());
            assertEquals((long) n * SIZE, loadedBytes.get());

            // Remove (a consumer's acks).
            cpu0 = os.getProcessCpuTime();
            t0 = System.nanoTime();
            for (int i = 0; i < n; i++) {
                s.remove(refs[i]);
            }
            sync(s);
            long rmNanos = System.nanoTime() - t0;
            long rmCpu = os.getProcessCpuTime() - cpu0;
            System.gc();
            long heapAfter = memory.getHeapMemoryUsage().getUsed();

            if (print) {
                double mb = (double) n * SIZE / 1e6;
                System.out.printf("BENCH %-18s %,d x 1 KB | page-out %.2f s %,.0f MB/s %.2f us CPU/msg"
                                + " | page-in %.2f s %,.0f MB/s %.2f us CPU/msg | remove %.2f s %.2f us CPU/msg"
                                + " | on disk %,.0f MB, heap with all stored %,.0f MB, after remove %,.0f MB%n",
                        c.name, n, outNanos / 1e9, mb / (outNanos / 1e9), outCpu / 1e3 / n,
                        inNanos / 1e9, mb / (inNanos / 1e9), inCpu / 1e3 / n,
                        rmNanos / 1e9, rmCpu / 1e3 / n,
                        diskBytes / 1e6, heapStored / 1e6, heapAfter / 1e6);
            }
        } finally {
            props.release();
            body.release();
        }
    }

    private static void sync(MessageStore s) throws Exception {
        CompletableFuture<Throwable> f = new CompletableFuture<>();
        s.sync(f::complete);
        assertNull(f.get(10, TimeUnit.MINUTES));
    }

    /** Allocated bytes of the files under {@code dir} (a sparse or preallocated file counts its length). */
    private static long diskBytes(Path dir) throws java.io.IOException {
        try (var files = Files.walk(dir)) {
            return files.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
        }
    }
}
