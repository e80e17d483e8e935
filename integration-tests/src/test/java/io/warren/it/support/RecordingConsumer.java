package io.warren.it.support;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Collectors;

import static org.awaitility.Awaitility.await;

/** A consumer that records every delivery and notification, for assertions. */
public class RecordingConsumer extends DefaultConsumer {
    public record Delivery(String consumerTag, Envelope envelope, AMQP.BasicProperties properties, byte[] body) {
        public String text() {
            return new String(body, StandardCharsets.UTF_8);
        }

        public long tag() {
            return envelope.getDeliveryTag();
        }

        public boolean redelivered() {
            return envelope.isRedeliver();
        }
    }

    public final List<Delivery> deliveries = new CopyOnWriteArrayList<>();
    public final List<String> events = new CopyOnWriteArrayList<>();

    public RecordingConsumer(Channel channel) {
        super(channel);
    }

    @Override public void handleConsumeOk(String consumerTag) {
        super.handleConsumeOk(consumerTag);
        events.add("consume-ok " + consumerTag);
    }

    @Override public void handleCancelOk(String consumerTag) {
        events.add("cancel-ok " + consumerTag);
    }

    @Override public void handleCancel(String consumerTag) {
        events.add("cancel " + consumerTag);
    }

    @Override public void handleDelivery(String consumerTag, Envelope envelope, AMQP.BasicProperties properties,
                                         byte[] body) {
        deliveries.add(new Delivery(consumerTag, envelope, properties, body));
    }

    public int count() {
        return deliveries.size();
    }

    /** Bodies as UTF-8 text, in arrival order. */
    public List<String> texts() {
        return deliveries.stream().map(Delivery::text).collect(Collectors.toList());
    }

    public Delivery last() {
        return deliveries.get(deliveries.size() - 1);
    }

    /** Waits until exactly {@code n} deliveries (at most 10 s). */
    public RecordingConsumer awaitCount(int n) {
        await().atMost(Duration.ofSeconds(10)).until(() -> deliveries.size() >= n);
        if (deliveries.size() != n) {
            throw new AssertionError("expected " + n + " deliveries, got " + deliveries.size() + ": " + texts());
        }
        return this;
    }
}
