package io.warren.store.journal;

import io.netty.buffer.Unpooled;
import io.warren.core.store.MessageStore;
import io.warren.store.ChildProcess;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;

/** The child JVM's side of the kill -9 test and the recovery bench (run through {@link ChildProcess}). */
final class JournalChild {
    private JournalChild() {}

    public static void main(String[] args) throws Exception {
        Path dir = Paths.get(args[1]);
        PrintStream stdout = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true,
                StandardCharsets.UTF_8);
        switch (args[0]) {
            case "publish" -> publish(dir, Integer.parseInt(args[2]), Long.parseLong(args[3]), stdout);
            case "recover" -> recover(dir, stdout);
            default -> throw new IllegalArgumentException(args[0]);
        }
    }

    /**
     * Publishes forever (message numbers from {@code first}) with a window of 2,000 unconfirmed
     * messages and acks every other confirmed one, printing "ok i ref" per confirm. Small
     * segments so kills also land around rolls and deletions.
     */
    private static void publish(Path dir, int size, long first, PrintStream stdout) {
        JournalMessageStore store = JournalMessageStore.open(dir, 4 << 20, 0.25);
        stdout.println("open");
        Semaphore window = new Semaphore(2_000);
        byte[] pad = new byte[size];
        for (long i = first; ; i++) {
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
                                    if (n % 2 == 1) {
                                        store.remove(ref[0]); // acked: may or may not survive the kill
                                    }
                                }
                            }
                            window.release();
                        });
            }
        }
    }

    /** Opens and recovers keeping every StoredMessage (as a broker's queues would), then reports time and heap. */
    private static void recover(Path dir, PrintStream stdout) throws Exception {
        long t0 = System.nanoTime();
        JournalMessageStore store = JournalMessageStore.open(dir);
        long t1 = System.nanoTime();
        List<List<MessageStore.StoredMessage>> queues = new ArrayList<>();
        store.recover((q, m) -> {
            while (queues.size() <= q) {
                queues.add(new ArrayList<>());
            }
            queues.get((int) q).add(m);
        });
        long t2 = System.nanoTime();
        long n = queues.stream().mapToLong(List::size).sum();
        System.gc();
        java.lang.management.MemoryUsage heap = java.lang.management.ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
        stdout.printf("recovery: open %.2f s, recover %,d messages %.2f s, heap used after GC %d MB (max %d MB)%n",
                (t1 - t0) / 1e9, n, (t2 - t1) / 1e9, heap.getUsed() >> 20, Runtime.getRuntime().maxMemory() >> 20);
        List<MessageStore.StoredMessage> first = queues.stream().filter(l -> !l.isEmpty()).findFirst().orElseThrow();
        int pages = Math.min(20_000, first.size());
        long t3 = System.nanoTime();
        CompletableFuture<Void> last = null;
        for (int i = 0; i < pages; i++) {
            CompletableFuture<Void> f = new CompletableFuture<>();
            store.load(first.get(i).ref(), (p, b, failure) -> {
                if (failure != null) {
                    f.completeExceptionally(failure);
                    return;
                }
                p.release();
                b.release();
                f.complete(null);
            });
            last = f;
        }
        last.get();
        long t4 = System.nanoTime();
        stdout.printf("page-in: %,d loads of one queue in publish order %.2f s = %,.0f loads/s%n",
                pages, (t4 - t3) / 1e9, pages / ((t4 - t3) / 1e9));
        store.close();
    }
}
