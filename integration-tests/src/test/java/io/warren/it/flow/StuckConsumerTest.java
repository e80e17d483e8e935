package io.warren.it.flow;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.impl.AMQImpl;
import io.warren.it.support.RawAmqp;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.util.Map;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * A consumer that stops reading its socket gets no more deliveries once what is on its way
 * fills the socket buffers, Netty's write buffer (2 MiB) and the in-flight window (1 MiB):
 * the rest of the backlog stays in the queue instead of piling up in the broker's memory as
 * frames nobody reads. The send timeout is off here, so the connection stays.
 */
class StuckConsumerTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker(c -> c.withConnectionLimits(Integer.MAX_VALUE, 0));

    @BeforeAll
    static void needsItsOwnBroker() {
        assumeFalse(WarrenBroker.external(), "needs tcp_listen_options.send_timeout = 0");
    }

    /** Four queues, so that some almost surely live on another loop than the consumer's connection. */
    static final int QUEUES = 4;

    private static int ready(Channel ch, String[] qs) throws Exception {
        int n = 0;
        for (String q : qs) {
            n += ch.queueDeclarePassive(q).getMessageCount();
        }
        return n;
    }

    @Test
    void deliveriesStopWhenTheConsumerStopsReading() throws Exception {
        Channel ch = broker.connect().createChannel();
        String[] qs = new String[QUEUES];
        int perQueue = 150;
        int n = perQueue * QUEUES;
        byte[] body = new byte[100 * 1024];
        ch.confirmSelect();
        for (int k = 0; k < QUEUES; k++) {
            qs[k] = ch.queueDeclare("", false, false, false, null).getQueue();
            for (int i = 0; i < perQueue; i++) {
                java.nio.ByteBuffer.wrap(body).putInt(i);
                ch.basicPublish("", qs[k], null, body);
            }
        }
        ch.waitForConfirmsOrDie(30_000);
        // A 64 KB receive buffer: Linux would otherwise let the client's kernel buffer grow to
        // 32 MB, which is not the broker's memory but would hide whether the broker holds back.
        try (RawAmqp stuck = new RawAmqp(broker.host(), broker.port(), 64 * 1024)) {
            stuck.handshake("/", -1, -1, 0);
            stuck.send(1, new AMQImpl.Channel.Open(""));
            stuck.expect(AMQP.Channel.OpenOk.class);
            // Unlimited prefetch: only back-pressure can stop the deliveries.
            // nowait: deliveries of the first consumer would arrive before the next consume-ok.
            for (int k = 0; k < QUEUES; k++) {
                stuck.send(1, new AMQImpl.Basic.Consume(0, qs[k], "stuck-" + k, false, false, false, true, Map.of()));
            }
            await().atMost(Duration.ofSeconds(5)).until(() -> ready(ch, qs) < n);
            // What may leave the queues: the broker's socket send buffer (up to 4 MB here) and
            // Netty's write buffer (2 MiB, plus a delivery): about 70 messages. 10 MB is the
            // bound asserted; without back-pressure all 60 MB would leave the queues.
            int bound = n - 100;
            await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(3)).until(() -> ready(ch, qs) >= bound);
            int left = ready(ch, qs);
            assertTrue(left >= bound, "only " + left + " of " + n + " messages stayed in the queues");

            // Now it reads: every message arrives, each queue's in publish order (a delivery
            // written after the ones its window reopening dispatched would show up here).
            int[] next = new int[QUEUES];
            int received = 0;
            int current = -1;
            String lastTag = "";
            boolean firstBodyFrame = false;
            stuck.setSoTimeout(30_000);
            while (received < n) {
                com.rabbitmq.client.impl.Frame f = stuck.readFrame();
                if (f.getType() == RawAmqp.FRAME_METHOD) {
                    com.rabbitmq.client.impl.Method m = AMQImpl.readMethodFrom(f.getInputStream());
                    if (m instanceof AMQP.Basic.Deliver d) {
                        current = Integer.parseInt(d.getConsumerTag().substring("stuck-".length()));
                        lastTag = d.getDeliveryTag() + (d.getRedelivered() ? "R" : "");
                        firstBodyFrame = true;
                    }
                } else if (f.getType() == RawAmqp.FRAME_BODY && firstBodyFrame) {
                    firstBodyFrame = false;
                    int id = java.nio.ByteBuffer.wrap(f.getPayload()).getInt();
                    assertEquals(next[current], id, "queue " + current + " out of order (delivery " + lastTag + ")");
                    next[current]++;
                    received++;
                }
            }
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> ready(ch, qs) == n);
        for (String q : qs) {
            ch.queueDelete(q);
        }
    }
}
