package io.warren.it.durability;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import io.warren.it.support.RecordingConsumer;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static io.warren.it.durability.Durable.PERSISTENT;
import static io.warren.it.durability.Durable.TIMEOUT;
import static io.warren.it.durability.Durable.TRANSIENT;
import static io.warren.it.durability.Durable.bodies;
import static io.warren.it.durability.Durable.getAll;
import static io.warren.it.durability.Durable.messageCount;
import static io.warren.it.durability.Durable.publishConfirmed;
import static io.warren.it.durability.Durable.queueExists;
import static io.warren.it.durability.Durable.text;
import static io.warren.it.durability.Durable.texts;
import static io.warren.it.durability.Durable.durableQueue;
import static io.warren.it.durability.Durable.unique;
import static io.warren.it.durability.Durable.utf8;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Persistent messages (delivery_mode 2) in durable queues across a graceful restart, and
 * everything that must not come back: transient messages, messages of non-durable queues,
 * acked, purged and dead-lettered-by-reject ones.
 *
 * <p>Warren marks every recovered message {@code redelivered = true}: it may have been
 * delivered before the stop, and knowing exactly would cost a disk write per delivery
 * (DESIGN §5, issue 3). The tests assert that choice.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class MessageRestartTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private Connection c;

    @BeforeEach
    void connect() throws Exception {
        c = broker.connect();
    }

    private void restart() throws Exception {
        broker.restart();
        c = broker.connect();
    }

    /**
     * Every recovered message is marked redelivered (warren's documented choice). RabbitMQ 3.10
     * keeps the exact flag (only messages delivered before the stop), so against an external
     * broker this is checked only for messages that were delivered before.
     */
    private static void assertAllRedelivered(List<GetResponse> got, boolean deliveredBefore) {
        if (WarrenBroker.external() && !deliveredBefore) {
            return;
        }
        for (GetResponse r : got) {
            assertTrue(r.getEnvelope().isRedeliver(), () -> "recovered message not marked redelivered: " + text(r));
        }
    }

    @Test
    void persistentMessagesComeBackInOrderMarkedRedelivered() throws Exception {
        String q = durableQueue(c, "q-order");
        publishConfirmed(c, "", q, PERSISTENT, bodies("m", 0, 100));

        restart();

        assertEquals(100, messageCount(c, q));
        Channel ch = c.createChannel();
        RecordingConsumer consumer = new RecordingConsumer(ch);
        ch.basicConsume(q, false, consumer);
        consumer.awaitCount(100);
        assertEquals(bodies("m", 0, 100), consumer.texts());
        if (!WarrenBroker.external()) { // see assertAllRedelivered
            consumer.deliveries.forEach(d -> assertTrue(d.redelivered(), d.text()));
        }
        ch.basicAck(consumer.last().tag(), true);
        ch.close(); // after the ack: close waits for close-ok, so the ack was handled

        restart();

        assertEquals(0, messageCount(c, q), "acked messages do not come back");
    }

    @Test
    void transientMessagesDoNotComeBack() throws Exception {
        String q = durableQueue(c, "q-mixed");
        Channel ch = c.createChannel();
        ch.confirmSelect();
        for (int i = 0; i < 20; i++) {
            AMQP.BasicProperties props = switch (i % 3) {
                case 0 -> PERSISTENT;
                case 1 -> TRANSIENT;    // delivery_mode 1
                default -> null;        // no properties at all: transient too
            };
            ch.basicPublish("", q, props, utf8("m" + i));
        }
        ch.waitForConfirmsOrDie(TIMEOUT.toMillis());
        assertEquals(20, messageCount(c, q));

        restart();

        List<GetResponse> got = getAll(c.createChannel(), q);
        assertEquals(List.of("m0", "m3", "m6", "m9", "m12", "m15", "m18"), texts(got));
        assertAllRedelivered(got, false);
    }

    @Test
    void persistentMessagesOfNonDurableQueuesDoNotComeBack() throws Exception {
        Channel ch = c.createChannel();
        String x = unique("x-fanout");
        ch.exchangeDeclare(x, "fanout", true);
        String durable = durableQueue(c, "q-durable");
        String transientQueue = unique("q-transient");
        ch.queueDeclare(transientQueue, false, false, false, null);
        ch.queueBind(durable, x, "");
        ch.queueBind(transientQueue, x, "");
        publishConfirmed(c, x, "", PERSISTENT, bodies("m", 0, 5));
        publishConfirmed(c, "", transientQueue, PERSISTENT, List.of("direct"));
        assertEquals(6, messageCount(c, transientQueue));

        restart();

        assertFalse(queueExists(c, transientQueue));
        ch = c.createChannel();
        ch.queueDeclare(transientQueue, false, false, false, null);
        assertEquals(0, messageCount(c, transientQueue), "the new queue of that name starts empty");
        assertEquals(bodies("m", 0, 5), texts(getAll(ch, durable)), "the durable queue got the same messages back");
    }

    @Test
    void aMessageRoutedToThreeQueuesComesBackInEachAndAnAckInOneLeavesTheOthers() throws Exception {
        Channel ch = c.createChannel();
        String x = unique("x-fanout");
        ch.exchangeDeclare(x, "fanout", true);
        String a = durableQueue(c, "q-a");
        String b = durableQueue(c, "q-b");
        String d = durableQueue(c, "q-c");
        for (String q : List.of(a, b, d)) {
            ch.queueBind(q, x, "");
        }
        publishConfirmed(c, x, "", PERSISTENT, bodies("m", 0, 5));

        restart();

        ch = c.createChannel();
        for (String q : List.of(a, b, d)) {
            assertEquals(5, messageCount(c, q), q);
        }
        // All of a acked, the first two of b acked; c untouched.
        ackFirst(ch, a, 5);
        ackFirst(ch, b, 2);

        restart();

        ch = c.createChannel();
        assertEquals(List.of(), texts(getAll(ch, a)));
        assertEquals(bodies("m", 2, 5), texts(getAll(ch, b)));
        assertEquals(bodies("m", 0, 5), texts(getAll(ch, d)));
    }

    /** Gets {@code n} messages without auto-ack and acks them; returns once the broker handled the ack. */
    private void ackFirst(Channel ch, String q, int n) throws Exception {
        long last = 0;
        for (int i = 0; i < n; i++) {
            GetResponse r = ch.basicGet(q, false);
            last = r.getEnvelope().getDeliveryTag();
        }
        ch.basicAck(last, true);
        ch.queueDeclarePassive(q); // a round trip on the same channel: the ack is handled
    }

    @Test
    void unackedMessagesComeBackAckedOnesDoNot() throws Exception {
        String q = durableQueue(c, "q-unacked");
        publishConfirmed(c, "", q, PERSISTENT, bodies("m", 0, 10));
        Channel ch = c.createChannel();
        ch.basicQos(100);
        RecordingConsumer consumer = new RecordingConsumer(ch);
        ch.basicConsume(q, false, consumer);
        consumer.awaitCount(10);
        // Acks of 0..4 (one multiple, one single, out of order); 5..9 stay unacknowledged.
        ch.basicAck(consumer.deliveries.get(3).tag(), false);
        ch.basicAck(consumer.deliveries.get(2).tag(), true);
        ch.basicAck(consumer.deliveries.get(4).tag(), false);
        ch.queueDeclarePassive(q);

        restart(); // the connection goes with the broker: 5..9 were never acked

        List<GetResponse> got = getAll(c.createChannel(), q);
        assertEquals(bodies("m", 5, 10), texts(got));
        assertAllRedelivered(got, true);
    }

    @Test
    void purgedMessagesDoNotComeBack() throws Exception {
        String q = durableQueue(c, "q-purged");
        publishConfirmed(c, "", q, PERSISTENT, bodies("old", 0, 10));
        Channel ch = c.createChannel();
        assertEquals(10, ch.queuePurge(q).getMessageCount());
        publishConfirmed(c, "", q, PERSISTENT, bodies("new", 0, 3));

        restart();

        assertEquals(3, messageCount(c, q));
        // Purging recovered messages (content still on disk) removes them from the store too.
        assertEquals(3, c.createChannel().queuePurge(q).getMessageCount());
        publishConfirmed(c, "", q, PERSISTENT, List.of("newest"));

        restart();

        assertEquals(List.of("newest"), texts(getAll(c.createChannel(), q)));
    }

    @Test
    void aMessageReachingOneQueueThroughSeveralBindingsComesBackOnce() throws Exception {
        Channel ch = c.createChannel();
        String topic = unique("x-topic");
        String fanout = unique("x-fanout");
        ch.exchangeDeclare(topic, "topic", true);
        ch.exchangeDeclare(fanout, "fanout", true);
        String q = durableQueue(c, "q-once");
        ch.queueBind(q, topic, "a.*");
        ch.queueBind(q, topic, "*.b");
        ch.queueBind(q, topic, "#");
        ch.exchangeBind(fanout, topic, "a.b");
        ch.queueBind(q, fanout, "");
        publishConfirmed(c, topic, "a.b", PERSISTENT, List.of("one"));
        assertEquals(1, messageCount(c, q));

        restart();

        assertEquals(List.of("one"), texts(getAll(c.createChannel(), q)));
    }

    @Test
    void rejectedAndNackedWithoutRequeueDoNotComeBackRequeuedOnesDo() throws Exception {
        String q = durableQueue(c, "q-rejected");
        publishConfirmed(c, "", q, PERSISTENT, bodies("m", 0, 7));
        Channel ch = c.createChannel();
        List<Long> tags = new ArrayList<>();
        for (int i = 0; i < 7; i++) {
            tags.add(ch.basicGet(q, false).getEnvelope().getDeliveryTag());
        }
        ch.basicReject(tags.get(0), false);
        ch.basicNack(tags.get(1), false, false);
        ch.basicReject(tags.get(2), true);
        ch.basicNack(tags.get(3), false, true);
        ch.basicAck(tags.get(4), false);
        ch.basicNack(tags.get(5), false, false);
        // m6 stays unacked until the broker stops.
        ch.queueDeclarePassive(q);
        assertEquals(2, messageCount(c, q), "m2 and m3 are back in the queue");

        restart();

        List<GetResponse> got = getAll(c.createChannel(), q);
        assertEquals(List.of("m2", "m3", "m6"), texts(got));
        assertAllRedelivered(got, true);
    }

    @Test
    void messagesSurviveTwoRestartsInARow() throws Exception {
        String q = durableQueue(c, "q-twice");
        publishConfirmed(c, "", q, PERSISTENT, bodies("first", 0, 50));

        restart();

        // Recovered messages nobody touched, plus new ones published after the first restart.
        assertEquals(50, messageCount(c, q));
        publishConfirmed(c, "", q, PERSISTENT, bodies("second", 0, 50));
        Channel ch = c.createChannel();
        ackFirst(ch, q, 10);

        restart();

        List<String> expected = new ArrayList<>(bodies("first", 10, 50));
        expected.addAll(bodies("second", 0, 50));
        List<GetResponse> got = getAll(c.createChannel(), q);
        assertEquals(expected, texts(got));
        assertAllRedelivered(got, false);
    }

    @Test
    void theMessagesOfADeletedQueueDoNotComeBackInANewQueueOfTheSameName() throws Exception {
        String q = durableQueue(c, "q-reborn");
        publishConfirmed(c, "", q, PERSISTENT, bodies("old", 0, 5));
        Channel ch = c.createChannel();
        assertEquals(5, ch.queueDelete(q).getMessageCount());
        ch.queueDeclare(q, true, false, false, null);
        publishConfirmed(c, "", q, PERSISTENT, List.of("new"));

        restart();

        assertEquals(1, messageCount(c, q));
        ch = c.createChannel();
        assertEquals("new", text(ch.basicGet(q, false)));
        ch.close(); // unacked: back in the queue

        restart(); // and deleting a recovered queue with its messages sticks too
        ch = c.createChannel();
        publishConfirmed(c, "", q, PERSISTENT, List.of("newer"));
        assertEquals(2, ch.queueDelete(q).getMessageCount());

        restart();

        assertFalse(queueExists(c, q));
    }

    @Test
    void basicGetRightAfterRestartAndInterleavedWithAConsumer() throws Exception {
        int n = 2_000; // several load-ahead chunks of 256
        String q = durableQueue(c, "q-get");
        publishConfirmed(c, "", q, PERSISTENT, bodies("m", 0, n));

        restart();

        // The very first operation after the restart: the head's content is still on disk.
        Channel getter = c.createChannel();
        GetResponse first = getter.basicGet(q, false);
        assertEquals("m0", text(first));
        assertTrue(first.getEnvelope().isRedeliver() || WarrenBroker.external()); // see assertAllRedelivered
        assertEquals(n - 1, first.getMessageCount());

        // A consumer with a small prefetch while basic.get keeps taking messages: between them
        // every message exactly once, each side in queue order.
        Channel consuming = c.createChannel();
        consuming.basicQos(10);
        List<String> consumed = new java.util.concurrent.CopyOnWriteArrayList<>();
        consuming.basicConsume(q, false, (tag, d) -> {
            consumed.add(new String(d.getBody(), java.nio.charset.StandardCharsets.UTF_8));
            consuming.basicAck(d.getEnvelope().getDeliveryTag(), false);
        }, tag -> { });
        List<String> got = new ArrayList<>();
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (consumed.size() + got.size() < n - 1) {
            assertTrue(System.nanoTime() < deadline, () -> "got " + got.size() + ", consumed " + consumed.size());
            GetResponse r = getter.basicGet(q, true);
            if (r != null) {
                got.add(text(r));
            }
        }
        assertTrue(got.size() > 0, "basic.get took some messages while the consumer ran");
        List<String> all = new ArrayList<>(got);
        all.addAll(consumed);
        all.sort(java.util.Comparator.comparingInt(s -> Integer.parseInt(s.substring(1))));
        assertEquals(bodies("m", 1, n), all);
        assertIncreasing(got);
        assertIncreasing(consumed);
        getter.basicAck(first.getEnvelope().getDeliveryTag(), false);
        assertNull(getter.basicGet(q, true));
        getter.close();
        consuming.close();

        restart();

        assertEquals(0, messageCount(c, q));
    }

    private static void assertIncreasing(List<String> texts) {
        for (int i = 1; i < texts.size(); i++) {
            int prev = Integer.parseInt(texts.get(i - 1).substring(1));
            int cur = Integer.parseInt(texts.get(i).substring(1));
            assertTrue(prev < cur, "out of order: " + texts.get(i - 1) + " before " + texts.get(i));
        }
    }

    @Test
    void tenThousandMessagesComeBackInOrder() throws Exception {
        int n = 10_000;
        String q = durableQueue(c, "q-10k");
        Channel pub = c.createChannel();
        pub.confirmSelect();
        for (int i = 0; i < n; i++) {
            pub.basicPublish("", q, PERSISTENT, utf8("m" + i));
            if (i % 1000 == 999) {
                pub.waitForConfirmsOrDie(TIMEOUT.toMillis());
            }
        }
        pub.close();

        restart();

        assertEquals(n, messageCount(c, q));
        Channel ch = c.createChannel();
        ch.basicQos(300);
        List<String> consumed = new java.util.concurrent.CopyOnWriteArrayList<>();
        List<Boolean> redelivered = new java.util.concurrent.CopyOnWriteArrayList<>();
        ch.basicConsume(q, false, (tag, d) -> {
            consumed.add(new String(d.getBody(), java.nio.charset.StandardCharsets.UTF_8));
            redelivered.add(d.getEnvelope().isRedeliver());
            if (consumed.size() % 100 == 0) {
                ch.basicAck(d.getEnvelope().getDeliveryTag(), true);
            }
        }, tag -> { });
        await().atMost(TIMEOUT).until(() -> consumed.size() >= n);
        assertEquals(bodies("m", 0, n), consumed);
        assertTrue(WarrenBroker.external() || !redelivered.contains(false), "every recovered message is marked"
                + " redelivered (see assertAllRedelivered)");
        ch.close();

        restart();

        assertEquals(0, messageCount(c, q), "all acked (multiple, every 100th)");
    }
}
