package io.warren.store.journal;

import io.netty.buffer.Unpooled;
import io.warren.core.store.StoreException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static io.warren.store.journal.StoreFixtures.append;
import static io.warren.store.journal.StoreFixtures.bytes;
import static io.warren.store.journal.StoreFixtures.load;
import static io.warren.store.journal.StoreFixtures.loadBody;
import static io.warren.store.journal.StoreFixtures.recover;
import static io.warren.store.journal.StoreFixtures.sync;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JournalMessageStoreTest {
    @TempDir
    Path dir;

    private List<Path> segments() throws IOException {
        try (Stream<Path> s = Files.list(dir.resolve(Journal.DIR))) {
            return s.filter(p -> p.toString().endsWith(".seg")).sorted().toList();
        }
    }

    private long journalBytes() throws IOException {
        long n = 0;
        for (Path p : segments()) {
            n += p.toFile().length(); // 0 if the committer deleted it meanwhile (it deletes after the callbacks)
        }
        return n;
    }

    private Map<Long, String> recoveredBodies(JournalMessageStore s) throws Exception {
        Map<Long, String> out = new HashMap<>();
        for (var r : recover(s)) {
            out.put(r.message().ref(), loadBody(s, r.message().ref()));
        }
        return out;
    }

    @Test
    void roundTripAcrossReopen() throws Exception {
        long a;
        long b;
        try (JournalMessageStore s = JournalMessageStore.open(dir)) {
            var x = append(s, "ex1", "rk1", bytes("props-a"), bytes("body-a"), 7);
            var y = append(s, "ex2", "rk2", bytes(""), bytes("body-b"), 8);
            x.awaitDurable();
            y.awaitDurable();
            a = x.ref();
            b = y.ref();
            assertEquals("body-a", loadBody(s, a));
        }
        try (JournalMessageStore s = JournalMessageStore.open(dir)) {
            var rec = recover(s);
            assertEquals(2, rec.size());
            assertEquals(7, rec.get(0).queueId());
            assertEquals(a, rec.get(0).message().ref());
            assertEquals("ex1", rec.get(0).message().exchange());
            assertEquals("rk1", rec.get(0).message().routingKey());
            assertEquals(6, rec.get(0).message().bodySize());
            assertEquals(8, rec.get(1).queueId());
            var l = load(s, a);
            assertArrayEquals(bytes("props-a"), l.properties());
            assertArrayEquals(bytes("body-a"), l.body());
            assertEquals("warren-store-reader", l.thread());
            assertEquals("body-b", loadBody(s, b));
            // New refs never collide with recovered ones.
            var z = append(s, "z", 7);
            z.awaitDurable();
            assertTrue(z.ref() > b);
        }
    }

    @Test
    void removesAreDurableAndMultiQueueSlotsAreIndependent() throws Exception {
        long multi;
        long gone;
        try (JournalMessageStore s = JournalMessageStore.open(dir)) {
            var m = append(s, "fan", 1, 2, 3);
            var g = append(s, "gone", 1);
            m.awaitDurable();
            g.awaitDurable();
            multi = m.ref();
            gone = g.ref();
            s.remove(multi + 1); // queue 2 acked its copy
            s.remove(gone);
            sync(s);
            assertEquals(2, s.liveSlots());
        }
        try (JournalMessageStore s = JournalMessageStore.open(dir)) {
            var rec = recover(s);
            assertEquals(List.of(1L, 3L), rec.stream().map(r -> r.queueId()).toList());
            assertEquals(List.of(multi, multi + 2), rec.stream().map(r -> r.message().ref()).toList());
            assertEquals("fan", loadBody(s, multi + 2));
            s.remove(multi);
            s.remove(multi + 2);
            sync(s);
            assertEquals(0, s.batchCount());
        }
        try (JournalMessageStore s = JournalMessageStore.open(dir)) {
            assertEquals(0, recover(s).size());
        }
    }

    @Test
    void eachQueueRecoversInPublishOrderAcrossManyBatches() throws Exception {
        int n = 40_000; // > 2 batches of 16,384 slots
        try (JournalMessageStore s = JournalMessageStore.open(dir)) {
            StoreFixtures.Appended last = null;
            for (int i = 0; i < n; i++) {
                last = append(s, "ex", "rk", new byte[0], bytes("m" + i), i % 4);
            }
            last.awaitDurable();
        }
        try (JournalMessageStore s = JournalMessageStore.open(dir)) {
            assertTrue(s.batchCount() >= 3);
            long[] lastRef = new long[4];
            int[] count = new int[4];
            for (var r : recover(s)) {
                int q = (int) r.queueId();
                assertTrue(r.message().ref() > lastRef[q]);
                lastRef[q] = r.message().ref();
                count[q]++;
            }
            assertArrayEquals(new int[]{10_000, 10_000, 10_000, 10_000}, count);
        }
    }

    @Test
    void groupCommitWritesManyAppendsPerCommit() throws Exception {
        int threads = 8;
        int per = 2_000;
        try (JournalMessageStore s = JournalMessageStore.open(dir)) {
            CountDownLatch done = new CountDownLatch(threads * per);
            AtomicInteger failed = new AtomicInteger();
            byte[] body = new byte[1024];
            List<Thread> ts = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                long q = t;
                Thread th = new Thread(() -> {
                    for (int i = 0; i < per; i++) {
                        s.append("e", "r", Unpooled.EMPTY_BUFFER, Unpooled.wrappedBuffer(body), new long[]{q}, f -> {
                            if (f != null) {
                                failed.incrementAndGet();
                            }
                            done.countDown();
                        });
                    }
                });
                ts.add(th);
                th.start();
            }
            assertTrue(done.await(60, TimeUnit.SECONDS));
            assertEquals(0, failed.get());
            assertEquals(threads * per, s.liveSlots());
            assertTrue(s.commits() < threads * per / 10, "commits: " + s.commits());
            System.out.printf("group commit: %d appends in %d commits%n", threads * per, s.commits());
        }
        try (JournalMessageStore s = JournalMessageStore.open(dir)) {
            assertEquals(threads * per, recover(s).size());
        }
    }

    /** A store whose segments are not preallocated: its files end where its frames end. */
    private JournalMessageStore appending(long segmentSize, double compactBelow) {
        return JournalMessageStore.open(dir, segmentSize, compactBelow, JournalMessageStore.DEFAULT_MAX_BACKLOG, false);
    }

    /** Three commits, closed; returns the file offsets where each commit's frame starts. */
    private List<Long> threeCommits() throws Exception {
        List<Long> starts = new ArrayList<>();
        try (JournalMessageStore s = appending(JournalMessageStore.DEFAULT_SEGMENT_SIZE, 0.25)) {
            for (String body : List.of("one", "two", "three")) {
                starts.add(Files.size(segments().get(0)));
                append(s, body, 1).awaitDurable();
            }
        }
        return starts;
    }

    /** Frames in a segment, by their headers. */
    private static int frameCount(Path segment) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(segment));
        int n = 0;
        for (int p = Journal.HEADER; p < b.limit(); p += Journal.FRAME_HEADER + b.getInt(p + 4)) {
            assertEquals(Journal.FRAME_MAGIC, b.getInt(p));
            n++;
        }
        return n;
    }

    private static void flipByte(Path file, long offset) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.allocate(1);
            ch.read(b, offset);
            b.put(0, (byte) (b.get(0) ^ 0x5A)).rewind();
            ch.write(b, offset);
        }
    }

    private List<String> bodies() throws Exception {
        try (JournalMessageStore s = JournalMessageStore.open(dir)) {
            List<String> out = new ArrayList<>();
            for (var r : recover(s)) {
                out.add(loadBody(s, r.message().ref()));
            }
            return out;
        }
    }

    @Test
    void aPartialFrameAtTheTailIsCutOffAndEarlierDataIsIntact() throws Exception {
        threeCommits();
        Path seg = segments().get(0);
        long good = Files.size(seg);
        // A torn write: the start of a frame header and some of its payload.
        ByteBuffer torn = ByteBuffer.allocate(40).putInt(Journal.FRAME_MAGIC).putInt(4096).putInt(1234);
        torn.rewind();
        try (FileChannel ch = FileChannel.open(seg, StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
            ch.write(torn);
        }
        assertEquals(List.of("one", "two", "three"), bodies());
        assertEquals(good, Files.size(seg));
        // And the store appends after the cut as usual.
        try (JournalMessageStore s = JournalMessageStore.open(dir)) {
            append(s, "four", 1).awaitDurable();
        }
        assertEquals(List.of("one", "two", "three", "four"), bodies());
    }

    @Test
    void aFewZeroBytesAtTheTailAreCutOff() throws Exception {
        threeCommits();
        Path seg = segments().get(0);
        long good = Files.size(seg);
        try (FileChannel ch = FileChannel.open(seg, StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
            ch.write(ByteBuffer.allocate(7));
        }
        assertEquals(List.of("one", "two", "three"), bodies());
        assertEquals(good, Files.size(seg));
    }

    @Test
    void aDamagedLastFrameIsCutOffAndEarlierFramesSurvive() throws Exception {
        List<Long> starts = threeCommits();
        Path seg = segments().get(0);
        flipByte(seg, Files.size(seg) - 3); // inside the last frame's payload
        assertEquals(List.of("one", "two"), bodies());
        assertEquals(starts.get(2), Files.size(seg));
    }

    @Test
    void damageInTheMiddleOfTheLastSegmentIsRefusedNamingFileAndOffset() throws Exception {
        List<Long> starts = threeCommits();
        Path seg = segments().get(0);
        long size = Files.size(seg);
        flipByte(seg, starts.get(1) + 20); // inside the second frame; the third is intact
        StoreException e = assertThrows(StoreException.class, () -> JournalMessageStore.open(dir));
        assertTrue(e.getMessage().contains(seg.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("offset " + starts.get(1)), e.getMessage());
        assertEquals(size, Files.size(seg), "nothing cut off");
        // Same for a broken frame header (the length no longer believable).
        flipByte(seg, starts.get(1) + 20);
        flipByte(seg, starts.get(1) + 5);
        e = assertThrows(StoreException.class, () -> JournalMessageStore.open(dir));
        assertTrue(e.getMessage().contains("offset " + starts.get(1)), e.getMessage());
    }

    @Test
    void damageInAnOlderSegmentIsRefused() throws Exception {
        try (JournalMessageStore s = appending(64 << 10, 0.0)) {
            for (int i = 0; i < 40; i++) {
                append(s, "ex", "rk", new byte[0], new byte[8 << 10], 1).awaitDurable();
            }
        }
        List<Path> segs = segments();
        assertTrue(segs.size() >= 3, "segments: " + segs);
        Path first = segs.get(0);
        flipByte(first, Files.size(first) - 2); // the last frame of a segment that is not the last
        StoreException e = assertThrows(StoreException.class, () -> JournalMessageStore.open(dir));
        assertTrue(e.getMessage().contains(first.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("offset "), e.getMessage());
    }

    /**
     * The next segment is zero-filled in the background and the head moves onto it, so a
     * confirm's fdatasync overwrites blocks already on disk. A crash leaves that zero tail: the
     * next start keeps it quietly (no torn write, nothing cut) and goes on writing into it; a
     * torn frame inside it is cut off as usual; a clean close cuts the unused rest.
     */
    @Test
    void segmentsArePreallocatedAndACrashLeavesTheirZeroTailUsable() throws Exception {
        long segmentSize = 1 << 20;
        Path copy = dir.resolve("crashed");
        List<String> confirmed = new ArrayList<>();
        long end;
        try (JournalMessageStore s = JournalMessageStore.open(dir, segmentSize, 0.25)) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            do { // a head that appends gets its spare once it holds 1 MiB (half of a small segment)
                String body = "m" + confirmed.size() + "-" + "x".repeat(16 << 10);
                append(s, body, 1).awaitDurable();
                confirmed.add(body);
                Thread.sleep(5);
            } while (Files.size(segments().get(segments().size() - 1)) != segmentSize && System.nanoTime() < deadline);
            Path head = segments().get(segments().size() - 1);
            assertEquals(segmentSize, Files.size(head), "the head moved onto a preallocated segment");
            end = s.headEnd();
            assertTrue(end < segmentSize);
            for (int i = 0; i < 3; i++) {
                String body = "p" + i;
                append(s, body, 1).awaitDurable();
                confirmed.add(body);
            }
            assertEquals(segmentSize, Files.size(head), "frames overwrite the zeros, the file does not grow");
            end = s.headEnd();
            // What a kill -9 leaves: every confirmed frame, then zeros to the end of the file.
            Files.createDirectories(copy.resolve(Journal.DIR));
            for (Path p : segments()) {
                Files.copy(p, copy.resolve(Journal.DIR).resolve(p.getFileName()));
            }
        }
        Path head = segments().get(segments().size() - 1);
        assertEquals(end, Files.size(head), "a clean close cuts the unused rest");
        assertEquals(confirmed, bodies());

        Path crashedHead;
        try (Stream<Path> st = Files.list(copy.resolve(Journal.DIR))) {
            crashedHead = st.sorted().reduce((a, b) -> b).orElseThrow();
        }
        // A torn frame inside the preallocated space: a header and part of a payload.
        try (FileChannel ch = FileChannel.open(crashedHead, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(40).putInt(Journal.FRAME_MAGIC).putInt(4096).putInt(1234).rewind(), end);
        }
        try (JournalMessageStore s = JournalMessageStore.open(copy, segmentSize, 0.25)) {
            assertEquals(confirmed, recover(s).stream().map(r -> {
                try {
                    return loadBody(s, r.message().ref());
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
            }).toList());
            assertEquals(end, Files.size(crashedHead), "the torn frame and the zeros after it are cut off");
            append(s, "after", 1).awaitDurable();
        }
        // Without a torn frame, a zero tail is kept and written into.
        long closedEnd = Files.size(crashedHead);
        try (FileChannel ch = FileChannel.open(crashedHead, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(4096), closedEnd); // the rest of a preallocated file: zeros
        }
        try (JournalMessageStore s = JournalMessageStore.open(copy, segmentSize, 0.25)) {
            assertEquals(confirmed.size() + 1, recover(s).size());
            assertEquals(closedEnd + 4096, Files.size(crashedHead), "the zero tail is kept, not cut as a torn write");
            append(s, "into-the-zeros", 1).awaitDurable();
            assertEquals(closedEnd + 4096, Files.size(crashedHead), "the next frame overwrites the zeros");
            assertEquals(confirmed.size() + 2, recover(s).size());
        }
    }

    @Test
    void aForeignOrOlderFileIsRefusedNamingIt() throws Exception {
        Path j = Files.createDirectories(dir.resolve(Journal.DIR));
        Path seg = j.resolve(Segment.fileName(0));
        Files.write(seg, bytes("hello, this is not a journal at all............"));
        StoreException e = assertThrows(StoreException.class, () -> JournalMessageStore.open(dir));
        assertTrue(e.getMessage().contains(seg.toString()), e.getMessage());
        Files.write(seg, bytes("warren-journal/0 and more bytes to fill a whole header....."));
        e = assertThrows(StoreException.class, () -> JournalMessageStore.open(dir));
        assertTrue(e.getMessage().contains(seg.toString()) && e.getMessage().contains("unsupported"), e.getMessage());
    }

    @Test
    void segmentsRollAreDeletedAndCompactedAroundALongLivedMessage() throws Exception {
        long segmentSize = 1 << 20;
        long pinned;
        long peak = 0;
        long total = 200L << 20;
        try (JournalMessageStore s = JournalMessageStore.open(dir, segmentSize, 0.25)) {
            var p = append(s, "pinned", 5);
            p.awaitDurable();
            pinned = p.ref();
            byte[] body = new byte[1024];
            int window = 2_000;
            long written = 0;
            List<StoreFixtures.Appended> inFlight = new ArrayList<>();
            while (written < total) {
                for (int i = 0; i < window; i++) {
                    inFlight.add(append(s, "ex", "rk", new byte[0], body, 1));
                }
                for (var a : inFlight) {
                    a.awaitDurable();
                    s.remove(a.ref());
                }
                written += (long) window * body.length;
                inFlight.clear();
                if (written % (20L << 20) < window * 1024L) {
                    sync(s);
                    peak = Math.max(peak, journalBytes());
                }
            }
            sync(s);
            peak = Math.max(peak, journalBytes());
            System.out.printf("compaction: %d MB written through 1 MiB segments; peak journal %d KB, %d segments now, "
                    + "%d batches compacted%n", total >> 20, peak >> 10, segments().size(), s.compactedBatches());
            assertTrue(s.compactedBatches() > 0);
            assertTrue(peak < 8 * segmentSize, "journal grew to " + peak);
            assertEquals("pinned", loadBody(s, pinned));
            assertEquals(1, s.liveSlots());
        }
        try (JournalMessageStore s = JournalMessageStore.open(dir, segmentSize, 0.25)) {
            var rec = recover(s);
            assertEquals(1, rec.size());
            assertEquals(pinned, rec.get(0).message().ref());
            assertEquals(5, rec.get(0).queueId());
            assertEquals("pinned", loadBody(s, pinned));
        }
    }

    @Test
    void compactionKeepsRemovedSlotsRemovedAcrossReopen() throws Exception {
        long segmentSize = 64 << 10;
        List<Long> kept = new ArrayList<>();
        try (JournalMessageStore s = JournalMessageStore.open(dir, segmentSize, 0.5)) {
            // One batch of 3 multi-queue messages, one slot of each acked: the batch is live but partly removed.
            List<StoreFixtures.Appended> first = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                first.add(append(s, "keep-" + i, 1, 2));
            }
            for (var a : first) {
                a.awaitDurable();
                s.remove(a.ref() + 1);
                kept.add(a.ref());
            }
            sync(s);
            for (int i = 0; i < 200; i++) {
                var a = append(s, "ex", "rk", new byte[0], new byte[4096], 3);
                a.awaitDurable();
                s.remove(a.ref());
            }
            sync(s);
            assertTrue(s.compactedBatches() > 0);
            assertEquals(3, s.liveSlots());
        }
        try (JournalMessageStore s = JournalMessageStore.open(dir, segmentSize, 0.5)) {
            var rec = recover(s);
            assertEquals(kept, rec.stream().map(r -> r.message().ref()).toList());
            assertTrue(rec.stream().allMatch(r -> r.queueId() == 1));
            for (int i = 0; i < 3; i++) {
                assertEquals("keep-" + i, loadBody(s, kept.get(i)));
            }
        }
    }

    @Test
    void aWriteFailingMidFrameFailsOnlyThatCommitAndLeavesNoTornFrame() throws Exception {
        try (JournalMessageStore s = JournalMessageStore.open(dir)) {
            append(s, "before", 1).awaitDurable();
            AtomicInteger failures = new AtomicInteger(1);
            s.beforeWrite((ch, pos, frame) -> {
                if (failures.getAndDecrement() > 0) {
                    frame.limit(frame.limit() / 2);
                    ch.write(frame, pos); // half the frame reaches the file, then the disk is full
                    throw new IOException("No space left on device");
                }
            });
            var lost = append(s, "lost", 1);
            ExecutionException e = assertThrows(ExecutionException.class, lost::awaitDurable);
            assertInstanceOf(IOException.class, e.getCause());
            append(s, "after", 1).awaitDurable();
            assertEquals("after", loadBody(s, s.liveSlots() == 2 ? recover(s).get(1).message().ref() : -1));
        }
        assertEquals(List.of("before", "after"), bodies());
    }

    @Test
    void aFailedCommitRetriesItsRemovesAndLaterCommitsWork() throws Exception {
        try (JournalMessageStore s = JournalMessageStore.open(dir)) {
            var keep = append(s, "keep", 1);
            var ack = append(s, "ack", 1);
            keep.awaitDurable();
            ack.awaitDurable();
            java.util.concurrent.atomic.AtomicBoolean full = new java.util.concurrent.atomic.AtomicBoolean(true);
            s.beforeWrite((ch, pos, frame) -> {
                if (full.get()) {
                    throw new IOException("No space left on device");
                }
            });
            s.remove(ack.ref());
            var f1 = append(s, "fail", 1);
            assertThrows(ExecutionException.class, f1::awaitDurable);
            assertThrows(ExecutionException.class, () -> append(s, "fail2", 1).awaitDurable());
            full.set(false); // space is back
            append(s, "ok", 1).awaitDurable(); // carries the requeued remove too
        }
        assertEquals(List.of("keep", "ok"), bodies());
    }

    /**
     * A message acked before its commit (an auto-ack consumer took it at once) needs no write:
     * its confirm comes without an fsync, as in RabbitMQ, and it does not come back.
     */
    @Test
    void aMessageAckedBeforeItsCommitIsConfirmedWithoutAWrite() throws Exception {
        try (JournalMessageStore s = appending(JournalMessageStore.DEFAULT_SEGMENT_SIZE, 0.25)) {
            append(s, "kept", 1).awaitDurable();
            CountDownLatch inCommit = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            s.beforeCommit(() -> {
                if (inCommit.getCount() > 0) {
                    inCommit.countDown();
                    try {
                        release.await(10, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            });
            var blocker = append(s, "blocker", 1); // holds the committer while the next one is acked
            assertTrue(inCommit.await(10, TimeUnit.SECONDS));
            var acked = append(s, "acked-at-once", 1, 2);
            s.remove(acked.ref());
            s.remove(acked.ref() + 1);
            release.countDown();
            blocker.awaitDurable();
            acked.awaitDurable();
            assertEquals(1, s.emptyCommits(), "the acked message's commit wrote nothing");
            assertEquals(2, frameCount(segments().get(0)), "a frame for each of the others, none for it");
        }
        assertEquals(List.of("kept", "blocker"), bodies());
    }

    /** Removes alone wait briefly for a forced write to ride on, then go out on their own. */
    @Test
    void removesAloneAreWrittenWithoutAnyLaterWrite() throws Exception {
        try (JournalMessageStore s = JournalMessageStore.open(dir)) {
            var a = append(s, "acked", 1);
            a.awaitDurable();
            s.remove(a.ref());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (s.liveSlots() != 0 && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            assertEquals(0, s.liveSlots(), "the remove was committed with nothing else to carry it");
        }
        assertEquals(List.of(), bodies());
    }

    @Test
    void closeCommitsWhatIsPending() throws Exception {
        JournalMessageStore s = JournalMessageStore.open(dir);
        var a = append(s, "pending", 1);
        s.close();
        assertTrue(a.durable().isDone());
        assertFalse(a.durable().isCompletedExceptionally());
        assertEquals(List.of("pending"), bodies());
    }

    /**
     * Credit flow towards the disk: appends past the backlog bound make the store overloaded
     * (publishers pause) until a commit brings the backlog down to half of it; the drain
     * callback runs on the caller's executor, never on the committer thread.
     */
    @Test
    void backlogPastItsBoundOverloadsTheStoreUntilTheCommitterCatchesUp() throws Exception {
        long bound = 1 << 20;
        CountDownLatch diskStuck = new CountDownLatch(1);
        java.util.concurrent.ExecutorService loop = java.util.concurrent.Executors.newSingleThreadExecutor(
                r -> new Thread(r, "publisher-loop"));
        try (JournalMessageStore s = JournalMessageStore.open(dir, JournalMessageStore.DEFAULT_SEGMENT_SIZE,
                JournalMessageStore.DEFAULT_COMPACT_BELOW, bound)) {
            s.beforeCommit(() -> {
                try {
                    diskStuck.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            byte[] body = new byte[64 * 1024];
            List<StoreFixtures.Appended> appended = new ArrayList<>();
            int n = 0;
            while (!s.overloaded()) {
                appended.add(append(s, "ex", "rk", new byte[0], body, 1));
                n++;
                assertTrue(n <= 17, "not overloaded after " + n + " x 64 KiB with a 1 MiB bound");
            }
            assertTrue(n >= 16, "overloaded after only " + n + " x 64 KiB");
            java.util.concurrent.CompletableFuture<String> drained = new java.util.concurrent.CompletableFuture<>();
            s.whenDrained(loop, () -> drained.complete(Thread.currentThread().getName()));
            Thread.sleep(100); // nothing may drain while the disk is stuck
            assertFalse(drained.isDone());
            assertTrue(s.overloaded());
            diskStuck.countDown();
            assertEquals("publisher-loop", drained.get(30, TimeUnit.SECONDS));
            assertFalse(s.overloaded());
            for (StoreFixtures.Appended a : appended) {
                a.awaitDurable();
            }
            // Not overloaded: a drain callback runs at once, still on the executor.
            java.util.concurrent.CompletableFuture<String> now = new java.util.concurrent.CompletableFuture<>();
            s.whenDrained(loop, () -> now.complete(Thread.currentThread().getName()));
            assertEquals("publisher-loop", now.get(30, TimeUnit.SECONDS));
        } finally {
            loop.shutdownNow();
        }
    }
}
