package io.warren.store.delayed;

import io.netty.buffer.Unpooled;
import io.warren.core.message.Message;
import io.warren.core.store.DelayStore;
import io.warren.core.store.MessageStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The time-bucketed schedule: due-time order, never early, durable records across a reopen, torn tails. */
class BucketDelayStoreTest {
    @TempDir
    Path dir;

    /** What the router saw: the routing key (the test's label) and when. */
    record Routed(String exchange, String key, long at) {}

    private static final class Collect implements DelayStore.Router {
        final LinkedBlockingQueue<Routed> routed = new LinkedBlockingQueue<>();
        final java.util.Set<String> exchanges;

        Collect(String... exchanges) {
            this.exchanges = java.util.Set.of(exchanges);
        }

        @Override public boolean exists(String vhost, String exchange) {
            return exchanges.contains(exchange);
        }

        @Override public void route(String vhost, String exchange, Message message, MessageStore.Durable safe) {
            routed.add(new Routed(exchange, message.routingKey(), System.currentTimeMillis()));
            message.release();
            safe.done(null);
        }

        Routed next() throws InterruptedException {
            return routed.poll(10, TimeUnit.SECONDS);
        }
    }

    private static Message message(String key, boolean persistent) {
        return new Message("x", key, Unpooled.wrappedBuffer(new byte[] {0, 0}),
                Unpooled.copiedBuffer(key, StandardCharsets.UTF_8), persistent, b -> null);
    }

    private static void schedule(DelayStore s, String exchange, String key, long dueAt, boolean durable)
            throws Exception {
        Message m = message(key, durable);
        CompletableFuture<Throwable> done = new CompletableFuture<>();
        s.schedule("/", exchange, m, dueAt, durable, done::complete);
        m.release();
        assertNull(done.get(10, TimeUnit.SECONDS));
    }

    @Test
    void routesInDueOrderNeverEarlyAndCountsWhatWaits() throws Exception {
        BucketDelayStore s = BucketDelayStore.open(dir, b -> null);
        Collect router = new Collect("x");
        s.start(router);
        try {
            long now = System.currentTimeMillis();
            long[] due = {now + 2500, now + 1300, now + 3600, now + 1300, now + 1900};
            String[] keys = {"d", "a", "e", "b", "c"};
            for (int i = 0; i < due.length; i++) {
                schedule(s, "x", keys[i], due[i], false);
            }
            assertEquals(5, s.waiting("/", "x"));
            assertEquals(Map.of("/", Map.of("x", 5L)), s.waiting());
            List<String> order = new ArrayList<>();
            for (int i = 0; i < due.length; i++) {
                Routed r = router.next();
                order.add(r.key());
                int k = List.of(keys).indexOf(r.key());
                assertTrue(r.at() >= due[k], r.key() + " routed " + (due[k] - r.at()) + " ms early");
            }
            assertEquals(List.of("a", "b", "c", "d", "e"), order);
            assertEquals(0, s.waiting("/", "x"));
        } finally {
            s.close();
        }
        // Every bucket was routed and safe: no file is left behind.
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(), files.filter(p -> p.toString().endsWith(".dly")).toList());
        }
    }

    @Test
    void durableRecordsComeBackAfterAReopenTransientOnesAndThoseOfGoneExchangesDoNot() throws Exception {
        long due = System.currentTimeMillis() + 5000; // far enough not to come due before the reopen on a busy machine
        BucketDelayStore s = BucketDelayStore.open(dir, b -> null);
        s.start(new Collect("x", "gone"));
        schedule(s, "x", "durable", due, true);
        schedule(s, "x", "transient", due, false);
        schedule(s, "gone", "orphan", due, true);
        s.close();

        BucketDelayStore again = BucketDelayStore.open(dir, b -> null);
        Collect router = new Collect("x");
        again.start(router);
        try {
            assertEquals(1, again.waiting("/", "x"));
            assertEquals(0, again.waiting("/", "gone"));
            Routed r = router.next();
            assertEquals("durable", r.key());
            assertTrue(r.at() >= due);
            // The orphan is dropped, not routed: nothing else comes.
            assertNull(router.routed.poll(1500, TimeUnit.MILLISECONDS));
        } finally {
            again.close();
        }
    }

    @Test
    void aTornTailIsCutAndTheWholeRecordsBeforeItSurvive() throws Exception {
        long due = System.currentTimeMillis() + 4000;
        BucketDelayStore s = BucketDelayStore.open(dir, b -> null);
        s.start(new Collect("x"));
        schedule(s, "x", "one", due, true);
        schedule(s, "x", "two", due, true);
        s.close();
        Path file;
        try (Stream<Path> files = Files.list(dir)) {
            file = files.filter(p -> p.toString().endsWith(".dly")).findFirst().orElseThrow();
        }
        long whole = Files.size(file);
        // A crash in the middle of the next append: a length that promises more than is there.
        Files.write(file, new byte[] {0, 0, 1, 0, 1, 2, 3}, StandardOpenOption.APPEND);

        BucketDelayStore again = BucketDelayStore.open(dir, b -> null);
        Collect router = new Collect("x");
        again.start(router);
        try {
            assertEquals(whole, Files.size(file), "the torn tail is cut at start");
            assertEquals("one", router.next().key());
            assertEquals("two", router.next().key());
        } finally {
            again.close();
        }
    }

    @Test
    void aDeletedExchangeLosesItsWaitingMessagesEvenWhenDeclaredAgain() throws Exception {
        BucketDelayStore s = BucketDelayStore.open(dir, b -> null);
        Collect router = new Collect("x");
        s.start(router);
        try {
            long now = System.currentTimeMillis();
            schedule(s, "x", "old", now + 400, false);
            s.exchangeDeleted("/", "x");
            schedule(s, "x", "new", now + 600, false);
            assertEquals("new", router.next().key());
            assertNull(router.routed.poll(300, TimeUnit.MILLISECONDS));
            assertEquals(0, s.waiting("/", "x"));
        } finally {
            s.close();
        }
    }
}
