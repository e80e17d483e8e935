package io.warren.it.delivery;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.DeliverCallback;
import com.rabbitmq.client.ShutdownSignalException;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** RabbitMQ's consumer priorities (x-priority at basic.consume). */
class ConsumerPriorityTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private static DeliverCallback record(String who, List<String> log) {
        return (tag, d) -> log.add(who);
    }

    @Test
    void higherPriorityConsumersGetEverythingWhileTheyHaveRoom() throws Exception {
        try (Connection c = broker.connect()) {
            Channel ch = c.createChannel();
            String q = ch.queueDeclare().getQueue();
            List<String> log = new CopyOnWriteArrayList<>();
            ch.basicConsume(q, true, Map.of("x-priority", 1), record("low", log), t -> { });
            ch.basicConsume(q, true, Map.of("x-priority", 10), record("high", log), t -> { });
            ch.basicConsume(q, true, record("default", log), t -> { });
            for (int i = 0; i < 50; i++) {
                ch.basicPublish("", q, null, new byte[0]);
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> log.size() == 50);
            assertEquals(List.of("high"), log.stream().distinct().toList(), "no-ack consumers always have room");
        }
    }

    @Test
    void lowerPriorityGetsMessagesOnlyWhenHigherOnesAreFullAndEqualsShare() throws Exception {
        try (Connection c = broker.connect()) {
            Channel high = c.createChannel();
            Channel low = c.createChannel();
            high.basicQos(2);
            String q = high.queueDeclare().getQueue();
            Map<String, AtomicInteger> got = new ConcurrentHashMap<>();
            DeliverCallback count = (tag, d) -> got.computeIfAbsent(tag, k -> new AtomicInteger()).incrementAndGet();
            // Two high-priority consumers with prefetch 2 that never ack, one low one with no limit.
            high.basicConsume(q, false, "high-a", false, false, Map.of("x-priority", 5), count, t -> { });
            high.basicConsume(q, false, "high-b", false, false, Map.of("x-priority", 5), count, t -> { });
            low.basicConsume(q, true, "low", false, false, Map.of("x-priority", -1), count, t -> { });
            for (int i = 0; i < 4; i++) {
                high.basicPublish("", q, null, new byte[0]);
            }
            // The two equals share the first four; the low one gets none while they have room.
            await().atMost(Duration.ofSeconds(10)).until(() -> got.containsKey("high-a") && got.get("high-a").get() == 2
                    && got.containsKey("high-b") && got.get("high-b").get() == 2);
            assertEquals(null, got.get("low"));
            for (int i = 0; i < 6; i++) {
                high.basicPublish("", q, null, new byte[0]);
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> got.containsKey("low") && got.get("low").get() == 6);
            assertEquals(2, got.get("high-a").get());
            assertEquals(2, got.get("high-b").get());
        }
    }

    @Test
    void aPriorityThatIsNotAnIntegerIs406() throws Exception {
        try (Connection c = broker.connect()) {
            Channel ch = c.createChannel();
            String q = ch.queueDeclare().getQueue();
            IOException e = assertThrows(IOException.class,
                    () -> ch.basicConsume(q, true, Map.of("x-priority", "banana"), (t, d) -> { }, t -> { }));
            AMQP.Channel.Close close = (AMQP.Channel.Close) ((ShutdownSignalException) e.getCause()).getReason();
            assertEquals(406, close.getReplyCode());
            assertEquals("PRECONDITION_FAILED - invalid arg 'x-priority' for queue '" + q
                    + "' in vhost '/': {unacceptable_type,longstr}", close.getReplyText());
            java.util.Map<String, Object> voidValue = new java.util.HashMap<>();
            voidValue.put("x-priority", null);
            Channel nul = c.createChannel();
            IOException v = assertThrows(IOException.class,
                    () -> nul.basicConsume(q, true, voidValue, (t, d) -> { }, t -> { }));
            assertEquals(406, ((AMQP.Channel.Close) ((ShutdownSignalException) v.getCause()).getReason()).getReplyCode());
            Channel ok = c.createChannel();
            assertTrue(ok.basicConsume(q, true, Map.of("x-priority", 3L), (t, d) -> { }, t -> { }).startsWith("amq.ctag"));
        }
    }
}
