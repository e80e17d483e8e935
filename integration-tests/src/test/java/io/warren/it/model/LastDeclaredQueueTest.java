package io.warren.it.model;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import io.warren.it.support.RecordingConsumer;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.Map;
import java.util.Set;

import static io.warren.it.model.ModelAssertions.assertChannelError;
import static io.warren.it.model.ModelAssertions.routedTo;
import static io.warren.it.model.ModelAssertions.unique;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * 0-9-1 §1.7 (queue-name domain, as RabbitMQ implements it): an empty queue name in
 * queue.bind, queue.unbind, queue.purge, queue.delete, basic.consume and basic.get means the
 * queue the channel declared last; in queue.bind an empty routing key then means that queue's
 * name too. Without a declared queue RabbitMQ answers 404 "no previously declared queue".
 */
class LastDeclaredQueueTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private static final String NO_PREVIOUS = "NOT_FOUND - no previously declared queue";

    @Test
    void anEmptyNameMeansTheLastQueueTheChannelDeclared() throws Exception {
        Channel ch = broker.connect().createChannel();
        String x = unique("mrdq");
        ch.exchangeDeclare(x, "direct", false, true, null);
        String q1 = ch.queueDeclare().getQueue();
        String q2 = ch.queueDeclare().getQueue();
        ch.queueBind(q1, x, "baz");
        ch.queueBind(q1, x, "");
        ch.queueBind("", x, "baz");   // q2, "baz"
        ch.queueBind("", x, "");      // q2, routing key q2
        Map<String, String> qs = Map.of("q1", q1, "q2", q2);
        assertEquals(Set.of("q1"), routedTo(ch, x, "", null, qs));
        assertEquals(Set.of("q1", "q2"), routedTo(ch, x, "baz", null, qs));
        assertEquals(Set.of("q2"), routedTo(ch, x, q2, null, qs));

        // A passive declare sets the last queue too.
        ch.queueDeclarePassive(q2);
        ch.queueUnbind("", x, "baz");
        assertEquals(Set.of("q1"), routedTo(ch, x, "baz", null, qs));

        ch.queueDeclarePassive(q1);
        ch.basicPublish("", q1, null, new byte[] {1});
        ch.basicPublish("", q1, null, new byte[] {2});
        GetResponse got = ch.basicGet("", true);
        assertNotNull(got);
        assertEquals(1, got.getBody()[0]);
        assertEquals(1, ch.queuePurge("").getMessageCount());
        assertNull(ch.basicGet("", true));
        ch.basicPublish("", q1, null, new byte[] {3});
        RecordingConsumer c = new RecordingConsumer(ch);
        String tag = ch.basicConsume("", true, c);
        c.awaitCount(1);
        ch.basicCancel(tag);
        assertEquals(0, ch.queueDelete("").getMessageCount());
        Connection conn = ch.getConnection();
        assertEquals(false, ModelAssertions.queueExists(conn, q1));
        assertEquals(true, ModelAssertions.queueExists(conn, q2));
    }

    @Test
    void withoutADeclaredQueueAnEmptyNameIsNotFound() throws Exception {
        Connection c = broker.connect();
        String q = c.createChannel().queueDeclare().getQueue(); // on another channel: does not count
        Channel ch1 = c.createChannel();
        assertChannelError(ch1, 404, NO_PREVIOUS, "queue.bind", () -> ch1.queueBind("", "amq.direct", "k"));
        Channel ch2 = c.createChannel();
        assertChannelError(ch2, 404, NO_PREVIOUS, "queue.unbind", () -> ch2.queueUnbind("", "amq.direct", "k"));
        Channel ch3 = c.createChannel();
        assertChannelError(ch3, 404, NO_PREVIOUS, "queue.purge", () -> ch3.queuePurge(""));
        Channel ch4 = c.createChannel();
        assertChannelError(ch4, 404, NO_PREVIOUS, "queue.delete", () -> ch4.queueDelete(""));
        Channel ch5 = c.createChannel();
        assertChannelError(ch5, 404, NO_PREVIOUS, "basic.get", () -> ch5.basicGet("", true));
        Channel ch6 = c.createChannel();
        assertChannelError(ch6, 404, NO_PREVIOUS, "basic.consume",
                () -> ch6.basicConsume("", true, (tag, d) -> { }, tag -> { }));
        // A passive declare of "" does not mean the last queue.
        Channel ch7 = c.createChannel();
        ch7.queueDeclarePassive(q);
        assertChannelError(ch7, 404, "NOT_FOUND - no queue '' in vhost '/'", "queue.declare",
                () -> ch7.queueDeclarePassive(""));
    }

    @Test
    void theLastQueueIsRememberedByNameAfterItIsDeleted() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = ch.queueDeclare().getQueue();
        ch.queueDelete(q);
        assertChannelError(ch, 404, "NOT_FOUND - no queue '" + q + "' in vhost '/'", "basic.get",
                () -> ch.basicGet("", true));
    }
}
