package io.warren.store.spill;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.warren.core.message.Message;
import io.warren.core.message.QueueEntry;
import io.warren.core.store.SpillStore;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The page-out store keeps each queue's spill in FIFO order with every field intact, reads back
 * in batches (also a record larger than its read block), rolls and deletes segment files, frees
 * everything on clear and delete (telling the store slots it held), and keeps a chunk it cannot
 * write in memory rather than lose it.
 */
class FileSpillStoreTest {
    @TempDir
    Path tmp;
    private FileSpillStore store;
    private final List<QueueEntry> held = new ArrayList<>();
    /** Stands in for the AMQP headers decoder: proves a read-back message still decodes its headers. */
    private static final java.util.function.Function<ByteBuf, Map<String, Object>> HEADERS =
            p -> Map.of("h", p.readableBytes());

    @AfterEach
    void close() {
        held.forEach(e -> e.message().release());
        if (store != null) {
            store.close();
        }
    }

    private static byte[] body(int i, int size) {
        byte[] b = new byte[size];
        if (size >= 4) {
            ByteBuffer.wrap(b).putInt(i);
        }
        for (int k = 4; k < size; k++) {
            b[k] = (byte) (i + k);
        }
        return b;
    }

    private static byte[] props(int i) {
        return ("props-" + i).getBytes(StandardCharsets.UTF_8);
    }

    private static QueueEntry entry(int i, int size) {
        Message m = new Message("ex-é", "rk." + i, Unpooled.wrappedBuffer(props(i)), Unpooled.wrappedBuffer(body(i, size)),
                i % 2 == 0, HEADERS);
        QueueEntry e = new QueueEntry(m, 1000 + i, i % 3 == 0, i % 5 == 0 ? QueueEntry.NOT_STORED : 77_000 + i);
        return e;
    }

    private void append(SpillStore.Spill s, int from, int to, int size) {
        for (int i = from; i < to; i++) {
            QueueEntry e = entry(i, size);
            s.append(e);
            e.message().release(); // the spill copied it
        }
    }

    private List<QueueEntry> read(SpillStore.Spill s, int max, long maxBytes) throws Exception {
        CompletableFuture<List<QueueEntry>> f = new CompletableFuture<>();
        s.read(max, maxBytes, (entries, failure) -> {
            if (failure != null) {
                f.completeExceptionally(failure);
            } else {
                f.complete(entries);
            }
        });
        List<QueueEntry> got = f.get(30, TimeUnit.SECONDS);
        held.addAll(got);
        return got;
    }

    private static void check(QueueEntry e, int i, int size) {
        assertEquals(1000 + i, e.seq());
        assertEquals(i % 3 == 0, e.redelivered());
        assertEquals(i % 5 == 0 ? QueueEntry.NOT_STORED : 77_000 + i, e.ref());
        Message m = e.message();
        assertEquals("ex-é", m.exchange());
        assertEquals("rk." + i, m.routingKey());
        assertEquals(i % 2 == 0, m.persistent());
        assertArrayEquals(props(i), ByteBufUtil.getBytes(m.properties()));
        assertArrayEquals(body(i, size), ByteBufUtil.getBytes(m.body()));
        assertEquals(Map.of("h", props(i).length), m.headers());
        assertEquals(1, m.refCnt());
    }

    /**
     * Queues that page faster than the pager writes: past the bound of unwritten chunks the
     * store is overloaded (publishers pause on it), and once the pager has written half of it
     * the drain callbacks run and it is not overloaded any more.
     */
    @Test
    void chunksWaitingForThePagerPastTheirBoundOverloadTheStoreUntilWritten() throws Exception {
        store = FileSpillStore.open(tmp.resolve("paging"), FileSpillStore.DEFAULT_SEGMENT_SIZE, 1 << 20, HEADERS);
        SpillStore.Spill busy = store.open("busy");
        SpillStore.Spill q = store.open("q");
        java.util.concurrent.CountDownLatch pagerHeld = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        busy.read(1, 1, (entries, failure) -> { // runs on the pager thread: holds it
            pagerHeld.countDown();
            try {
                release.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        assertTrue(pagerHeld.await(30, TimeUnit.SECONDS));
        assertFalse(store.overloaded());
        java.util.concurrent.atomic.AtomicInteger resumed = new java.util.concurrent.atomic.AtomicInteger();
        store.whenDrained(Runnable::run, resumed::incrementAndGet);
        assertEquals(1, resumed.get(), "not overloaded: at once");
        append(q, 0, 24, 64 << 10); // 24 chunks of one 64 KiB message each: 1.5 MiB for the pager
        assertTrue(store.unwritten() > 1 << 20, "unwritten " + store.unwritten());
        assertTrue(store.overloaded());
        store.whenDrained(Runnable::run, resumed::incrementAndGet);
        assertEquals(1, resumed.get(), "waits while overloaded");
        release.countDown();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (resumed.get() < 2 && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        assertEquals(2, resumed.get(), "resumed once the pager caught up");
        assertFalse(store.overloaded());
        List<QueueEntry> back = read(q, 100, Long.MAX_VALUE);
        assertEquals(24, back.size(), "nothing lost");
        for (int i = 0; i < back.size(); i++) {
            check(back.get(i), i, 64 << 10);
        }
    }

    /** Waits up to 30 s for the number of spill files to satisfy {@code until}. */
    private void awaitFiles(java.util.function.LongPredicate until) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!until.test(spillFiles()) && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
    }

    private long spillFiles() throws Exception {
        if (!Files.exists(tmp.resolve("paging"))) {
            return 0;
        }
        try (var files = Files.list(tmp.resolve("paging"))) {
            return files.count();
        }
    }

    @Test
    void entriesComeBackInOrderWithEveryFieldAcrossSegments() throws Exception {
        store = FileSpillStore.open(tmp.resolve("paging"), 256 << 10, HEADERS);
        SpillStore.Spill a = store.open("a");
        SpillStore.Spill b = store.open("b");
        append(a, 0, 3000, 1000); // ~3 MB: a dozen segments of 256 KiB
        append(b, 0, 10, 10);
        append(a, 3000, 3100, 0);
        // the pager writes chunks on its own thread: the files appear shortly after the appends
        awaitFiles(n -> n >= 10);
        assertTrue(spillFiles() >= 10, "segments: " + spillFiles());
        int next = 0;
        while (next < 3100) {
            List<QueueEntry> got = read(a, 500, 200_000);
            assertFalse(got.isEmpty());
            assertTrue(got.size() <= 500);
            for (QueueEntry e : got) {
                check(e, next, next < 3000 ? 1000 : 0);
                next++;
            }
        }
        assertEquals(List.of(), read(a, 10, 1000));
        List<QueueEntry> fromB = read(b, 100, 1 << 20);
        assertEquals(10, fromB.size());
        for (int i = 0; i < 10; i++) {
            check(fromB.get(i), i, 10);
        }
        // Read segments are deleted; the last one of each spill is emptied for reuse.
        awaitFiles(n -> n <= 2);
        assertTrue(spillFiles() <= 2, "files left: " + spillFiles());
        assertEquals(3110, store.spilled());
    }

    @Test
    void aRecordLargerThanTheReadBlockComesBackWhole() throws Exception {
        store = FileSpillStore.open(tmp.resolve("paging"), HEADERS);
        SpillStore.Spill s = store.open("big");
        int big = FileSpillStore.BLOCK * 3 + 17;
        append(s, 0, 2, 100);
        append(s, 2, 3, big);
        append(s, 3, 4, 100);
        List<QueueEntry> got = new ArrayList<>();
        while (got.size() < 4) {
            got.addAll(read(s, 10, 1000));
        }
        assertEquals(4, got.size());
        assertArrayEquals(body(2, big), ByteBufUtil.getBytes(got.get(2).message().body()));
        assertArrayEquals(body(3, 100), ByteBufUtil.getBytes(got.get(3).message().body()));
    }

    @Test
    void clearReportsTheStoreSlotsOfUnreadEntriesAndDeleteRemovesTheFiles() throws Exception {
        store = FileSpillStore.open(tmp.resolve("paging"), 64 << 10, HEADERS);
        SpillStore.Spill s = store.open("q");
        append(s, 0, 200, 1000);
        assertEquals(20, read(s, 20, 1 << 20).size());
        List<Long> refs = new ArrayList<>();
        CompletableFuture<Void> done = new CompletableFuture<>();
        s.clear(refs::add);
        s.read(10, 1000, (entries, failure) -> done.complete(null)); // runs after the clear
        done.get(30, TimeUnit.SECONDS);
        List<Long> expected = new ArrayList<>();
        for (int i = 20; i < 200; i++) {
            if (i % 5 != 0) {
                expected.add(77_000L + i);
            }
        }
        assertEquals(expected, refs);
        assertEquals(List.of(), read(s, 10, 1000));
        append(s, 500, 510, 10); // usable again after a purge
        List<QueueEntry> again = read(s, 100, 1 << 20);
        assertEquals(10, again.size());
        check(again.get(0), 500, 10);
        s.delete();
        CompletableFuture<Void> after = new CompletableFuture<>();
        store.open("other").read(1, 1, (entries, failure) -> after.complete(null));
        after.get(30, TimeUnit.SECONDS);
        assertEquals(0, spillFiles());
    }

    @Test
    void aChunkThatCannotBeWrittenStaysInMemoryAndNothingIsLost() throws Exception {
        // Segments of one chunk each: every later chunk needs a new file.
        store = FileSpillStore.open(tmp.resolve("paging"), FileSpillStore.CHUNK, HEADERS);
        SpillStore.Spill s = store.open("q");
        append(s, 0, 100, 1000);
        assertEquals(10, read(s, 10, 1 << 20).size()); // the first chunk is on disk
        // The directory disappears: new segment files cannot be created.
        try (var files = Files.list(tmp.resolve("paging"))) {
            for (Path p : files.toList()) {
                Files.delete(p);
            }
        }
        Files.delete(tmp.resolve("paging"));
        append(s, 100, 300, 1000);
        List<QueueEntry> got = new ArrayList<>();
        // What was read from the deleted (still open) file and the chunks kept in memory all come back.
        while (true) {
            List<QueueEntry> batch = read(s, 64, 1 << 20);
            if (batch.isEmpty()) {
                break;
            }
            got.addAll(batch);
        }
        assertEquals(290, got.size());
        for (int i = 0; i < got.size(); i++) {
            check(got.get(i), 10 + i, 1000);
        }
        assertNotEquals(0, store.failedWrites());
    }

    @Test
    void closeEmptiesTheDirectoryAndOpenEmptiesWhatAnEarlierRunLeft() throws Exception {
        Path dir = tmp.resolve("paging");
        Files.createDirectories(dir);
        Files.write(dir.resolve("1-0.spill"), new byte[]{1, 2, 3});
        store = FileSpillStore.open(dir, HEADERS);
        assertEquals(0, spillFiles());
        SpillStore.Spill s = store.open("q");
        append(s, 0, 100, 1000); // more than a chunk: the first is handed to the pager and written
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (spillFiles() == 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertTrue(spillFiles() > 0);
        store.close();
        store = null;
        assertEquals(0, spillFiles());
    }

    /** Runs one sweep step; returns {expired entries, more (Boolean), moves (List of long[3])}. */
    private Object[] sweep(SpillStore.Spill s, SpillStore.Sweep sw) throws Exception {
        List<long[]> moves = new ArrayList<>();
        CompletableFuture<Object[]> f = new CompletableFuture<>();
        s.sweep(sw, new SpillStore.SweepSink() {
            @Override public void retimed(long oldAt, long newAt, int bytes) {
                moves.add(new long[] {oldAt, newAt, bytes});
            }

            @Override public void swept(List<QueueEntry> expired, boolean more, Throwable failure) {
                if (failure != null) {
                    f.completeExceptionally(failure);
                } else {
                    f.complete(new Object[] {expired, more, moves});
                }
            }
        });
        Object[] r = f.get(30, TimeUnit.SECONDS);
        @SuppressWarnings("unchecked") List<QueueEntry> got = (List<QueueEntry>) r[0];
        held.addAll(got);
        return r;
    }

    private static SpillStore.Sweep sweepAt(long now, boolean retime, long ttl, boolean resume, int max) {
        return new SpillStore.Sweep(now, now, ttl, retime, Long.MAX_VALUE, resume, max, 1L << 30, 0);
    }

    /** Entry i (enqueued at 1,000 + i) expires at 1,000 + i + 500 from the queue's TTL; every 7th at 1,000 + i + 50 from its own. */
    private void appendTimed(SpillStore.Spill s, int from, int to) {
        for (int i = from; i < to; i++) {
            QueueEntry e = entry(i, 100);
            e.enqueuedAt(1000 + i);
            if (i % 7 == 0) {
                e.message().ttl(50);
                e.expiresAt(1000 + i + 50, true);
            } else {
                e.expiresAt(1000 + i + 500, false);
            }
            s.append(e);
            e.message().release();
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void aSweepTakesOutTheExpiredWhereverTheySitAndReadsBringBackPlaceholders() throws Exception {
        store = FileSpillStore.open(tmp.resolve("paging"), FileSpillStore.CHUNK, HEADERS);
        SpillStore.Spill s = store.open("q");
        appendTimed(s, 0, 1000); // ~150 KB: several chunks and segments, the last still on the loop
        // At 1,400: the own-TTL entries up to 350 have expired, nothing from the queue TTL yet.
        Object[] r = sweep(s, sweepAt(1400, false, 500, false, 10_000));
        List<QueueEntry> expired = (List<QueueEntry>) r[0];
        assertEquals(false, r[1]);
        assertTrue(((List<long[]>) r[2]).isEmpty());
        List<Integer> ids = new ArrayList<>();
        for (QueueEntry e : expired) {
            int i = (int) (e.seq() - 1000);
            check(e, i, 100);
            assertEquals(1000 + i + 50, e.expiresAt());
            ids.add(i);
        }
        List<Integer> want = new ArrayList<>();
        for (int i = 0; i <= 350; i += 7) {
            want.add(i);
        }
        assertEquals(want, ids);
        // A second sweep at the same time finds nothing more.
        assertTrue(((List<QueueEntry>) sweep(s, sweepAt(1400, false, 500, false, 10_000))[0]).isEmpty());
        // Purge-time slots: the swept entries' slots are not reported (whoever got them frees them).
        List<QueueEntry> all = new ArrayList<>();
        List<QueueEntry> batch;
        while (!(batch = read(s, 300, 1 << 30)).isEmpty()) {
            all.addAll(batch);
        }
        assertEquals(1000, all.size());
        for (int i = 0; i < 1000; i++) {
            QueueEntry e = all.get(i);
            boolean swept = i % 7 == 0 && i <= 350;
            assertEquals(swept, e.swept(), "entry " + i);
            assertEquals(1000 + i, e.enqueuedAt());
            if (swept) {
                assertEquals(QueueEntry.NOT_STORED, e.ref());
                assertFalse(e.message().loaded());
                assertEquals(100, e.message().bodySize());
            } else {
                check(e, i, 100);
                assertEquals(i % 7 == 0 ? 50 : -1, e.message().ttl());
            }
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void aRetimingSweepRewritesExpiriesInPlaceAndReportsEachChange() throws Exception {
        store = FileSpillStore.open(tmp.resolve("paging"), FileSpillStore.CHUNK, HEADERS);
        SpillStore.Spill s = store.open("q");
        appendTimed(s, 0, 1000);
        assertEquals(5, read(s, 5, 1 << 30).size()); // the head moved on: the sweep starts there
        // The TTL becomes 100 at 1,300: entries enqueued up to 1,200 (i <= 200) expire, own TTLs
        // (50) still decide for every 7th, the rest now expire at enqueue + 100; small steps.
        List<QueueEntry> expired = new ArrayList<>();
        List<long[]> moves = new ArrayList<>();
        boolean resume = false;
        while (true) {
            Object[] r = sweep(s, sweepAt(1300, true, 100, resume, 16));
            expired.addAll((List<QueueEntry>) r[0]);
            moves.addAll((List<long[]>) r[2]);
            if (!(Boolean) r[1]) {
                break;
            }
            resume = true;
        }
        // 5 .. 200, and the own-TTL ones up to 250
        List<Integer> want = new ArrayList<>();
        for (int i = 5; i <= 250; i++) {
            if (i <= 200 || i % 7 == 0) {
                want.add(i);
            }
        }
        assertEquals(want.size(), expired.size());
        for (int k = 0; k < expired.size(); k++) {
            QueueEntry e = expired.get(k);
            int i = want.get(k);
            check(e, i, 100);
            assertEquals(1000 + i + (i % 7 == 0 ? 50 : 100), e.expiresAt());
        }
        // every queue-TTL entry moved from +500 to +100; own-TTL ones kept theirs
        long queueTtl = 0;
        for (int i = 5; i < 1000; i++) {
            queueTtl += i % 7 == 0 ? 0 : 1;
        }
        assertEquals(queueTtl, moves.size());
        for (long[] m : moves) {
            assertEquals(400, m[0] - m[1]);
            assertEquals(100, m[2]);
        }
        List<QueueEntry> all = new ArrayList<>();
        List<QueueEntry> batch;
        while (!(batch = read(s, 300, 1 << 30)).isEmpty()) {
            all.addAll(batch);
        }
        assertEquals(995, all.size());
        for (int k = 0; k < all.size(); k++) {
            QueueEntry e = all.get(k);
            int i = 5 + k;
            assertEquals(want.contains(i), e.swept(), "entry " + i);
            assertEquals(1000 + i + (i % 7 == 0 ? 50 : 100), e.expiresAt(), "entry " + i);
            assertEquals(i % 7 == 0, e.ownExpiry(), "entry " + i);
        }
    }

    @Test
    void clearDoesNotReportTheSlotsOfSweptEntries() throws Exception {
        store = FileSpillStore.open(tmp.resolve("paging"), FileSpillStore.CHUNK, HEADERS);
        SpillStore.Spill s = store.open("q");
        appendTimed(s, 0, 100);
        sweep(s, sweepAt(1400, false, 500, false, 10_000));
        List<Long> refs = new java.util.concurrent.CopyOnWriteArrayList<>();
        s.clear(refs::add);
        assertEquals(0, read(s, 10, 1 << 20).size()); // after the clear, in order
        List<Long> want = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            if (i % 5 != 0 && !(i % 7 == 0 && i <= 350)) {
                want.add(77_000L + i);
            }
        }
        assertEquals(want, refs);
    }
}
