package io.warren.it.flow;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.impl.AMQImpl;
import io.warren.it.support.RawAmqp;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * connection_max refuses connections past the limit with a clear 530, and
 * tcp_listen_options.send_timeout closes a consumer that stopped reading its socket, so its
 * unacknowledged messages go back to the queue and its buffers are freed.
 */
class ConnectionLimitsTest {
    static final int MAX = 4;

    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker(c -> c.withConnectionLimits(MAX, 1_000));

    @BeforeAll
    static void needsItsOwnBroker() {
        assumeFalse(WarrenBroker.external(), "needs connection_max = " + MAX + " and send_timeout = 1000");
    }

    @Test
    void connectionsPastConnectionMaxAreRefusedWith530() throws Exception {
        List<Connection> open = new ArrayList<>();
        try {
            for (int i = 0; i < MAX; i++) {
                open.add(broker.factory().newConnection());
            }
            Exception e = assertThrows(Exception.class, () -> broker.factory().newConnection());
            String text = String.valueOf(e) + " " + e.getCause();
            assertTrue(text.contains("530") && text.contains("connection limit (" + MAX + ") is reached"), text);
            // Those already open keep working, and a closed one frees a place.
            Channel ch = open.get(0).createChannel();
            ch.queueDeclare("", false, true, true, null);
            open.remove(0).close();
            await().atMost(Duration.ofSeconds(5)).ignoreExceptions().until(() -> {
                open.add(broker.factory().newConnection());
                return true;
            });
        } finally {
            for (Connection c : open) {
                c.abort();
            }
        }
    }

    @Test
    void aConsumerThatStopsReadingIsClosedAfterTheSendTimeout() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        // Not auto-delete: the stuck consumer is its only consumer, and the queue must outlive it.
        String q = ch.queueDeclare("", false, false, false, null).getQueue();
        int n = 300;
        byte[] body = new byte[100 * 1024];
        ch.confirmSelect();
        for (int i = 0; i < n; i++) {
            ch.basicPublish("", q, null, body);
        }
        ch.waitForConfirmsOrDie(30_000);

        try (RawAmqp stuck = RawAmqp.open(broker, "/", -1, -1, 0)) {
            stuck.send(1, new AMQImpl.Channel.Open(""));
            stuck.expect(AMQP.Channel.OpenOk.class);
            stuck.send(1, new AMQImpl.Basic.Consume(0, q, "stuck", false, false, false, false, Map.of()));
            stuck.expect(AMQP.Basic.ConsumeOk.class);
            // From here on the client reads nothing: 30 MB of deliveries fill the socket buffers.
            await().atMost(Duration.ofSeconds(5)).until(() -> ch.queueDeclarePassive(q).getConsumerCount() == 1);
            await().atMost(Duration.ofSeconds(20)).until(() -> ch.queueDeclarePassive(q).getConsumerCount() == 0);
            // Its unacknowledged deliveries are back in the queue.
            await().atMost(Duration.ofSeconds(5)).until(() -> ch.queueDeclarePassive(q).getMessageCount() == n);
            assertTrue(stuck.closedByPeerWithin(10_000), "the broker closed the stuck client's socket");
        } catch (IOException ignored) {
            // the broker may have reset the socket under the client: that is the point
        }
        assertEquals(n, ch.queueDeclarePassive(q).getMessageCount());
        ch.queueDelete(q);
    }

    @Test
    void aSlowButReadingConsumerIsNotClosed() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String q = ch.queueDeclare("", false, false, true, null).getQueue();
        int n = 40;
        byte[] body = new byte[100 * 1024];
        for (int i = 0; i < n; i++) {
            ch.basicPublish("", q, null, body);
        }
        // Reads one frame every 100 ms: far slower than the broker writes, never stuck for 1 s.
        try (RawAmqp slow = RawAmqp.open(broker, "/", -1, -1, 0)) {
            slow.send(1, new AMQImpl.Channel.Open(""));
            slow.expect(AMQP.Channel.OpenOk.class);
            slow.send(1, new AMQImpl.Basic.Consume(0, q, "slow", true, false, false, false, Map.of()));
            slow.expect(AMQP.Basic.ConsumeOk.class);
            int bodyFrames = 0;
            long bytes = 0;
            while (bytes < (long) n * body.length) {
                com.rabbitmq.client.impl.Frame f = slow.readFrame();
                if (f.getType() == RawAmqp.FRAME_BODY) {
                    bytes += f.getPayload().length;
                    if (++bodyFrames % 8 == 0) {
                        Thread.sleep(100);
                    }
                }
            }
            assertEquals((long) n * body.length, bytes);
        }
    }
}
