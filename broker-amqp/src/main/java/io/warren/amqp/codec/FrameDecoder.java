package io.warren.amqp.codec;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.warren.amqp.protocol.AmqpConstants;
import io.warren.amqp.protocol.AmqpMethod;
import io.warren.amqp.protocol.BasicProperties;
import io.warren.amqp.protocol.BasicPublish;
import io.warren.amqp.protocol.MethodDecoder;
import io.warren.amqp.protocol.ReplyCode;

import java.util.List;

/**
 * Turns bytes into {@link Frame}s. Reads the 8-byte protocol header first; a wrong one gets
 * the supported header back and the socket closed (0-9-1 §4.2.2). In client mode
 * ({@link #FrameDecoder(boolean)}) there is no header to read: a server sends frames only. Every frame header is
 * validated before its payload is buffered: the size, read unsigned, must fit the negotiated
 * frame_max (4096 before tune, §4.2.3; see {@link #readFrame} for RabbitMQ's 8-byte leeway),
 * else 501 FRAME_ERROR without reading further.
 * After a protocol error the offending frame (or, when too large, its header) is skipped and
 * decoding goes on, so that the client's connection.close-ok is seen, as RabbitMQ's reader does;
 * a second error while closing drops the socket.
 */
public final class FrameDecoder extends ByteToMessageDecoder {
    /** "AMQP" 0 0 9 1. */
    public static final byte[] PROTOCOL_HEADER = {'A', 'M', 'Q', 'P', 0, 0, 9, 1};
    private static final int FRAME_HEADER = 7;

    private boolean headerSeen;
    private boolean failed;
    /** A protocol error was reported: the connection is closing. */
    private boolean closing;
    private long frameMax = AmqpConstants.FRAME_MIN_SIZE;

    /** A server's decoder: the client's protocol header comes first. */
    public FrameDecoder() {
        this(false);
    }

    /**
     * {@code client}: decodes what a server sends to a client (a cluster link), which starts with
     * connection.start, no protocol header, so frames are read from the first byte and no
     * {@link ProtocolHeaderReceived} is fired.
     */
    public FrameDecoder(boolean client) {
        headerSeen = client;
    }

    /** Sets the negotiated frame_max (whole frame, header and end octet included). */
    public void frameMax(long frameMax) {
        this.frameMax = frameMax;
    }

    @Override protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        if (failed) {
            in.skipBytes(in.readableBytes());
            return;
        }
        if (!headerSeen) {
            if (!readProtocolHeader(ctx, in)) {
                return;
            }
        }
        try {
            while (in.readableBytes() >= FRAME_HEADER) {
                Frame f = readFrame(in);
                if (f == null) {
                    return;
                }
                out.add(f);
            }
        } catch (ConnectionException e) {
            if (closing) {
                failed = true;
                in.skipBytes(in.readableBytes());
                ctx.close();
                return;
            }
            closing = true;
            throw e;
        }
    }

    private boolean readProtocolHeader(ChannelHandlerContext ctx, ByteBuf in) {
        int n = Math.min(in.readableBytes(), PROTOCOL_HEADER.length);
        for (int i = 0; i < n; i++) {
            if (in.getByte(in.readerIndex() + i) != PROTOCOL_HEADER[i]) {
                rejectHeader(ctx, in);
                return false;
            }
        }
        if (n < PROTOCOL_HEADER.length) {
            return false;
        }
        in.skipBytes(PROTOCOL_HEADER.length);
        headerSeen = true;
        ctx.fireUserEventTriggered(ProtocolHeaderReceived.INSTANCE);
        return true;
    }

    private void rejectHeader(ChannelHandlerContext ctx, ByteBuf in) {
        failed = true;
        in.skipBytes(in.readableBytes());
        ctx.writeAndFlush(ctx.alloc().buffer(8).writeBytes(PROTOCOL_HEADER))
           .addListener(io.netty.channel.ChannelFutureListener.CLOSE);
    }

    private Frame readFrame(ByteBuf in) {
        int start = in.readerIndex();
        int type = in.getUnsignedByte(start);
        int channel = in.getUnsignedShort(start + 1);
        long size = in.getUnsignedInt(start + 3);
        // RabbitMQ (rabbit_reader, FRAME_SIZE_FUDGE) lets the payload alone be frame_max bytes,
        // 8 more than frame_max counts, because old clients send such frames; the text still
        // names frame_max - 8 as the limit, like RabbitMQ's.
        if (size > frameMax) {
            in.skipBytes(FRAME_HEADER);
            throw new ConnectionException(ReplyCode.FRAME_ERROR, "type " + type + ", all octets = <<>>: {frame_too_large,"
                    + size + "," + (frameMax - 8) + "}");
        }
        if (in.readableBytes() < FRAME_HEADER + size + 1) {
            return null;
        }
        int payload = start + FRAME_HEADER;
        int end = payload + (int) size;
        if (in.getUnsignedByte(end) != AmqpConstants.FRAME_END) {
            in.readerIndex(end + 1);
            throw new ConnectionException(ReplyCode.FRAME_ERROR, "type " + type + ", invalid frame end octet "
                    + in.getUnsignedByte(end));
        }
        in.readerIndex(end + 1);
        ByteBuf p = in.slice(payload, (int) size);
        return switch (type) {
            case AmqpConstants.FRAME_METHOD -> new Frame.Method(channel, readMethod(p));
            case AmqpConstants.FRAME_HEADER -> readHeader(channel, p);
            case AmqpConstants.FRAME_BODY -> new Frame.ContentBody(channel, p.retain());
            case AmqpConstants.FRAME_HEARTBEAT -> heartbeat(channel, p);
            default -> throw new ConnectionException(ReplyCode.FRAME_ERROR, "type " + type + ", all octets = <<>>: "
                    + "unknown frame type");
        };
    }

    /** RabbitMQ: a heartbeat with a payload is an unknown frame (501), one off channel 0 unexpected (505). */
    private static Frame heartbeat(int channel, ByteBuf p) {
        if (p.isReadable()) {
            throw new ConnectionException(ReplyCode.FRAME_ERROR, "type " + AmqpConstants.FRAME_HEARTBEAT
                    + ", heartbeat frame with a " + p.readableBytes() + "-byte payload: unknown_frame");
        }
        if (channel != 0) {
            throw new ConnectionException(ReplyCode.UNEXPECTED_FRAME, "type " + AmqpConstants.FRAME_HEARTBEAT
                    + ", heartbeat frame on channel " + channel + ": heartbeats belong on channel 0");
        }
        return new Frame.Heartbeat(channel);
    }

    private static AmqpMethod readMethod(ByteBuf p) {
        if (p.readableBytes() < 4) {
            throw new ConnectionException(ReplyCode.FRAME_ERROR, "method frame too short: " + p.readableBytes()
                    + " bytes");
        }
        int classId = p.readUnsignedShort();
        int methodId = p.readUnsignedShort();
        AmqpMethod m;
        try {
            m = MethodDecoder.decode(classId, methodId, p);
        } catch (IndexOutOfBoundsException | MalformedFrameException | IllegalArgumentException e) {
            String name = MethodDecoder.name(classId, methodId);
            throw new ConnectionException(ReplyCode.FRAME_ERROR, "cannot decode arguments of " + name + ": "
                    + e.getMessage(), classId, methodId);
        }
        if (m == null) {
            throw new ConnectionException(ReplyCode.COMMAND_INVALID, "unknown method: class " + classId
                    + ", method " + methodId, classId, methodId);
        }
        return m;
    }

    private static Frame readHeader(int channel, ByteBuf p) {
        try {
            return parseHeader(channel, p);
        } catch (ConnectionException e) {
            return new Frame.MalformedHeader(channel, e);
        }
    }

    private static Frame parseHeader(int channel, ByteBuf p) {
        if (p.readableBytes() < 14) {
            throw new ConnectionException(ReplyCode.FRAME_ERROR, "content header frame too short: "
                    + p.readableBytes() + " bytes");
        }
        int classId = p.readUnsignedShort();
        p.skipBytes(2); // weight, unused
        long bodySize = p.readLong();
        if (bodySize < 0) {
            throw new ConnectionException(ReplyCode.FRAME_ERROR, "negative body size " + bodySize);
        }
        if (classId == BasicPublish.CLASS_ID) {
            checkProperties(p);
        }
        return new Frame.ContentHeader(channel, classId, bodySize, p.retainedSlice());
    }

    /**
     * The properties stay raw bytes and are decoded lazily (user-id, delivery mode, headers for a
     * headers exchange), so they are checked here, once, without decoding: a property list the
     * lazy readers could not decode is refused as a malformed frame before anything holds it.
     * 501, as RabbitMQ answers method arguments it cannot decode (rabbit_misc:frame_error); for
     * properties RabbitMQ 3.10 has no answer of its own (its channel crashes on them: 541).
     * Class 60, method 40: basic.publish is the only method a client sends content with.
     */
    private static void checkProperties(ByteBuf p) {
        try {
            BasicProperties.validate(p.duplicate());
        } catch (MalformedFrameException e) {
            throw new ConnectionException(ReplyCode.FRAME_ERROR, "cannot decode content header properties: "
                    + e.getMessage(), BasicPublish.CLASS_ID, BasicPublish.METHOD_ID);
        }
    }

    /** Fired once the client's protocol header has been accepted. */
    public enum ProtocolHeaderReceived { INSTANCE }
}
