package io.warren.core.flow;

import io.netty.buffer.Unpooled;
import io.netty.util.concurrent.DefaultEventExecutor;
import io.netty.util.concurrent.EventExecutor;
import io.warren.core.message.Message;
import io.warren.core.message.QueueEntry;
import io.warren.core.queue.MessageQueue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Credit between a publisher's loop and queues on other loops, with real Netty executors. */
class PublisherFlowTest {
    private final EventExecutor publisherLoop = new DefaultEventExecutor();
    private final EventExecutor queueLoop = new DefaultEventExecutor();
    private final List<Boolean> events = new CopyOnWriteArrayList<>();
    private final Set<MessageQueue> deleted = ConcurrentHashMap.newKeySet();
    private final PublisherFlow flow = new PublisherFlow(publisherLoop, q -> !deleted.contains(q), events::add);

    private final List<MessageQueue> queues = new CopyOnWriteArrayList<>();

    @AfterEach
    void stop() throws Exception {
        for (MessageQueue q : queues) {
            q.loop().submit(q::close).get(10, TimeUnit.SECONDS); // releases the messages left
        }
        publisherLoop.shutdownGracefully(0, 0, TimeUnit.SECONDS);
        queueLoop.shutdownGracefully(0, 0, TimeUnit.SECONDS);
    }

    private MessageQueue queue(String name, EventExecutor loop) {
        MessageQueue q = new MessageQueue(name, "/", false, false, null, null, loop, x -> { });
        queues.add(q);
        return q;
    }

    private static Message message() {
        return new Message("", "q", Unpooled.buffer(2).writeShort(0), Unpooled.wrappedBuffer(new byte[] {1}), false,
                b -> null);
    }

    private <T> T onPublisher(Callable<T> c) throws Exception {
        return publisherLoop.submit(c).get(10, TimeUnit.SECONDS);
    }

    private void publish(MessageQueue q, int n) throws Exception {
        onPublisher(() -> {
            for (int i = 0; i < n; i++) {
                flow.enqueue(q, message(), QueueEntry.NOT_STORED);
            }
            return null;
        });
    }

    /** Holds the queue's loop busy until the returned latch is counted down. */
    private CountDownLatch holdQueueLoop() throws InterruptedException {
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch held = new CountDownLatch(1);
        queueLoop.execute(() -> {
            held.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        assertTrue(held.await(10, TimeUnit.SECONDS));
        return release;
    }

    private static void awaitTrue(Callable<Boolean> c) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!c.call()) {
            assertTrue(System.nanoTime() < deadline, "condition not met within 10 s");
            Thread.sleep(5);
        }
    }

    @Test
    void aQueueThatDoesNotProcessPausesThePublisherAtItsCreditAndResumesIt() throws Exception {
        MessageQueue q = queue("q", queueLoop);
        CountDownLatch release = holdQueueLoop();
        publish(q, PublisherFlow.INITIAL_CREDIT - 1);
        assertEquals(List.of(), events);
        publish(q, 1);
        assertEquals(List.of(true), events);
        assertTrue(onPublisher(flow::paused));
        // What the socket had already delivered still goes through (credit below zero).
        publish(q, 50);
        assertEquals(List.of(true), events);

        release.countDown();
        awaitTrue(() -> events.size() == 2);
        assertEquals(List.of(true, false), events);
        awaitTrue(() -> q.messageCount() == PublisherFlow.INITIAL_CREDIT + 50);
        assertEquals(1L, onPublisher(flow::pauses));
    }

    @Test
    void aQueueOnThePublishersOwnLoopNeedsNoCredit() throws Exception {
        MessageQueue q = queue("local", publisherLoop);
        publish(q, 3 * PublisherFlow.INITIAL_CREDIT);
        assertEquals(List.of(), events);
        assertEquals(0, onPublisher(flow::links));
        assertEquals(3 * PublisherFlow.INITIAL_CREDIT, q.messageCount());
    }

    @Test
    void creditComesBackInBatchesSoASteadyPublisherIsNeverPaused() throws Exception {
        MessageQueue q = queue("q", queueLoop);
        for (int round = 1; round <= 20; round++) {
            publish(q, PublisherFlow.MORE_CREDIT_AFTER);
            int expected = round * PublisherFlow.MORE_CREDIT_AFTER;
            awaitTrue(() -> q.messageCount() == expected);
            // The last enqueue task (and the grant it sends) has finished once a task queued
            // behind it runs on the queue's loop; the grant then runs before a task queued
            // behind it on the publisher's loop.
            queueLoop.submit(() -> null).get(10, TimeUnit.SECONDS);
            onPublisher(() -> null);
        }
        assertEquals(20 * PublisherFlow.MORE_CREDIT_AFTER, q.messageCount());
        assertEquals(List.of(), events);
    }

    @Test
    void linksOfDeletedQueuesAreDroppedSoTheirNumberStaysBounded() throws Exception {
        for (int i = 0; i < 500; i++) {
            MessageQueue q = queue("rpc-reply-" + i, queueLoop);
            publish(q, 1);
            deleted.add(q);
            q.execute(q::delete);
        }
        int links = onPublisher(flow::links);
        assertTrue(links <= 2 * PublisherFlow.FIRST_SWEEP, links + " links held for 500 deleted queues");
        assertEquals(List.of(), events);
    }

    @Test
    void aDeletedQueueStillGivesItsCreditBack() throws Exception {
        MessageQueue q = queue("q", queueLoop);
        CountDownLatch release = holdQueueLoop();
        publish(q, PublisherFlow.INITIAL_CREDIT);
        assertEquals(List.of(true), events);
        deleted.add(q);
        queueLoop.execute(q::delete);
        release.countDown();
        awaitTrue(() -> events.size() == 2);
        assertEquals(List.of(true, false), events);
        // The delete runs after the enqueues (it was queued behind them), maybe after the grant.
        awaitTrue(() -> q.messageCount() == 0);
    }

    @Test
    void aClosedPublisherForgetsItsCreditAndHearsNothingMore() throws Exception {
        MessageQueue q = queue("q", queueLoop);
        CountDownLatch release = holdQueueLoop();
        publish(q, PublisherFlow.INITIAL_CREDIT + 10);
        assertEquals(List.of(true), events);
        onPublisher(() -> {
            flow.close();
            return null;
        });
        assertEquals(0, onPublisher(flow::links));
        assertEquals(false, onPublisher(flow::paused));
        release.countDown();
        awaitTrue(() -> q.messageCount() == PublisherFlow.INITIAL_CREDIT + 10);
        onPublisher(() -> null); // the grants, if any, have run
        assertEquals(List.of(true), events);
    }

    /** A store whose backlog the test sets; only the flow-control methods are used. */
    private static final class BackloggedStore implements io.warren.core.store.MessageStore {
        volatile boolean overloaded;
        final List<Runnable> drainWaiters = new CopyOnWriteArrayList<>();
        final List<java.util.concurrent.Executor> executors = new CopyOnWriteArrayList<>();

        void drain() {
            overloaded = false;
            for (int i = 0; i < drainWaiters.size(); i++) {
                executors.get(i).execute(drainWaiters.get(i));
            }
            drainWaiters.clear();
            executors.clear();
        }

        @Override public boolean overloaded() {
            return overloaded;
        }

        @Override public void whenDrained(java.util.concurrent.Executor executor, Runnable callback) {
            executors.add(executor);
            drainWaiters.add(callback);
        }

        @Override public long append(String exchange, String routingKey, io.netty.buffer.ByteBuf properties,
                                     io.netty.buffer.ByteBuf body, long[] queueIds, Durable durable) {
            throw new UnsupportedOperationException();
        }

        @Override public void remove(long ref) {
            throw new UnsupportedOperationException();
        }

        @Override public void sync(Durable durable) {
            throw new UnsupportedOperationException();
        }

        @Override public void recover(RecoveryVisitor visitor) {
            throw new UnsupportedOperationException();
        }

        @Override public void load(long ref, LoadSink sink) {
            throw new UnsupportedOperationException();
        }

        @Override public void close() {
        }
    }

    @Test
    void anOverloadedStorePausesItsPublishersUntilItDrains() throws Exception {
        BackloggedStore store = new BackloggedStore();
        onPublisher(() -> {
            flow.appended(store);
            return null;
        });
        assertEquals(List.of(), events);
        store.overloaded = true;
        onPublisher(() -> {
            flow.appended(store);
            flow.appended(store); // one wait per store, however many appends
            return null;
        });
        assertEquals(List.of(true), events);
        assertEquals(1, store.drainWaiters.size());
        assertTrue(onPublisher(flow::waitingForStore));
        store.drain();
        awaitTrue(() -> events.size() == 2);
        assertEquals(List.of(true, false), events);
        assertEquals(false, onPublisher(flow::paused));
    }

    @Test
    void aPublisherOutOfCreditAndWaitingForTheStoreResumesOnlyWhenBothAreBack() throws Exception {
        BackloggedStore store = new BackloggedStore();
        MessageQueue q = queue("q", queueLoop);
        CountDownLatch release = holdQueueLoop();
        publish(q, PublisherFlow.INITIAL_CREDIT);
        store.overloaded = true;
        onPublisher(() -> {
            flow.appended(store);
            return null;
        });
        assertEquals(List.of(true), events);
        release.countDown();
        awaitTrue(() -> q.messageCount() == PublisherFlow.INITIAL_CREDIT);
        onPublisher(() -> null); // the grants have run
        assertEquals(List.of(true), events);
        assertTrue(onPublisher(flow::paused));
        store.drain();
        awaitTrue(() -> events.size() == 2);
        assertEquals(List.of(true, false), events);
    }
}
