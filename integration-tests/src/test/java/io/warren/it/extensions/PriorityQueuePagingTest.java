package io.warren.it.extensions;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import com.rabbitmq.client.GetResponse;
import io.warren.core.queue.MessageQueue;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * A priority queue pages out like any queue (memory stays bounded), one page-out FIFO per
 * priority, so a backlog larger than the queue's bound still leaves in priority order: highest
 * first, FIFO within a priority, whether the message waited in memory or on disk, and after a
 * restart too. A paging ratio of 0 keeps the broker under memory pressure, so the bound is the
 * small pressure bound (256 KiB).
 */
class PriorityQueuePagingTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker(c -> c.withMemoryPagingRatio(0.0));

    static final int BODY = 1000;
    /** Per priority: 3 x 1,000 x ~1.25 KB is about 15 times the 256 KiB bound. */
    static final int PER_PRIORITY = 1000;
    /** Low priorities first, so they fill memory and the high ones arrive past the bound. */
    static final int[] PRIORITIES = {0, 2, 5};

    @BeforeAll
    static void needsItsOwnBroker() {
        assumeFalse(WarrenBroker.external(), "reads the broker's paging counters and restarts it");
    }

    private static byte[] body(int priority, int i) {
        byte[] b = new byte[BODY];
        ByteBuffer.wrap(b).putInt(priority).putInt(i);
        b[BODY - 1] = (byte) i;
        return b;
    }

    private static MessageQueue queue(String name) {
        return broker.broker().vhost("/").queue(name);
    }

    /** Publishes PER_PRIORITY messages per priority, lowest priority first, interleaved in pairs. */
    private static void fill(Channel ch, String q, boolean persistent) throws Exception {
        ch.confirmSelect();
        for (int p : PRIORITIES) {
            for (int i = 0; i < PER_PRIORITY; i++) {
                AMQP.BasicProperties props = new AMQP.BasicProperties.Builder().deliveryMode(persistent ? 2 : 1)
                        .priority(p).messageId(p + "/" + i).build();
                ch.basicPublish("", q, props, body(p, i));
            }
        }
        // and some of each again, interleaved: they go behind their own priority's backlog
        for (int i = PER_PRIORITY; i < PER_PRIORITY + 50; i++) {
            for (int p : PRIORITIES) {
                AMQP.BasicProperties props = new AMQP.BasicProperties.Builder().deliveryMode(persistent ? 2 : 1)
                        .priority(p).messageId(p + "/" + i).build();
                ch.basicPublish("", q, props, body(p, i));
            }
        }
        ch.waitForConfirmsOrDie(60_000);
    }

    private static int total() {
        return PRIORITIES.length * (PER_PRIORITY + 50);
    }

    /** The order RabbitMQ hands them out: highest priority first, each in publish order. */
    private static List<String> expected() {
        List<String> ids = new ArrayList<>();
        for (int k = PRIORITIES.length - 1; k >= 0; k--) {
            for (int i = 0; i < PER_PRIORITY + 50; i++) {
                ids.add(PRIORITIES[k] + "/" + i);
            }
        }
        return ids;
    }

    /** Like assertEquals, but names the first place the orders differ (the lists are thousands long). */
    private static void assertOrder(List<String> expected, List<String> got) {
        for (int i = 0; i < Math.min(expected.size(), got.size()); i++) {
            if (!expected.get(i).equals(got.get(i))) {
                throw new AssertionError("message " + i + ": expected " + expected.get(i) + ", got " + got.get(i)
                        + " (then " + got.subList(i, Math.min(got.size(), i + 10)) + ")");
            }
        }
        assertEquals(expected.size(), got.size(), "messages");
    }

    private static void assertPagedAndBounded(String q) throws Exception {
        MessageQueue mq = queue(q);
        long bound = broker.broker().paging().pressureBound();
        long inMemory = mq.loop().submit(mq::inMemoryBytes).get();
        long paged = mq.loop().submit(mq::pagedOutCount).get();
        // the bound, plus at most one read-back batch (at most the bound) for a paged-out head
        assertTrue(inMemory <= 2 * bound + 2 * BODY, "in memory " + inMemory + " B, bound " + bound);
        assertTrue(paged > total() / 2, "paged out only " + paged);
    }

    @Test
    void aPagedOutBacklogStillLeavesInPriorityOrder() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = "pq-paging-" + UUID.randomUUID();
        ch.queueDeclare(q, false, false, false, Map.of("x-max-priority", 5));
        fill(ch, q, false);
        assertPagedAndBounded(q);
        assertEquals(total(), ch.queueDeclarePassive(q).getMessageCount());

        // Half through basic.get, the rest through a consumer with a prefetch; bodies intact.
        List<String> expected = expected();
        List<String> got = new ArrayList<>();
        for (int n = 0; n < total() / 2; n++) {
            GetResponse r = ch.basicGet(q, true);
            String id = r.getProps().getMessageId();
            String[] parts = id.split("/");
            assertArrayEquals(body(Integer.parseInt(parts[0]), Integer.parseInt(parts[1])), r.getBody(), id);
            got.add(id);
        }
        Channel consumer = broker.connect().createChannel();
        consumer.basicQos(50);
        List<String> consumed = new CopyOnWriteArrayList<>();
        consumer.basicConsume(q, false, new DefaultConsumer(consumer) {
            @Override public void handleDelivery(String tag, Envelope env, AMQP.BasicProperties props, byte[] body)
                    throws java.io.IOException {
                consumed.add(props.getMessageId());
                consumer.basicAck(env.getDeliveryTag(), false);
            }
        });
        await().atMost(Duration.ofSeconds(60)).until(() -> consumed.size() >= total() - total() / 2);
        got.addAll(consumed);
        assertOrder(expected, got);
        assertNull(ch.basicGet(q, true));
        ch.queueDelete(q);
    }

    @Test
    void aRecoveredPagedOutBacklogKeepsItsPriorityOrder() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = "pq-recovery-paging-" + UUID.randomUUID();
        ch.queueDeclare(q, true, false, false, Map.of("x-max-priority", 5));
        fill(ch, q, true);
        broker.restart();

        assertPagedAndBounded(q);
        Channel after = broker.connect().createChannel();
        assertEquals(total(), after.queueDeclarePassive(q).getMessageCount());
        List<String> got = new ArrayList<>();
        GetResponse r;
        while ((r = after.basicGet(q, true)) != null) {
            String id = r.getProps().getMessageId();
            String[] parts = id.split("/");
            assertArrayEquals(body(Integer.parseInt(parts[0]), Integer.parseInt(parts[1])), r.getBody(), id);
            assertTrue(r.getEnvelope().isRedeliver());
            got.add(id);
        }
        assertOrder(expected(), got);
        after.queueDelete(q);
    }
}
