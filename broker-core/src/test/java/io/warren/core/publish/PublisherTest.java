package io.warren.core.publish;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.util.concurrent.DefaultEventExecutor;
import io.warren.core.exchange.Binding;
import io.warren.core.exchange.Exchange;
import io.warren.core.exchange.ExchangeType;
import io.warren.core.exchange.RoutingResult;
import io.warren.core.message.Message;
import io.warren.core.message.QueueEntry;
import io.warren.core.queue.MessageQueue;
import io.warren.core.store.MessageStore;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The publish path's decisions, which the AMQP channel and the management API share: only a
 * persistent message reaching a durable queue is journaled (once, one slot per durable queue),
 * the caller learns when it is safe, unroutable messages are shown before they are released,
 * and the exchange counts what it saw.
 */
class PublisherTest {
    private final DefaultEventExecutor loop = new DefaultEventExecutor();
    private final FakeStore store = new FakeStore();
    private final List<Object[]> handed = new ArrayList<>();
    private final Publisher.Handover collect = (q, m, ref) -> handed.add(new Object[] {q, m, ref});

    @AfterEach
    void stop() {
        for (Object[] h : handed) {
            ((Message) h[1]).release();
        }
        loop.shutdownGracefully(0, 0, TimeUnit.SECONDS);
    }

    private MessageQueue queue(String name, boolean durable, long storeId) {
        MessageQueue q = new MessageQueue(name, "/", durable, false, null, null, loop, x -> { });
        if (durable) {
            q.attachStore(store, storeId);
        }
        return q;
    }

    private static Message message(boolean persistent) {
        return new Message("fan", "k", Unpooled.buffer(2).writeShort(0), Unpooled.wrappedBuffer(new byte[] {7}),
                persistent, b -> null);
    }

    private static Exchange fanout(MessageQueue... queues) {
        Exchange x = Exchange.create("fan", ExchangeType.FANOUT, false, false, false, null);
        for (MessageQueue q : queues) {
            x.addBinding(new Binding(x, q, "", null));
        }
        return x;
    }

    @Test
    void persistentMessagesToDurableQueuesAreJournaledOnceAndReportedSafe() {
        MessageQueue d1 = queue("d1", true, 11);
        MessageQueue t = queue("t", false, 0);
        MessageQueue d2 = queue("d2", true, 12);
        Exchange x = fanout(d1, t, d2);
        Throwable[] safe = {new Throwable("not yet")};
        io.warren.core.store.DurableWrites used = Publisher.publish(x, message(true), new RoutingResult(), null, collect, f -> safe[0] = f);
        assertSame(store, used);
        assertEquals(1, store.appends.size(), "one journal write for all durable queues");
        assertArrayEquals(new long[] {11, 12}, store.appends.get(0));
        assertEquals(3, handed.size());
        // the durable queues get consecutive slots from the store's first; the transient one none
        for (Object[] h : handed) {
            MessageQueue q = (MessageQueue) h[0];
            long ref = (long) h[2];
            if (q == d1) {
                assertEquals(100L, ref);
            } else if (q == d2) {
                assertEquals(101L, ref);
            } else {
                assertEquals(QueueEntry.NOT_STORED, ref);
            }
        }
        assertEquals("not yet", safe[0].getMessage(), "safe only once the store commits");
        store.commit(null);
        assertNull(safe[0]);
        assertEquals(1, x.publishIn());
        assertEquals(1, x.publishOut());
    }

    @Test
    void transientMessagesAndNonDurableQueuesAreNeverJournaled() {
        Exchange x = fanout(queue("d", true, 1), queue("t", false, 0));
        assertNull(Publisher.publish(x, message(false), new RoutingResult(), null, collect, f -> { }));
        Exchange y = fanout(queue("t2", false, 0));
        assertNull(Publisher.publish(y, message(true), new RoutingResult(), null, collect, f -> { }));
        assertTrue(store.appends.isEmpty());
        assertEquals(3, handed.size());
    }

    @Test
    void unroutableMessagesAreShownThenReleased() {
        Exchange x = fanout();
        Message m = message(true);
        List<Message> returned = new ArrayList<>();
        assertNull(Publisher.publish(x, m, new RoutingResult(), returned::add, collect, f -> { }));
        assertEquals(List.of(m), returned);
        assertEquals(0, m.refCnt(), "released after the return was built");
        assertEquals(1, x.publishIn());
        assertEquals(0, x.publishOut());
        // no exchange (deleted meanwhile): nothing is reached either
        Message n = message(false);
        assertNull(Publisher.publish(null, n, new RoutingResult(), returned::add, collect, f -> { }));
        assertEquals(2, returned.size());
        assertEquals(0, n.refCnt());
    }

    /** A classic queue's stand-in (held by node "n1") whose forwarder is {@code forwarder}, or none. */
    private MessageQueue standIn(String name, MessageStore forwarder) {
        MessageQueue q = new MessageQueue(name, "/", true, false, null, null, loop, x -> { });
        q.remoteHome("n1");
        if (forwarder != null) {
            q.remotes(new io.warren.core.queue.RemoteQueues() {
                @Override public Relay consume(MessageQueue queue, io.warren.core.queue.Consumer c) {
                    throw new UnsupportedOperationException();
                }

                @Override public void get(MessageQueue queue, String user,
                                          java.util.function.BiConsumer<QueueEntry, Integer> sink,
                                          java.util.function.Consumer<io.warren.core.BrokerException> failed) {
                    throw new UnsupportedOperationException();
                }

                @Override public void purge(MessageQueue queue, String user, java.util.function.IntConsumer sink,
                                            java.util.function.Consumer<io.warren.core.BrokerException> failed) {
                    throw new UnsupportedOperationException();
                }

                @Override public MessageStore forwarder(MessageQueue queue) {
                    return forwarder;
                }
            });
        }
        return q;
    }

    @Test
    void aClassicQueueHeldElsewhereGetsEveryMessageThroughItsForwarderAndNoLocalCopy() {
        FakeStore forwarder = new FakeStore();
        MessageQueue local = queue("d", true, 1);
        MessageQueue remote = standIn("r", forwarder);
        Exchange x = fanout(local, remote);
        // transient: only the forwarder writes it; the local queue's copy is not journaled
        Throwable[] safe = {new Throwable("not yet")};
        assertSame(forwarder, Publisher.publish(x, message(false), new RoutingResult(), null, collect,
                f -> safe[0] = f));
        assertEquals(1, forwarder.appends.size());
        assertEquals(1, handed.size(), "the stand-in gets no copy");
        assertSame(local, handed.get(0)[0]);
        forwarder.commit(null);
        assertNull(safe[0], "safe once the holder confirmed");
        // persistent: the journal and the forwarder, safe once both are
        Throwable[] both = {new Throwable("not yet")};
        Publisher.publish(x, message(true), new RoutingResult(), null, collect, f -> both[0] = f);
        assertEquals(1, store.appends.size());
        assertEquals(2, forwarder.appends.size());
        store.commit(null);
        assertEquals("not yet", both[0].getMessage(), "the holder has not confirmed yet");
        forwarder.commit(null);
        assertNull(both[0]);
        // a nack from the holder is a failure for the publisher
        Throwable[] nacked = {null};
        Publisher.publish(fanout(remote), message(false), new RoutingResult(), null, collect, f -> nacked[0] = f);
        forwarder.commit(new IllegalStateException("nacked"));
        assertEquals("nacked", nacked[0].getMessage());
    }

    @Test
    void aStandInThatCannotForwardRefusesThePublishRatherThanDropIt() {
        MessageQueue remote = standIn("r", null);
        Message m = message(false);
        io.warren.core.BrokerException e = org.junit.jupiter.api.Assertions.assertThrows(
                io.warren.core.BrokerException.class,
                () -> Publisher.publish(fanout(remote), m, new RoutingResult(), null, collect, f -> { }));
        assertEquals(io.warren.core.BrokerException.Reason.NOT_FOUND, e.reason());
        assertEquals(0, m.refCnt());
    }

    @Test
    void aForwardedMessageGoesToItsQueueAloneAndNeverOnToAnotherNode() {
        MessageQueue d = queue("d", true, 5);
        Throwable[] safe = {new Throwable("not yet")};
        assertSame(store, Publisher.publishTo(d, message(true), new RoutingResult(), collect, f -> safe[0] = f));
        assertEquals(1, handed.size());
        assertArrayEquals(new long[] {5}, store.appends.get(0));
        store.commit(null);
        assertNull(safe[0]);
        // the queue was deleted meanwhile: nothing reached, nothing kept
        Message gone = message(true);
        assertNull(Publisher.publishTo(null, gone, new RoutingResult(), collect, f -> { }));
        assertEquals(0, gone.refCnt());
        // a stand-in here: refused, not forwarded again
        Message m = message(false);
        org.junit.jupiter.api.Assertions.assertThrows(io.warren.core.BrokerException.class,
                () -> Publisher.publishTo(standIn("r", new FakeStore()), m, new RoutingResult(), collect, f -> { }));
        assertEquals(0, m.refCnt());
    }

    /** Records appends; commits by hand. */
    private static final class FakeStore implements MessageStore {
        final List<long[]> appends = new ArrayList<>();
        final List<Durable> waiting = new ArrayList<>();

        void commit(Throwable failure) {
            waiting.forEach(d -> d.done(failure));
            waiting.clear();
        }

        @Override public long append(String exchange, String routingKey, ByteBuf properties, ByteBuf body,
                                     long[] queueIds, Durable durable) {
            appends.add(queueIds.clone());
            waiting.add(durable);
            return 100;
        }

        @Override public void remove(long ref) {
        }

        @Override public void sync(Durable durable) {
            waiting.add(durable);
        }

        @Override public void recover(RecoveryVisitor visitor) {
        }

        @Override public void load(long ref, LoadSink sink) {
        }

        @Override public void close() {
        }
    }
}
