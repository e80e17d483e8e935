package io.warren.store.mapdb;

import io.warren.core.store.StoreException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static io.warren.store.mapdb.StoreFixtures.append;
import static io.warren.store.mapdb.StoreFixtures.bytes;
import static io.warren.store.mapdb.StoreFixtures.load;
import static io.warren.store.mapdb.StoreFixtures.loadBody;
import static io.warren.store.mapdb.StoreFixtures.recover;
import static io.warren.store.mapdb.StoreFixtures.sync;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Append, remove, recover and load, across close and reopen. */
class MessageStoreRoundTripTest {
    @TempDir
    Path dir;

    @Test
    void appendedMessagesSurviveReopenWithTheirRefsAndRoutingInfo() throws Exception {
        long r1, r2, r3;
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            var a1 = append(s, "amq.direct", "k1", bytes("props-1"), bytes("body-1"), 5);
            var a2 = append(s, "", "q", bytes(""), bytes("body-two"), 5, 6);
            var a3 = append(s, "logs", "a.b.c", bytes("p3"), new byte[0], 6);
            a1.awaitDurable();
            a2.awaitDurable();
            a3.awaitDurable();
            r1 = a1.ref();
            r2 = a2.ref();
            r3 = a3.ref();
        }
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            var rec = recover(s);
            assertEquals(4, rec.size());
            assertEquals(new StoreFixtures.Recovered(5, new io.warren.core.store.MessageStore.StoredMessage(r1, "amq.direct", "k1", 6)), rec.get(0));
            assertEquals(new StoreFixtures.Recovered(5, new io.warren.core.store.MessageStore.StoredMessage(r2, "", "q", 8)), rec.get(1));
            assertEquals(new StoreFixtures.Recovered(6, new io.warren.core.store.MessageStore.StoredMessage(r2 + 1, "", "q", 8)), rec.get(2));
            assertEquals(new StoreFixtures.Recovered(6, new io.warren.core.store.MessageStore.StoredMessage(r3, "logs", "a.b.c", 0)), rec.get(3));
            assertEquals("body-two", loadBody(s, r2 + 1));
            assertArrayEquals(bytes("props-1"), load(s, r1).properties());
            assertArrayEquals(new byte[0], load(s, r3).body());
        }
    }

    @Test
    void loadReturnsTheExactBytesOnTheReaderThread() throws Exception {
        Random rnd = new Random(42);
        int[] sizes = {0, 1, 1024, 65_536, 1 << 20, 5 << 20};
        List<byte[]> bodies = new ArrayList<>();
        List<byte[]> props = new ArrayList<>();
        List<Long> refs = new ArrayList<>();
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            for (int size : sizes) {
                byte[] body = new byte[size];
                rnd.nextBytes(body);
                byte[] p = new byte[rnd.nextInt(200)];
                rnd.nextBytes(p);
                var a = append(s, "e", "r", p, body, 1);
                bodies.add(body);
                props.add(p);
                refs.add(a.ref());
                a.awaitDurable();
            }
            for (int i = 0; i < sizes.length; i++) {
                var l = load(s, refs.get(i));
                assertArrayEquals(bodies.get(i), l.body(), "body of size " + sizes[i]);
                assertArrayEquals(props.get(i), l.properties());
                assertEquals("warren-store-reader", l.thread());
            }
        }
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            recover(s);
            for (int i = sizes.length - 1; i >= 0; i--) {
                assertArrayEquals(bodies.get(i), load(s, refs.get(i)).body(), "after reopen, size " + sizes[i]);
            }
        }
    }

    @Test
    void loadOfAMessageNotCommittedYetWaitsForItsCommit() throws Exception {
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            CompletableFuture<Void> release = new CompletableFuture<>();
            s.beforeCommit(release::join);
            var a = append(s, "pending", 1);
            CompletableFuture<String> body = CompletableFuture.supplyAsync(() -> {
                try {
                    return loadBody(s, a.ref());
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            assertThrows(java.util.concurrent.TimeoutException.class, () -> body.get(200, TimeUnit.MILLISECONDS));
            s.beforeCommit(null);
            release.complete(null);
            assertEquals("pending", body.get(30, TimeUnit.SECONDS));
        }
    }

    @Test
    void loadOfARemovedMessageFails() throws Exception {
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            var a = append(s, "gone", 1);
            a.awaitDurable();
            s.remove(a.ref());
            sync(s);
            ExecutionException e = assertThrows(ExecutionException.class, () -> load(s, a.ref()));
            assertInstanceOf(StoreException.class, e.getCause());
        }
    }

    @Test
    void removingEverySlotFreesTheBatchRecordAndIndexEntry() throws Exception {
        Path file = dir.resolve(MapDbMessageStore.FILE_NAME);
        long sizeAfterFirstRounds = 0;
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            byte[] body = new byte[16 * 1024];
            for (int round = 0; round < 30; round++) {
                List<StoreFixtures.Appended> as = new ArrayList<>();
                for (int i = 0; i < 200; i++) {
                    as.add(append(s, "e", "r", new byte[0], body, 1, 2));
                }
                for (var a : as) {
                    a.awaitDurable();
                }
                assertTrue(s.batchCount() > 0);
                for (var a : as) {
                    s.remove(a.ref());
                    s.remove(a.ref() + 1);
                }
                sync(s);
                assertEquals(0, s.batchCount(), "round " + round);
                assertEquals(0, s.liveSlots());
                if (round == 4) {
                    sizeAfterFirstRounds = Files.size(file);
                }
            }
            // 26 more rounds of 6.4 MB each: freed records must be reused, not appended.
            assertTrue(Files.size(file) <= sizeAfterFirstRounds + (8 << 20),
                    "file grew from " + sizeAfterFirstRounds + " to " + Files.size(file));
        }
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            assertEquals(0, s.batchCount());
            assertEquals(List.of(), recover(s));
        }
    }

    @Test
    void aMessageForSeveralQueuesHasOneSlotPerQueueRemovedSeparately() throws Exception {
        long ref;
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            var a = append(s, "fan", 7, 8, 9);
            a.awaitDurable();
            ref = a.ref();
            s.remove(ref + 1);
            sync(s);
            assertEquals(2, s.liveSlots());
        }
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            var rec = recover(s);
            assertEquals(List.of(7L, 9L), rec.stream().map(StoreFixtures.Recovered::queueId).toList());
            assertEquals(List.of(ref, ref + 2), rec.stream().map(r -> r.message().ref()).toList());
            assertEquals("fan", loadBody(s, ref + 2));
            s.remove(ref);
            s.remove(ref + 2);
            sync(s);
            assertEquals(0, s.batchCount());
        }
    }

    @Test
    void eachQueueRecoversItsMessagesInPublishOrder() throws Exception {
        Random rnd = new Random(7);
        Map<Long, List<String>> expected = new HashMap<>();
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            for (int i = 0; i < 20_000; i++) {
                List<Long> qs = new ArrayList<>();
                for (long q = 1; q <= 3; q++) {
                    if (rnd.nextInt(3) > 0) {
                        qs.add(q);
                    }
                }
                if (qs.isEmpty()) {
                    qs.add(2L);
                }
                var a = append(s, "m" + i, qs.stream().mapToLong(Long::longValue).toArray());
                for (int k = 0; k < qs.size(); k++) {
                    if (rnd.nextInt(4) == 0) {
                        s.remove(a.ref() + k); // acked
                    } else {
                        expected.computeIfAbsent(qs.get(k), q -> new ArrayList<>()).add("m" + i);
                    }
                }
                if (i % 1000 == 0) {
                    a.awaitDurable(); // spread the messages over many batches
                }
            }
            sync(s);
            assertTrue(s.commits() > 1);
        }
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            Map<Long, List<Long>> refs = new HashMap<>();
            for (var r : recover(s)) {
                refs.computeIfAbsent(r.queueId(), q -> new ArrayList<>()).add(r.message().ref());
            }
            for (long q = 1; q <= 3; q++) {
                List<String> bodies = new ArrayList<>();
                for (long ref : refs.get(q)) {
                    bodies.add(loadBody(s, ref));
                }
                assertEquals(expected.get(q), bodies, "queue " + q);
            }
        }
    }

    @Test
    void syncCompletesAfterACommitCoveringEarlierAppendsAndRemoves() throws Exception {
        long kept;
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            var old = append(s, "acked-in-tx", 1);
            old.awaitDurable();
            // A transaction: appends without callbacks, a remove, then one sync for tx.commit-ok.
            kept = s.append("e", "r", io.netty.buffer.Unpooled.EMPTY_BUFFER,
                    io.netty.buffer.Unpooled.wrappedBuffer(bytes("tx")), new long[]{1}, null);
            s.remove(old.ref());
            long before = s.commits();
            sync(s);
            assertTrue(s.commits() > before);
            sync(s); // nothing pending: completes without another commit
        }
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            var rec = recover(s);
            assertEquals(1, rec.size());
            assertEquals(kept, rec.get(0).message().ref());
        }
    }

    @Test
    void closeCommitsWhatIsPendingAndCompletesItsCallbacks() throws Exception {
        List<StoreFixtures.Appended> as = new ArrayList<>();
        MapDbMessageStore s = MapDbMessageStore.open(dir);
        for (int i = 0; i < 5000; i++) {
            as.add(append(s, "c" + i, 1));
        }
        s.close();
        for (var a : as) {
            assertTrue(a.durable().isDone() && !a.durable().isCompletedExceptionally());
        }
        assertThrows(StoreException.class, () -> append(s, "late", 1));
        assertThrows(StoreException.class, () -> s.sync(f -> { }));
        try (MapDbMessageStore again = MapDbMessageStore.open(dir)) {
            assertEquals(5000, recover(again).size());
        }
    }

    @Test
    void unknownAndDuplicateRemovesAreIgnored() throws Exception {
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            var a = append(s, "x", 1, 2);
            a.awaitDurable();
            s.remove(a.ref());
            s.remove(a.ref());
            s.remove(Refs.ref(999_999, 3));
            s.remove(a.ref() + 5); // past the batch's slots
            sync(s);
            assertEquals(1, s.liveSlots());
        }
    }
}
