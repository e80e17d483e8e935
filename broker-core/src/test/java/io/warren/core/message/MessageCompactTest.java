package io.warren.core.message;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.PooledByteBufAllocator;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Copy-on-park: a parked message stops pinning the read buffer its content was sliced from. */
class MessageCompactTest {
    /** A 64 KiB "read buffer" holding a few frames; the message is a slice of it, as received. */
    private static ByteBuf readBuffer() {
        ByteBuf read = PooledByteBufAllocator.DEFAULT.directBuffer(64 * 1024);
        read.writeBytes(new byte[100]);
        read.writeBytes(new byte[] {(byte) 0x10, 0x00, 2}); // property flags + delivery-mode
        read.writeBytes("hello, parked world".getBytes(StandardCharsets.UTF_8));
        read.writeZero(64 * 1024 - read.writerIndex());
        return read;
    }

    private static Message sliceOf(ByteBuf read, int bodyLength) {
        ByteBuf props = read.retainedSlice(100, 3);
        ByteBuf body = read.retainedSlice(103, bodyLength);
        return new Message("x", "k", props, body, false, b -> Map.of());
    }

    @Test
    void aSoleHolderCopiesContentAndReleasesTheReadBuffer() {
        ByteBuf read = readBuffer();
        Message m = sliceOf(read, 19);
        read.release(); // the decoder is done with it: only the message's two slices keep it alive
        assertEquals(2, read.refCnt());

        assertTrue(m.compact());
        assertEquals(0, read.refCnt(), "the read buffer is freed once the parked copy exists");
        assertEquals("hello, parked world", m.body().toString(StandardCharsets.UTF_8));
        assertEquals("100002", ByteBufUtil.hexDump(m.properties()));
        assertEquals(22, m.memoryBytes());
        assertFalse(m.compact(), "compacting twice copies nothing");
        assertTrue(m.release());
    }

    @Test
    void aSharedMessageKeepsItsSlices() {
        ByteBuf read = readBuffer();
        Message m = sliceOf(read, 19);
        read.release();
        m.retain(); // a second queue holds it: another loop may be reading the body
        assertFalse(m.compact());
        assertEquals(2, read.refCnt());
        m.release();
        assertTrue(m.release());
        assertEquals(0, read.refCnt());
    }

    @Test
    void largeBodiesAreNotCopied() {
        ByteBuf big = PooledByteBufAllocator.DEFAULT.directBuffer(Message.COMPACT_MAX + 1).writeZero(Message.COMPACT_MAX + 1);
        ByteBuf props = PooledByteBufAllocator.DEFAULT.directBuffer(2).writeShort(0);
        Message m = new Message("", "q", props, big, false, b -> null);
        assertFalse(m.compact());
        assertTrue(m.release());
        assertEquals(0, big.refCnt());
    }

    @Test
    void aRecoveredMessageWithItsContentOnDiskHasNothingToCopy() {
        Message m = Message.recovered("", "q", 10);
        assertFalse(m.compact());
        assertEquals(0, m.memoryBytes());
        assertTrue(m.release());
    }
}
