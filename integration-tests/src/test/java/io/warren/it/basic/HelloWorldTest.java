package io.warren.it.basic;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.DeliverCallback;
import com.rabbitmq.client.GetResponse;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HelloWorldTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    @Test
    void publishThenGet() throws Exception {
        try (Connection c = broker.connect(); Channel ch = c.createChannel()) {
            ch.queueDeclare("hello-get", false, false, true, null);
            ch.basicPublish("", "hello-get", null, "Hello World!".getBytes(StandardCharsets.UTF_8));
            GetResponse r = ch.basicGet("hello-get", true);
            assertNotNull(r);
            assertEquals("Hello World!", new String(r.getBody(), StandardCharsets.UTF_8));
            assertEquals(0, r.getMessageCount());
            assertNull(ch.basicGet("hello-get", true));
        }
    }

    @Test
    void publishThenConsume() throws Exception {
        try (Connection c = broker.connect(); Channel ch = c.createChannel()) {
            ch.queueDeclare("hello", false, false, false, null);
            List<String> got = new CopyOnWriteArrayList<>();
            DeliverCallback cb = (tag, d) -> got.add(new String(d.getBody(), StandardCharsets.UTF_8));
            ch.basicConsume("hello", true, cb, tag -> { });
            for (int i = 0; i < 100; i++) {
                ch.basicPublish("", "hello", null, ("m" + i).getBytes(StandardCharsets.UTF_8));
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> got.size() == 100);
            for (int i = 0; i < 100; i++) {
                assertEquals("m" + i, got.get(i));
            }
            AMQP.Queue.DeclareOk ok = ch.queueDeclarePassive("hello");
            assertEquals(0, ok.getMessageCount());
            assertEquals(1, ok.getConsumerCount());
            ch.queueDelete("hello");
        }
    }

    @Test
    void declareOkCountsIncludeEarlierPublishes() throws Exception {
        try (Connection c = broker.connect(); Channel ch = c.createChannel()) {
            ch.queueDeclare("counted", false, false, true, null);
            for (int i = 0; i < 3; i++) {
                ch.basicPublish("", "counted", null, new byte[] {1});
            }
            assertEquals(3, ch.queueDeclarePassive("counted").getMessageCount());
            assertTrue(ch.isOpen());
        }
    }
}
