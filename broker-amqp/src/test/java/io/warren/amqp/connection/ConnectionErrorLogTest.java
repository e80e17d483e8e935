package io.warren.amqp.connection;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.netty.buffer.Unpooled;
import io.warren.amqp.codec.Frame;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** What a client's protocol error leaves in the log: one line with peer, reply code and reason; no stack trace. */
class ConnectionErrorLogTest {
    private final Logger logger = (Logger) LoggerFactory.getLogger("io.warren");
    private final ListAppender<ILoggingEvent> lines = new ListAppender<>();

    @BeforeEach
    void capture() {
        lines.start();
        logger.addAppender(lines);
    }

    @AfterEach
    void release() {
        logger.detachAppender(lines);
    }

    @Test
    void aProtocolErrorIsOneLine() {
        try (EmbeddedConnection c = new EmbeddedConnection().open()) {
            lines.list.clear();
            c.write(new Frame.ContentBody(1, Unpooled.wrappedBuffer(new byte[] {1, 2, 3})));
            assertEquals(505, c.connectionClose().replyCode());
            // a second bad frame while closing adds nothing
            c.write(new Frame.ContentBody(1, Unpooled.wrappedBuffer(new byte[] {4})));
        }
        assertEquals(1, lines.list.size(), lines.list.toString());
        ILoggingEvent e = lines.list.get(0);
        assertEquals("closing connection from /127.0.0.1:40000: 505 UNEXPECTED_FRAME - content body on channel 1"
                + " without a content header", e.getFormattedMessage());
        assertNull(e.getThrowableProxy(), "no stack trace for a client's error");
    }

    /** A decoder error (the path a malformed frame takes) is the same single line. */
    @Test
    void aDecoderErrorIsOneLine() {
        try (EmbeddedConnection c = new EmbeddedConnection().open()) {
            lines.list.clear();
            c.channel.pipeline().fireExceptionCaught(new io.netty.handler.codec.DecoderException(
                    new io.warren.amqp.codec.ConnectionException(io.warren.amqp.protocol.ReplyCode.FRAME_ERROR,
                            "cannot decode arguments of queue.declare: field table nested deeper than 128 levels", 50, 10)));
            c.run();
            assertEquals(501, c.connectionClose().replyCode());
        }
        assertEquals(1, lines.list.size(), lines.list.toString());
        assertEquals("closing connection from /127.0.0.1:40000: 501 FRAME_ERROR - cannot decode arguments of"
                + " queue.declare: field table nested deeper than 128 levels", lines.list.get(0).getFormattedMessage());
        assertNull(lines.list.get(0).getThrowableProxy());
    }

    /** Only what no client input explains keeps its trace: an unexpected exception in a handler. */
    @Test
    void anInternalErrorKeepsItsTrace() {
        try (EmbeddedConnection c = new EmbeddedConnection().open()) {
            lines.list.clear();
            c.channel.pipeline().fireExceptionCaught(new IllegalStateException("bug"));
            c.run();
            assertEquals(541, c.connectionClose().replyCode());
        }
        assertEquals(2, lines.list.size(), lines.list.toString());
        assertEquals("internal error on connection from /127.0.0.1:40000", lines.list.get(0).getFormattedMessage());
        assertEquals("bug", lines.list.get(0).getThrowableProxy().getMessage());
        assertEquals("closing connection from /127.0.0.1:40000: 541 INTERNAL_ERROR - java.lang.IllegalStateException: bug",
                lines.list.get(1).getFormattedMessage());
    }
}
