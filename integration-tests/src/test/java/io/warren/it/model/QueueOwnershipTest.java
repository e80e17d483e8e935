package io.warren.it.model;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.DeliverCallback;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;

import static io.warren.it.model.ModelAssertions.TIMEOUT;
import static io.warren.it.model.ModelAssertions.assertChannelError;
import static io.warren.it.model.ModelAssertions.queueExists;
import static io.warren.it.model.ModelAssertions.unique;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Exclusive queues (owned by their connection) and auto-delete queues (owned by their consumers). */
class QueueOwnershipTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private static final DeliverCallback IGNORE = (tag, d) -> { };

    private static String locked(String q) {
        return "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '" + q + "' in vhost '/'. It could"
                + " be originally declared on another connection or the exclusive property value does not match"
                + " that of the original declaration.";
    }

    @Test
    void exclusiveQueueIsLockedForOtherConnections() throws Exception {
        Connection owner = broker.connect();
        Channel mine = owner.createChannel();
        String q = unique("exclusive");
        mine.queueDeclare(q, false, true, false, null);
        mine.queueBind(q, "amq.direct", q); // an unbind of what is not bound succeeds without checks
        Connection other = broker.connect();

        Channel declare = other.createChannel();
        assertChannelError(declare, 405, locked(q), "queue.declare",
                () -> declare.queueDeclare(q, false, true, false, null));
        Channel declareShared = other.createChannel();
        assertChannelError(declareShared, 405, locked(q), "queue.declare",
                () -> declareShared.queueDeclare(q, false, false, false, null));
        Channel passive = other.createChannel();
        assertChannelError(passive, 405, locked(q), "queue.declare", () -> passive.queueDeclarePassive(q));
        Channel consume = other.createChannel();
        assertChannelError(consume, 405, locked(q), "basic.consume",
                () -> consume.basicConsume(q, true, IGNORE, tag -> { }));
        Channel get = other.createChannel();
        assertChannelError(get, 405, locked(q), "basic.get", () -> get.basicGet(q, true));
        Channel bind = other.createChannel();
        assertChannelError(bind, 405, locked(q), "queue.bind", () -> bind.queueBind(q, "amq.direct", "other"));
        Channel unbind = other.createChannel();
        assertChannelError(unbind, 405, locked(q), "queue.unbind", () -> unbind.queueUnbind(q, "amq.direct", q));
        Channel purge = other.createChannel();
        assertChannelError(purge, 405, locked(q), "queue.purge", () -> purge.queuePurge(q));
        Channel delete = other.createChannel();
        assertChannelError(delete, 405, locked(q), "queue.delete", () -> delete.queueDelete(q));

        // Publishing is not an exclusive-queue operation: anyone may send to it.
        Channel publisher = other.createChannel();
        publisher.basicPublish("", q, null, new byte[] {1});
        publisher.close();
        // The owner still uses it freely, from any of its channels.
        Channel mine2 = owner.createChannel();
        assertEquals(1, mine2.queueDeclarePassive(q).getMessageCount());
        mine2.queueBind(q, "amq.direct", "mine");
        mine2.queueUnbind(q, "amq.direct", "mine");
        assertEquals(1, mine2.queuePurge(q).getMessageCount());
        mine2.queueDelete(q);
    }

    @Test
    void redeclaringWithAnotherExclusiveFlagIsLocked() throws Exception {
        Connection c = broker.connect();
        Channel setup = c.createChannel();
        String exclusive = unique("exclusive");
        String shared = unique("shared");
        setup.queueDeclare(exclusive, false, true, false, null);
        setup.queueDeclare(shared, false, false, false, null);
        Channel ch1 = c.createChannel();
        assertChannelError(ch1, 405, locked(exclusive), "queue.declare",
                () -> ch1.queueDeclare(exclusive, false, false, false, null));
        Channel ch2 = c.createChannel();
        assertChannelError(ch2, 405, locked(shared), "queue.declare",
                () -> ch2.queueDeclare(shared, false, true, false, null));
        Channel ch3 = c.createChannel();
        // Exclusivity is checked before the other flags.
        assertChannelError(ch3, 405, locked(exclusive), "queue.declare",
                () -> ch3.queueDeclare(exclusive, false, false, true, null));
        setup.queueDelete(shared);
    }

    @Test
    void exclusiveQueueIsDeletedWhenItsConnectionCloses() throws Exception {
        Connection owner = broker.connect();
        Channel ch = owner.createChannel();
        String q = unique("exclusive-gone");
        ch.queueDeclare(q, false, true, false, null);
        ch.close(); // closing a channel keeps it
        Connection other = broker.connect();
        Channel check = owner.createChannel();
        assertEquals(q, check.queueDeclarePassive(q).getQueue());
        owner.close();
        await().atMost(TIMEOUT).until(() -> !queueExists(other, q));
        // The name is free again, for anyone.
        Channel again = other.createChannel();
        again.queueDeclare(q, false, true, false, null);
    }

    @Test
    void exclusiveDurableQueueIsNotKept() throws Exception {
        Connection owner = broker.connect();
        Channel ch = owner.createChannel();
        String q = unique("exclusive-durable");
        ch.queueDeclare(q, true, true, false, null);
        owner.close();
        Connection other = broker.connect();
        await().atMost(TIMEOUT).until(() -> !queueExists(other, q));
    }

    @Test
    void autoDeleteQueueWaitsForItsFirstConsumer() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String q = unique("ad-wait");
        ch.queueDeclare(q, false, false, true, null);
        ch.basicPublish("", q, null, new byte[] {1});
        assertEquals(1, ch.basicGet(q, true).getBody()[0], "basic.get is not a consumer");
        assertTrue(queueExists(c, q));
        String tag = ch.basicConsume(q, true, IGNORE, t -> { });
        assertEquals(1, ch.queueDeclarePassive(q).getConsumerCount());
        ch.basicCancel(tag);
        await().atMost(TIMEOUT).until(() -> !queueExists(c, q));
    }

    @Test
    void autoDeleteQueueIsDeletedWhenItsLastConsumerGoes() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String q = unique("ad-last");
        ch.queueDeclare(q, false, false, true, null);
        Channel c1 = c.createChannel();
        Channel c2 = c.createChannel();
        c1.basicConsume(q, true, IGNORE, t -> { });
        String tag2 = c2.basicConsume(q, true, IGNORE, t -> { });
        assertEquals(2, ch.queueDeclarePassive(q).getConsumerCount());
        c1.close(); // a consumer goes with its channel
        await().atMost(TIMEOUT).until(() -> ch.queueDeclarePassive(q).getConsumerCount() == 1);
        assertTrue(queueExists(c, q), "one consumer left");
        c2.basicCancel(tag2);
        await().atMost(TIMEOUT).until(() -> !queueExists(c, q));
    }

    /**
     * As RabbitMQ: cancel-ok comes once the queue has let the consumer go, so an auto-delete
     * queue whose last consumer that was is already gone when the client reads it (the Java
     * client's QueueLifecycle.queueAutoDelete declares it passively right after). Queues on
     * either loop: names hash to both.
     */
    @Test
    void anAutoDeleteQueueIsGoneWhenTheLastCancelOkArrives() throws Exception {
        Connection c = broker.connect();
        for (int i = 0; i < 40; i++) {
            Channel ch = c.createChannel();
            String q = unique("ad-cancel-" + i);
            ch.queueDeclare(q, false, false, true, null);
            String tag = ch.basicConsume(q, true, IGNORE, t -> { });
            ch.basicCancel(tag);
            IOException gone = assertThrows(IOException.class, () -> ch.queueDeclarePassive(q), q);
            assertTrue(gone.getCause().getMessage().contains("NOT_FOUND"), gone.getCause().getMessage());
        }
        c.close();
    }

    @Test
    void autoDeleteQueueGoesWhenItsConsumersConnectionCloses() throws Exception {
        Connection owner = broker.connect();
        String q = unique("ad-conn");
        Channel ch = owner.createChannel();
        ch.queueDeclare(q, false, false, true, null);
        Connection consumer = broker.connect();
        consumer.createChannel().basicConsume(q, true, IGNORE, t -> { });
        assertEquals(1, ch.queueDeclarePassive(q).getConsumerCount());
        consumer.close();
        await().atMost(TIMEOUT).until(() -> !queueExists(owner, q));
    }

    @Test
    void exclusiveAndAutoDeleteTogether() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String q = ch.queueDeclare().getQueue(); // the client's default: exclusive, auto-delete
        String tag = ch.basicConsume(q, true, IGNORE, t -> { });
        assertTrue(queueExists(c, q));
        ch.basicCancel(tag);
        await().atMost(TIMEOUT).until(() -> !queueExists(c, q));
        assertFalse(queueExists(c, q));
    }
}
