package io.warren.it.delivery;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ShutdownSignalException;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** RabbitMQ's single active consumer (x-single-active-consumer), with failover. */
class SingleActiveConsumerTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    @Test
    void onlyTheFirstConsumerGetsMessagesAndTheNextTakesOverWhenItsConnectionDies() throws Exception {
        Connection first = broker.connect();
        try (Connection second = broker.connect(); Connection pub = broker.connect()) {
            Channel p = pub.createChannel();
            p.queueDeclare("sac-q", false, false, false, Map.of("x-single-active-consumer", true));
            List<String> a = new CopyOnWriteArrayList<>();
            List<String> b = new CopyOnWriteArrayList<>();
            Channel ca = first.createChannel();
            ca.basicQos(5);
            // The first consumer never acks: it fills its prefetch and keeps 5 unacked.
            ca.basicConsume("sac-q", false, (t, d) -> a.add(new String(d.getBody())), t -> { });
            Channel cb = second.createChannel();
            cb.basicConsume("sac-q", true, (t, d) -> b.add(new String(d.getBody())), t -> { });
            for (int i = 0; i < 20; i++) {
                p.basicPublish("", "sac-q", null, String.valueOf(i).getBytes());
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> a.size() == 5);
            // The waiting consumer gets nothing, even with room, while the active one lives.
            Thread.sleep(200);
            assertEquals(List.of(), b);
            assertEquals(20, p.queueDeclarePassive("sac-q").getMessageCount() + 5);
            first.abort(); // the active consumer's connection dies
            await().atMost(Duration.ofSeconds(10)).until(() -> b.size() == 20);
            // Its 5 unacked come back first (redelivered), then the rest, in order.
            assertEquals(List.of("0", "1", "2", "3", "4"), b.subList(0, 5));
            assertEquals("19", b.get(19));
        }
    }

    @Test
    void aNonBooleanIs406() throws Exception {
        try (Connection c = broker.connect()) {
            Channel ch = c.createChannel();
            IOException e = assertThrows(IOException.class,
                    () -> ch.queueDeclare("sac-bad", false, false, false, Map.of("x-single-active-consumer", "yes")));
            AMQP.Channel.Close close = (AMQP.Channel.Close) ((ShutdownSignalException) e.getCause()).getReason();
            assertEquals(406, close.getReplyCode());
            assertEquals("PRECONDITION_FAILED - invalid arg 'x-single-active-consumer' for queue 'sac-bad' in vhost "
                    + "'/': {unacceptable_type,longstr}", close.getReplyText());
        }
    }
}
