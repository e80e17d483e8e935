package io.warren.server.cluster;

import io.netty.buffer.Unpooled;
import io.warren.core.store.MessageStore;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A quorum queue's store over an in-memory log: what it writes for publishes, returns and settles, and what a new leader recovers. */
class ReplicatedMessageStoreTest {
    /** The log as the queue's Raft group keeps it: an ordered map, a put of a known key replaces in place. */
    static final class MapLog implements ReplicatedMessageStore.Log {
        final Map<Long, byte[]> map = new LinkedHashMap<>();

        @Override public synchronized CompletableFuture<?> put(long key, byte[] value) {
            queued++;
            map.put(key, value);
            return CompletableFuture.completedFuture(null);
        }

        @Override public synchronized CompletableFuture<?> remove(long[] keys) {
            queued++;
            removes.add(keys.length);
            for (long k : keys) {
                map.remove(k);
            }
            return CompletableFuture.completedFuture(null);
        }

        /** Changes queued since the last flush, and what each flush found queued. */
        int queued;
        final List<Integer> flushes = new ArrayList<>();
        final List<Integer> removes = new ArrayList<>();

        @Override public synchronized void flush() {
            flushes.add(queued);
            queued = 0;
        }

        synchronized List<Integer> flushes() {
            return new ArrayList<>(flushes);
        }

        synchronized List<Integer> removes() {
            return new ArrayList<>(removes);
        }

        @Override public synchronized List<Map.Entry<Long, byte[]>> entries() {
            return new ArrayList<>(map.entrySet());
        }

        @Override public synchronized byte[] get(long key) {
            return map.get(key);
        }

        synchronized int size() {
            return map.size();
        }
    }

    private static long publish(ReplicatedMessageStore store, String body) {
        return store.append("", "q", Unpooled.EMPTY_BUFFER, Unpooled.copiedBuffer(body, StandardCharsets.UTF_8),
                new long[] {7}, failure -> { });
    }

    private static List<MessageStore.StoredMessage> recover(ReplicatedMessageStore store) {
        List<MessageStore.StoredMessage> out = new ArrayList<>();
        store.recover((queue, m) -> {
            assertEquals(7, queue);
            out.add(m);
        });
        return out;
    }

    @Test
    void aReturnedMessagesCountIsInTheLogAndGoesWithTheMessage() throws InterruptedException {
        MapLog log = new MapLog();
        ReplicatedMessageStore store = new ReplicatedMessageStore(log, 7, 1, null);
        long a = publish(store, "a");
        long b = publish(store, "b");
        store.returned(b, 1);
        store.returned(b, 2);
        assertTrue(log.map.containsKey(ReplicatedMessageStore.countKey(b)));
        assertTrue(ReplicatedMessageStore.isCount(ReplicatedMessageStore.countKey(b)));
        assertFalse(ReplicatedMessageStore.isCount(b), "a reference never has the top bit");
        assertEquals(3, log.size(), "two messages and one count, replaced in place");

        // a new leader's store over the same log: the messages in order, b with its count
        ReplicatedMessageStore next = new ReplicatedMessageStore(log, 7, 2, null);
        List<MessageStore.StoredMessage> recovered = recover(next);
        assertEquals(List.of(a, b), recovered.stream().map(MessageStore.StoredMessage::ref).toList());
        assertEquals(List.of(0, 2), recovered.stream().map(MessageStore.StoredMessage::deliveryCount).toList());

        // settling b through the new leader removes its count too; a has none to remove
        next.remove(b);
        next.remove(a);
        // settles are flushed to the log a millisecond later, as one entry
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (log.size() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertEquals(0, log.size(), "both messages and b's count settled");
        assertEquals(List.of(), recover(new ReplicatedMessageStore(log, 7, 3, null)));

        // a count whose message is gone is dropped by the next recovery
        long c = publish(next, "c");
        log.put(ReplicatedMessageStore.countKey(12345), new byte[] {0, 0, 0, 1});
        assertEquals(List.of(c), recover(new ReplicatedMessageStore(log, 7, 4, null)).stream()
                .map(MessageStore.StoredMessage::ref).toList());
        assertEquals(1, log.size(), "the orphaned count is removed");
    }

    /**
     * A publish through the leader is enqueued at once and marked so, and the log's apply of it
     * does not enqueue it again. A mark made in a leadership that was lost is never taken for one
     * of the next: should this node lead again and the log apply the put then, the queue it
     * rebuilt has not got it, and must enqueue it. Here the lead goes while the put looks at
     * whether the queue is live (the race between a publish and the loss).
     */
    @Test
    void aPublishMarkedEnqueuedInALostLeadershipIsEnqueuedByTheNext() {
        MapLog log = new MapLog();
        ReplicatedMessageStore store = new ReplicatedMessageStore(log, 7, 1, null);
        store.liveWhen(() -> true);
        long live = publish(store, "a");
        assertTrue(store.enqueuedHere(live), "published while leading: enqueued then");
        assertFalse(store.enqueuedHere(live), "asked once per put");
        long lost = publish(store, "b");
        store.leading(false);
        assertFalse(store.enqueuedHere(lost), "the loss clears the marks");
        store.liveWhen(() -> {
            store.leading(false); // the lead goes between the put's look at it and its mark
            return true;
        });
        long racing = publish(store, "c");
        store.liveWhen(() -> true); // this node leads again
        assertFalse(store.enqueuedHere(racing), "a mark from the lost leadership is not this one's");
        long again = publish(store, "d");
        assertTrue(store.enqueuedHere(again));
    }

    /**
     * What a client's socket brings is read on an event loop: the publishes and acks of one round
     * of the loop reach the log as queued changes and one flush after the round, so they leave as
     * one entry. Off a loop each publish is flushed at once.
     */
    @Test
    void changesMadeOnAnEventLoopAreFlushedOnceAfterTheLoopsRound() throws Exception {
        MapLog log = new MapLog();
        ReplicatedMessageStore store = new ReplicatedMessageStore(log, 7, 1, null);
        io.netty.channel.DefaultEventLoop loop = new io.netty.channel.DefaultEventLoop();
        try {
            List<Long> refs = new ArrayList<>();
            List<Integer> seenInRound = loop.submit(() -> {
                for (int i = 0; i < 100; i++) {
                    refs.add(publish(store, "m" + i));
                }
                return log.flushes();
            }).get(10, java.util.concurrent.TimeUnit.SECONDS);
            assertEquals(List.of(), seenInRound, "nothing is flushed while the round runs");
            loop.submit(() -> { }).get(10, java.util.concurrent.TimeUnit.SECONDS); // after the flush the round queued
            assertEquals(List.of(100), log.flushes(), "one flush sends the round's hundred puts");

            loop.submit(() -> refs.forEach(store::remove)).get(10, java.util.concurrent.TimeUnit.SECONDS);
            loop.submit(() -> { }).get(10, java.util.concurrent.TimeUnit.SECONDS);
            assertEquals(List.of(100), log.removes(), "the round's acks are one remove of 100 keys");
            assertEquals(List.of(100, 1), log.flushes());
            assertEquals(0, log.size());

            publish(store, "off a loop");
            publish(store, "off a loop too");
            assertEquals(List.of(100, 1, 1, 1), log.flushes(), "off a loop each put is sent at once");
        } finally {
            loop.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS);
        }
    }
}
