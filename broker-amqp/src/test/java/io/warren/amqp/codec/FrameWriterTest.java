package io.warren.amqp.codec;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.embedded.EmbeddedChannel;
import io.warren.amqp.protocol.AmqpMethod;
import io.warren.amqp.protocol.BasicDeliver;
import io.warren.amqp.protocol.BasicGetOk;
import io.warren.amqp.protocol.BasicPublish;
import io.warren.amqp.protocol.ChannelOpenOk;
import io.warren.amqp.protocol.ConnectionClose;
import io.warren.amqp.protocol.ConnectionTune;
import io.warren.amqp.protocol.ConnectionTuneOk;
import io.warren.amqp.protocol.QueueDeclare;
import io.warren.amqp.protocol.QueueDeclareOk;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static io.warren.amqp.codec.Bytes.concat;
import static io.warren.amqp.codec.Bytes.frame;
import static io.warren.amqp.codec.Bytes.hex;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/** {@link FrameWriter}: byte-exact frames against hand-built bytes; bodies split by frame_max. */
class FrameWriterTest {
    private static final ByteBufAllocator ALLOC = ByteBufAllocator.DEFAULT;
    /** basic.deliver(consumer tag "ctag", delivery tag 5, redelivered, exchange "ex", routing key "rk"). */
    private static final BasicDeliver DELIVER = new BasicDeliver("ctag", 5, true, "ex", "rk");
    private static final byte[] DELIVER_PAYLOAD = Bytes.of().shortInt(60).shortInt(60).shortStr("ctag").longLong(5)
            .octet(1).shortStr("ex").shortStr("rk").toArray();
    private static final byte[] PROPERTIES = FrameDecoderTest.PROPERTIES;

    // ---- method frames --------------------------------------------------------------------------

    @Test
    void connectionTune() {
        assertEncodes(hex("01 0000 0000000C 000A 001E 07FF 00020000 003C CE"), 0, new ConnectionTune(2047, 131072, 60));
    }

    @Test
    void connectionClose() {
        assertEncodes(frame(1, 0, Bytes.of().shortInt(10).shortInt(50).shortInt(501).shortStr("FRAME_ERROR - bad")
                .shortInt(60).shortInt(40).toArray()), 0, new ConnectionClose(501, "FRAME_ERROR - bad", 60, 40));
    }

    @Test
    void channelOpenOkWithItsEmptyLongString() {
        assertEncodes(hex("01 0001 00000008 0014 000B 00000000 CE"), 1, new ChannelOpenOk(new byte[0]));
    }

    @Test
    void queueDeclareOk() {
        assertEncodes(hex("01 0001 0000000E 0032 000B 01 71 00000003 00000001 CE"), 1, new QueueDeclareOk("q", 3, 1));
    }

    @Test
    void basicDeliverOnAHighChannel() {
        assertEncodes(frame(1, 0xFFFF, DELIVER_PAYLOAD), 0xFFFF, DELIVER);
    }

    @Test
    void basicGetOkWithAnUnsignedMessageCount() {
        assertEncodes(frame(1, 2, Bytes.of().shortInt(60).shortInt(71).longLong(7).octet(0).shortStr("")
                .shortStr("q").longInt(0xFFFFFFFEL).toArray()), 2, new BasicGetOk(7, false, "", "q", 0xFFFFFFFEL));
    }

    /** What the decoder reads from the hand-built bytes encodes back to the same bytes. */
    @Test
    void decodedMethodsEncodeToTheirOriginalBytes() {
        assertEncodes(FrameDecoderTest.TUNE_OK, 0, new ConnectionTuneOk(2047, 131072, 60));
        assertEncodes(FrameDecoderTest.QUEUE_DECLARE, 1, new QueueDeclare(0, "q1", false, true, false, false, false,
                Map.of("x-max-length", 10)));
        assertEncodes(FrameDecoderTest.PUBLISH, 1, new BasicPublish(0, "", "q1", true, false));
    }

    @Test
    void heartbeat() {
        ByteBuf b = FrameWriter.heartbeat(ALLOC);
        try {
            assertArrayEquals(hex("08 0000 00000000 CE"), Bytes.bytes(b));
        } finally {
            b.release();
        }
    }

    // ---- content --------------------------------------------------------------------------------

    @Test
    void smallContentIsOneBufferOfThreeFrames() {
        byte[] body = "hello".getBytes();
        assertContent(concat(frame(1, 3, DELIVER_PAYLOAD), header(3, 5), frame(3, 3, body)), 3, body, 131072);
    }

    @Test
    void emptyBodyHasNoBodyFrame() {
        assertContent(concat(frame(1, 3, DELIVER_PAYLOAD), header(3, 0)), 3, new byte[0], 131072);
    }

    /** frame_max 4096 leaves 4088 payload bytes per body frame (0-9-1 §4.2.3: 8 bytes of framing). */
    @Test
    void bodySplitIntoFrameMaxSizedFrames() {
        byte[] body = body(10_000);
        assertContent(concat(frame(1, 1, DELIVER_PAYLOAD), header(1, 10_000),
                frame(3, 1, Arrays.copyOfRange(body, 0, 4088)), frame(3, 1, Arrays.copyOfRange(body, 4088, 8176)),
                frame(3, 1, Arrays.copyOfRange(body, 8176, 10_000))), 1, body, 4096);
    }

    @Test
    void bodyOneByteOverOneFrame() {
        byte[] body = body(4089);
        assertContent(concat(frame(1, 1, DELIVER_PAYLOAD), header(1, 4089),
                frame(3, 1, Arrays.copyOf(body, 4088)), frame(3, 1, new byte[] {body[4088]})), 1, body, 4096);
    }

    @Test
    void bodyExactlyOneFrame() {
        byte[] body = body(4088);
        assertContent(concat(frame(1, 1, DELIVER_PAYLOAD), header(1, 4088), frame(3, 1, body)), 1, body, 4096);
    }

    @Test
    void largeBodyWithTheDefaultFrameMax() {
        byte[] body = body(200_000);
        assertContent(concat(frame(1, 1, DELIVER_PAYLOAD), header(1, 200_000),
                frame(3, 1, Arrays.copyOf(body, 131064)), frame(3, 1, Arrays.copyOfRange(body, 131064, 200_000))),
                1, body, 131072);
    }

    /** What FrameWriter writes, FrameDecoder reads back: the method, the raw properties, the body. */
    @Test
    void contentRoundTripsThroughTheDecoder() {
        byte[] body = body(10_000);
        ByteBuf props = ALLOC.buffer().writeBytes(PROPERTIES);
        ByteBuf b = ALLOC.buffer().writeBytes(body);
        FrameDecoder decoder = new FrameDecoder();
        EmbeddedChannel ch = new EmbeddedChannel(decoder);
        ch.writeInbound(ALLOC.buffer().writeBytes(FrameDecoder.PROTOCOL_HEADER));
        ByteBuf out = FrameWriter.content(ALLOC, 1, DELIVER, 60, props, b, 4096);
        props.release();
        b.release();
        ch.writeInbound(out);
        List<Frame> frames = new ArrayList<>();
        Object o;
        while ((o = ch.readInbound()) != null) {
            frames.add((Frame) o);
        }
        try {
            assertEquals(5, frames.size());
            assertEquals(DELIVER, assertInstanceOf(Frame.Method.class, frames.get(0)).method());
            Frame.ContentHeader h = assertInstanceOf(Frame.ContentHeader.class, frames.get(1));
            assertEquals(10_000, h.bodySize());
            assertArrayEquals(PROPERTIES, Bytes.bytes(h.properties()));
            ByteBuf all = ALLOC.buffer();
            for (Frame f : frames.subList(2, 5)) {
                all.writeBytes(((Frame.ContentBody) f).body());
            }
            assertArrayEquals(body, Bytes.bytes(all));
            all.release();
        } finally {
            for (Frame f : frames) {
                if (f instanceof Frame.ReleasableFrame r) {
                    r.content().release();
                }
            }
            ch.finishAndReleaseAll();
        }
    }

    // ---- helpers --------------------------------------------------------------------------------

    private static void assertEncodes(byte[] expected, int channel, AmqpMethod m) {
        ByteBuf b = FrameWriter.method(ALLOC, channel, m);
        try {
            assertEquals(ByteBufUtil.hexDump(expected), ByteBufUtil.hexDump(b), m.toString());
        } finally {
            b.release();
        }
    }

    /** The content header frame for {@link #PROPERTIES} and {@code bodySize}. */
    private static byte[] header(int channel, long bodySize) {
        return frame(2, channel, Bytes.of().shortInt(60).shortInt(0).longLong(bodySize).raw(PROPERTIES).toArray());
    }

    private static byte[] body(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 31 + 7);
        }
        return b;
    }

    /**
     * Encodes deliver + properties + body and compares with {@code expected}. The writer must
     * leave the caller's buffers as they were: it retains what it keeps and copies nothing else.
     */
    private static void assertContent(byte[] expected, int channel, byte[] body, long frameMax) {
        ByteBuf props = ALLOC.buffer().writeBytes(PROPERTIES);
        ByteBuf b = ALLOC.buffer(body.length).writeBytes(body);
        ByteBuf out = FrameWriter.content(ALLOC, channel, DELIVER, 60, props, b, frameMax);
        try {
            assertEquals(expected.length, out.readableBytes());
            assertArrayEquals(expected, Bytes.bytes(out));
            assertEquals(0, props.readerIndex());
            assertEquals(0, b.readerIndex());
        } finally {
            out.release();
            assertEquals(1, b.refCnt(), "the body's reference count after the frames were released");
            assertEquals(1, props.refCnt());
            props.release();
            b.release();
        }
    }
}
