package io.warren.it.delivery;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import io.warren.it.support.RecordingConsumer;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static io.warren.it.delivery.ConsumeTest.bodies;
import static io.warren.it.delivery.ConsumeTest.publish;
import static io.warren.it.support.AmqpAssertions.assertClose;
import static io.warren.it.support.AmqpAssertions.assertConnectionUsable;
import static io.warren.it.support.AmqpAssertions.awaitChannelClosed;
import static io.warren.it.support.AmqpAssertions.connectionError;
import static io.warren.it.support.AmqpAssertions.newQueue;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** basic.get, ack / nack / reject, recover, redelivery and requeue order. */
class AckTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private static String text(GetResponse r) {
        return new String(r.getBody(), StandardCharsets.UTF_8);
    }

    /** Drains the queue with basic.get (auto-ack), returning "body" or "body*" when redelivered. */
    private static List<String> drain(Channel ch, String q) throws Exception {
        List<String> out = new ArrayList<>();
        GetResponse r;
        while ((r = ch.basicGet(q, true)) != null) {
            out.add(text(r) + (r.getEnvelope().isRedeliver() ? "*" : ""));
        }
        return out;
    }

    @Test
    void getReturnsMessagesInOrderWithTheRemainingCountThenGetEmpty() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = newQueue(ch);
        assertNull(ch.basicGet(q, false), "get-empty on an empty queue");
        publish(ch, q, "a", "b", "c");
        GetResponse r = ch.basicGet(q, false);
        assertEquals("a", text(r));
        assertEquals(2, r.getMessageCount());
        assertEquals(1, r.getEnvelope().getDeliveryTag());
        assertFalse(r.getEnvelope().isRedeliver());
        assertEquals("", r.getEnvelope().getExchange());
        assertEquals(q, r.getEnvelope().getRoutingKey());
        r = ch.basicGet(q, true);
        assertEquals("b", text(r));
        assertEquals(1, r.getMessageCount());
        assertEquals(2, r.getEnvelope().getDeliveryTag());
        ch.basicAck(1, false);
        assertEquals("c", text(ch.basicGet(q, true)));
        assertNull(ch.basicGet(q, true));
        assertTrue(ch.isOpen());
    }

    @Test
    void ackMultipleSettlesEverythingUpToTheTag() throws Exception {
        Connection conn = broker.connect();
        Channel ch = conn.createChannel();
        String q = newQueue(ch);
        publish(ch, q, bodies(5));
        for (int i = 0; i < 5; i++) {
            assertNotNull(ch.basicGet(q, false));
        }
        ch.basicAck(3, true);
        ch.close();
        // Only the two deliveries after tag 3 were still unacked; closing requeued them.
        assertEquals(List.of("m3*", "m4*"), drain(conn.createChannel(), q));
    }

    @Test
    void ackOfTagZeroWithMultipleSettlesEverything() throws Exception {
        Connection conn = broker.connect();
        Channel ch = conn.createChannel();
        String q = newQueue(ch);
        publish(ch, q, bodies(3));
        for (int i = 0; i < 3; i++) {
            assertNotNull(ch.basicGet(q, false));
        }
        ch.basicAck(0, true);
        ch.close();
        assertEquals(List.of(), drain(conn.createChannel(), q));
    }

    @Test
    void nackMultipleWithRequeuePutsMessagesBackRedelivered() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = newQueue(ch);
        publish(ch, q, bodies(5));
        for (int i = 0; i < 5; i++) {
            assertNotNull(ch.basicGet(q, false));
        }
        ch.basicNack(3, true, true);
        assertEquals(List.of("m0*", "m1*", "m2*"), drain(ch, q));
        ch.basicNack(5, false, false);
        ch.basicReject(4, true);
        assertEquals(List.of("m3*"), drain(ch, q));
    }

    @Test
    void rejectWithoutRequeueDiscards() throws Exception {
        Connection conn = broker.connect();
        Channel ch = conn.createChannel();
        String q = newQueue(ch);
        publish(ch, q, "a", "b", "c");
        ch.basicGet(q, false);
        ch.basicGet(q, false);
        ch.basicReject(1, false);
        ch.basicNack(2, false, false);
        ch.close();
        assertEquals(List.of("c"), drain(conn.createChannel(), q));
    }

    @Test
    void requeuedMessagesGoBackToTheirOriginalPosition() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = newQueue(ch);
        publish(ch, q, bodies(6));
        for (int i = 0; i < 4; i++) {
            assertNotNull(ch.basicGet(q, false)); // m0..m3, tags 1..4
        }
        ch.basicReject(3, true); // m2
        ch.basicReject(1, true); // m0
        ch.basicAck(2, false);   // m1
        ch.basicReject(4, true); // m3
        assertEquals(List.of("m0*", "m2*", "m3*", "m4", "m5"), drain(ch, q));
    }

    @Test
    void consumerSeesRequeuedMessagesAgainWithRedeliveredSet() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = newQueue(ch);
        publish(ch, q, "a", "b");
        RecordingConsumer c = new RecordingConsumer(ch);
        ch.basicConsume(q, false, c);
        c.awaitCount(2);
        assertFalse(c.deliveries.get(0).redelivered());
        ch.basicNack(c.deliveries.get(1).tag(), false, true);
        c.awaitCount(3);
        assertEquals("b", c.last().text());
        assertTrue(c.last().redelivered());
        assertEquals(3, c.last().tag());
    }

    @Test
    void unknownDeliveryTagIs406AndKeepsTheConnection() throws Exception {
        Connection conn = broker.connect();
        Channel ch = conn.createChannel();
        ch.basicAck(99, false);
        assertClose(406, "PRECONDITION_FAILED - unknown delivery tag 99", awaitChannelClosed(ch));
        assertConnectionUsable(conn);
    }

    @Test
    void ackingTheSameTagTwiceIs406() throws Exception {
        Connection conn = broker.connect();
        Channel ch = conn.createChannel();
        String q = newQueue(ch);
        publish(ch, q, "a");
        ch.basicGet(q, false);
        ch.basicAck(1, false);
        ch.basicAck(1, false);
        assertClose(406, "PRECONDITION_FAILED - unknown delivery tag 1", awaitChannelClosed(ch));
        assertConnectionUsable(conn);
    }

    @Test
    void multipleAckOfAnAlreadyAckedTagIs406() throws Exception {
        Connection conn = broker.connect();
        Channel ch = conn.createChannel();
        String q = newQueue(ch);
        publish(ch, q, bodies(4));
        for (int i = 0; i < 4; i++) {
            ch.basicGet(q, false);
        }
        ch.basicAck(2, false);
        ch.basicAck(2, true);
        assertClose(406, "PRECONDITION_FAILED - unknown delivery tag 2", awaitChannelClosed(ch));
        assertConnectionUsable(conn);
        // The failed multiple ack settled nothing: closing the channel requeued tags 1, 3 and 4.
        assertEquals(List.of("m0*", "m2*", "m3*"), drain(conn.createChannel(), q));
    }

    @Test
    void multipleAckBeyondTheLastDeliveryIs406() throws Exception {
        Connection conn = broker.connect();
        Channel ch = conn.createChannel();
        String q = newQueue(ch);
        publish(ch, q, bodies(2));
        ch.basicGet(q, false);
        ch.basicGet(q, false);
        ch.basicNack(7, true, true);
        assertClose(406, "PRECONDITION_FAILED - unknown delivery tag 7", awaitChannelClosed(ch));
        assertConnectionUsable(conn);
    }

    @Test
    void ackOfANoAckDeliveryIs406() throws Exception {
        Connection conn = broker.connect();
        Channel ch = conn.createChannel();
        String q = newQueue(ch);
        publish(ch, q, "a");
        GetResponse r = ch.basicGet(q, true);
        ch.basicAck(r.getEnvelope().getDeliveryTag(), false);
        assertClose(406, "PRECONDITION_FAILED - unknown delivery tag 1", awaitChannelClosed(ch));
        assertConnectionUsable(conn);
    }

    @Test
    void recoverRedeliversEveryUnackedMessage() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = newQueue(ch);
        publish(ch, q, "a", "b", "c");
        RecordingConsumer c = new RecordingConsumer(ch);
        ch.basicConsume(q, false, c);
        c.awaitCount(3);
        ch.basicAck(2, false);
        ch.basicRecover(true);
        c.awaitCount(5);
        assertEquals(List.of("a", "b", "c", "a", "c"), c.texts());
        assertTrue(c.deliveries.get(3).redelivered());
        assertTrue(c.deliveries.get(4).redelivered());
        assertEquals(5, c.last().tag(), "redeliveries get new tags");
    }

    @Test
    void recoverWithoutRequeueIsNotImplemented540() throws Exception {
        Connection conn = broker.connect();
        Channel ch = conn.createChannel();
        AMQP.Connection.Close close = connectionError(() -> ch.basicRecover(false));
        assertClose(540, "NOT_IMPLEMENTED - requeue=false", close);
        await().until(() -> !conn.isOpen());
    }

    @Test
    void closingAChannelRequeuesItsUnackedMessagesInOrder() throws Exception {
        Connection conn = broker.connect();
        Channel ch = conn.createChannel();
        String q = newQueue(ch);
        publish(ch, q, bodies(4));
        RecordingConsumer c = new RecordingConsumer(ch);
        ch.basicConsume(q, false, c);
        c.awaitCount(4);
        ch.basicAck(2, false);
        ch.close();
        Channel next = conn.createChannel();
        RecordingConsumer c2 = new RecordingConsumer(next);
        next.basicConsume(q, false, c2);
        c2.awaitCount(3);
        assertEquals(List.of("m0", "m2", "m3"), c2.texts());
        assertTrue(c2.deliveries.stream().allMatch(RecordingConsumer.Delivery::redelivered));
    }

    @Test
    void closingTheConnectionRequeuesItsUnackedMessages() throws Exception {
        Connection conn = broker.connect();
        Channel ch = conn.createChannel();
        String q = newQueue(ch);
        publish(ch, q, "a", "b");
        RecordingConsumer c = new RecordingConsumer(ch);
        ch.basicConsume(q, false, c);
        c.awaitCount(2);
        conn.close();
        Channel other = broker.connect().createChannel();
        await().until(() -> other.queueDeclarePassive(q).getMessageCount() == 2);
        assertEquals(List.of("a*", "b*"), drain(other, q));
    }

    @Test
    void aChannelErrorRequeuesTheChannelsUnackedMessages() throws Exception {
        Connection conn = broker.connect();
        Channel ch = conn.createChannel();
        String q = newQueue(ch);
        publish(ch, q, "a");
        ch.basicGet(q, false);
        ch.basicAck(42, false);
        awaitChannelClosed(ch);
        assertEquals(List.of("a*"), drain(conn.createChannel(), q));
    }
}
