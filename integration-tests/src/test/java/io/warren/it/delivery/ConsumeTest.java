package io.warren.it.delivery;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import io.warren.it.support.RecordingConsumer;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static io.warren.it.support.AmqpAssertions.assertClose;
import static io.warren.it.support.AmqpAssertions.assertConnectionUsable;
import static io.warren.it.support.AmqpAssertions.channelError;
import static io.warren.it.support.AmqpAssertions.connectionError;
import static io.warren.it.support.AmqpAssertions.newQueue;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** basic.consume / basic.cancel: tags, exclusivity, no-ack, order and round-robin dispatch. */
class ConsumeTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    static void publish(Channel ch, String queue, String... bodies) throws Exception {
        for (String b : bodies) {
            ch.basicPublish("", queue, null, b.getBytes(StandardCharsets.UTF_8));
        }
    }

    static String[] bodies(int n) {
        String[] out = new String[n];
        for (int i = 0; i < n; i++) {
            out[i] = "m" + i;
        }
        return out;
    }

    @Test
    void clientChosenTagIsUsedForConsumeOkAndDeliveries() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = newQueue(ch);
        RecordingConsumer c = new RecordingConsumer(ch);
        assertEquals("my-tag", ch.basicConsume(q, true, "my-tag", c));
        publish(ch, q, "a");
        c.awaitCount(1);
        assertEquals("my-tag", c.last().consumerTag());
        assertEquals(List.of("consume-ok my-tag"), c.events);
    }

    @Test
    void emptyTagGetsAUniqueServerGeneratedTag() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = newQueue(ch);
        RecordingConsumer c1 = new RecordingConsumer(ch);
        RecordingConsumer c2 = new RecordingConsumer(ch);
        String t1 = ch.basicConsume(q, true, c1);
        String t2 = ch.basicConsume(q, true, c2);
        assertTrue(t1.startsWith("amq.ctag-"), t1);
        assertTrue(t2.startsWith("amq.ctag-"), t2);
        assertNotEquals(t1, t2);
        publish(ch, q, "a");
        await().until(() -> c1.count() + c2.count() == 1);
        RecordingConsumer got = c1.count() == 1 ? c1 : c2;
        assertEquals(got == c1 ? t1 : t2, got.last().consumerTag());
    }

    @Test
    void reusingATagOnTheSameChannelIsConnectionError530() throws Exception {
        Connection conn = broker.connect();
        Channel ch = conn.createChannel();
        String q = newQueue(ch);
        ch.basicConsume(q, true, "dup", new RecordingConsumer(ch));
        AMQP.Connection.Close close = connectionError(() -> ch.basicConsume(q, true, "dup", new RecordingConsumer(ch)));
        assertClose(530, "NOT_ALLOWED - attempt to reuse consumer tag 'dup'", close);
        await().until(() -> !conn.isOpen());
    }

    @Test
    void theSameTagOnAnotherChannelIsFine() throws Exception {
        Connection conn = broker.connect();
        Channel ch1 = conn.createChannel();
        Channel ch2 = conn.createChannel();
        String q = newQueue(ch1);
        ch1.basicConsume(q, true, "shared", new RecordingConsumer(ch1));
        assertEquals("shared", ch2.basicConsume(q, true, "shared", new RecordingConsumer(ch2)));
        assertEquals(2, ch1.queueDeclarePassive(q).getConsumerCount());
    }

    @Test
    void secondConsumerOnAQueueWithAnExclusiveConsumerIsRefused403() throws Exception {
        Connection conn = broker.connect();
        Channel owner = conn.createChannel();
        String q = newQueue(owner);
        String tag = owner.basicConsume(q, true, "", false, true, null, new RecordingConsumer(owner));

        Connection other = broker.connect();
        Channel ch = other.createChannel();
        AMQP.Channel.Close close = channelError(() -> ch.basicConsume(q, true, new RecordingConsumer(ch)));
        assertClose(403, "ACCESS_REFUSED - queue '" + q + "' in vhost '/' in exclusive use", close);
        assertConnectionUsable(other);

        // Once the exclusive consumer is gone the queue takes consumers again.
        owner.basicCancel(tag);
        Channel again = other.createChannel();
        again.basicConsume(q, true, new RecordingConsumer(again));
        assertEquals(1, again.queueDeclarePassive(q).getConsumerCount());
    }

    @Test
    void exclusiveConsumeOnAQueueThatHasConsumersIsRefused403() throws Exception {
        Connection conn = broker.connect();
        Channel ch = conn.createChannel();
        String q = newQueue(ch);
        ch.basicConsume(q, true, new RecordingConsumer(ch));
        Channel ch2 = conn.createChannel();
        AMQP.Channel.Close close = channelError(
                () -> ch2.basicConsume(q, true, "", false, true, null, new RecordingConsumer(ch2)));
        assertClose(403, "ACCESS_REFUSED - queue '" + q + "' in vhost '/' in exclusive use", close);
        assertConnectionUsable(conn);
        assertTrue(ch.isOpen());
    }

    @Test
    void consumingFromAMissingQueueIs404() throws Exception {
        Connection conn = broker.connect();
        Channel ch = conn.createChannel();
        AMQP.Channel.Close close = channelError(() -> ch.basicConsume("no-such-queue", true, new RecordingConsumer(ch)));
        assertClose(404, "NOT_FOUND - no queue 'no-such-queue' in vhost '/'", close);
        assertConnectionUsable(conn);
    }

    @Test
    void noAckDeliveriesAreSettledOnSend() throws Exception {
        Connection conn = broker.connect();
        Channel ch = conn.createChannel();
        String q = newQueue(ch);
        RecordingConsumer c = new RecordingConsumer(ch);
        ch.basicConsume(q, true, c);
        publish(ch, q, bodies(5));
        c.awaitCount(5);
        ch.close();
        // Nothing was awaiting an ack, so closing the channel gives nothing back to the queue.
        Channel check = conn.createChannel();
        assertEquals(0, check.queueDeclarePassive(q).getMessageCount());
    }

    @Test
    void cancelStopsDeliveriesAndMessagesStayInTheQueue() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = newQueue(ch);
        RecordingConsumer c = new RecordingConsumer(ch);
        String tag = ch.basicConsume(q, true, c);
        publish(ch, q, "before");
        c.awaitCount(1);
        ch.basicCancel(tag);
        await().until(() -> c.events.contains("cancel-ok " + tag));
        publish(ch, q, "after1", "after2");
        // (RabbitMQ may answer declare-ok before it has counted the publishes, hence the wait.)
        await().until(() -> ch.queueDeclarePassive(q).getMessageCount() == 2);
        assertEquals(0, ch.queueDeclarePassive(q).getConsumerCount());
        assertEquals(List.of("before"), c.texts());
    }

    @Test
    void deletingTheQueueSendsBasicCancelToItsConsumers() throws Exception {
        Connection conn = broker.connect();
        Channel ch = conn.createChannel();
        String q = newQueue(ch);
        RecordingConsumer c = new RecordingConsumer(ch);
        String tag = ch.basicConsume(q, true, c);
        conn.createChannel().queueDelete(q);
        // consumer_cancel_notify: the client hears basic.cancel from the broker.
        await().until(() -> c.events.contains("cancel " + tag));
        assertTrue(ch.isOpen());
    }

    @Test
    void oneConsumerReceivesMessagesInPublishOrder() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = newQueue(ch);
        publish(ch, q, bodies(500));
        RecordingConsumer c = new RecordingConsumer(ch);
        ch.basicConsume(q, false, c);
        publish(ch, q, "tail");
        c.awaitCount(501);
        List<String> expected = new ArrayList<>(List.of(bodies(500)));
        expected.add("tail");
        assertEquals(expected, c.texts());
        for (int i = 0; i < c.deliveries.size(); i++) {
            assertEquals(i + 1, c.deliveries.get(i).tag(), "delivery tags count up from 1");
            assertFalse(c.deliveries.get(i).redelivered());
        }
    }

    @Test
    void consumersOfOneQueueTakeTurns() throws Exception {
        Connection conn = broker.connect();
        Channel ch = conn.createChannel();
        String q = newQueue(ch);
        RecordingConsumer a = new RecordingConsumer(ch);
        RecordingConsumer b = new RecordingConsumer(ch);
        RecordingConsumer c = new RecordingConsumer(ch);
        ch.basicConsume(q, true, "a", a);
        ch.basicConsume(q, true, "b", b);
        ch.basicConsume(q, true, "c", c);
        publish(ch, q, bodies(30));
        await().until(() -> a.count() + b.count() + c.count() == 30);
        // Round-robin: every consumer gets every third message, in order.
        List<RecordingConsumer> all = List.of(a, b, c);
        int first = -1;
        for (int i = 0; i < 3; i++) {
            if (all.get(i).texts().get(0).equals("m0")) {
                first = i;
            }
        }
        for (int i = 0; i < 3; i++) {
            RecordingConsumer r = all.get((first + i) % 3);
            List<String> expected = new ArrayList<>();
            for (int m = i; m < 30; m += 3) {
                expected.add("m" + m);
            }
            assertEquals(expected, r.texts());
        }
    }
}
