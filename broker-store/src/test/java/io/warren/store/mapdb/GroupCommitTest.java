package io.warren.store.mapdb;

import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static io.warren.store.mapdb.StoreFixtures.append;
import static io.warren.store.mapdb.StoreFixtures.recover;
import static io.warren.store.mapdb.StoreFixtures.sync;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The committer: batching, callbacks after the commit, failures. */
class GroupCommitTest {
    @TempDir
    Path dir;

    /** Appends from {@code threads} threads at once; returns each callback's failure (null = ok). */
    private static List<Throwable> appendConcurrently(MapDbMessageStore s, int threads, int perThread) throws Exception {
        byte[] body = new byte[1024];
        ConcurrentHashMap<Long, Throwable> outcomes = new ConcurrentHashMap<>();
        AtomicInteger calls = new AtomicInteger();
        CountDownLatch start = new CountDownLatch(1);
        CountDownLatch done = new CountDownLatch(threads * perThread);
        List<Thread> ts = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            long queue = t + 1;
            Thread th = new Thread(() -> {
                start.countDown();
                for (int i = 0; i < perThread; i++) {
                    long[] ref = new long[1];
                    CompletableFuture<Long> known = new CompletableFuture<>();
                    ref[0] = s.append("e", "r", Unpooled.EMPTY_BUFFER, Unpooled.wrappedBuffer(body), new long[]{queue},
                            failure -> {
                                calls.incrementAndGet();
                                outcomes.merge(known.join(), failure == null ? new Ok() : failure,
                                        (a, b) -> new AssertionError("callback ran twice"));
                                done.countDown();
                            });
                    known.complete(ref[0]);
                }
            });
            ts.add(th);
            th.start();
        }
        assertTrue(done.await(60, TimeUnit.SECONDS), "callbacks outstanding: " + done.getCount());
        for (Thread th : ts) {
            th.join();
        }
        assertEquals(threads * perThread, calls.get());
        assertEquals(threads * perThread, outcomes.size(), "refs must be distinct");
        return outcomes.values().stream().map(o -> o instanceof Ok ? null : o).toList();
    }

    private static final class Ok extends Throwable {}

    @Test
    void manyConcurrentAppendersEachGetTheirCallbackOnce() throws Exception {
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            List<Throwable> out = appendConcurrently(s, 8, 2_000);
            out.forEach(f -> assertNull(f));
            assertEquals(16_000, s.liveSlots());
        }
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            assertEquals(16_000, recover(s).size());
        }
    }

    @Test
    void groupCommitWritesManyAppendsPerCommit() throws Exception {
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            appendConcurrently(s, 4, 2_500).forEach(f -> assertNull(f));
            long commits = s.commits();
            System.out.printf("group commit: 10000 appends from 4 threads in %d commits, %d batch records%n",
                    commits, s.batchCount());
            assertTrue(commits >= 1 && commits <= 1_000, "10,000 appends took " + commits + " commits");
            assertTrue(s.batchCount() <= commits + 10_000 * 1024 / PendingBatch.MAX_BYTES + 1);
        }
    }

    @Test
    void aCallbackRunsOnlyAfterTheCommitThatCoversIt() throws Exception {
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            CompletableFuture<Void> gate = new CompletableFuture<>();
            s.beforeCommit(gate::join);
            AtomicLong commitsSeenByCallback = new AtomicLong(-1);
            CompletableFuture<String> thread = new CompletableFuture<>();
            s.append("e", "r", Unpooled.EMPTY_BUFFER, Unpooled.EMPTY_BUFFER, new long[]{1}, failure -> {
                commitsSeenByCallback.set(s.commits());
                thread.complete(Thread.currentThread().getName());
            });
            // The commit is held at the gate: the callback must not have run.
            assertThrows(TimeoutException.class, () -> thread.get(200, TimeUnit.MILLISECONDS));
            assertEquals(0, s.commits());
            gate.complete(null);
            assertEquals("warren-store-committer", thread.get(30, TimeUnit.SECONDS));
            assertEquals(1, commitsSeenByCallback.get());
        }
    }

    @Test
    void aFailedCommitFailsItsBatchAndTheCommitterKeepsServing() throws Exception {
        StoreFixtures.Appended kept;
        StoreFixtures.Appended lost;
        StoreFixtures.Appended after;
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            kept = append(s, "kept", 1);
            kept.awaitDurable();
            // Commit 1 waits at the gate while the remove and 'lost' queue up behind it, so that
            // both land in commit 2, which fails like a full disk; later commits succeed.
            CountDownLatch entered = new CountDownLatch(1);
            CompletableFuture<Void> gate = new CompletableFuture<>();
            AtomicInteger commitNo = new AtomicInteger();
            s.beforeCommit(() -> {
                int n = commitNo.incrementAndGet();
                if (n == 1) {
                    entered.countDown();
                    gate.join();
                } else if (n == 2) {
                    throw new UncheckedIOException(new java.io.IOException("No space left on device"));
                }
            });
            var blocker = append(s, "blocker", 1);
            assertTrue(entered.await(30, TimeUnit.SECONDS));
            s.remove(kept.ref()); // in the failing commit: must be retried by the next one
            s.remove(blocker.ref());
            lost = append(s, "lost", 1);
            gate.complete(null);
            blocker.awaitDurable();
            ExecutionException e = assertThrows(ExecutionException.class, lost::awaitDurable);
            assertTrue(e.getCause().getMessage().contains("No space left"), e.getCause().toString());
            after = append(s, "after", 1);
            after.awaitDurable();
            sync(s);
            assertEquals(1, s.liveSlots(), "the retried remove freed 'kept', 'lost' is gone, 'after' lives");
        }
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            var rec = recover(s);
            assertEquals(1, rec.size());
            assertEquals(after.ref(), rec.get(0).message().ref());
            assertEquals("after", StoreFixtures.loadBody(s, after.ref()));
        }
    }

    @Test
    void closeReturnsEvenWhenEveryCommitFails() throws Exception {
        StoreFixtures.Appended a;
        MapDbMessageStore s = MapDbMessageStore.open(dir);
        a = append(s, "a", 1);
        a.awaitDurable();
        s.beforeCommit(() -> {
            throw new UncheckedIOException(new java.io.IOException("Input/output error"));
        });
        s.remove(a.ref());
        var b = append(s, "b", 1);
        assertThrows(ExecutionException.class, b::awaitDurable);
        s.remove(a.ref());
        assertTimeoutPreemptively(java.time.Duration.ofSeconds(30), s::close);
        try (MapDbMessageStore again = MapDbMessageStore.open(dir)) {
            var rec = recover(again);
            assertEquals(1, rec.size(), "the remove never committed: 'a' comes back, 'b' never made it");
            assertEquals(a.ref(), rec.get(0).message().ref());
        }
    }

    @Test
    void aThrowingCallbackDoesNotStopTheOthersNorTheCommitter() throws Exception {
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            CompletableFuture<Void> gate = new CompletableFuture<>();
            s.beforeCommit(gate::join);
            s.append("e", "r", Unpooled.EMPTY_BUFFER, Unpooled.EMPTY_BUFFER, new long[]{1}, f -> {
                throw new IllegalStateException("broken callback");
            });
            var second = append(s, "second", 1);
            s.beforeCommit(null);
            gate.complete(null);
            second.awaitDurable();
            append(s, "third", 1).awaitDurable();
        }
    }
}
