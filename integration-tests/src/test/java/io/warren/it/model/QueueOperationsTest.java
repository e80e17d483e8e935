package io.warren.it.model;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.DeliverCallback;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;

import static io.warren.it.model.ModelAssertions.TIMEOUT;
import static io.warren.it.model.ModelAssertions.assertChannelError;
import static io.warren.it.model.ModelAssertions.drain;
import static io.warren.it.model.ModelAssertions.queueExists;
import static io.warren.it.model.ModelAssertions.routedTo;
import static io.warren.it.model.ModelAssertions.unique;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** queue.bind, queue.unbind, queue.purge and queue.delete. */
class QueueOperationsTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private static final DeliverCallback IGNORE = (tag, d) -> { };

    @Test
    void bindAndUnbind() throws Exception {
        Channel ch = broker.connect().createChannel();
        String x = unique("bind");
        ch.exchangeDeclare(x, "direct");
        String q = ch.queueDeclare().getQueue();
        Map<String, String> qs = Map.of("q", q);
        assertEquals(Set.of(), routedTo(ch, x, "k", null, qs));
        ch.queueBind(q, x, "k");
        assertEquals(Set.of("q"), routedTo(ch, x, "k", null, qs));
        ch.queueUnbind(q, x, "k");
        assertEquals(Set.of(), routedTo(ch, x, "k", null, qs));
        ch.queueUnbind(q, x, "k"); // RabbitMQ: unbinding what is not bound is fine
        assertTrue(ch.isOpen());
        ch.exchangeDelete(x);
    }

    @Test
    void bindingAMissingQueueOrExchangeIsNotFound() throws Exception {
        Connection c = broker.connect();
        Channel setup = c.createChannel();
        String q = setup.queueDeclare().getQueue();
        String missingQ = unique("missing-q");
        String missingX = unique("missing-x");
        Channel ch1 = c.createChannel();
        assertChannelError(ch1, 404, "NOT_FOUND - no exchange '" + missingX + "' in vhost '/'", "queue.bind",
                () -> ch1.queueBind(q, missingX, "k"));
        Channel ch2 = c.createChannel();
        assertChannelError(ch2, 404, "NOT_FOUND - no queue '" + missingQ + "' in vhost '/'", "queue.bind",
                () -> ch2.queueBind(missingQ, "amq.direct", "k"));
        // Both missing: RabbitMQ names the exchange (the binding's source) first.
        Channel ch3 = c.createChannel();
        assertChannelError(ch3, 404, "NOT_FOUND - no exchange '" + missingX + "' in vhost '/'", "queue.bind",
                () -> ch3.queueBind(missingQ, missingX, "k"));
        // The default exchange is refused before anything is looked up.
        Channel ch4 = c.createChannel();
        assertChannelError(ch4, 403, "ACCESS_REFUSED - operation not permitted on the default exchange",
                "queue.bind", () -> ch4.queueBind(missingQ, "", "k"));
    }

    @Test
    void unbindingWhatIsNotBoundSucceeds() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = ch.queueDeclare().getQueue();
        // RabbitMQ 3.10 answers unbind-ok whenever there is no such binding, even when the queue
        // or the exchange does not exist.
        ch.queueUnbind(q, "amq.direct", "never-bound");
        ch.queueUnbind(q, unique("missing-x"), "k");
        ch.queueUnbind(unique("missing-q"), "amq.direct", "k");
        ch.queueUnbind(unique("missing-q"), unique("missing-x"), "k");
        assertTrue(ch.isOpen());
    }

    @Test
    void purgeDropsReadyMessagesAndReturnsTheCount() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = unique("purge");
        ch.queueDeclare(q, false, false, false, null);
        for (int i = 0; i < 5; i++) {
            ch.basicPublish("", q, null, new byte[] {(byte) i});
        }
        assertEquals(5, ch.queuePurge(q).getMessageCount());
        assertEquals(0, ch.queueDeclarePassive(q).getMessageCount());
        assertEquals(0, ch.queuePurge(q).getMessageCount());
        ch.basicPublish("", q, null, new byte[] {9});
        assertEquals(1, drain(ch, q), "the queue still works");
        ch.queueDelete(q);
    }

    @Test
    void purgeKeepsUnacknowledgedMessages() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = unique("purge-unacked");
        ch.queueDeclare(q, false, false, false, null);
        ch.basicPublish("", q, null, new byte[] {1});
        ch.basicPublish("", q, null, new byte[] {2});
        long tag = ch.basicGet(q, false).getEnvelope().getDeliveryTag();
        assertEquals(1, ch.queuePurge(q).getMessageCount());
        ch.basicNack(tag, false, true);
        assertEquals(1, drain(ch, q), "the unacked message came back");
        ch.queueDelete(q);
    }

    @Test
    void purgeOfMissingQueueIsNotFound() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = unique("missing");
        assertChannelError(ch, 404, "NOT_FOUND - no queue '" + q + "' in vhost '/'", "queue.purge",
                () -> ch.queuePurge(q));
    }

    @Test
    void deleteReturnsTheReadyCountAndRemovesBindings() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String q = unique("delete");
        String x = unique("delete-x");
        ch.exchangeDeclare(x, "fanout");
        ch.queueDeclare(q, false, false, false, null);
        ch.queueBind(q, x, "");
        for (int i = 0; i < 4; i++) {
            ch.basicPublish(x, "", null, new byte[] {(byte) i});
        }
        // The count includes every message this channel published before the delete.
        assertEquals(4, ch.queueDelete(q).getMessageCount());
        assertFalse(queueExists(c, q));
        ch.queueDeclare(q, false, false, false, null);
        assertEquals(Set.of(), routedTo(ch, x, "", null, Map.of("q", q)), "the binding went with the queue");
        assertEquals(0, ch.queueDelete(q).getMessageCount());
        ch.exchangeDelete(x);
    }

    @Test
    void deleteCountsEveryMessagePublishedBeforeOnTheChannel() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        byte[] body = new byte[1024];
        for (int round = 0; round < 20; round++) {
            String q = unique("delete-burst");
            ch.queueDeclare(q, false, false, false, null);
            for (int i = 0; i < 500; i++) {
                ch.basicPublish("", q, null, body);
            }
            assertEquals(500, ch.queueDelete(q).getMessageCount(), "round " + round);
        }
    }

    @Test
    void deleteIfUnusedRightAfterCancelSucceeds() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        for (int round = 0; round < 50; round++) {
            String q = unique("cancel-then-delete");
            ch.queueDeclare(q, false, false, false, null);
            String tag = ch.basicConsume(q, true, IGNORE, t -> { });
            ch.basicCancel(tag);
            ch.queueDelete(q, true, false);
        }
        assertTrue(ch.isOpen());
    }

    @Test
    void deleteOfMissingQueueSucceedsWithCountZero() throws Exception {
        Channel ch = broker.connect().createChannel();
        assertEquals(0, ch.queueDelete(unique("never-declared")).getMessageCount());
        assertTrue(ch.isOpen());
    }

    @Test
    void deleteIfUnusedFailsWhileTheQueueHasConsumers() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String q = unique("if-unused");
        ch.queueDeclare(q, false, false, false, null);
        String tag = ch.basicConsume(q, true, IGNORE, t -> { });
        Channel ch2 = c.createChannel();
        assertChannelError(ch2, 406, "PRECONDITION_FAILED - queue '" + q + "' in vhost '/' in use", "queue.delete",
                () -> ch2.queueDelete(q, true, false));
        assertTrue(queueExists(c, q));
        ch.basicCancel(tag);
        ch.queueDelete(q, true, false);
        assertFalse(queueExists(c, q));
    }

    @Test
    void deleteIfEmptyFailsWhileTheQueueHasMessages() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String q = unique("if-empty");
        ch.queueDeclare(q, false, false, false, null);
        ch.basicPublish("", q, null, new byte[] {1});
        // Published on the same channel just before: the check must see it.
        assertChannelError(ch, 406, "PRECONDITION_FAILED - queue '" + q + "' in vhost '/' not empty",
                "queue.delete", () -> ch.queueDelete(q, false, true));
        Channel ch2 = c.createChannel();
        assertEquals(1, ch2.queuePurge(q).getMessageCount());
        assertEquals(0, ch2.queueDelete(q, false, true).getMessageCount());
        assertFalse(queueExists(c, q));
    }

    @Test
    void deleteCancelsConsumersWithABasicCancel() throws Exception {
        Connection c = broker.connect();
        Channel consumerCh = c.createChannel();
        String q = unique("cancelled");
        consumerCh.queueDeclare(q, false, false, false, null);
        List<String> cancelled = new CopyOnWriteArrayList<>();
        List<String> cancelOk = new CopyOnWriteArrayList<>();
        String tag = consumerCh.basicConsume(q, false, "my-consumer", new DefaultConsumer(consumerCh) {
            @Override public void handleCancel(String consumerTag) {
                cancelled.add(consumerTag);
            }

            @Override public void handleCancelOk(String consumerTag) {
                cancelOk.add(consumerTag);
            }
        });
        assertEquals("my-consumer", tag);
        Connection other = broker.connect();
        Channel deleter = other.createChannel();
        deleter.basicPublish("", q, null, new byte[] {1});
        assertEquals(0, deleter.queueDelete(q).getMessageCount(), "the message was delivered, unacked");
        await().atMost(TIMEOUT).until(() -> cancelled.equals(List.of("my-consumer")));
        assertEquals(List.of(), cancelOk, "a server-sent cancel, not a reply to ours");
        assertTrue(consumerCh.isOpen(), "the consumer's channel stays open");
    }
}
