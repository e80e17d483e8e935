package io.warren.it.flow;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.GetResponse;
import io.warren.core.queue.MessageQueue;
import io.warren.core.queue.Paging;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * A backlog larger than a queue's in-memory bound pages out and comes back intact: transient
 * messages through the page-out store, persistent ones in a durable queue from the journal. The
 * queue's in-memory content stays near its bound whatever the backlog; every message comes back
 * with its body and properties, in order, through consumers and basic.get alike.
 */
class PagingTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    static final int BODY = 4000;
    /** 200 MB: 3x the default queue bound of 64 MiB. */
    static final int N = 50_000;

    @BeforeAll
    static void needsItsOwnBroker() {
        assumeFalse(WarrenBroker.external(), "reads the broker's paging counters");
    }

    private static byte[] body(int i) {
        byte[] b = new byte[BODY];
        ByteBuffer.wrap(b).putInt(i).putInt(~i);
        b[BODY - 1] = (byte) i;
        return b;
    }

    private static MessageQueue queue(String name) {
        return broker.broker().vhost("/").queue(name);
    }

    private void fill(Channel ch, String q, boolean persistent) throws Exception {
        ch.confirmSelect();
        for (int i = 0; i < N; i++) {
            AMQP.BasicProperties p = new AMQP.BasicProperties.Builder().deliveryMode(persistent ? 2 : 1)
                    .messageId("m" + i).build();
            ch.basicPublish("", q, p, body(i));
        }
        ch.waitForConfirmsOrDie(60_000);
    }

    private void checkBoundAndDrain(Channel ch, String q, long pagedBefore) throws Exception {
        MessageQueue mq = queue(q);
        long bound = broker.broker().paging().queueBound();
        // Read on the queue's loop: the count is the loop's own.
        long inMemory = mq.loop().submit(mq::inMemoryBytes).get();
        assertTrue(inMemory <= bound + 2 * BODY, "in memory " + inMemory + " > bound " + bound);
        long paged = broker.broker().paging().pagedOut() - pagedBefore;
        assertTrue(paged >= N - bound / BODY, "paged out only " + paged);
        assertEquals(N, ch.queueDeclarePassive(q).getMessageCount());

        // Half through basic.get, half through a consumer; every body intact and in order.
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < N / 2; i++) {
            GetResponse r = ch.basicGet(q, true);
            int id = ByteBuffer.wrap(r.getBody()).getInt();
            assertArrayEquals(body(id), r.getBody());
            assertEquals("m" + id, r.getProps().getMessageId());
            order.add(id);
        }
        Channel c2 = broker.connect().createChannel();
        c2.basicQos(500);
        AtomicInteger bad = new AtomicInteger();
        List<Integer> consumed = java.util.Collections.synchronizedList(new ArrayList<>());
        c2.basicConsume(q, false, (tag, d) -> {
            int id = ByteBuffer.wrap(d.getBody()).getInt();
            if (!java.util.Arrays.equals(body(id), d.getBody())) {
                bad.incrementAndGet();
            }
            consumed.add(id);
            c2.basicAck(d.getEnvelope().getDeliveryTag(), false);
        }, tag -> { });
        await().atMost(Duration.ofSeconds(60)).until(() -> consumed.size() == N - N / 2);
        order.addAll(consumed);
        assertEquals(0, bad.get());
        for (int i = 0; i < N; i++) {
            assertEquals(i, order.get(i), "out of order at " + i);
        }
        assertNull(ch.basicGet(q, true));
    }

    @Test
    void aTransientBacklogPagesOutAndComesBackInOrder() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = ch.queueDeclare("paging-transient", false, false, false, null).getQueue();
        long before = broker.broker().paging().pagedOut();
        fill(ch, q, false);
        checkBoundAndDrain(ch, q, before);
        ch.queueDelete(q);
    }

    @Test
    void persistentMessagesInADurableQueueReloadFromTheJournal() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = ch.queueDeclare("paging-durable", true, false, false, null).getQueue();
        long before = broker.broker().paging().pagedOut();
        fill(ch, q, true);
        checkBoundAndDrain(ch, q, before);
        ch.queueDelete(q);
    }

    @Test
    void purgingAPagedBacklogFreesItAndRequeuedMessagesComeBackFirst() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = ch.queueDeclare("paging-purge", false, false, false, null).getQueue();
        fill(ch, q, false);
        // Take a few and give them back: they return to the head, ahead of the paged tail.
        List<Long> tags = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            GetResponse r = ch.basicGet(q, false);
            assertEquals(i, ByteBuffer.wrap(r.getBody()).getInt());
            tags.add(r.getEnvelope().getDeliveryTag());
        }
        ch.basicNack(tags.get(tags.size() - 1), true, true);
        GetResponse first = ch.basicGet(q, true);
        assertEquals(0, ByteBuffer.wrap(first.getBody()).getInt());
        assertTrue(first.getEnvelope().isRedeliver());
        assertEquals(N - 1, ch.queuePurge(q).getMessageCount());
        assertNull(ch.basicGet(q, true));
        MessageQueue mq = queue(q);
        assertEquals(0L, (long) mq.loop().submit(mq::inMemoryBytes).get());
        // The queue pages as before once it fills again.
        long before = broker.broker().paging().pagedOut();
        fill(ch, q, false);
        assertTrue(broker.broker().paging().pagedOut() > before);
        ch.queueDelete(q);
    }

    @Test
    void aFanOutBacklogPagesOutOfEveryQueueAndEachDrainsInOrder() throws Exception {
        Channel ch = broker.connect().createChannel();
        ch.exchangeDeclare("paging-fanout", "fanout");
        List<String> queues = List.of("paging-fan-1", "paging-fan-2", "paging-fan-3");
        for (String q : queues) {
            ch.queueDeclare(q, false, false, false, null);
            ch.queueBind(q, "paging-fanout", "");
        }
        ch.confirmSelect();
        for (int i = 0; i < N; i++) {
            ch.basicPublish("paging-fanout", "k", new AMQP.BasicProperties.Builder().messageId("m" + i).build(), body(i));
        }
        ch.waitForConfirmsOrDie(60_000);
        long bound = broker.broker().paging().queueBound();
        for (String q : queues) {
            MessageQueue mq = queue(q);
            assertTrue(mq.loop().submit(mq::inMemoryBytes).get() <= bound + 2 * BODY);
            assertTrue(mq.loop().submit(mq::pagedOutCount).get() > N / 2, q + " kept its messages in memory");
            assertEquals(N, ch.queueDeclarePassive(q).getMessageCount());
        }
        for (String q : queues) {
            for (int i = 0; i < N; i++) {
                GetResponse r = ch.basicGet(q, true);
                assertArrayEquals(body(i), r.getBody(), q + " message " + i);
                assertEquals("paging-fanout", r.getEnvelope().getExchange());
                assertEquals("k", r.getEnvelope().getRoutingKey());
            }
            assertNull(ch.basicGet(q, true));
            ch.queueDelete(q);
        }
        ch.exchangeDelete("paging-fanout");
    }

    @Test
    void purgingPagedPersistentMessagesFreesTheirJournalSlotsAndDeleteFreesTheFiles() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = ch.queueDeclare("paging-purge-durable", true, false, false, null).getQueue();
        fill(ch, q, true);
        MessageQueue mq = queue(q);
        assertTrue(mq.loop().submit(mq::pagedOutCount).get() > N / 2);
        assertEquals(N, ch.queuePurge(q).getMessageCount());
        // A later message, then a restart: only it comes back (the purge freed the paged ones' slots).
        ch.basicPublish("", q, new AMQP.BasicProperties.Builder().deliveryMode(2).build(), body(-1));
        ch.waitForConfirmsOrDie(10_000);
        broker.restart();
        Channel after = broker.connect().createChannel();
        assertEquals(1, after.queueDeclarePassive(q).getMessageCount());
        assertArrayEquals(body(-1), after.basicGet(q, true).getBody());

        // A paged transient backlog, then delete: its page-out files go with it.
        String t = after.queueDeclare("paging-delete", false, false, false, null).getQueue();
        fill(after, t, false);
        java.nio.file.Path paging = broker.config().dataDir().resolve("paging");
        assertTrue(sizeOf(paging) > (long) N * BODY / 2, "paged bytes on disk: " + sizeOf(paging));
        after.queueDelete(t);
        await().atMost(Duration.ofSeconds(30)).until(() -> sizeOf(paging) < BODY * 100L);
        after.queueDelete(q);
    }

    private static long sizeOf(java.nio.file.Path dir) throws java.io.IOException {
        try (var files = java.nio.file.Files.list(dir)) {
            long n = 0;
            for (java.nio.file.Path f : files.toList()) {
                n += java.nio.file.Files.size(f);
            }
            return n;
        }
    }

    @Test
    void theBoundsAreThoseDocumented() {
        Paging p = broker.broker().paging();
        assertEquals(64L << 20, p.queueBound());
        assertEquals(256L << 10, p.pressureBound());
    }
}
