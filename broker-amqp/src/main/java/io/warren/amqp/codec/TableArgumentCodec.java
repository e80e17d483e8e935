package io.warren.amqp.codec;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.warren.core.store.ArgumentCodec;

import java.util.Map;

/**
 * Stores x-arguments as AMQP field tables: every field type survives a restart exactly, and a
 * decoded table re-encodes to the same bytes (so stored bindings match on removal).
 */
public final class TableArgumentCodec implements ArgumentCodec {
    @Override public byte[] encode(Map<String, Object> arguments) {
        ByteBuf b = Unpooled.buffer();
        try {
            Wire.writeTable(b, arguments);
            return ByteBufUtil.getBytes(b);
        } finally {
            b.release();
        }
    }

    @Override public Map<String, Object> decode(byte[] bytes) {
        return Wire.readTable(Unpooled.wrappedBuffer(bytes));
    }
}
