package io.warren.amqp.channel;

import io.netty.buffer.ByteBuf;

/**
 * Reads only the {@code priority} property from raw content-header properties, skipping the
 * three properties before it (content-type, content-encoding, headers: each length-prefixed, so
 * nothing is decoded). Priority queues order by it; recovery reads it from the journal the same
 * way. Hand-written beside the generated {@code BasicProperties} readers.
 */
public final class MessagePriority {
    private MessagePriority() {}

    private static final int CONTENT_TYPE = 1 << 15;
    private static final int CONTENT_ENCODING = 1 << 14;
    private static final int HEADERS = 1 << 13;
    private static final int DELIVERY_MODE = 1 << 12;
    private static final int PRIORITY = 1 << 11;

    /** The priority (0..255), or 0 when absent. Leaves {@code properties}' indexes alone. */
    public static int read(ByteBuf properties) {
        if (properties.readableBytes() < 2) {
            return 0;
        }
        int i = properties.readerIndex();
        int flags = properties.getUnsignedShort(i);
        if ((flags & PRIORITY) == 0) {
            return 0;
        }
        i += 2;
        if ((flags & CONTENT_TYPE) != 0) {
            i += 1 + properties.getUnsignedByte(i);
        }
        if ((flags & CONTENT_ENCODING) != 0) {
            i += 1 + properties.getUnsignedByte(i);
        }
        if ((flags & HEADERS) != 0) {
            i += 4 + (int) properties.getUnsignedInt(i);
        }
        if ((flags & DELIVERY_MODE) != 0) {
            i += 1;
        }
        return properties.getUnsignedByte(i);
    }
}
