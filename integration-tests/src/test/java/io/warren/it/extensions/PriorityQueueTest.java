package io.warren.it.extensions;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import com.rabbitmq.client.GetResponse;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static io.warren.it.support.AmqpAssertions.assertClose;
import static io.warren.it.support.AmqpAssertions.channelError;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * RabbitMQ's priority queues ("Priority Queue" page, 3.10): a queue declared with
 * {@code x-max-priority} hands out messages with a higher {@code priority} property first, FIFO
 * within a priority; no property counts as 0, a priority above the maximum as the maximum. The
 * expected orders are the ones RabbitMQ 3.10.8 produced for the same publishes.
 */
class PriorityQueueTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private static final long TIMEOUT = Duration.ofSeconds(10).toMillis();

    private static String unique(String prefix) {
        return prefix + "-" + UUID.randomUUID();
    }

    private static Map<String, Object> maxPriority(Object max) {
        return Map.of("x-max-priority", max);
    }

    private static AMQP.BasicProperties priority(Integer p) {
        return new AMQP.BasicProperties.Builder().priority(p).build();
    }

    private static void publish(Channel ch, String q, Integer p, String body) throws Exception {
        ch.basicPublish("", q, priority(p), body.getBytes(StandardCharsets.UTF_8));
    }

    private static String get(Channel ch, String q) throws Exception {
        GetResponse r = ch.basicGet(q, true);
        return r == null ? null : new String(r.getBody(), StandardCharsets.UTF_8);
    }

    private static List<String> drain(Channel ch, String q) throws Exception {
        List<String> out = new ArrayList<>();
        String m;
        while ((m = get(ch, q)) != null) {
            out.add(m);
        }
        return out;
    }

    /** Publishes with confirms so that every message is in the queue before the test reads. */
    private static Channel confirming(Connection c) throws Exception {
        Channel ch = c.createChannel();
        ch.confirmSelect();
        return ch;
    }

    @Test
    void higherPrioritiesFirstFifoWithinAndAboveMaxCountsAsMax() throws Exception {
        Channel ch = confirming(broker.connect());
        String q = unique("pq");
        ch.queueDeclare(q, false, false, true, maxPriority(5));
        Integer[] priorities = {null, 1, 9, 5, 3, null, 7};
        for (int i = 0; i < priorities.length; i++) {
            publish(ch, q, priorities[i], i + ":" + priorities[i]);
        }
        ch.waitForConfirmsOrDie(TIMEOUT);
        assertEquals(7, ch.queueDeclarePassive(q).getMessageCount());
        // RabbitMQ 3.10.8: 9 and 7 count as 5 and keep their arrival order among the 5s
        assertEquals(List.of("2:9", "3:5", "6:7", "4:3", "1:1", "0:null", "5:null"), drain(ch, q));
    }

    @Test
    void theDeliveredPriorityPropertyIsTheOneSent() throws Exception {
        Channel ch = confirming(broker.connect());
        String q = unique("pq");
        ch.queueDeclare(q, false, false, true, maxPriority(2));
        publish(ch, q, 200, "capped");
        ch.waitForConfirmsOrDie(TIMEOUT);
        GetResponse r = ch.basicGet(q, true);
        assertEquals(200, r.getProps().getPriority());
    }

    @Test
    void withoutMaxPriorityOrWithZeroTheQueueIsFifo() throws Exception {
        Channel ch = confirming(broker.connect());
        String plain = unique("plain");
        String zero = unique("zero");
        ch.queueDeclare(plain, false, false, true, null);
        ch.queueDeclare(zero, false, false, true, maxPriority(0));
        for (String q : List.of(plain, zero)) {
            publish(ch, q, null, "a");
            publish(ch, q, 1, "b");
            publish(ch, q, 9, "c");
        }
        ch.waitForConfirmsOrDie(TIMEOUT);
        assertEquals(List.of("a", "b", "c"), drain(ch, plain));
        assertEquals(List.of("a", "b", "c"), drain(ch, zero));
    }

    @Test
    void aConsumerWithPrefetchOneGetsTheHighestPriorityWaiting() throws Exception {
        Connection c = broker.connect();
        Channel ch = confirming(c);
        String q = unique("pq");
        ch.queueDeclare(q, false, false, true, maxPriority(10));
        for (int i = 0; i < 4; i++) {
            publish(ch, q, i * 3, "p" + (i * 3));
        }
        ch.waitForConfirmsOrDie(TIMEOUT);

        Channel consumer = c.createChannel();
        consumer.basicQos(1);
        BlockingQueue<Object[]> got = new LinkedBlockingQueue<>();
        consumer.basicConsume(q, false, new DefaultConsumer(consumer) {
            @Override public void handleDelivery(String tag, Envelope env, AMQP.BasicProperties props, byte[] body) {
                got.add(new Object[] {env.getDeliveryTag(), new String(body, StandardCharsets.UTF_8)});
            }
        });
        Object[] first = got.poll(TIMEOUT, TimeUnit.MILLISECONDS);
        assertNotNull(first);
        assertEquals("p9", first[1]);
        // While the consumer is full, a higher priority arrives: it is the next one delivered.
        publish(ch, q, 10, "p10");
        ch.waitForConfirmsOrDie(TIMEOUT);
        assertNull(got.poll(200, TimeUnit.MILLISECONDS), "prefetch 1: nothing more before the ack");
        List<String> order = new ArrayList<>();
        order.add((String) first[1]);
        long tag = (Long) first[0];
        for (int i = 0; i < 4; i++) {
            consumer.basicAck(tag, false);
            Object[] next = got.poll(TIMEOUT, TimeUnit.MILLISECONDS);
            assertNotNull(next, "delivery after ack " + i);
            order.add((String) next[1]);
            tag = (Long) next[0];
        }
        consumer.basicAck(tag, false);
        assertEquals(List.of("p9", "p10", "p6", "p3", "p0"), order);
    }

    @Test
    void aRequeuedMessageGoesBackToItsPlaceWithinItsPriority() throws Exception {
        Channel ch = confirming(broker.connect());
        String q = unique("pq");
        ch.queueDeclare(q, false, false, true, maxPriority(5));
        publish(ch, q, 1, "low-a");
        publish(ch, q, 5, "high-a");
        publish(ch, q, 1, "low-b");
        publish(ch, q, 5, "high-b");
        ch.waitForConfirmsOrDie(TIMEOUT);

        GetResponse r = ch.basicGet(q, false);
        assertEquals("high-a", new String(r.getBody(), StandardCharsets.UTF_8));
        ch.basicNack(r.getEnvelope().getDeliveryTag(), false, true);
        GetResponse again = ch.basicGet(q, false);
        assertEquals("high-a", new String(again.getBody(), StandardCharsets.UTF_8));
        assertTrue(again.getEnvelope().isRedeliver());

        // Take everything unacked, then requeue it all: the original order comes back.
        List<String> taken = new ArrayList<>();
        taken.add("high-a");
        GetResponse g;
        while ((g = ch.basicGet(q, false)) != null) {
            taken.add(new String(g.getBody(), StandardCharsets.UTF_8));
        }
        assertEquals(List.of("high-a", "high-b", "low-a", "low-b"), taken);
        // all four go back; a high one that arrives afterwards still comes after the high ones
        ch.basicRecover(true);
        publish(ch, q, 5, "high-c");
        ch.waitForConfirmsOrDie(TIMEOUT);
        assertEquals(List.of("high-a", "high-b", "high-c", "low-a", "low-b"), drain(ch, q));
    }

    @Test
    void durablePersistentMessagesKeepTheirPriorityOrderAcrossARestart() throws Exception {
        assumeFalse(WarrenBroker.external(), "restarts the broker");
        Channel ch = confirming(broker.connect());
        String q = unique("durable-pq");
        ch.queueDeclare(q, true, false, false, maxPriority(10));
        int[] priorities = {0, 3, 10, 7, 3, 200, 0, 7};
        for (int i = 0; i < priorities.length; i++) {
            AMQP.BasicProperties p = new AMQP.BasicProperties.Builder().deliveryMode(2).priority(priorities[i])
                    .contentType("text/plain").headers(Map.of("n", i)).build();
            ch.basicPublish("", q, p, ("m" + i).getBytes(StandardCharsets.UTF_8));
        }
        ch.waitForConfirmsOrDie(TIMEOUT);
        broker.restart();

        Channel after = broker.connect().createChannel();
        assertEquals(priorities.length, after.queueDeclarePassive(q).getMessageCount());
        // 200 counts as 10 and came after the 10: FIFO among them
        assertEquals(List.of("m2", "m5", "m3", "m7", "m1", "m4", "m0", "m6"), drain(after, q));
        after.queueDelete(q);
    }

    @Test
    void messagesExpireInEveryPriorityLane() throws Exception {
        Channel ch = confirming(broker.connect());
        String q = unique("pq-ttl");
        ch.queueDeclare(q, false, false, true, Map.of("x-max-priority", 5, "x-message-ttl", 2000));
        publish(ch, q, 0, "low-old");
        ch.waitForConfirmsOrDie(TIMEOUT);
        // the low one is not at the head once the high one is there, yet it expires on time
        await().pollDelay(Duration.ofMillis(1500)).atMost(Duration.ofSeconds(5)).until(() -> true);
        publish(ch, q, 5, "high-new");
        ch.waitForConfirmsOrDie(TIMEOUT);
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(50))
                .until(() -> ch.queueDeclarePassive(q).getMessageCount() < 2);
        assertEquals(List.of("high-new"), drain(ch, q), "the low message expired first, the high one is left");
        await().atMost(Duration.ofSeconds(10)).until(() -> ch.queueDeclarePassive(q).getMessageCount() == 0);
    }

    @Test
    void invalidMaxPrioritiesAreRefusedWithRabbitMqsTexts() throws Exception {
        Connection c = broker.connect();
        String q = unique("bad");
        String where = "invalid arg 'x-max-priority' for queue '" + q + "' in vhost '/': ";
        assertClose(406, "PRECONDITION_FAILED - " + where + "\"expected integer, got longstr\"",
                channelError(() -> c.createChannel().queueDeclare(q, false, false, true, maxPriority("x"))));
        assertClose(406, "PRECONDITION_FAILED - " + where + "{value_negative,-1}",
                channelError(() -> c.createChannel().queueDeclare(q, false, false, true, maxPriority(-1))));
        assertClose(406, "PRECONDITION_FAILED - " + where + "{max_value_exceeded,256}",
                channelError(() -> c.createChannel().queueDeclare(q, false, false, true, maxPriority(256))));
        Channel ch = c.createChannel();
        ch.queueDeclare(q, false, false, true, maxPriority(255));
        assertTrue(c.isOpen());
        assertFalse(ch.queueDeclarePassive(q).getMessageCount() > 0);
        ch.queueDelete(q);
    }
}
