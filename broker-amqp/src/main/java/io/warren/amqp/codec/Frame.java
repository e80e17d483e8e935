package io.warren.amqp.codec;

import io.netty.buffer.ByteBuf;
import io.netty.util.ReferenceCounted;
import io.warren.amqp.protocol.AmqpMethod;

/** A decoded AMQP frame. Content frames hold retained slices of the read buffer. */
public sealed interface Frame {
    int channel();

    /** A method frame. */
    record Method(int channel, AmqpMethod method) implements Frame {}

    /** A content header: class, body size and the raw property flags + properties. */
    record ContentHeader(int channel, int classId, long bodySize, ByteBuf properties) implements Frame, ReleasableFrame {
        @Override public ReferenceCounted content() {
            return properties;
        }
    }

    /**
     * A content header that could not be read ({@code error}: 501 FRAME_ERROR). Whether that is
     * the answer depends on the channel: one that expects no header answers 505 UNEXPECTED_FRAME
     * first, as RabbitMQ does (it reads a header's contents only when it expects one).
     */
    record MalformedHeader(int channel, ConnectionException error) implements Frame {}

    /** A content body fragment. */
    record ContentBody(int channel, ByteBuf body) implements Frame, ReleasableFrame {
        @Override public ReferenceCounted content() {
            return body;
        }
    }

    /** A heartbeat. */
    record Heartbeat(int channel) implements Frame {}

    /** Frames holding a buffer the receiver must release. */
    interface ReleasableFrame {
        ReferenceCounted content();
    }
}
