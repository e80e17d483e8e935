package io.warren.it.extensions;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.GetResponse;
import io.warren.core.queue.MessageQueue;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.ByteBuffer;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentSkipListSet;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * Length limits on queues whose backlog is paged out: the limits count the paged-out messages
 * too, drop-head drops from the head even when the head is on disk, and a durable queue keeps
 * enforcing its limit after a restart, with nothing it dropped or refused coming back. A paging
 * ratio of 0 keeps the broker under memory pressure, so a queue keeps only 256 KiB in memory.
 */
class QueueLengthLimitPagingTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker(c -> c.withMemoryPagingRatio(0.0));

    static final int BODY = 1000;

    @BeforeAll
    static void needsItsOwnBroker() {
        assumeFalse(WarrenBroker.external(), "restarts the broker and reads its paging counters");
    }

    private static byte[] body(int i) {
        byte[] b = new byte[BODY];
        ByteBuffer.wrap(b).putInt(i).putInt(~i);
        b[BODY - 1] = (byte) i;
        return b;
    }

    private static long pagedOut(String q) throws Exception {
        MessageQueue mq = broker.broker().vhost("/").queue(q);
        return mq.loop().submit(mq::pagedOutCount).get();
    }

    /** Publishes messages {@code from} until {@code to} (exclusive) with confirms; returns the nacked sequence numbers. */
    private static Set<Long> publish(Channel ch, String q, int from, int to, boolean persistent) throws Exception {
        Set<Long> nacked = new ConcurrentSkipListSet<>();
        ch.confirmSelect();
        ch.addConfirmListener((tag, multiple) -> { }, (tag, multiple) -> nacked.add(tag));
        for (int i = from; i < to; i++) {
            ch.basicPublish("", q, new AMQP.BasicProperties.Builder().deliveryMode(persistent ? 2 : 1).build(), body(i));
        }
        ch.waitForConfirms(60_000);
        return nacked;
    }

    /** The confirm may go out before the queue's loop ran the enqueue: counts are awaited. */
    private static void awaitCount(Channel ch, String q, int n) {
        await().until(() -> ch.queueDeclarePassive(q).getMessageCount() == n);
    }

    /** Takes every message: they must be exactly {@code from} .. {@code to - 1}, in order. */
    private static void drainExactly(Channel ch, String q, int from, int to) throws Exception {
        for (int i = from; i < to; i++) {
            GetResponse r = ch.basicGet(q, true);
            assertArrayEquals(body(i), r == null ? null : r.getBody(), "message " + i);
        }
        assertNull(ch.basicGet(q, true));
    }

    @Test
    void dropHeadKeepsTheNewestWhenTheHeadIsPagedOut() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = ch.queueDeclare("maxlen-paged-drop", false, false, false, Map.of("x-max-length", 1000)).getQueue();
        assertTrue(publish(ch, q, 0, 5000, false).isEmpty());
        awaitCount(ch, q, 1000);
        assertTrue(pagedOut(q) > 0, "the backlog is paged out");
        drainExactly(ch, q, 4000, 5000);
        ch.queueDelete(q);
    }

    @Test
    void maxLengthBytesCountsPagedOutBodies() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = ch.queueDeclare("maxlen-paged-bytes", false, false, false,
                Map.of("x-max-length-bytes", 700 * BODY)).getQueue();
        assertTrue(publish(ch, q, 0, 3000, false).isEmpty());
        awaitCount(ch, q, 700);
        assertTrue(pagedOut(q) > 0, "the backlog is paged out");
        drainExactly(ch, q, 2300, 3000);
        ch.queueDelete(q);
    }

    @Test
    void rejectPublishCountsPagedOutMessages() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = ch.queueDeclare("maxlen-paged-reject", false, false, false,
                Map.of("x-max-length", 1000, "x-overflow", "reject-publish")).getQueue();
        Set<Long> nacked = publish(ch, q, 0, 1500, false);
        assertEquals(500, nacked.size());
        assertTrue(nacked.stream().allMatch(seq -> seq > 1000), "only publishes past the limit are refused");
        assertTrue(pagedOut(q) > 0, "the backlog is paged out");
        assertEquals(1000, ch.queueDeclarePassive(q).getMessageCount());
        drainExactly(ch, q, 0, 1000);
        ch.queueDelete(q);
    }

    @Test
    void expiredPagedOutMessagesNoLongerCountTowardsTheLimits() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = ch.queueDeclare("maxlen-paged-ttl", false, false, false, Map.of("x-max-length-bytes", 1000 * BODY,
                "x-overflow", "reject-publish", "x-message-ttl", 300)).getQueue();
        assertTrue(publish(ch, q, 0, 1000, false).isEmpty());
        assertTrue(pagedOut(q) > 0, "the backlog is paged out");
        // Expired while on disk: out of the count and of the ready bytes at once, read back or not.
        await().until(() -> ch.queueDeclarePassive(q).getMessageCount() == 0);
        Channel again = broker.connect().createChannel();
        assertTrue(publish(again, q, 1000, 1500, false).isEmpty(), "room again once the backlog expired");
        Channel c3 = broker.connect().createChannel();
        for (int i = 1000; i < 1500; i++) {
            GetResponse r = c3.basicGet(q, true);
            if (r == null) {
                break; // the rest may expire meanwhile: only what comes back is checked
            }
            assertTrue(ByteBuffer.wrap(r.getBody()).getInt() >= 1000, "an expired message came back");
        }
        c3.queueDelete(q);
    }

    @Test
    void aDurableQueueKeepsItsLimitAcrossARestartAndNothingDroppedComesBack() throws Exception {
        Channel ch = broker.connect().createChannel();
        String drop = ch.queueDeclare("maxlen-durable-drop", true, false, false, Map.of("x-max-length", 500)).getQueue();
        String reject = ch.queueDeclare("maxlen-durable-reject", true, false, false,
                Map.of("x-max-length", 300, "x-overflow", "reject-publish")).getQueue();
        assertTrue(publish(ch, drop, 0, 2000, true).isEmpty());
        Channel rc = broker.connect().createChannel();
        assertEquals(100, publish(rc, reject, 0, 400, true).size());
        awaitCount(ch, drop, 500);
        // Messages dropped while paged out are read back at once, which frees their journal slots.
        MessageQueue mq = broker.broker().vhost("/").queue(drop);
        await().until(() -> mq.loop().submit(mq::pagedOutDroppedCount).get() == 0);

        broker.restart();
        Channel after = broker.connect().createChannel();
        assertEquals(500, after.queueDeclarePassive(drop).getMessageCount(), "nothing dropped came back");
        assertEquals(300, after.queueDeclarePassive(reject).getMessageCount(), "nothing refused came back");
        assertTrue(publish(after, drop, 2000, 2100, true).isEmpty());
        awaitCount(after, drop, 500);
        Channel after2 = broker.connect().createChannel();
        assertEquals(10, publish(after2, reject, 400, 410, true).size(), "still full: refused");
        Channel c3 = broker.connect().createChannel();
        drainExactly(c3, drop, 1600, 2100);
        drainExactly(c3, reject, 0, 300);
        c3.queueDelete(drop);
        c3.queueDelete(reject);
    }
}
