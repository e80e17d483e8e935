package io.warren.store.paging;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.warren.core.store.MessageStore;
import io.warren.core.store.StoreException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MapDbPageStoreTest {
    @TempDir
    Path tmp;

    record Loaded(byte[] properties, byte[] body, String thread) {}

    private static CompletableFuture<Void> append(MessageStore s, long[] ref, byte[] props, byte[] body) {
        CompletableFuture<Void> f = new CompletableFuture<>();
        ByteBuf p = Unpooled.wrappedBuffer(props);
        ByteBuf b = Unpooled.wrappedBuffer(body);
        ref[0] = s.append("ex", "rk", p, b, new long[]{7}, failure -> {
            if (failure == null) {
                f.complete(null);
            } else {
                f.completeExceptionally(failure);
            }
        });
        // The store copied what it needs: the caller's buffers are its own again.
        p.release();
        b.release();
        return f;
    }

    private static Loaded load(MessageStore s, long ref) throws Exception {
        CompletableFuture<Loaded> f = new CompletableFuture<>();
        s.load(ref, (props, body, failure) -> {
            if (failure != null) {
                f.completeExceptionally(failure);
                return;
            }
            Loaded l = new Loaded(bytes(props), bytes(body), Thread.currentThread().getName());
            props.release();
            body.release();
            f.complete(l);
        });
        return f.get(30, TimeUnit.SECONDS);
    }

    private static byte[] bytes(ByteBuf b) {
        byte[] out = new byte[b.readableBytes()];
        b.getBytes(b.readerIndex(), out);
        return out;
    }

    private static void sync(MessageStore s) throws Exception {
        CompletableFuture<Void> f = new CompletableFuture<>();
        s.sync(failure -> f.complete(null));
        f.get(30, TimeUnit.SECONDS);
    }

    private static byte[] body(int i) {
        byte[] b = new byte[i % 3000];
        for (int k = 0; k < b.length; k++) {
            b[k] = (byte) (i * 31 + k);
        }
        return b;
    }

    private static byte[] props(int i) {
        return ("props-" + i).getBytes(StandardCharsets.UTF_8);
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void manyMessagesRoundTripTheirPropertiesAndBodies(boolean mmap) throws Exception {
        try (MapDbPageStore s = MapDbPageStore.open(tmp.resolve("paging"), mmap)) {
            int n = 5_000;
            long[] refs = new long[n];
            List<CompletableFuture<Void>> written = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                long[] ref = new long[1];
                written.add(append(s, ref, props(i), body(i)));
                refs[i] = ref[0];
            }
            for (CompletableFuture<Void> f : written) {
                f.get(30, TimeUnit.SECONDS);
            }
            assertEquals(n, s.size());
            assertTrue(s.batches() < n, "writes are batched");
            for (int i = 0; i < n; i++) {
                Loaded l = load(s, refs[i]);
                assertArrayEquals(props(i), l.properties(), "properties of " + i);
                assertArrayEquals(body(i), l.body(), "body of " + i);
                assertEquals("warren-pagestore-reader", l.thread());
            }
            // A load copies: the same ref loads again.
            assertArrayEquals(body(3), load(s, refs[3]).body());
        }
    }

    @Test
    void aLoadBeforeTheWriteLandedIsServedFromMemory() throws Exception {
        try (MapDbPageStore s = MapDbPageStore.open(tmp.resolve("paging"))) {
            CountDownLatch writerHeld = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            s.sync(failure -> {
                writerHeld.countDown();
                try {
                    release.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            assertTrue(writerHeld.await(30, TimeUnit.SECONDS));
            long[] ref = new long[1];
            CompletableFuture<Void> written = append(s, ref, props(1), body(1001));
            Loaded l = load(s, ref[0]);
            assertFalse(written.isDone(), "the writer is held: the load came from the unwritten copy");
            assertArrayEquals(props(1), l.properties());
            assertArrayEquals(body(1001), l.body());
            release.countDown();
            written.get(30, TimeUnit.SECONDS);
            assertArrayEquals(body(1001), load(s, ref[0]).body());
        }
    }

    @Test
    void removedMessagesLeaveTheStoreAndNoLongerLoad() throws Exception {
        try (MapDbPageStore s = MapDbPageStore.open(tmp.resolve("paging"))) {
            long[] a = new long[1];
            long[] b = new long[1];
            append(s, a, props(1), body(100)).get(30, TimeUnit.SECONDS);
            append(s, b, props(2), body(200));
            s.remove(a[0]);
            s.remove(b[0]); // possibly before its write: never lands, or lands then goes
            sync(s);
            assertEquals(0, s.size());
            for (long ref : new long[]{a[0], b[0]}) {
                ExecutionException e = assertThrows(ExecutionException.class, () -> load(s, ref));
                assertInstanceOf(StoreException.class, e.getCause());
            }
        }
    }

    @Test
    void syncCallsBackAfterEverythingBeforeIt() throws Exception {
        try (MapDbPageStore s = MapDbPageStore.open(tmp.resolve("paging"))) {
            List<CompletableFuture<Void>> written = new ArrayList<>();
            for (int i = 0; i < 100; i++) {
                written.add(append(s, new long[1], props(i), body(i)));
            }
            sync(s);
            for (CompletableFuture<Void> f : written) {
                assertTrue(f.isDone());
            }
            List<Object> visited = new ArrayList<>();
            s.recover((q, m) -> visited.add(m));
            assertEquals(List.of(), visited, "a page-out store recovers nothing");
        }
    }

    @Test
    void closeDeletesTheFileAndLaterCallsFail() throws Exception {
        Path dir = tmp.resolve("paging");
        MapDbPageStore s = MapDbPageStore.open(dir);
        long[] ref = new long[1];
        append(s, ref, props(1), body(1)).get(30, TimeUnit.SECONDS);
        assertTrue(Files.exists(s.file()));
        s.close();
        assertFalse(Files.exists(dir.resolve(MapDbPageStore.FILE)));
        CompletableFuture<Void> after = append(s, new long[1], props(2), body(2));
        assertTrue(after.isCompletedExceptionally());
        assertThrows(ExecutionException.class, () -> load(s, ref[0]));
        s.close(); // twice is fine
    }

    @Test
    void openDeletesWhatAnEarlierRunLeft() throws Exception {
        Path dir = tmp.resolve("paging");
        Files.createDirectories(dir.resolve("sub"));
        Files.write(dir.resolve(MapDbPageStore.FILE), new byte[]{1, 2, 3, 4, 5, 6, 7, 8}); // not even a MapDB file
        Files.write(dir.resolve("sub/stale"), new byte[10]);
        try (MapDbPageStore s = MapDbPageStore.open(dir)) {
            assertEquals(0, s.size());
            assertFalse(Files.exists(dir.resolve("sub")));
            long[] ref = new long[1];
            append(s, ref, props(1), body(42)).get(30, TimeUnit.SECONDS);
            assertArrayEquals(body(42), load(s, ref[0]).body());
        }
    }

    @Test
    void aMessageIsForExactlyOneQueue() throws Exception {
        try (MapDbPageStore s = MapDbPageStore.open(tmp.resolve("paging"))) {
            ByteBuf b = Unpooled.wrappedBuffer(body(5));
            try {
                assertThrows(IllegalArgumentException.class,
                        () -> s.append("ex", "rk", null, b, new long[]{1, 2}, f -> { }));
            } finally {
                b.release();
            }
        }
    }
}
