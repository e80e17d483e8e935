package io.warren.it.delivery;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.ShutdownSignalException;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The delivery acknowledgement timeout: off by default; consumer_timeout in the config and
 * x-consumer-timeout per queue close a channel that holds a delivery too long, with 406 and
 * RabbitMQ's text, and its deliveries go back to the queue.
 */
class ConsumerTimeoutTest {
    @RegisterExtension
    static WarrenBroker plain = new WarrenBroker();
    @RegisterExtension
    static WarrenBroker timed = new WarrenBroker(c -> c.withConsumerTimeout(400));

    private static AtomicReference<ShutdownSignalException> watch(Channel ch) {
        AtomicReference<ShutdownSignalException> closed = new AtomicReference<>();
        ch.addShutdownListener(closed::set);
        return closed;
    }

    @Test
    void consumerTimeoutClosesTheChannelAndRequeues() throws Exception {
        try (Connection c = timed.connect()) {
            Channel ch = c.createChannel();
            // Not auto-delete: the consumer's channel closes, the queue must stay for the check.
            String q = ch.queueDeclare("ct-held", false, true, false, null).getQueue();
            ch.basicPublish("", q, null, "held".getBytes());
            AtomicReference<ShutdownSignalException> closed = watch(ch);
            ch.basicConsume(q, false, (t, d) -> { }, t -> { }); // never acks
            await().atMost(Duration.ofSeconds(10)).until(() -> closed.get() != null);
            AMQP.Channel.Close close = (AMQP.Channel.Close) closed.get().getReason();
            assertEquals(406, close.getReplyCode());
            assertEquals("PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. Timeout value used: "
                    + "400 ms. This timeout value can be configured, see consumers doc guide to learn more",
                    close.getReplyText());
            GetResponse back = c.createChannel().basicGet(q, true);
            assertNotNull(back, "the delivery went back to the queue");
            assertTrue(back.getEnvelope().isRedeliver());
        }
    }

    @Test
    void aQueuesXConsumerTimeoutAppliesWithoutTheGlobalOne() throws Exception {
        try (Connection c = plain.connect()) {
            Channel ch = c.createChannel();
            String q = ch.queueDeclare("", false, true, true, Map.of("x-consumer-timeout", 300)).getQueue();
            ch.basicPublish("", q, null, new byte[0]);
            AtomicReference<ShutdownSignalException> closed = watch(ch);
            assertNotNull(ch.basicGet(q, false)); // basic.get deliveries count too
            await().atMost(Duration.ofSeconds(10)).until(() -> closed.get() != null);
            assertTrue(closed.get().getMessage().contains("Timeout value used: 300 ms"), closed.get().getMessage());
        }
    }

    @Test
    void offByDefault() throws Exception {
        try (Connection c = plain.connect()) {
            Channel ch = c.createChannel();
            String q = ch.queueDeclare().getQueue();
            ch.basicPublish("", q, null, new byte[0]);
            GetResponse r = ch.basicGet(q, false);
            Thread.sleep(1500); // a slow consumer is never cut off without a timeout configured
            assertTrue(ch.isOpen());
            ch.basicAck(r.getEnvelope().getDeliveryTag(), false);
            assertEquals(0, ch.queueDeclarePassive(q).getMessageCount());
        }
    }

    @Test
    void anInvalidXConsumerTimeoutIs406() throws Exception {
        try (Connection c = plain.connect()) {
            Channel ch = c.createChannel();
            IOException e = assertThrows(IOException.class,
                    () -> ch.queueDeclare("ct-bad", false, false, false, Map.of("x-consumer-timeout", -5)));
            AMQP.Channel.Close close = (AMQP.Channel.Close) ((ShutdownSignalException) e.getCause()).getReason();
            assertEquals(406, close.getReplyCode());
            assertEquals("PRECONDITION_FAILED - invalid arg 'x-consumer-timeout' for queue 'ct-bad' in vhost '/': "
                    + "{value_negative,-5}", close.getReplyText());
        }
    }
}
