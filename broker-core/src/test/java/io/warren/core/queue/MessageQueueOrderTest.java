package io.warren.core.queue;

import io.netty.buffer.Unpooled;
import io.netty.util.concurrent.DefaultEventExecutor;
import io.warren.core.message.Message;
import io.warren.core.message.QueueEntry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * One queue's ordering on its own loop, without sockets: FIFO, a requeued message goes back to
 * its place ahead of later ones and is marked redelivered (RabbitMQ keeps the original order),
 * consumers with room take turns, and a consumer without room is skipped until it has room.
 */
class MessageQueueOrderTest {
    private final DefaultEventExecutor loop = new DefaultEventExecutor();
    private final MessageQueue q = new MessageQueue("q", "/", false, false, null, null, loop, x -> { });
    private final List<QueueEntry> held = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        on(() -> {
            held.forEach(q::discard);
            q.purge(n -> { });
            return null;
        });
        loop.shutdownGracefully(0, 0, TimeUnit.SECONDS);
    }

    private <T> T on(Callable<T> task) throws Exception {
        return loop.submit(task).get(10, TimeUnit.SECONDS);
    }

    private static Message message(int n) {
        return new Message("", "q", Unpooled.buffer(2).writeShort(0), Unpooled.wrappedBuffer(new byte[] {(byte) n}),
                false, b -> null);
    }

    private static int number(QueueEntry e) {
        return e.message().body().getByte(e.message().body().readerIndex());
    }

    private void publish(int... numbers) throws Exception {
        on(() -> {
            for (int n : numbers) {
                q.enqueue(message(n), QueueEntry.NOT_STORED);
            }
            return null;
        });
    }

    /** basic.get: the head entry (held until the test ends), or null. */
    private QueueEntry get() throws Exception {
        return on(() -> {
            QueueEntry[] got = new QueueEntry[1];
            q.get((e, left) -> got[0] = e);
            if (got[0] != null) {
                held.add(got[0]);
            }
            return got[0];
        });
    }

    @Test
    void firstInFirstOut() throws Exception {
        publish(1, 2, 3, 4, 5);
        assertEquals(5, q.messageCount());
        for (int n = 1; n <= 5; n++) {
            QueueEntry e = get();
            assertEquals(n, number(e));
            assertFalse(e.redelivered());
        }
        assertNull(get());
        assertEquals(0, q.messageCount());
    }

    @Test
    void requeuedMessagesGoBackToTheirPlacesMarkedRedelivered() throws Exception {
        publish(1, 2, 3, 4, 5);
        QueueEntry one = get();
        get();
        QueueEntry three = get();
        held.remove(one);
        held.remove(three);
        on(() -> {
            q.requeue(new ArrayList<>(List.of(three, one)), true);
            return null;
        });
        assertEquals(4, q.messageCount());
        List<Integer> order = new ArrayList<>();
        List<Boolean> redelivered = new ArrayList<>();
        for (QueueEntry e; (e = get()) != null; ) {
            order.add(number(e));
            redelivered.add(e.redelivered());
        }
        assertEquals(List.of(1, 3, 4, 5), order);
        assertEquals(List.of(true, true, false, false), redelivered);
    }

    /** A consumer with a prefetch window; deliveries are recorded, room is given back by hand. */
    private static final class Window implements Consumer {
        final String tag;
        int room;
        final List<Integer> got = new ArrayList<>();
        final List<QueueEntry> entries = new ArrayList<>();

        Window(String tag, int room) {
            this.tag = tag;
            this.room = room;
        }

        @Override public String tag() {
            return tag;
        }

        @Override public boolean exclusive() {
            return false;
        }

        @Override public boolean tryReserve() {
            if (room == 0) {
                return false;
            }
            room--;
            return true;
        }

        @Override public void deliver(MessageQueue queue, QueueEntry entry) {
            got.add(number(entry));
            entries.add(entry);
        }

        @Override public void cancelledByQueue(MessageQueue queue) {
        }
    }

    @Test
    void consumersWithRoomTakeTurnsAndAFullOneIsSkippedUntilItHasRoom() throws Exception {
        Window a = new Window("a", 10);
        Window b = new Window("b", 1);
        on(() -> {
            q.addConsumer(a);
            q.addConsumer(b);
            return null;
        });
        publish(1, 2, 3, 4, 5);
        on(() -> null);
        assertEquals(List.of(1, 3, 4, 5), a.got);
        assertEquals(List.of(2), b.got, "b's window of one is full after its first");
        assertEquals(0, q.messageCount());
        on(() -> {
            a.room = 0;
            return null;
        });
        publish(6, 7);
        assertEquals(2, q.messageCount(), "nobody has room: they wait in order");
        on(() -> {
            b.room = 5;
            q.scheduleDispatch();
            return null;
        });
        assertEquals(List.of(2, 6, 7), b.got);
        assertEquals(List.of(1, 3, 4, 5), a.got, "a had no room: it got nothing more");
        on(() -> {
            for (Window w : List.of(a, b)) {
                w.entries.forEach(q::discard);
                q.removeConsumer(w);
            }
            return null;
        });
    }
}
