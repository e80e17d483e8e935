package io.warren.amqp.codec;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import io.warren.amqp.protocol.AmqpConstants;
import io.warren.amqp.protocol.AmqpMethod;

/** Encodes outgoing frames. */
public final class FrameWriter {
    /**
     * Bodies up to this size are copied into the frame buffer: one small copy is cheaper than
     * a composite of three buffers. Larger bodies go out as retained slices, never copied.
     */
    static final int COPY_BODY_BELOW = 4096;

    private FrameWriter() {}

    /** Appends a method frame to {@code out}. */
    public static void writeMethod(ByteBuf out, int channel, AmqpMethod m) {
        out.writeByte(AmqpConstants.FRAME_METHOD);
        out.writeShort(channel);
        int sizeIndex = out.writerIndex();
        out.writeInt(0);
        out.writeShort(m.classId());
        out.writeShort(m.methodId());
        m.writeArguments(out);
        out.setInt(sizeIndex, out.writerIndex() - sizeIndex - 4);
        out.writeByte(AmqpConstants.FRAME_END);
    }

    public static ByteBuf method(ByteBufAllocator alloc, int channel, AmqpMethod m) {
        ByteBuf out = alloc.ioBuffer(64);
        writeMethod(out, channel, m);
        return out;
    }

    /**
     * A method with content: the method frame, the header frame with the original raw
     * properties, and body frames of at most {@code frameMax - 8} payload bytes each.
     */
    public static ByteBuf content(ByteBufAllocator alloc, int channel, AmqpMethod m, int classId,
                                  ByteBuf properties, ByteBuf body, long frameMax) {
        int bodySize = body.readableBytes();
        int propsSize = properties.readableBytes();
        ByteBuf head = alloc.ioBuffer(64 + propsSize + 22 + (bodySize < COPY_BODY_BELOW ? bodySize + 8 : 0));
        writeMethod(head, channel, m);
        head.writeByte(AmqpConstants.FRAME_HEADER);
        head.writeShort(channel);
        head.writeInt(12 + propsSize);
        head.writeShort(classId);
        head.writeShort(0);
        head.writeLong(bodySize);
        head.writeBytes(properties, properties.readerIndex(), propsSize);
        head.writeByte(AmqpConstants.FRAME_END);
        if (bodySize == 0) {
            return head;
        }
        int maxPayload = (int) Math.min(Integer.MAX_VALUE, frameMax - 8);
        if (bodySize < COPY_BODY_BELOW && bodySize <= maxPayload) {
            writeBodyFrameHeader(head, channel, bodySize);
            head.writeBytes(body, body.readerIndex(), bodySize);
            head.writeByte(AmqpConstants.FRAME_END);
            return head;
        }
        int frames = (bodySize + maxPayload - 1) / maxPayload;
        CompositeByteBuf out = alloc.compositeDirectBuffer(2 + frames * 2);
        out.addComponent(true, head);
        int offset = 0;
        ByteBuf frameHead = null;
        while (offset < bodySize) {
            int n = Math.min(maxPayload, bodySize - offset);
            ByteBuf h = alloc.ioBuffer(frameHead == null ? 7 : 8);
            if (frameHead != null) {
                h.writeByte(AmqpConstants.FRAME_END);
            }
            writeBodyFrameHeader(h, channel, n);
            out.addComponent(true, h);
            out.addComponent(true, body.retainedSlice(body.readerIndex() + offset, n));
            frameHead = h;
            offset += n;
        }
        out.addComponent(true, alloc.ioBuffer(1).writeByte(AmqpConstants.FRAME_END));
        return out;
    }

    private static void writeBodyFrameHeader(ByteBuf out, int channel, int size) {
        out.writeByte(AmqpConstants.FRAME_BODY);
        out.writeShort(channel);
        out.writeInt(size);
    }

    public static ByteBuf heartbeat(ByteBufAllocator alloc) {
        ByteBuf out = alloc.ioBuffer(8);
        out.writeByte(AmqpConstants.FRAME_HEARTBEAT);
        out.writeShort(0);
        out.writeInt(0);
        out.writeByte(AmqpConstants.FRAME_END);
        return out;
    }
}
