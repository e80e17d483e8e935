package io.warren.it.delivery;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.ConfirmListener;
import com.rabbitmq.client.Connection;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static io.warren.it.support.AmqpAssertions.assertClose;
import static io.warren.it.support.AmqpAssertions.assertConnectionUsable;
import static io.warren.it.support.AmqpAssertions.channelError;
import static io.warren.it.support.AmqpAssertions.newQueue;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Publisher confirms (confirm.select, basic.ack from the broker) and their order against basic.return. */
class ConfirmTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    @Test
    void publishesAreConfirmed() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = newQueue(ch);
        ch.confirmSelect();
        assertEquals(1, ch.getNextPublishSeqNo());
        for (int i = 0; i < 10; i++) {
            ch.basicPublish("", q, null, new byte[] {(byte) i});
        }
        ch.waitForConfirmsOrDie(5_000);
        assertEquals(11, ch.getNextPublishSeqNo());
        assertEquals(10, ch.queueDeclarePassive(q).getMessageCount());
    }

    @Test
    void unroutableMessagesAreConfirmedToo() throws Exception {
        Channel ch = broker.connect().createChannel();
        ch.confirmSelect();
        ch.basicPublish("", "no-queue-by-this-name", null, new byte[0]);
        ch.basicPublish("amq.direct", "nothing-bound", null, new byte[0]);
        ch.waitForConfirmsOrDie(5_000);
    }

    @Test
    void manyPublishesAreAckedWithMultipleAcksCoveringEverySequenceNumber() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = newQueue(ch);
        ch.confirmSelect();
        int n = 5000;
        BitSet acked = new BitSet();
        AtomicInteger nacks = new AtomicInteger();
        AtomicBoolean sawMultiple = new AtomicBoolean();
        AtomicInteger duplicates = new AtomicInteger();
        ch.addConfirmListener(new ConfirmListener() {
            @Override public void handleAck(long tag, boolean multiple) {
                synchronized (acked) {
                    if (multiple) {
                        sawMultiple.set(true);
                        int from = acked.nextClearBit(1);
                        acked.set(from, (int) tag + 1);
                    } else {
                        if (acked.get((int) tag)) {
                            duplicates.incrementAndGet();
                        }
                        acked.set((int) tag);
                    }
                }
            }

            @Override public void handleNack(long tag, boolean multiple) {
                nacks.incrementAndGet();
            }
        });
        byte[] body = new byte[100];
        for (int i = 0; i < n; i++) {
            ch.basicPublish("", q, null, body);
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> {
            synchronized (acked) {
                return acked.cardinality() == n;
            }
        });
        synchronized (acked) {
            assertEquals(n, acked.cardinality());
            assertEquals(n + 1, acked.nextClearBit(1), "acks cover exactly 1.." + n);
        }
        assertTrue(sawMultiple.get(), "confirms should be coalesced with multiple=true");
        assertEquals(0, nacks.get());
        assertEquals(0, duplicates.get());
        assertEquals(n, ch.queueDeclarePassive(q).getMessageCount());
    }

    @Test
    void mandatoryUnroutableIsReturnedBeforeItIsAcked() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = newQueue(ch);
        ch.confirmSelect();
        List<String> events = new CopyOnWriteArrayList<>();
        ch.addReturnListener(r -> events.add("return " + r.getReplyCode() + " " + r.getReplyText() + " "
                + r.getExchange() + "/" + r.getRoutingKey() + " " + new String(r.getBody())));
        ch.addConfirmListener(new ConfirmListener() {
            @Override public void handleAck(long tag, boolean multiple) {
                events.add("ack " + tag + (multiple ? " multiple" : ""));
            }

            @Override public void handleNack(long tag, boolean multiple) {
                events.add("nack " + tag);
            }
        });
        ch.basicPublish("", "nowhere", true, null, "lost".getBytes());
        ch.waitForConfirmsOrDie(5_000);
        await().until(() -> events.size() == 2);
        assertEquals(List.of("return 312 NO_ROUTE /nowhere lost", "ack 1"), events);

        // A routable mandatory message is simply acked.
        ch.basicPublish("", q, true, null, "kept".getBytes());
        ch.waitForConfirmsOrDie(5_000);
        await().until(() -> events.size() == 3);
        assertEquals("ack 2", events.get(2));
    }

    @Test
    void confirmSelectOnATransactionalChannelIs406() throws Exception {
        Connection conn = broker.connect();
        Channel ch = conn.createChannel();
        ch.txSelect();
        AMQP.Channel.Close close = channelError(ch::confirmSelect);
        assertClose(406, "PRECONDITION_FAILED - cannot switch from tx to confirm mode", close);
        assertConnectionUsable(conn);
    }

    @Test
    void txSelectOnAConfirmChannelIs406() throws Exception {
        Connection conn = broker.connect();
        Channel ch = conn.createChannel();
        ch.confirmSelect();
        AMQP.Channel.Close close = channelError(ch::txSelect);
        assertClose(406, "PRECONDITION_FAILED - cannot switch from confirm to tx mode", close);
        assertConnectionUsable(conn);
    }
}
