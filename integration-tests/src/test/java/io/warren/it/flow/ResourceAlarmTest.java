package io.warren.it.flow;

import com.rabbitmq.client.BlockedListener;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import io.warren.core.flow.ResourceAlarms;
import io.warren.it.support.RecordingConsumer;
import io.warren.it.support.WarrenBroker;
import io.warren.server.WarrenConfig;
import io.warren.server.flow.Watermark;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static io.warren.it.support.AmqpAssertions.newQueue;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * Resource alarms as RabbitMQ has them: above the memory high watermark, or below the free disk
 * limit, a connection that publishes gets connection.blocked and its socket is no longer read
 * (RabbitMQ 3.10 blocks it on its first publish during the alarm, not before: checked against
 * the reference broker); connections that only consume go on draining; connection.unblocked
 * follows when the alarm clears. The watermarks are changed at run time through the broker methods that
 * set_vm_memory_high_watermark and set_disk_free_limit call.
 */
class ResourceAlarmTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    @BeforeAll
    static void needsItsOwnBroker() {
        assumeFalse(WarrenBroker.external(), "changes the broker's watermarks in-process");
    }

    @AfterEach
    void clearAlarms() {
        broker.broker().setMemoryHighWatermark(WarrenConfig.DEFAULT_MEMORY_HIGH_WATERMARK);
        broker.broker().setDiskFreeLimit(WarrenConfig.DEFAULT_DISK_FREE_LIMIT);
        assertEquals(Set.of(), broker.broker().alarms());
    }

    /** Records connection.blocked / unblocked as "blocked REASON" and "unblocked". */
    static final class Events implements BlockedListener {
        final List<String> seen = new CopyOnWriteArrayList<>();

        @Override public void handleBlocked(String reason) {
            seen.add("blocked " + reason);
        }

        @Override public void handleUnblocked() {
            seen.add("unblocked");
        }

        void await(String... expected) {
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> seen.size() >= expected.length);
            assertEquals(List.of(expected), seen);
        }
    }

    private static Connection publisher(Events events) throws Exception {
        Connection c = broker.connect();
        c.addBlockedListener(events);
        return c;
    }

    @Test
    void memoryAlarmBlocksPublisherWhileConsumersDrain() throws Exception {
        Channel consumerCh = broker.connect().createChannel();
        String q = newQueue(consumerCh);
        Events events = new Events();
        Connection pub = publisher(events);
        Channel pubCh = pub.createChannel();
        pubCh.basicPublish("", q, null, "before".getBytes());
        // A round trip on the same channel: the broker has handled the publish before the alarm.
        pubCh.queueDeclarePassive(q);

        broker.broker().setMemoryHighWatermark(new Watermark.Absolute(0));
        assertEquals(Set.of(ResourceAlarms.Resource.MEMORY), broker.broker().alarms());
        // Not blocked before it publishes again (RabbitMQ's "blocking" state).
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(2)).until(events.seen::isEmpty);

        // A publisher thread sends far more than the socket buffers hold: its first publish
        // blocks the connection, then it stalls in write.
        int n = 400;
        byte[] body = new byte[64 * 1024];
        AtomicInteger sent = new AtomicInteger();
        AtomicReference<Throwable> failed = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try {
                for (int i = 0; i < n; i++) {
                    pubCh.basicPublish("", q, null, body);
                    sent.incrementAndGet();
                }
            } catch (Throwable e) {
                failed.set(e);
            }
        }, "blocked-publisher");
        t.setDaemon(true);
        t.start();
        events.await("blocked low on memory");

        // The consumer's connection never published: it is served, and drains what got in.
        RecordingConsumer consumer = new RecordingConsumer(consumerCh);
        consumerCh.basicConsume(q, true, consumer);
        await().atMost(Duration.ofSeconds(10)).until(() -> consumer.count() >= 1);
        assertEquals("before", consumer.deliveries.get(0).text());
        await().during(Duration.ofMillis(700)).atMost(Duration.ofSeconds(5)).until(t::isAlive);
        int receivedWhileBlocked = consumer.count();
        assertTrue(receivedWhileBlocked < n / 2, "a blocked publisher got " + receivedWhileBlocked
                + " of " + n + " messages through");
        assertTrue(sent.get() < n, "the publisher finished while blocked");

        broker.broker().setMemoryHighWatermark(new Watermark.Relative(0.4));
        events.await("blocked low on memory", "unblocked");
        t.join(30_000);
        assertEquals(null, failed.get());
        assertEquals(n, sent.get());
        await().atMost(Duration.ofSeconds(20)).until(() -> consumer.count() == n + 1);
        assertTrue(pub.isOpen());
    }

    @Test
    void aConnectionIsBlockedWhenItFirstPublishesDuringAnAlarm() throws Exception {
        broker.broker().setMemoryHighWatermark(new Watermark.Absolute(0));
        Events events = new Events();
        Connection c = publisher(events);
        Channel ch = c.createChannel();
        // Not a publisher yet: declares and gets are served during the alarm.
        String q = newQueue(ch);
        assertEquals(null, ch.basicGet(q, true));
        assertTrue(events.seen.isEmpty());
        ch.basicPublish("", q, null, "first".getBytes());
        events.await("blocked low on memory");
        broker.broker().setMemoryHighWatermark(WarrenConfig.DEFAULT_MEMORY_HIGH_WATERMARK);
        events.await("blocked low on memory", "unblocked");
        assertNotNull(ch.basicGet(q, true));
    }

    @Test
    void diskAlarmBlocksAndClears() throws Exception {
        Events events = new Events();
        Channel ch = publisher(events).createChannel();
        String q = newQueue(ch);
        ch.basicPublish("", q, null, "x".getBytes());
        // More free space than any disk has.
        broker.broker().setDiskFreeLimit(new Watermark.Absolute(Long.MAX_VALUE / 2));
        assertEquals(Set.of(ResourceAlarms.Resource.DISK), broker.broker().alarms());
        ch.basicPublish("", q, null, "during".getBytes());
        events.await("blocked low on disk");
        broker.broker().setDiskFreeLimit(new Watermark.Absolute(1));
        events.await("blocked low on disk", "unblocked");
        ch.basicPublish("", q, null, "y".getBytes());
        await().atMost(Duration.ofSeconds(5)).until(() -> ch.queueDeclarePassive(q).getMessageCount() == 3);
    }

    @Test
    void bothAlarmsNameBothReasonsAndUnblockOnlyWhenBothClear() throws Exception {
        Events events = new Events();
        Channel ch = publisher(events).createChannel();
        broker.broker().setMemoryHighWatermark(new Watermark.Absolute(0));
        ch.basicPublish("", "", null, "x".getBytes());
        events.await("blocked low on memory");
        broker.broker().setDiskFreeLimit(new Watermark.Absolute(Long.MAX_VALUE / 2));
        broker.broker().setMemoryHighWatermark(WarrenConfig.DEFAULT_MEMORY_HIGH_WATERMARK);
        assertEquals(Set.of(ResourceAlarms.Resource.DISK), broker.broker().alarms());
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(2)).until(() -> events.seen.size() == 1);
        broker.broker().setDiskFreeLimit(WarrenConfig.DEFAULT_DISK_FREE_LIMIT);
        events.await("blocked low on memory", "unblocked");
    }

    @Test
    void aBlockedConnectionIsNotDroppedForMissedHeartbeats() throws Exception {
        ConnectionFactory f = broker.factory();
        f.setRequestedHeartbeat(1);
        Connection c = f.newConnection();
        try {
            Events events = new Events();
            c.addBlockedListener(events);
            Channel ch = c.createChannel();
            broker.broker().setMemoryHighWatermark(new Watermark.Absolute(0));
            ch.basicPublish("", "", null, "x".getBytes());
            events.await("blocked low on memory");
            // Two heartbeat intervals pass several times over without the broker reading a byte.
            await().during(Duration.ofSeconds(4)).atMost(Duration.ofSeconds(6)).until(c::isOpen);
            broker.broker().setMemoryHighWatermark(WarrenConfig.DEFAULT_MEMORY_HIGH_WATERMARK);
            events.await("blocked low on memory", "unblocked");
            String q = newQueue(ch);
            assertEquals(q, ch.queueDeclarePassive(q).getQueue());
        } finally {
            c.abort();
        }
    }
}
