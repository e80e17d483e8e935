package io.warren.it.flow;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import com.rabbitmq.client.GetResponse;
import io.warren.it.support.FailingAllocator;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.UnaryOperator;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * Nothing is lost when a delivery cannot be written: every 5th allocation of a delivery frame
 * (1 KB bodies: the broker asks for 1,025..2,047 bytes for those, and for nothing else: socket
 * reads come in power-of-two sizes, method frames in 64 bytes) fails as a full direct memory
 * does. Every confirmed message must still reach the consumer exactly once (the failed ones go
 * back to their place in the queue, not marked redelivered), the consumer's prefetch credit
 * must come back (or it would stall), and basic.get must never lose the message it took.
 */
class FailedWriteTest {
    static final int BODY = 1000;
    static final FailingAllocator ALLOC = new FailingAllocator(5, size -> size > 1024 && size < 2048);

    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker(UnaryOperator.identity(), ALLOC);

    @BeforeAll
    static void needsItsOwnBroker() {
        assumeFalse(WarrenBroker.external(), "injects allocation failures in-process");
    }

    private static byte[] body(int id) {
        return ByteBuffer.allocate(BODY).putInt(id).array();
    }

    private static void publishConfirmed(Channel ch, String q, int from, int to) throws Exception {
        ch.confirmSelect();
        for (int i = from; i < to; i++) {
            ch.basicPublish("", q, null, body(i));
        }
        ch.waitForConfirmsOrDie(30_000);
    }

    @Test
    void failedDeliveriesAreRequeuedAndCreditComesBack() throws Exception {
        Connection c = broker.connect();
        Channel pub = c.createChannel();
        String q = pub.queueDeclare("", false, false, true, null).getQueue();
        int n = 1000;
        publishConfirmed(pub, q, 0, n);

        Channel sub = broker.connect().createChannel();
        // A small prefetch: a credit not given back after a failure would stall the consumer.
        sub.basicQos(10);
        Map<Integer, Integer> seen = new ConcurrentHashMap<>();
        List<Integer> redelivered = java.util.Collections.synchronizedList(new ArrayList<>());
        long failuresBefore = ALLOC.failures();
        sub.basicConsume(q, false, new DefaultConsumer(sub) {
            @Override public void handleDelivery(String tag, Envelope env, AMQP.BasicProperties p, byte[] b)
                    throws java.io.IOException {
                int id = ByteBuffer.wrap(b).getInt();
                seen.merge(id, 1, Integer::sum);
                if (env.isRedeliver()) {
                    redelivered.add(id);
                }
                sub.basicAck(env.getDeliveryTag(), false);
            }
        });
        await().atMost(Duration.ofSeconds(60)).until(() -> seen.size() == n);
        assertTrue(ALLOC.failures() - failuresBefore >= n / 5 - 10,
                "expected about " + n / 5 + " injected failures, got " + (ALLOC.failures() - failuresBefore));
        await().atMost(Duration.ofSeconds(10)).until(() -> pub.queueDeclarePassive(q).getMessageCount() == 0);
        Map<Integer, Integer> twice = new HashMap<>();
        seen.forEach((id, k) -> {
            if (k != 1) {
                twice.put(id, k);
            }
        });
        assertEquals(Map.of(), twice, "messages delivered more than once");
        assertEquals(List.of(), redelivered, "a delivery that never reached the client is not a redelivery");
        assertTrue(sub.isOpen() && pub.isOpen());
    }

    @Test
    void aFailedGetPutsTheMessageBackAndClosesTheConnection() throws Exception {
        Channel setup = broker.connect().createChannel();
        String q = setup.queueDeclare("", false, false, false, null).getQueue();
        int n = 50;
        publishConfirmed(setup, q, 0, n);

        Map<Integer, Integer> got = new HashMap<>();
        int closedBy541 = 0;
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (got.size() < n && System.nanoTime() < deadline) {
            try {
                GetResponse r = ch.basicGet(q, true);
                if (r != null) {
                    got.merge(ByteBuffer.wrap(r.getBody()).getInt(), 1, Integer::sum);
                }
            } catch (java.io.IOException | com.rabbitmq.client.AlreadyClosedException e) {
                Throwable cause = e instanceof java.io.IOException ? e.getCause() : e;
                assertTrue(String.valueOf(cause).contains("INTERNAL_ERROR"), "unexpected failure: " + e);
                closedBy541++;
                c = broker.connect();
                ch = c.createChannel();
            }
        }
        assertEquals(n, got.size(), "every message came back through basic.get");
        assertTrue(got.values().stream().allMatch(k -> k == 1), "a message was got twice: " + got);
        assertTrue(closedBy541 > 0, "no basic.get hit an injected failure");
        assertEquals(0, setup.queueDeclarePassive(q).getMessageCount());
    }
}
