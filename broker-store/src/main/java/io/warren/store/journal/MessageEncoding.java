package io.warren.store.journal;

import io.netty.buffer.ByteBuf;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * One message inside a batch record (all integers big-endian):
 * <pre>
 * message := int length (of what follows) | int queueCount n | long queueId * n
 *            | short exchangeLen | exchange UTF-8 | short routingKeyLen | routingKey UTF-8
 *            | int propertiesLen | properties | int bodyLen | body
 *            | long publishedAt (epoch ms) | long ttl (the message's own, ms; -1: none)
 * </pre>
 * The last two fields are in records with {@link BatchRecord#MAGIC} only; records with
 * {@link BatchRecord#MAGIC_V1} (journals written before warren kept them) end at the body.
 * The message occupies {@code n} consecutive slots of its batch, slot {@code i} for queue {@code i}.
 * Encoding happens on the publisher's thread, outside the append lock, so the lock only
 * hands out slot numbers.
 */
final class MessageEncoding {
    private MessageEncoding() {}

    /** The fields after the body: publishedAt and ttl. */
    static final int TRAILER = 16;

    static byte[] encode(String exchange, String routingKey, ByteBuf properties, ByteBuf body, long[] queueIds,
                         long publishedAt, long ttl) {
        byte[] ex = exchange.getBytes(StandardCharsets.UTF_8);
        byte[] rk = routingKey.getBytes(StandardCharsets.UTF_8);
        if (ex.length > 0xFFFF || rk.length > 0xFFFF) {
            // AMQP shortstr is at most 255 bytes; this guards the unsigned short length field.
            throw new IllegalArgumentException("exchange or routing key longer than 65535 bytes");
        }
        int propsLen = properties == null ? 0 : properties.readableBytes();
        int bodyLen = body == null ? 0 : body.readableBytes();
        long rest = 4L + 8L * queueIds.length + 2 + ex.length + 2 + rk.length + 4 + propsLen + 4 + bodyLen + TRAILER;
        if (rest + 4 > Integer.MAX_VALUE - 64) {
            throw new IllegalArgumentException("message too large to store: " + (rest + 4) + " bytes");
        }
        byte[] out = new byte[(int) rest + 4];
        ByteBuffer b = ByteBuffer.wrap(out);
        b.putInt((int) rest).putInt(queueIds.length);
        for (long q : queueIds) {
            b.putLong(q);
        }
        b.putShort((short) ex.length).put(ex).putShort((short) rk.length).put(rk);
        b.putInt(propsLen);
        if (propsLen > 0) {
            // getBytes(index, ...) leaves the caller's reader index alone: the buffers are only borrowed.
            properties.getBytes(properties.readerIndex(), out, b.position(), propsLen);
            b.position(b.position() + propsLen);
        }
        b.putInt(bodyLen);
        if (bodyLen > 0) {
            body.getBytes(body.readerIndex(), out, b.position(), bodyLen);
            b.position(b.position() + bodyLen);
        }
        b.putLong(publishedAt).putLong(ttl);
        return out;
    }
}
