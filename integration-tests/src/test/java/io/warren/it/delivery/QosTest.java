package io.warren.it.delivery;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import io.warren.it.support.RecordingConsumer;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.List;

import static io.warren.it.delivery.ConsumeTest.bodies;
import static io.warren.it.delivery.ConsumeTest.publish;
import static io.warren.it.support.AmqpAssertions.newQueue;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * basic.qos with RabbitMQ's meaning of {@code global}: false limits each consumer created
 * afterwards, true limits the whole channel. The limits are exact: a queue's ready count
 * (declare-ok) shows that no more than the window left it, without waiting for time to pass.
 */
class QosTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private static int ready(Channel ch, String q) throws Exception {
        return ch.queueDeclarePassive(q).getMessageCount();
    }

    @Test
    void prefetchThreeKeepsExactlyThreeUnackedAndMoreFollowEachAck() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = newQueue(ch);
        publish(ch, q, bodies(10));
        ch.basicQos(3);
        RecordingConsumer c = new RecordingConsumer(ch);
        ch.basicConsume(q, false, c);
        c.awaitCount(3);
        assertEquals(7, ready(ch, q));
        assertEquals(3, c.count());

        ch.basicAck(c.deliveries.get(0).tag(), false);
        c.awaitCount(4);
        assertEquals(6, ready(ch, q));

        // A multiple ack of two frees two places.
        ch.basicAck(c.deliveries.get(2).tag(), true);
        c.awaitCount(6);
        assertEquals(4, ready(ch, q));
        assertEquals(List.of("m0", "m1", "m2", "m3", "m4", "m5"), c.texts());

        // A nack without requeue frees a place too.
        ch.basicNack(c.last().tag(), false, false);
        c.awaitCount(7);
        assertEquals(3, ready(ch, q));
    }

    @Test
    void prefetchZeroMeansUnlimited() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = newQueue(ch);
        publish(ch, q, bodies(50));
        ch.basicQos(0);
        RecordingConsumer c = new RecordingConsumer(ch);
        ch.basicConsume(q, false, c);
        c.awaitCount(50);
        assertEquals(0, ready(ch, q));
    }

    @Test
    void globalFalseLimitsEachConsumerSeparately() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q1 = newQueue(ch);
        String q2 = newQueue(ch);
        publish(ch, q1, bodies(5));
        publish(ch, q2, bodies(5));
        ch.basicQos(2, false);
        RecordingConsumer a = new RecordingConsumer(ch);
        RecordingConsumer b = new RecordingConsumer(ch);
        ch.basicConsume(q1, false, a);
        ch.basicConsume(q2, false, b);
        a.awaitCount(2);
        b.awaitCount(2);
        assertEquals(3, ready(ch, q1));
        assertEquals(3, ready(ch, q2));
    }

    @Test
    void globalTrueLimitsTheWholeChannel() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q1 = newQueue(ch);
        String q2 = newQueue(ch);
        publish(ch, q1, bodies(5));
        publish(ch, q2, bodies(5));
        ch.basicQos(3, true);
        RecordingConsumer a = new RecordingConsumer(ch);
        RecordingConsumer b = new RecordingConsumer(ch);
        ch.basicConsume(q1, false, a);
        ch.basicConsume(q2, false, b);
        await().until(() -> a.count() + b.count() == 3);
        assertEquals(7, ready(ch, q1) + ready(ch, q2));
        assertEquals(3, a.count() + b.count());

        RecordingConsumer acked = a.count() > 0 ? a : b;
        ch.basicAck(acked.deliveries.get(0).tag(), false);
        await().until(() -> a.count() + b.count() == 4);
        assertEquals(6, ready(ch, q1) + ready(ch, q2));
    }

    @Test
    void perConsumerAndPerChannelLimitsCombine() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q1 = newQueue(ch);
        String q2 = newQueue(ch);
        String q3 = newQueue(ch);
        for (String q : List.of(q1, q2, q3)) {
            publish(ch, q, bodies(5));
        }
        ch.basicQos(2, false);
        ch.basicQos(5, true);
        RecordingConsumer a = new RecordingConsumer(ch);
        RecordingConsumer b = new RecordingConsumer(ch);
        RecordingConsumer c = new RecordingConsumer(ch);
        ch.basicConsume(q1, false, a);
        ch.basicConsume(q2, false, b);
        a.awaitCount(2);
        b.awaitCount(2);
        ch.basicConsume(q3, false, c);
        // 2 + 2 + 1: the third consumer is held back by the channel's limit of 5.
        c.awaitCount(1);
        assertEquals(4, ready(ch, q3));
        assertEquals(10, ready(ch, q1) + ready(ch, q2) + ready(ch, q3));
    }

    @Test
    void qosGlobalFalseLiftsTheChannelLimitLikeRabbitMQ() throws Exception {
        // RabbitMQ's basic.qos global=false also removes an earlier global=true limit.
        Channel ch = broker.connect().createChannel();
        String q1 = newQueue(ch);
        String q2 = newQueue(ch);
        String q3 = newQueue(ch);
        for (String q : List.of(q1, q2, q3)) {
            publish(ch, q, bodies(5));
        }
        ch.basicQos(5, true);
        ch.basicQos(2, false);
        RecordingConsumer a = new RecordingConsumer(ch);
        RecordingConsumer b = new RecordingConsumer(ch);
        RecordingConsumer c = new RecordingConsumer(ch);
        ch.basicConsume(q1, false, a);
        ch.basicConsume(q2, false, b);
        ch.basicConsume(q3, false, c);
        a.awaitCount(2);
        b.awaitCount(2);
        c.awaitCount(2);
        assertEquals(9, ready(ch, q1) + ready(ch, q2) + ready(ch, q3));
    }

    @Test
    void aConsumerKeepsThePrefetchThatWasSetWhenItStarted() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = newQueue(ch);
        publish(ch, q, bodies(10));
        ch.basicQos(2, false);
        RecordingConsumer a = new RecordingConsumer(ch);
        ch.basicConsume(q, false, a);
        a.awaitCount(2);
        ch.basicQos(5, false);
        ch.basicAck(a.deliveries.get(0).tag(), false);
        a.awaitCount(3);
        assertEquals(7, ready(ch, q));
    }

    @Test
    void prefetchDoesNotLimitNoAckConsumers() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = newQueue(ch);
        publish(ch, q, bodies(20));
        ch.basicQos(2, true);
        ch.basicQos(2, false);
        RecordingConsumer c = new RecordingConsumer(ch);
        ch.basicConsume(q, true, c);
        c.awaitCount(20);
    }

    @Test
    void prefetchIsPerChannelNotPerConnection() throws Exception {
        Connection conn = broker.connect();
        Channel ch1 = conn.createChannel();
        Channel ch2 = conn.createChannel();
        String q = newQueue(ch1);
        publish(ch1, q, bodies(10));
        ch1.basicQos(1, true);
        ch2.basicQos(2, true);
        RecordingConsumer a = new RecordingConsumer(ch1);
        RecordingConsumer b = new RecordingConsumer(ch2);
        ch1.basicConsume(q, false, a);
        ch2.basicConsume(q, false, b);
        a.awaitCount(1);
        b.awaitCount(2);
        assertEquals(7, ready(ch1, q));
    }

    /**
     * RabbitMQ 3.x: a channel whose global prefetch is used up delivers nothing, not even to its
     * no-ack consumers (whose deliveries do not count against the limit), until an ack frees
     * room (QosTests.noAckObeysLimit in RabbitMQ's Java client).
     */
    @Test
    void aNoAckConsumerWaitsWhileTheChannelLimitIsUsedUp() throws Exception {
        Channel ch = broker.connect().createChannel();
        ch.basicQos(1, true);
        String q1 = newQueue(ch);
        String q2 = newQueue(ch);
        RecordingConsumer acking = new RecordingConsumer(ch);
        ch.basicConsume(q1, false, acking);
        publish(ch, q1, "a1", "a2");
        acking.awaitCount(1);
        RecordingConsumer noAck = new RecordingConsumer(ch);
        ch.basicConsume(q2, true, noAck);
        // Confirmed once the queue has it (RabbitMQ may answer a declare-ok before a publish lands).
        Channel publisher = ch.getConnection().createChannel();
        publisher.confirmSelect();
        publisher.basicPublish("", q2, null, "n1".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        publisher.waitForConfirmsOrDie(10_000);
        assertEquals(1, ready(ch, q2), "the no-ack consumer got a message past the channel's limit");
        assertEquals(1, ready(ch, q1));
        assertEquals(0, noAck.count());

        ch.basicAck(acking.deliveries.get(0).tag(), false);
        acking.awaitCount(2);
        ch.basicAck(acking.deliveries.get(1).tag(), false);
        noAck.awaitCount(1);
        assertEquals(0, ready(ch, q2));
        // Its deliveries take no room: more flow while nothing is unacked.
        publish(ch, q2, "n2", "n3");
        noAck.awaitCount(3);
    }

    /**
     * With a channel-wide prefetch, queues take turns as acks free room (RabbitMQ's limiter
     * wakes the waiting queues in a random order; QosTests.fairness): none is left behind.
     */
    @Test
    void globalPrefetchIsSharedFairlyBetweenQueues() throws Exception {
        Channel ch = broker.connect().createChannel();
        ch.basicQos(1, true);
        List<String> queues = List.of(newQueue(ch), newQueue(ch), newQueue(ch));
        RecordingConsumer c = new RecordingConsumer(ch);
        java.util.Map<String, String> tagToQueue = new java.util.HashMap<>();
        for (String q : queues) {
            tagToQueue.put(ch.basicConsume(q, false, c), q);
        }
        for (String q : queues) {
            publish(ch, q, bodies(40));
        }
        java.util.Map<String, Integer> perQueue = new java.util.HashMap<>();
        int rounds = 45;
        for (int i = 0; i < rounds; i++) {
            c.awaitCount(i + 1);
            RecordingConsumer.Delivery d = c.deliveries.get(i);
            perQueue.merge(tagToQueue.get(d.consumerTag()), 1, Integer::sum);
            ch.basicAck(d.tag(), false);
        }
        c.awaitCount(rounds + 1);
        assertEquals(rounds + 1, c.count(), "one unacked delivery at a time");
        for (String q : queues) {
            assertTrue(perQueue.getOrDefault(q, 0) > 0, "queue " + q + " was left behind: " + perQueue);
        }
    }
}
