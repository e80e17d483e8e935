package io.warren.it.model;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.DeliverCallback;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import static io.warren.it.model.ModelAssertions.TIMEOUT;
import static io.warren.it.model.ModelAssertions.assertChannelError;
import static io.warren.it.model.ModelAssertions.queueExists;
import static io.warren.it.model.ModelAssertions.unique;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/** queue.declare: names, passive, flags and their equivalence, x-arguments, declare-ok counts. */
class QueueDeclareTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    /**
     * Publishes {@code n} messages to {@code queue} and waits for their confirms: RabbitMQ answers
     * a declare-ok's counts ahead of deliveries still in the queue's mailbox, a confirm is not.
     */
    private static void publishConfirmed(Channel ch, String queue, int n) throws Exception {
        ch.confirmSelect();
        for (int i = 0; i < n; i++) {
            ch.basicPublish("", queue, null, new byte[] {(byte) i});
        }
        ch.waitForConfirmsOrDie(TIMEOUT.toMillis());
    }

    @Test
    void serverNamedQueuesAreUniqueAndPrefixedAmqGen() throws Exception {
        Channel ch = broker.connect().createChannel();
        AMQP.Queue.DeclareOk first = ch.queueDeclare("", false, true, true, null);
        AMQP.Queue.DeclareOk second = ch.queueDeclare("", false, true, true, null);
        assertTrue(first.getQueue().matches("amq\\.gen-[A-Za-z0-9_-]{22}"), first.getQueue());
        assertNotEquals(first.getQueue(), second.getQueue());
        assertEquals(0, first.getMessageCount());
        assertEquals(0, first.getConsumerCount());
        ch.queueDeclarePassive(first.getQueue());
    }

    @Test
    void clientNamesStartingWithAmqAreRefused() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String q = unique("amq.mine");
        assertChannelError(ch, 403, "ACCESS_REFUSED - queue name '" + q + "' contains reserved prefix 'amq.*'",
                "queue.declare", () -> ch.queueDeclare(q, false, false, true, null));
        assertFalse(queueExists(c, q));
    }

    @Test
    void serverNamedQueueCannotBeRedeclaredByNameButCanBePassively() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String q = ch.queueDeclare().getQueue();
        ch.queueDeclarePassive(q);
        // RabbitMQ checks the reserved prefix before looking the queue up.
        assertChannelError(ch, 403, "ACCESS_REFUSED - queue name '" + q + "' contains reserved prefix 'amq.*'",
                "queue.declare", () -> ch.queueDeclare(q, false, true, true, null));
        assertTrue(queueExists(c, q));
    }

    @Test
    void passiveDeclareOfMissingQueueIsNotFound() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String q = unique("missing");
        assertChannelError(ch, 404, "NOT_FOUND - no queue '" + q + "' in vhost '/'", "queue.declare",
                () -> ch.queueDeclarePassive(q));
        assertFalse(queueExists(c, q));
    }

    @Test
    void passiveDeclareReportsCountsWhateverTheFlags() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = unique("passive");
        ch.queueDeclare(q, true, false, false, Map.of("x-queue-mode", "lazy"));
        publishConfirmed(ch, q, 2);
        AMQP.Queue.DeclareOk ok = ch.queueDeclarePassive(q);
        assertEquals(q, ok.getQueue());
        assertEquals(2, ok.getMessageCount());
        assertEquals(0, ok.getConsumerCount());
        ch.queueDelete(q);
    }

    @Test
    void redeclareWithTheSameFlagsReportsCounts() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = unique("same");
        ch.queueDeclare(q, false, false, false, null);
        publishConfirmed(ch, q, 1);
        AMQP.Queue.DeclareOk ok = ch.queueDeclare(q, false, false, false, null);
        assertEquals(1, ok.getMessageCount());
        ch.queueDelete(q);
    }

    @Test
    void durableFlagIsKept() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String durable = unique("durable");
        String transientQ = unique("transient");
        ch.queueDeclare(durable, true, false, false, null);
        ch.queueDeclare(transientQ, false, false, false, null);
        ch.queueDeclare(durable, true, false, false, null);
        Channel ch1 = c.createChannel();
        assertChannelError(ch1, 406, "PRECONDITION_FAILED - inequivalent arg 'durable' for queue '" + durable
                        + "' in vhost '/': received 'false' but current is 'true'", "queue.declare",
                () -> ch1.queueDeclare(durable, false, false, false, null));
        Channel ch2 = c.createChannel();
        assertChannelError(ch2, 406, "PRECONDITION_FAILED - inequivalent arg 'durable' for queue '" + transientQ
                        + "' in vhost '/': received 'true' but current is 'false'", "queue.declare",
                () -> ch2.queueDeclare(transientQ, true, false, false, null));
        ch.queueDelete(durable);
        ch.queueDelete(transientQ);
    }

    @Test
    void autoDeleteFlagMustMatchOnRedeclare() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String q = unique("ad-flag");
        ch.queueDeclare(q, false, false, false, null);
        Channel ch1 = c.createChannel();
        assertChannelError(ch1, 406, "PRECONDITION_FAILED - inequivalent arg 'auto_delete' for queue '" + q
                        + "' in vhost '/': received 'true' but current is 'false'", "queue.declare",
                () -> ch1.queueDeclare(q, false, false, true, null));
        ch.queueDelete(q);
    }

    @Test
    void classicQueueTypeAndQueueModesAreAccepted() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = unique("classic");
        ch.queueDeclare(q, false, false, false, Map.of("x-queue-type", "classic"));
        ch.queueDeclare(q, false, false, false, null); // no type means classic
        ch.queueDelete(q);
        String untyped = unique("untyped");
        ch.queueDeclare(untyped, false, false, false, null);
        ch.queueDeclare(untyped, false, false, false, Map.of("x-queue-type", "classic"));
        ch.queueDelete(untyped);
        for (String mode : new String[] {"lazy", "default"}) {
            String m = unique(mode);
            ch.queueDeclare(m, false, false, false, Map.of("x-queue-mode", mode, "x-queue-type", "classic"));
            ch.queueDeclare(m, false, false, false, Map.of("x-queue-mode", mode));
            ch.queueDelete(m);
        }
    }

    @Test
    void queueModeMustMatchOnRedeclare() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String q = unique("lazy");
        ch.queueDeclare(q, false, false, false, Map.of("x-queue-mode", "lazy"));
        String prefix = "PRECONDITION_FAILED - inequivalent arg 'x-queue-mode' for queue '" + q + "' in vhost '/': ";
        Channel ch1 = c.createChannel();
        assertChannelError(ch1, 406, prefix + "received 'default' but current is 'lazy'", "queue.declare",
                () -> ch1.queueDeclare(q, false, false, false, Map.of("x-queue-mode", "default")));
        Channel ch2 = c.createChannel();
        assertChannelError(ch2, 406, prefix + "received none but current is the value 'lazy' of type 'longstr'",
                "queue.declare", () -> ch2.queueDeclare(q, false, false, false, null));
        ch.queueDelete(q);
        String plain = unique("plain");
        ch.queueDeclare(plain, false, false, false, null);
        Channel ch3 = c.createChannel();
        assertChannelError(ch3, 406, "PRECONDITION_FAILED - inequivalent arg 'x-queue-mode' for queue '" + plain
                        + "' in vhost '/': received the value 'lazy' of type 'longstr' but current is none",
                "queue.declare", () -> ch3.queueDeclare(plain, false, false, false, Map.of("x-queue-mode", "lazy")));
        ch.queueDelete(plain);
    }

    @Test
    void onlyKnownArgumentsMustMatchOnRedeclare() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String q = unique("args");
        ch.queueDeclare(q, false, false, false, Map.of("x-max-length", 10, "x-custom", "a"));
        // Unknown arguments are kept but not compared; integers compare by value, whatever their width.
        ch.queueDeclare(q, false, false, false, Map.of("x-max-length", 10L, "x-custom", "b"));
        String prefix = "PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue '" + q + "' in vhost '/': ";
        Channel ch1 = c.createChannel();
        assertChannelError(ch1, 406, prefix + "received '20' but current is '10'", "queue.declare",
                () -> ch1.queueDeclare(q, false, false, false, Map.of("x-max-length", 20)));
        Channel ch2 = c.createChannel();
        assertChannelError(ch2, 406, prefix + "received none but current is the value '10' of type 'signedint'",
                "queue.declare", () -> ch2.queueDeclare(q, false, false, false, null));
        Channel ch3 = c.createChannel();
        assertChannelError(ch3, 406, prefix + "received '10' but current is '10'", "queue.declare",
                () -> ch3.queueDeclare(q, false, false, false, Map.of("x-max-length", "10")));
        ch.queueDelete(q);
    }

    @Test
    void invalidQueueModeIsRefused() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String q = unique("mode");
        assertChannelError(ch, 406, "PRECONDITION_FAILED - invalid arg 'x-queue-mode' for queue '" + q
                        + "' in vhost '/': \"unsupported queue mode 'sleepy'\"", "queue.declare",
                () -> ch.queueDeclare(q, false, false, false, Map.of("x-queue-mode", "sleepy")));
        Channel ch2 = c.createChannel();
        assertChannelError(ch2, 406, "PRECONDITION_FAILED - invalid arg 'x-queue-mode' for queue '" + q
                        + "' in vhost '/': {unacceptable_type,signedint}", "queue.declare",
                () -> ch2.queueDeclare(q, false, false, false, Map.of("x-queue-mode", 1)));
        assertFalse(queueExists(c, q));
    }

    @Test
    void unknownQueueTypeIsRefused() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String q = unique("type");
        assertChannelError(ch, 406, "PRECONDITION_FAILED - invalid arg 'x-queue-type' for queue '" + q
                        + "' in vhost '/': \"unsupported queue type 'fancy'\"", "queue.declare",
                () -> ch.queueDeclare(q, false, false, false, Map.of("x-queue-type", "fancy")));
        assertFalse(queueExists(c, q));
    }

    @Test
    void exclusiveQueuesAreNeverDurable() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = unique("exclusive-durable");
        ch.queueDeclare(q, true, true, false, null);
        // RabbitMQ declares an exclusive queue non-durable whatever the flag says, so both match.
        ch.queueDeclare(q, false, true, false, null);
        ch.queueDeclare(q, true, true, false, null);
        ch.queueDelete(q);
    }

    @Test
    void streamQueuesAreRefusedClearly() throws Exception {
        assumeFalse(WarrenBroker.external(), "RabbitMQ implements stream queues");
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String q = unique("stream");
        assertChannelError(ch, 406, "PRECONDITION_FAILED - invalid arg 'x-queue-type' for queue '" + q
                        + "' in vhost '/': queue type 'stream' is not supported by warren"
                        + " (classic and quorum queues only)", "queue.declare",
                () -> ch.queueDeclare(q, true, false, false, Map.of("x-queue-type", "stream")));
        assertFalse(queueExists(c, q));
    }

    @Test
    void declareOkCountsReadyMessagesAndConsumers() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String q = unique("counts");
        ch.queueDeclare(q, false, false, false, null);
        for (int i = 0; i < 3; i++) {
            ch.basicPublish("", q, null, new byte[] {(byte) i});
        }
        Channel consumerCh = c.createChannel();
        consumerCh.basicQos(1);
        AtomicInteger delivered = new AtomicInteger();
        DeliverCallback cb = (tag, d) -> delivered.incrementAndGet();
        consumerCh.basicConsume(q, false, cb, tag -> { });
        await().atMost(TIMEOUT).until(() -> delivered.get() == 1);
        // One message is unacknowledged: not counted.
        AMQP.Queue.DeclareOk ok = ch.queueDeclarePassive(q);
        assertEquals(2, ok.getMessageCount());
        assertEquals(1, ok.getConsumerCount());
        assertEquals(2, ch.queueDeclare(q, false, false, false, null).getMessageCount());
        consumerCh.close();
        ch.queueDelete(q);
    }

    /**
     * RabbitMQ strips CR and LF from queue names in queue.declare (passive too), queue.delete
     * and queue.bind/unbind, but not in basic.get, basic.consume or queue.purge.
     */
    @Test
    void carriageReturnsAndLineFeedsAreStrippedFromQueueNames() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String q = unique("crlf");
        AMQP.Queue.DeclareOk ok = ch.queueDeclare("q\ru\n" + q.substring(1) + "\r\n", false, false, true, null);
        String stripped = "qu" + q.substring(1);
        assertEquals(stripped, ok.getQueue());
        assertTrue(queueExists(c, stripped));
        assertEquals(stripped, ch.queueDeclarePassive(stripped + "\n").getQueue());
        ch.queueBind("\n" + stripped, "amq.direct", stripped);
        Channel publisher = c.createChannel();
        publishConfirmed(publisher, stripped, 0);
        publisher.basicPublish("amq.direct", stripped, null, new byte[] {1});
        publisher.waitForConfirmsOrDie(TIMEOUT.toMillis());
        assertEquals(1, ch.queueDeclarePassive(stripped).getMessageCount());
        ch.queueUnbind(stripped + "\r", "amq.direct", stripped);
        // A name of only CR/LF asks for a server-named queue.
        assertTrue(ch.queueDeclare("\r\n", false, true, true, null).getQueue().startsWith("amq.gen-"));
        Channel ch2 = c.createChannel();
        assertChannelError(ch2, 404, "NOT_FOUND - no queue '" + stripped + "\n' in vhost '/'", "basic.get",
                () -> ch2.basicGet(stripped + "\n", true));
        assertEquals(1, ch.queueDelete(stripped + "\n").getMessageCount());
        assertFalse(queueExists(c, stripped));
    }
}
