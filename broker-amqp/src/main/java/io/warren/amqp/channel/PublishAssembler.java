package io.warren.amqp.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import io.warren.amqp.codec.ConnectionException;
import io.warren.amqp.codec.Frame;
import io.warren.amqp.codec.MalformedFrameException;
import io.warren.amqp.protocol.BasicProperties;
import io.warren.amqp.protocol.BasicPublish;
import io.warren.amqp.protocol.ReplyCode;
import io.warren.core.message.Message;

import java.util.Map;
import java.util.function.Function;

/**
 * Collects basic.publish, its content header and body frames into one message. Body frames
 * are kept as retained slices of the read buffers (a composite when there are several): the
 * body is never copied. Owner: the channel's loop.
 */
final class PublishAssembler {
    private BasicPublish method;
    private ByteBuf properties;
    private long bodySize = -1;
    private ByteBuf body;
    private long received;
    /** The checked expiration of the current publish in ms, or -1 (see {@link #checkExpiration}). */
    private long ttl = -1;

    boolean inProgress() {
        return method != null;
    }

    boolean awaitingHeader() {
        return method != null && properties == null;
    }

    void start(BasicPublish m) {
        method = m;
    }

    BasicPublish method() {
        return method;
    }

    long bodySize() {
        return bodySize;
    }

    void header(Frame.ContentHeader h) {
        if (method == null || properties != null) {
            h.properties().release();
            throw new ConnectionException(ReplyCode.UNEXPECTED_FRAME, "content header for class " + h.classId()
                    + " on channel " + h.channel() + " without a method expecting content", 60, 40);
        }
        properties = h.properties();
        bodySize = h.bodySize();
        if (h.classId() != BasicPublish.CLASS_ID) {
            throw new ConnectionException(ReplyCode.UNEXPECTED_FRAME, "content header for class " + h.classId()
                    + " does not match method class " + BasicPublish.CLASS_ID, 60, 40);
        }
    }

    /** Adds a body fragment; true when the body is complete. */
    boolean body(Frame.ContentBody b, io.netty.buffer.ByteBufAllocator alloc) {
        if (properties == null) {
            b.body().release();
            throw new ConnectionException(ReplyCode.UNEXPECTED_FRAME, "content body on channel " + b.channel()
                    + " without a content header", 60, 40);
        }
        int n = b.body().readableBytes();
        received += n;
        if (received > bodySize) {
            // 505, as RabbitMQ answers a body frame after the declared size is complete. (RabbitMQ
            // 3.10 does not notice a single oversized frame: it waits for the body to end, and
            // answers the next method with 505 "expected content body".)
            b.body().release();
            throw new ConnectionException(ReplyCode.UNEXPECTED_FRAME, "content body larger than the " + bodySize
                    + " bytes declared in its header", 60, 40);
        }
        if (body == null) {
            body = b.body();
        } else {
            CompositeByteBuf c;
            if (body instanceof CompositeByteBuf existing) {
                c = existing;
            } else {
                c = alloc.compositeBuffer(Integer.MAX_VALUE);
                c.addComponent(true, body);
                body = c;
            }
            c.addComponent(true, b.body());
        }
        return received == bodySize;
    }

    boolean complete() {
        return properties != null && received == bodySize;
    }

    /**
     * Parses the expiration property of the current publish (after its header); throws
     * {@link Expiration.Invalid} when RabbitMQ would refuse it with 406.
     */
    void checkExpiration() {
        ttl = Expiration.read(properties);
    }

    /** The raw properties of the current publish (still owned here), null before its header. */
    ByteBuf properties() {
        return properties;
    }

    /** Replaces the current publish's raw properties (ownership of {@code p} passes here). */
    void replaceProperties(ByteBuf p) {
        properties.release();
        properties = p;
    }

    /**
     * The complete message, which now owns properties and body; resets for the next publish.
     * Everything that can fail (decoding the delivery mode) runs while the buffers are still
     * held here, so that a failure leaves them to {@link #reset}: taking the properties first
     * and decoding afterwards leaked them whenever the decoding threw.
     */
    Message takeMessage() {
        Integer deliveryMode = properties.readableBytes() >= 2
                ? decode(properties, BasicProperties::readDeliveryMode) : null;
        int priority = decode(properties, MessagePriority::read);
        String[] ccRoutes = null;
        ByteBuf props = properties;
        // Sender-selected distribution: the headers are decoded only when they hold CC or BCC.
        if (MessageHeaders.hasCcOrBcc(properties)) {
            Map<String, Object> headers = decode(properties, BasicProperties::readHeaders);
            ccRoutes = MessageHeaders.ccRoutes(headers);
            if (headers != null && headers.containsKey(MessageHeaders.BCC)) {
                props = Unpooled.buffer();
                MessageHeaders.withoutBcc(decode(properties, BasicProperties::read)).write(props);
            }
        }
        Message msg = new Message(method.exchange(), method.routingKey(), props,
                body == null ? Unpooled.EMPTY_BUFFER : body, deliveryMode != null && deliveryMode == 2,
                MessageHeaders.READER, ccRoutes);
        msg.ttl(ttl);
        msg.priority(priority);
        if (props != properties) {
            properties.release();
        }
        properties = null;
        body = null;
        reset();
        return msg;
    }


    /**
     * Reads from raw properties without moving their indexes. The frame decoder has checked them
     * (BasicProperties.validate), so this cannot fail unless that check and a reader disagree;
     * should it, the failure is still a malformed frame (501 for the client, no stack trace),
     * not an internal error.
     */
    static <T> T decode(ByteBuf properties, Function<ByteBuf, T> reader) {
        try {
            return reader.apply(properties.duplicate());
        } catch (IndexOutOfBoundsException | IllegalArgumentException e) {
            BasicProperties.validate(properties.duplicate()); // throws with a text naming the property
            throw new MalformedFrameException("property list cannot be decoded: " + e);
        }
    }

    void reset() {
        method = null;
        ttl = -1;
        bodySize = -1;
        received = 0;
        if (properties != null) {
            properties.release();
            properties = null;
        }
        if (body != null) {
            body.release();
            body = null;
        }
    }
}
