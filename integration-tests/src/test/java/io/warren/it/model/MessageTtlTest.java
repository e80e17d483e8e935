package io.warren.it.model;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static io.warren.it.model.ModelAssertions.assertChannelError;
import static io.warren.it.model.ModelAssertions.awaitChannelError;
import static io.warren.it.model.ModelAssertions.unique;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * Message TTL: the queue's x-message-ttl, the message's expiration property, the smaller of the two
 * winning; an expired message is never delivered or got, and (beyond RabbitMQ, which removes only at
 * the head) it leaves the queue and its count within a second of expiring wherever it sits.
 */
class MessageTtlTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    /** Expiry plus the promised second plus slack for a loaded machine. */
    static final Duration GONE = Duration.ofMillis(3000);

    private Connection c;
    private Channel ch;

    @BeforeEach
    void open() throws Exception {
        c = broker.connect();
        ch = c.createChannel();
    }

    @AfterEach
    void close() throws Exception {
        c.close();
    }

    private String queue(Map<String, Object> args) throws Exception {
        return ch.queueDeclare(unique("ttl"), false, false, true, args).getQueue();
    }

    private void publish(String q, String body, String expiration) throws Exception {
        ch.basicPublish("", q, new AMQP.BasicProperties.Builder().expiration(expiration).build(),
                body.getBytes(StandardCharsets.UTF_8));
    }

    private int count(String q) throws Exception {
        return ch.queueDeclarePassive(q).getMessageCount();
    }

    private String get(String q) throws Exception {
        GetResponse r = ch.basicGet(q, true);
        return r == null ? null : new String(r.getBody(), StandardCharsets.UTF_8);
    }

    @Test
    void perQueueTtlRemovesMessagesAndCounts() throws Exception {
        String q = queue(Map.of("x-message-ttl", 300));
        for (int i = 0; i < 3; i++) {
            publish(q, "m" + i, null);
        }
        ch.basicQos(1);
        await().atMost(GONE).until(() -> count(q) == 0);
        assertNull(get(q));
    }

    @Test
    void perMessageTtl() throws Exception {
        String q = queue(null);
        publish(q, "short", "200");
        publish(q, "long", "60000");
        publish(q, "none", null);
        await().atMost(GONE).until(() -> count(q) == 2);
        assertEquals("long", get(q));
        assertEquals("none", get(q));
        assertNull(get(q));
    }

    @Test
    void theSmallerTtlWins() throws Exception {
        String longQueue = queue(Map.of("x-message-ttl", 60_000));
        publish(longQueue, "own-short", "200");
        publish(longQueue, "queue-long", null);
        String shortQueue = queue(Map.of("x-message-ttl", 200));
        publish(shortQueue, "own-long", "60000");
        await().atMost(GONE).until(() -> count(longQueue) == 1 && count(shortQueue) == 0);
        assertEquals("queue-long", get(longQueue));
        assertNull(get(shortQueue));
    }

    @Test
    void zeroTtlDeliversOnlyToAConsumerReadyAtOnce() throws Exception {
        String q = queue(Map.of("x-message-ttl", 0));
        publish(q, "nobody", null);
        assertNull(get(q));
        assertEquals(0, count(q));
        String q2 = queue(null);
        publish(q2, "nobody", "0");
        assertNull(get(q2));

        BlockingQueue<String> got = new LinkedBlockingQueue<>();
        Channel consumerChannel = c.createChannel();
        consumerChannel.basicConsume(q, true, (tag, d) -> got.add(new String(d.getBody(), StandardCharsets.UTF_8)),
                tag -> { });
        publish(q, "taken", null);
        publish(q2, "gone", "0");
        assertEquals("taken", got.poll(10, TimeUnit.SECONDS));
        assertEquals(0, count(q2));
    }

    /**
     * The Java client's TTLHandling.zeroTTLDelivery: a TTL 0 message taken at once and requeued
     * expires instead of coming back. (The requeue usually lands a millisecond or more after the
     * publish; the rule that a requeue in that same millisecond expires too, RabbitMQ's
     * Now >= Expiry, is what the full Java client suite once caught.)
     */
    @Test
    void aRequeuedZeroTtlMessageExpires() throws Exception {
        String q = queue(Map.of("x-message-ttl", 0));
        BlockingQueue<Long> tags = new LinkedBlockingQueue<>();
        Channel consumerChannel = c.createChannel();
        consumerChannel.basicConsume(q, false, (tag, d) -> tags.add(d.getEnvelope().getDeliveryTag()), tag -> { });
        publish(q, "once", null);
        Long first = tags.poll(10, TimeUnit.SECONDS);
        assertNotNull(first);
        consumerChannel.basicReject(first, true);
        assertNull(tags.poll(500, TimeUnit.MILLISECONDS), "a requeued TTL 0 message must not come back");
        assertEquals(0, count(q));
    }

    @Test
    void anExpiredHeadIsNeverConsumed() throws Exception {
        String q = queue(null);
        publish(q, "old", "100");
        await().atMost(GONE).until(() -> count(q) == 0);
        publish(q, "new", null);
        BlockingQueue<String> got = new LinkedBlockingQueue<>();
        ch.basicConsume(q, true, (tag, d) -> got.add(new String(d.getBody(), StandardCharsets.UTF_8)), tag -> { });
        assertEquals("new", got.poll(10, TimeUnit.SECONDS));
        assertNull(got.poll(300, TimeUnit.MILLISECONDS));
    }

    @Test
    void aRequeuedMessageKeepsItsExpiry() throws Exception {
        String q = queue(Map.of("x-message-ttl", 800));
        publish(q, "m", null);
        GetResponse r = ch.basicGet(q, false);
        assertNotNull(r);
        long requeueAt = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(1000);
        await().pollDelay(Duration.ofMillis(50)).until(() -> System.nanoTime() >= requeueAt);
        ch.basicNack(r.getEnvelope().getDeliveryTag(), false, true);
        // Past its original expiry: it does not come back to a get.
        assertNull(get(q));
        assertEquals(0, count(q));
    }

    @Test
    void aRequeuedMessageStillExpiresOnTime() throws Exception {
        String q = queue(Map.of("x-message-ttl", 1500));
        publish(q, "m", null);
        GetResponse r = ch.basicGet(q, false);
        ch.basicNack(r.getEnvelope().getDeliveryTag(), false, true);
        assertEquals(1, count(q));
        await().atMost(Duration.ofMillis(1500 + 2500)).until(() -> count(q) == 0);
    }

    @Test
    void messagesBehindALiveHeadLeaveWithinASecond() throws Exception {
        String q = queue(Map.of("x-message-ttl", 60_000));
        publish(q, "head", null);
        for (int i = 0; i < 100; i++) {
            publish(q, "short" + i, "300");
        }
        publish(q, "tail", null);
        await().atMost(GONE).until(() -> count(q) == 2);
        assertEquals("head", get(q));
        assertEquals("tail", get(q));
        assertNull(get(q));
    }

    @Test
    void invalidExpirationIsRefusedWith406() throws Exception {
        String q = queue(null);
        for (String[] bad : List.of(new String[] {"-1", "{value_negative,-1}"}, new String[] {"abc", "no_integer"},
                new String[] {"12x", "{leftover_string,\"x\"}"}, new String[] {"4294967296", "{value_too_big,4294967296}"})) {
            Channel c2 = c.createChannel();
            c2.basicPublish("", q, new AMQP.BasicProperties.Builder().expiration(bad[0]).build(), new byte[1]);
            awaitChannelError(c2, 406, "PRECONDITION_FAILED - invalid expiration '" + bad[0] + "': " + bad[1],
                    "basic.publish");
        }
        assertEquals(0, count(q));
    }

    @Test
    void invalidTtlArgumentsAreRefusedWith406() throws Exception {
        Object[][] cases = {
                {"x-message-ttl", -1, "{value_negative,-1}"},
                {"x-message-ttl", "10", "{unacceptable_type,longstr}"},
                {"x-message-ttl", 1.5, "{unacceptable_type,double}"},
                {"x-message-ttl", 4294967296L, "{value_too_big,4294967296}"},
                {"x-expires", 0, "{value_zero,0}"},
                {"x-expires", -5, "{value_negative,-5}"},
                {"x-expires", "1000", "{unacceptable_type,longstr}"},
        };
        for (Object[] k : cases) {
            Channel c2 = c.createChannel();
            String name = unique("bad");
            assertChannelError(c2, 406, "PRECONDITION_FAILED - invalid arg '" + k[0] + "' for queue '" + name
                    + "' in vhost '/': " + k[2], "queue.declare",
                    () -> c2.queueDeclare(name, false, false, true, Map.of((String) k[0], k[1])));
        }
        // Zero is a valid message TTL, and a redeclare must match.
        String q = queue(Map.of("x-message-ttl", 0));
        Channel c3 = c.createChannel();
        assertChannelError(c3, 406, "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue '" + q
                + "' in vhost '/': received '1' but current is '0'",
                "queue.declare", () -> c3.queueDeclare(q, false, false, true, Map.of("x-message-ttl", 1)));
    }

    /**
     * TTL counts from the publish across a restart, as in RabbitMQ: persistent messages whose
     * time ran out while the broker restarted are gone when it is back (they would have had 4
     * more seconds if the TTL restarted with the broker), the others keep the rest of their time.
     */
    @Test
    void ttlCountsFromThePublishAcrossARestart() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeFalse(WarrenBroker.external(), "the broker must be down while time passes");
        String perQueue = unique("ttl-restart-q");
        String perMessage = unique("ttl-restart-m");
        ch.queueDeclare(perQueue, true, false, false, Map.of("x-message-ttl", 4000));
        ch.queueDeclare(perMessage, true, false, false, null);
        AMQP.BasicProperties shortLived = new AMQP.BasicProperties.Builder().deliveryMode(2).expiration("4000").build();
        AMQP.BasicProperties longLived = new AMQP.BasicProperties.Builder().deliveryMode(2).expiration("600000").build();
        AMQP.BasicProperties persistent = new AMQP.BasicProperties.Builder().deliveryMode(2).build();
        ch.confirmSelect();
        ch.basicPublish("", perQueue, persistent, "q-short".getBytes(StandardCharsets.UTF_8));
        ch.basicPublish("", perMessage, shortLived, "m-short".getBytes(StandardCharsets.UTF_8));
        ch.basicPublish("", perMessage, longLived, "m-long".getBytes(StandardCharsets.UTF_8));
        ch.waitForConfirmsOrDie(10_000);
        long published = System.nanoTime();
        c.close();
        broker.stop();
        long left = 4500 - TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - published);
        if (left > 0) {
            Thread.sleep(left);
        }
        broker.start();
        c = broker.connect();
        ch = c.createChannel();
        assertNull(get(perQueue));
        assertEquals(0, count(perQueue));
        assertEquals("m-long", get(perMessage));
        assertNull(get(perMessage));
        ch.queueDelete(perQueue);
        ch.queueDelete(perMessage);
    }
}
