package io.warren.store.definitions;

import io.warren.core.store.DefinitionStore.BindingDef;
import io.warren.core.store.DefinitionStore.Definitions;
import io.warren.core.store.DefinitionStore.ExchangeDef;
import io.warren.core.store.DefinitionStore.QueueDef;
import io.warren.core.store.StoreException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SnapshotDefinitionStoreTest {
    @TempDir
    Path dir;

    @Test
    void everyKindSurvivesReopenAndRemovalsStick() {
        byte[] args = {1, 2, 3};
        long id1;
        long id2;
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            id1 = s.nextQueueId();
            id2 = s.nextQueueId();
            assertTrue(id2 > id1);
            s.putExchange(new ExchangeDef("/", "logs", "fanout", false, false, null));
            s.putExchange(new ExchangeDef("/", "tmp", "direct", true, false, args));
            s.putExchange(new ExchangeDef("v2", "logs", "topic", false, true, args));
            s.putQueue(new QueueDef("/", "b-queue", id2, false, args));
            s.putQueue(new QueueDef("/", "a-queue", id1, true, null));
            s.putBinding(new BindingDef("/", "logs", true, "a-queue", "", null));
            s.putBinding(new BindingDef("/", "logs", true, "b-queue", "k", args));
            s.putBinding(new BindingDef("/", "logs", true, "b-queue", "k", new byte[]{9}));
            s.putBinding(new BindingDef("/", "logs", false, "v2-logs", "k", new byte[0]));
            s.removeExchange("/", "tmp");
            s.removeBinding(new BindingDef("/", "logs", true, "b-queue", "k", new byte[]{9}));
        }
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            Definitions d = s.load();
            assertEquals(List.of("/:logs", "v2:logs"), d.exchanges().stream().map(e -> e.vhost() + ":" + e.name()).toList());
            ExchangeDef v2 = d.exchanges().get(1);
            assertEquals(new ExchangeDef("v2", "logs", "topic", false, true, null).type(), v2.type());
            assertTrue(v2.internal());
            assertFalse(v2.autoDelete());
            assertArrayEquals(args, v2.arguments());
            assertNull(d.exchanges().get(0).arguments());
            assertEquals(List.of("a-queue", "b-queue"), d.queues().stream().map(QueueDef::name).toList());
            assertEquals(id1, d.queues().get(0).id());
            assertEquals(id2, d.queues().get(1).id());
            assertTrue(d.queues().get(0).autoDelete());
            assertNull(d.queues().get(0).arguments());
            assertArrayEquals(args, d.queues().get(1).arguments());
            assertEquals(3, d.bindings().size());
            assertTrue(d.bindings().stream().anyMatch(b -> b.destination().equals("b-queue")
                    && Arrays.equals(args, b.arguments())));
            assertTrue(d.bindings().stream().anyMatch(b -> !b.toQueue() && b.destination().equals("v2-logs")
                    && b.arguments().length == 0), "empty and null arguments are different bindings");
            s.removeQueue("/", "a-queue");
            s.removeBinding(new BindingDef("/", "logs", true, "a-queue", "", null));
            s.removeExchange("v2", "logs");
            s.removeExchange("v2", "never-existed");
        }
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            Definitions d = s.load();
            assertEquals(List.of("/:logs"), d.exchanges().stream().map(e -> e.vhost() + ":" + e.name()).toList());
            assertEquals(List.of("b-queue"), d.queues().stream().map(QueueDef::name).toList());
            assertEquals(2, d.bindings().size());
            assertTrue(d.bindings().stream().noneMatch(b -> b.destination().equals("a-queue")));
        }
    }

    @Test
    void redeclaringReplacesAndNamesAreScopedByVhost() {
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            s.putExchange(new ExchangeDef("a", "b/c", "direct", false, false, null));
            s.putExchange(new ExchangeDef("a/b", "c", "topic", false, false, null));
            s.putExchange(new ExchangeDef("a", "b/c", "fanout", false, false, null));
        }
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            List<ExchangeDef> ex = s.load().exchanges();
            assertEquals(2, ex.size());
            assertEquals("fanout", ex.get(0).type());
            assertEquals("topic", ex.get(1).type());
        }
    }

    /** Bindings are identified by their encoded bytes: an unbind must present the same argument bytes. */
    @Test
    void bindingArgumentsAreComparedByBytes() {
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            s.putBinding(new BindingDef("/", "x", true, "q", "k", new byte[]{1, 2}));
            s.putBinding(new BindingDef("/", "x", true, "q", "k", new byte[]{1, 2})); // same: one binding
            s.putBinding(new BindingDef("/", "x", true, "q", "k", new byte[]{2, 1}));
            s.removeBinding(new BindingDef("/", "x", true, "q", "k", new byte[]{2, 1}));
            s.removeBinding(new BindingDef("/", "x", true, "q", "k", null)); // not stored: no-op
        }
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            List<BindingDef> bs = s.load().bindings();
            assertEquals(1, bs.size());
            assertArrayEquals(new byte[]{1, 2}, bs.get(0).arguments());
        }
    }

    @Test
    void queueIdsAreNeverHandedOutTwiceAcrossReopens() {
        Set<Long> seen = new HashSet<>();
        long max = 0;
        for (int run = 0; run < 5; run++) {
            SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir);
            for (int i = 0; i < (run == 2 ? 2_500 : 7); i++) {
                long id = s.nextQueueId();
                assertTrue(id > max, "id " + id + " after " + max);
                assertTrue(seen.add(id));
                max = id;
            }
            if (run % 2 == 0) {
                s.close();
            } else {
                // Odd runs are "crashes": never closed, the next open takes over. What a crash keeps
                // is what was synced (the broker syncs before it replies to a declare).
                try {
                    assertNull(sync(s));
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
            }
        }
        // An id given to putQueue directly also counts as handed out.
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            s.putQueue(new QueueDef("/", "q", max + 50_000, false, null));
        }
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            assertTrue(s.nextQueueId() > max + 50_000);
        }
    }

    @Test
    void aLeftoverTmpFileIsIgnoredAndDeleted() throws Exception {
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            s.putExchange(new ExchangeDef("/", "kept", "direct", false, false, null));
        }
        Path tmp = dir.resolve("definitions.tmp");
        // A complete, valid snapshot whose rename never happened, and then plain garbage.
        Files.copy(dir.resolve("definitions.dat"), tmp);
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            s.putExchange(new ExchangeDef("/", "later", "direct", false, false, null));
        }
        Files.copy(dir.resolve("definitions.dat"), tmp);
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            assertFalse(Files.exists(tmp));
            s.removeExchange("/", "later");
        }
        Files.write(tmp, "half a snapshot".getBytes(StandardCharsets.US_ASCII));
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            assertEquals(List.of("kept"), s.load().exchanges().stream().map(ExchangeDef::name).toList());
            assertFalse(Files.exists(tmp));
        }
    }

    /** Waits for the store's next sync; returns its failure, or null. */
    static Throwable sync(SnapshotDefinitionStore s) throws Exception {
        java.util.concurrent.CompletableFuture<Throwable> f = new java.util.concurrent.CompletableFuture<>();
        s.sync(f::complete);
        return f.get(30, java.util.concurrent.TimeUnit.SECONDS);
    }

    @Test
    void aFailedWriteIsReportedBySyncAndRetriedWithTheNextChange() throws Exception {
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            s.putExchange(new ExchangeDef("/", "kept", "direct", false, false, null));
            assertNull(sync(s));
            Path tmp = dir.resolve("definitions.tmp");
            Files.createDirectory(tmp); // the next snapshot cannot be written
            Files.createFile(tmp.resolve("f"));
            // Enough changes that the writer folds the log into a new snapshot, which fails.
            for (int i = 0; i < 2_000; i++) {
                s.putBinding(new BindingDef("/", "kept", true, "q" + i, "k", new byte[64]));
            }
            Throwable failed = null;
            for (int i = 0; i < 50 && failed == null; i++) {
                s.putBinding(new BindingDef("/", "kept", true, "again" + i, "k", null));
                failed = sync(s);
            }
            assertNotNull(failed, "the failing snapshot write is reported");
            assertTrue(failed.getMessage().contains(dir.resolve("definitions.dat").toString()), failed.getMessage());
            // Memory keeps every change; once the disk works again the next change writes them all.
            Files.delete(tmp.resolve("f"));
            Files.delete(tmp);
            s.putExchange(new ExchangeDef("/", "after", "direct", false, false, null));
            assertNull(sync(s));
            assertTrue(s.load().bindings().size() >= 2_001);
        }
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            assertEquals(List.of("after", "kept"), s.load().exchanges().stream().map(ExchangeDef::name).toList());
            assertTrue(s.load().bindings().size() >= 2_001);
        }
    }

    @Test
    void manyChangesCostTheLogNotAWholeSnapshotEach() throws Exception {
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            for (int i = 0; i < 5_000; i++) {
                s.putQueue(new QueueDef("/", "q" + i, s.nextQueueId(), false, null));
                s.putBinding(new BindingDef("/", "amq.direct", true, "q" + i, "q" + i, null));
            }
            assertNull(sync(s));
            // Group commit: far fewer forces than changes; the log was folded into snapshots on the way.
            assertTrue(s.commits() < 5_000, "commits: " + s.commits());
            for (int i = 0; i < 5_000; i += 2) {
                s.removeQueue("/", "q" + i);
            }
            assertNull(sync(s));
        }
        assertTrue(Files.size(dir.resolve("definitions.log")) < 2 * Files.size(dir.resolve("definitions.dat")) + (64 << 10));
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            assertEquals(2_500, s.load().queues().size());
            assertEquals(5_000, s.load().bindings().size());
        }
    }

    @Test
    void aDamagedCommitInsideTheLogStopsTheOpenNamingTheFile() throws Exception {
        SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir);
        s.putExchange(new ExchangeDef("/", "first", "direct", false, false, null));
        assertNull(sync(s));
        s.putExchange(new ExchangeDef("/", "second", "direct", false, false, null));
        assertNull(sync(s));
        // Not closed (a crash): both commits are in the log. Rot one byte of the first.
        Path log = dir.resolve("definitions.log");
        byte[] bytes = Files.readAllBytes(log);
        int at = new String(bytes, StandardCharsets.ISO_8859_1).indexOf("first");
        assertTrue(at > 0);
        bytes[at] = 'F';
        Files.write(log, bytes);
        StoreException e = assertThrows(StoreException.class, () -> SnapshotDefinitionStore.open(dir));
        assertTrue(e.getMessage().startsWith("definitions log " + log + " is damaged"), e.getMessage());
    }

    @Test
    void aTornLogTailIsCutOffAtOpen() throws Exception {
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            s.putExchange(new ExchangeDef("/", "one", "direct", false, false, null));
            s.putExchange(new ExchangeDef("/", "two", "direct", false, false, null));
            assertNull(sync(s));
        }
        Path log = dir.resolve("definitions.log");
        long whole = Files.size(log);
        Files.write(log, new byte[]{0, 0, 0, 40, 1, 2, 3}, java.nio.file.StandardOpenOption.APPEND);
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            assertEquals(List.of("one", "two"), s.load().exchanges().stream().map(ExchangeDef::name).toList());
            assertEquals(whole, Files.size(log));
            s.putExchange(new ExchangeDef("/", "three", "direct", false, false, null));
        }
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            assertEquals(List.of("one", "three", "two"),
                    s.load().exchanges().stream().map(ExchangeDef::name).toList());
        }
    }

    @Test
    void anEmptyStoreWritesItsFileAtOnce() {
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir.resolve("new"))) {
            assertTrue(Files.exists(dir.resolve("new").resolve("definitions.dat")));
            Definitions d = s.load();
            assertTrue(d.exchanges().isEmpty() && d.queues().isEmpty() && d.bindings().isEmpty());
        }
    }

    @Test
    void anOldMapDbLayoutIsRefused() throws Exception {
        Files.write(dir.resolve("definitions.db"), new byte[]{0x4a, 0, 0, 0});
        StoreException e = assertThrows(StoreException.class, () -> SnapshotDefinitionStore.open(dir));
        assertTrue(e.getMessage().contains(dir.resolve("definitions.db").toString()), e.getMessage());
        assertTrue(e.getMessage().contains("older layout"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("definitions.dat")), "no empty store written next to the old one");
    }

    @Test
    void aClosedStoreRefusesWrites() {
        SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir);
        s.close();
        assertThrows(StoreException.class, () -> s.putExchange(new ExchangeDef("/", "x", "direct", false, false, null)));
        assertThrows(StoreException.class, s::nextQueueId);
    }
}
