package io.warren.it.durability;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.ShutdownSignalException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeoutException;

import static org.awaitility.Awaitility.await;

/**
 * Helpers for the restart tests. Names are unique per call, so the tests also run repeatedly
 * against one external broker (the reference RabbitMQ, see WarrenBroker).
 */
final class Durable {
    static final Duration TIMEOUT = Duration.ofSeconds(30);
    static final AMQP.BasicProperties PERSISTENT = new AMQP.BasicProperties.Builder().deliveryMode(2).build();
    static final AMQP.BasicProperties TRANSIENT = new AMQP.BasicProperties.Builder().deliveryMode(1).build();
    /** Published to a queue last, through the default exchange: once it is there, so is everything before it. */
    private static final String END = "--end-of-drain--";

    private Durable() {}

    static String unique(String prefix) {
        return prefix + "-" + UUID.randomUUID();
    }

    /** Declares a durable queue with a unique name starting with {@code prefix}. */
    static String durableQueue(Connection c, String prefix) throws Exception {
        String q = unique(prefix);
        Channel ch = c.createChannel();
        ch.queueDeclare(q, true, false, false, null);
        ch.close();
        return q;
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String text(GetResponse r) {
        return new String(r.getBody(), StandardCharsets.UTF_8);
    }

    /** Publishes {@code bodies} with confirms and waits for them: the broker has them (on disk, when persistent). */
    static void publishConfirmed(Connection c, String exchange, String key, AMQP.BasicProperties props,
                                 List<String> bodies) throws IOException, InterruptedException, TimeoutException {
        Channel ch = c.createChannel();
        ch.confirmSelect();
        for (String b : bodies) {
            ch.basicPublish(exchange, key, props, utf8(b));
        }
        ch.waitForConfirmsOrDie(TIMEOUT.toMillis());
        ch.close();
    }

    static List<String> bodies(String prefix, int from, int to) {
        List<String> out = new ArrayList<>();
        for (int i = from; i < to; i++) {
            out.add(prefix + i);
        }
        return out;
    }

    /** Whether the queue exists, by a passive declare on a channel of its own. */
    static boolean queueExists(Connection c, String queue) throws IOException, TimeoutException {
        return exists(c, ch -> ch.queueDeclarePassive(queue));
    }

    static boolean exchangeExists(Connection c, String exchange) throws IOException, TimeoutException {
        return exists(c, ch -> ch.exchangeDeclarePassive(exchange));
    }

    interface ChannelCall {
        void run(Channel ch) throws IOException;
    }

    private static boolean exists(Connection c, ChannelCall passive) throws IOException, TimeoutException {
        Channel ch = c.createChannel();
        try {
            passive.run(ch);
            ch.close();
            return true;
        } catch (IOException e) {
            if (e.getCause() instanceof ShutdownSignalException s && s.getReason() instanceof AMQP.Channel.Close close
                    && close.getReplyCode() == 404) {
                return false;
            }
            throw e;
        }
    }

    /** Ready messages, read with a passive declare. */
    static int messageCount(Connection c, String queue) throws IOException, TimeoutException {
        Channel ch = c.createChannel();
        int n = ch.queueDeclarePassive(queue).getMessageCount();
        ch.close();
        return n;
    }

    /**
     * Takes every message of a queue with basic.get (no ack), returning the responses; for a queue
     * nothing is being published to (e.g. right after a restart).
     */
    static List<GetResponse> getAll(Channel ch, String queue) throws IOException {
        List<GetResponse> out = new ArrayList<>();
        GetResponse r;
        while ((r = ch.basicGet(queue, true)) != null) {
            out.add(r);
        }
        return out;
    }

    static List<String> texts(List<GetResponse> responses) {
        return responses.stream().map(Durable::text).toList();
    }

    /**
     * Takes everything routed to {@code queue} so far on {@code c}: publishes a marker through
     * the default exchange on {@code ch} and gets messages until it comes; returns the bodies
     * before it. Routing is asynchronous, the marker makes "nothing else arrived" checkable.
     */
    static List<String> drain(Channel ch, String queue) throws IOException {
        ch.basicPublish("", queue, null, utf8(END));
        List<String> out = new ArrayList<>();
        await().atMost(TIMEOUT).until(() -> {
            GetResponse r;
            while ((r = ch.basicGet(queue, true)) != null) {
                String t = text(r);
                if (t.equals(END)) {
                    return true;
                }
                out.add(t);
            }
            return false;
        });
        return out;
    }
}
