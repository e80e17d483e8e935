package io.warren.it.support;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ShutdownSignalException;
import org.junit.jupiter.api.function.Executable;

import java.io.IOException;
import java.time.Duration;
import java.util.UUID;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Assertions on AMQP errors as RabbitMQ's Java client reports them, and small helpers. */
public final class AmqpAssertions {
    private AmqpAssertions() {}

    /** Runs {@code call}, which must fail because the broker closed the channel (a soft error). */
    public static AMQP.Channel.Close channelError(Executable call) {
        ShutdownSignalException s = shutdownOf(call);
        assertFalse(s.isHardError(), () -> "expected a channel error, got " + s.getReason());
        return (AMQP.Channel.Close) s.getReason();
    }

    /** Runs {@code call}, which must fail because the broker closed the connection (a hard error). */
    public static AMQP.Connection.Close connectionError(Executable call) {
        ShutdownSignalException s = shutdownOf(call);
        assertTrue(s.isHardError(), () -> "expected a connection error, got " + s.getReason());
        return (AMQP.Connection.Close) s.getReason();
    }

    private static ShutdownSignalException shutdownOf(Executable call) {
        try {
            call.execute();
        } catch (ShutdownSignalException e) {
            return e;
        } catch (IOException e) {
            if (e.getCause() instanceof ShutdownSignalException s) {
                return s;
            }
            throw new AssertionError("expected a shutdown signal, got " + e, e);
        } catch (Throwable t) {
            throw new AssertionError("expected a shutdown signal, got " + t, t);
        }
        return fail("expected the broker to close the channel or connection");
    }

    /** Waits for the broker to close {@code ch} (after an asynchronous method such as basic.ack). */
    public static AMQP.Channel.Close awaitChannelClosed(Channel ch) {
        await().atMost(Duration.ofSeconds(5)).until(() -> !ch.isOpen());
        ShutdownSignalException s = ch.getCloseReason();
        assertFalse(s.isHardError(), () -> "expected a channel error, got " + s.getReason());
        return (AMQP.Channel.Close) s.getReason();
    }

    /** Waits for the broker to close {@code c}. */
    public static AMQP.Connection.Close awaitConnectionClosed(Connection c) {
        await().atMost(Duration.ofSeconds(5)).until(() -> !c.isOpen());
        ShutdownSignalException s = c.getCloseReason();
        assertTrue(s.isHardError(), () -> "expected a connection error, got " + s.getReason());
        return (AMQP.Connection.Close) s.getReason();
    }

    public static void assertClose(int code, String text, AMQP.Channel.Close close) {
        assertEquals(code + " " + text, close.getReplyCode() + " " + close.getReplyText());
    }

    public static void assertClose(int code, String text, AMQP.Connection.Close close) {
        assertEquals(code + " " + text, close.getReplyCode() + " " + close.getReplyText());
    }

    /** The connection survived a channel error: it is open and a new channel works on it. */
    public static void assertConnectionUsable(Connection c) throws Exception {
        assertTrue(c.isOpen(), "connection closed after a channel error");
        Channel ch = c.createChannel();
        ch.queueDeclare("", false, true, true, null);
        ch.close();
        assertTrue(c.isOpen());
    }

    /** A fresh, uniquely named, non-exclusive queue (usable from every connection). */
    public static String newQueue(Channel ch) throws IOException {
        String name = "it-" + UUID.randomUUID();
        ch.queueDeclare(name, false, false, false, null);
        return name;
    }
}
