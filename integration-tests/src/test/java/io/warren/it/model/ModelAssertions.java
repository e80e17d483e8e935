package io.warren.it.model;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.ShutdownSignalException;
import org.junit.jupiter.api.function.Executable;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.TreeSet;
import java.util.Set;
import java.util.UUID;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Assertions for the model tests: the exact close (code, text, class and method id) a failed
 * operation produced, and whether it closed the channel (soft error, the connection stays) or
 * the connection (hard error). Names are unique per call so the suite can run repeatedly
 * against one external broker (the reference RabbitMQ).
 */
final class ModelAssertions {
    static final Duration TIMEOUT = Duration.ofSeconds(10);

    private static final Map<String, int[]> METHOD_IDS = Map.ofEntries(
            Map.entry("exchange.declare", new int[] {40, 10}),
            Map.entry("exchange.delete", new int[] {40, 20}),
            Map.entry("exchange.bind", new int[] {40, 30}),
            Map.entry("exchange.unbind", new int[] {40, 40}),
            Map.entry("queue.declare", new int[] {50, 10}),
            Map.entry("queue.bind", new int[] {50, 20}),
            Map.entry("queue.purge", new int[] {50, 30}),
            Map.entry("queue.delete", new int[] {50, 40}),
            Map.entry("queue.unbind", new int[] {50, 50}),
            Map.entry("basic.consume", new int[] {60, 20}),
            Map.entry("basic.publish", new int[] {60, 40}),
            Map.entry("basic.get", new int[] {60, 70}));

    private ModelAssertions() {}

    static String unique(String prefix) {
        return prefix + "-" + UUID.randomUUID();
    }

    /**
     * The reply text RabbitMQ sends for {@code full}: a shortstr holds 255 bytes, and RabbitMQ
     * cuts longer texts to 252 bytes followed by "..." (rabbit_binary_generator).
     */
    static String replyText(String full) {
        byte[] b = full.getBytes(StandardCharsets.UTF_8);
        if (b.length <= 255) {
            return full;
        }
        return new String(b, 0, 252, StandardCharsets.UTF_8) + "...";
    }

    /** {@code op} must fail with a channel error {@code code}/{@code text} caused by {@code method}. */
    static void assertChannelError(Channel ch, int code, String text, String method, Executable op) {
        ShutdownSignalException sse = failure(op);
        assertFalse(sse.isHardError(), () -> "expected a channel error, got a connection error: " + sse.getReason());
        assertChannelClose(sse, code, text, method);
        assertFalse(ch.isOpen(), "the channel is closed");
        assertTrue(ch.getConnection().isOpen(), "a channel error leaves the connection open");
    }

    /** {@code op} must fail with a connection error {@code code}/{@code text} caused by {@code method}. */
    static void assertConnectionError(Connection c, int code, String text, String method, Executable op) {
        ShutdownSignalException sse = failure(op);
        assertTrue(sse.isHardError(), () -> "expected a connection error, got a channel error: " + sse.getReason());
        AMQP.Connection.Close close = assertInstanceOf(AMQP.Connection.Close.class, sse.getReason());
        assertEquals(code, close.getReplyCode());
        assertEquals(replyText(text), close.getReplyText());
        assertMethod(method, close.getClassId(), close.getMethodId());
        assertFalse(c.isOpen(), "the connection is closed");
    }

    /** Waits for an asynchronous channel error (e.g. after a basic.publish) and checks it. */
    static void awaitChannelError(Channel ch, int code, String text, String method) {
        await().atMost(TIMEOUT).until(() -> !ch.isOpen());
        ShutdownSignalException sse = ch.getCloseReason();
        assertFalse(sse.isHardError(), () -> "expected a channel error, got a connection error: " + sse.getReason());
        assertChannelClose(sse, code, text, method);
        assertTrue(ch.getConnection().isOpen(), "a channel error leaves the connection open");
    }

    private static void assertChannelClose(ShutdownSignalException sse, int code, String text, String method) {
        AMQP.Channel.Close close = assertInstanceOf(AMQP.Channel.Close.class, sse.getReason());
        assertEquals(code, close.getReplyCode(), "reply code");
        assertEquals(replyText(text), close.getReplyText(), "reply text");
        assertMethod(method, close.getClassId(), close.getMethodId());
    }

    private static void assertMethod(String method, int classId, int methodId) {
        int[] ids = METHOD_IDS.get(method);
        assertNotNull(ids, method);
        assertEquals(ids[0] + "/" + ids[1], classId + "/" + methodId, () -> "class/method id of " + method);
    }

    private static ShutdownSignalException failure(Executable op) {
        IOException e = assertThrows(IOException.class, op);
        return assertInstanceOf(ShutdownSignalException.class, e.getCause());
    }

    /** Whether the queue exists, asked on a fresh channel of {@code c} (a failed passive declare closes it). */
    static boolean queueExists(Connection c, String queue) throws Exception {
        Channel ch = c.createChannel();
        try {
            ch.queueDeclarePassive(queue);
            ch.close();
            return true;
        } catch (IOException e) {
            assertNotFound(e);
            return false;
        }
    }

    /** Whether the exchange exists, asked on a fresh channel of {@code c}. */
    static boolean exchangeExists(Connection c, String exchange) throws Exception {
        Channel ch = c.createChannel();
        try {
            ch.exchangeDeclarePassive(exchange);
            ch.close();
            return true;
        } catch (IOException e) {
            assertNotFound(e);
            return false;
        }
    }

    private static void assertNotFound(IOException e) {
        ShutdownSignalException sse = assertInstanceOf(ShutdownSignalException.class, e.getCause());
        assertEquals(404, assertInstanceOf(AMQP.Channel.Close.class, sse.getReason()).getReplyCode());
    }

    /**
     * Publishes one message and returns which of {@code queues} (by label) received it, draining
     * them with basic.get. On one channel the gets are ordered after the publish's enqueues.
     */
    static Set<String> routedTo(Channel ch, String exchange, String routingKey, AMQP.BasicProperties props,
                                Map<String, String> queuesByLabel) throws IOException {
        String body = UUID.randomUUID().toString();
        ch.basicPublish(exchange, routingKey, props, body.getBytes(StandardCharsets.UTF_8));
        Set<String> got = new TreeSet<>();
        for (Map.Entry<String, String> e : queuesByLabel.entrySet()) {
            GetResponse r = ch.basicGet(e.getValue(), true);
            if (r != null) {
                assertEquals(body, new String(r.getBody(), StandardCharsets.UTF_8), "one copy per queue");
                assertEquals(0, r.getMessageCount(), "one copy per queue");
                got.add(e.getKey());
            }
        }
        return got;
    }

    /** Takes every ready message of {@code queue} with basic.get (auto-ack); returns how many. */
    static int drain(Channel ch, String queue) throws IOException {
        int n = 0;
        while (ch.basicGet(queue, true) != null) {
            n++;
        }
        return n;
    }
}
