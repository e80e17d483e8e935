package io.warren.amqp.codec;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import io.warren.amqp.protocol.ConnectionCloseOk;
import io.warren.amqp.protocol.ReplyCode;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.warren.amqp.codec.Bytes.concat;
import static io.warren.amqp.codec.Bytes.frame;
import static io.warren.amqp.codec.Bytes.hex;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link FrameDecoder} on hand-built bytes: the same stream fed whole, byte by byte and split
 * at every offset decodes to the same frames; every malformed input is refused with the reply
 * code RabbitMQ uses. Runs with paranoid leak detection and the leak gate, so every retained
 * content slice must be released.
 */
class FrameDecoderTest {
    static final byte[] HEADER = FrameDecoder.PROTOCOL_HEADER;

    /** connection.tune-ok(channel_max 2047, frame_max 131072, heartbeat 60) on channel 0. */
    static final byte[] TUNE_OK = hex("01 0000 0000000C 000A 001F 07FF 00020000 003C CE");

    /** queue.declare(queue "q1", durable, arguments {x-max-length: I 10}) on channel 1. */
    static final byte[] QUEUE_DECLARE = frame(1, 1, Bytes.of().shortInt(50).shortInt(10).shortInt(0).shortStr("q1")
            .octet(0b00010).longInt(18).shortStr("x-max-length").octet('I').longInt(10).toArray());

    /** basic.publish(exchange "", routing key "q1", mandatory) on channel 1. */
    static final byte[] PUBLISH = frame(1, 1, Bytes.of().shortInt(60).shortInt(40).shortInt(0).shortStr("")
            .shortStr("q1").octet(1).toArray());

    /** Its content header: class 60, body size 5, content-type "text/plain", delivery-mode 2. */
    static final byte[] PROPERTIES = Bytes.of().shortInt(0x9000).shortStr("text/plain").octet(2).toArray();
    static final byte[] CONTENT_HEADER = frame(2, 1, Bytes.of().shortInt(60).shortInt(0).longLong(5)
            .raw(PROPERTIES).toArray());

    static final byte[] BODY = frame(3, 1, "hello".getBytes());
    static final byte[] HEARTBEAT = hex("08 0000 00000000 CE");

    static final byte[] STREAM = concat(HEADER, TUNE_OK, QUEUE_DECLARE, PUBLISH, CONTENT_HEADER, BODY, HEARTBEAT);

    static final List<String> EXPECTED = List.of(
            "method 0 ConnectionTuneOk[channelMax=2047, frameMax=131072, heartbeat=60]",
            "method 1 QueueDeclare[ticket=0, queue=q1, passive=false, durable=true, exclusive=false, autoDelete=false,"
                    + " nowait=false, arguments={x-max-length=10}]",
            "method 1 BasicPublish[ticket=0, exchange=, routingKey=q1, mandatory=true, immediate=false]",
            "header 1 class 60 size 5 properties " + ByteBufUtil.hexDump(PROPERTIES),
            "body 1 " + ByteBufUtil.hexDump("hello".getBytes()),
            "heartbeat 0");

    // ---- whole, byte by byte, split everywhere -------------------------------------------------

    @Test
    void wholeStream() {
        assertEquals(EXPECTED, decode(STREAM));
    }

    @Test
    void byteByByte() {
        byte[][] chunks = new byte[STREAM.length][];
        for (int i = 0; i < STREAM.length; i++) {
            chunks[i] = new byte[] {STREAM[i]};
        }
        assertEquals(EXPECTED, decode(chunks));
    }

    @Test
    void splitAtEveryOffset() {
        for (int i = 1; i < STREAM.length; i++) {
            List<String> got = decode(Arrays.copyOfRange(STREAM, 0, i), Arrays.copyOfRange(STREAM, i, STREAM.length));
            assertEquals(EXPECTED, got, "split at offset " + i);
        }
    }

    @Test
    void splitIntoThreeAtEveryPairOfOffsets() {
        for (int i = 1; i < STREAM.length; i += 3) {
            for (int j = i + 1; j < STREAM.length; j += 5) {
                List<String> got = decode(Arrays.copyOfRange(STREAM, 0, i), Arrays.copyOfRange(STREAM, i, j),
                        Arrays.copyOfRange(STREAM, j, STREAM.length));
                assertEquals(EXPECTED, got, "split at offsets " + i + " and " + j);
            }
        }
    }

    // ---- protocol header ------------------------------------------------------------------------

    /** 0-9-1 §4.2.2: the server answers a header it does not accept with its own and closes. */
    @Test
    void wrongProtocolHeaderGetsOursBackAndTheChannelCloses() {
        for (byte[] wrong : List.of(new byte[] {'A', 'M', 'Q', 'P', 0, 1, 0, 0}, "GET / HTTP/1.1\r\n\r\n".getBytes(),
                new byte[] {'A', 'M', 'Q', 'P', 1, 1, 8, 0})) {
            EmbeddedChannel ch = new EmbeddedChannel(new FrameDecoder());
            ch.writeInbound(buf(wrong));
            ByteBuf answer = ch.readOutbound();
            try {
                assertArrayEquals(HEADER, Bytes.bytes(answer), "answer to " + Arrays.toString(wrong));
            } finally {
                answer.release();
            }
            assertFalse(ch.isOpen(), "channel still open after " + Arrays.toString(wrong));
            assertNull(ch.readInbound());
            ch.finishAndReleaseAll();
        }
    }

    @Test
    void aWrongByteIsNoticedBeforeTheWholeHeaderArrives() {
        EmbeddedChannel ch = new EmbeddedChannel(new FrameDecoder());
        ch.writeInbound(buf(new byte[] {'A', 'M'}));
        assertTrue(ch.isOpen());
        ch.writeInbound(buf(new byte[] {'X'}));
        ByteBuf answer = ch.readOutbound();
        assertArrayEquals(HEADER, Bytes.bytes(answer));
        answer.release();
        assertFalse(ch.isOpen());
        ch.finishAndReleaseAll();
    }

    // ---- frame size -----------------------------------------------------------------------------

    /**
     * 0-9-1 §4.2.3: before tune, frames are limited to frame-min-size (4096). The header alone
     * decides: the decoder refuses after 7 bytes without waiting for (or buffering) a payload.
     * RabbitMQ's leeway: the payload alone may be as large as frame_max.
     */
    @Test
    void frameOverFrameMaxIsRefusedFromItsHeaderAlone() {
        EmbeddedChannel ch = open();
        ConnectionException e = decodeError(ch, hex("03 0001 00001001")); // 4097-byte body frame, header only
        assertEquals(ReplyCode.FRAME_ERROR, e.code());
        assertEquals("type 3, all octets = <<>>: {frame_too_large,4097,4088}", e.getMessage());
        ch.finishAndReleaseAll();
    }

    @Test
    void frameSizeIsUnsigned() {
        EmbeddedChannel ch = open();
        ConnectionException e = decodeError(ch, hex("01 0001 FFFFFFF0"));
        assertEquals(ReplyCode.FRAME_ERROR, e.code());
        assertTrue(e.getMessage().contains("frame_too_large,4294967280,"), e.getMessage());
        ch.finishAndReleaseAll();
    }

    @Test
    void negotiatedFrameMaxAppliesAndAPayloadOfExactlyFrameMaxPasses() {
        FrameDecoder decoder = new FrameDecoder();
        EmbeddedChannel ch = new EmbeddedChannel(decoder);
        ch.writeInbound(buf(HEADER));
        decoder.frameMax(131072);
        byte[] body = new byte[131072];
        Arrays.fill(body, (byte) 7);
        byte[] f = frame(3, 1, body);
        for (int i = 0; i < f.length; i += 10000) {
            ch.writeInbound(buf(Arrays.copyOfRange(f, i, Math.min(f.length, i + 10000))));
        }
        Frame.ContentBody b = ch.readInbound();
        try {
            assertEquals(131072, b.body().readableBytes());
            assertArrayEquals(body, Bytes.bytes(b.body()));
        } finally {
            b.body().release();
        }
        ConnectionException e = decodeError(ch, hex("03 0001 00020001"));
        assertEquals("type 3, all octets = <<>>: {frame_too_large,131073,131064}", e.getMessage());
        ch.finishAndReleaseAll();
    }

    /**
     * Frames of every size (up to frame_max) in one stream, cut into reads at random places,
     * decode to the same frames as the stream fed whole.
     */
    @Test
    void framesOfAllSizesCutAtRandomDecodeAlike() {
        java.util.Random rnd = new java.util.Random(42);
        List<byte[]> parts = new ArrayList<>();
        List<String> expected = new ArrayList<>();
        for (int i = 0; i < 120; i++) {
            int size = switch (rnd.nextInt(4)) {
                case 0 -> rnd.nextInt(100);
                case 1 -> rnd.nextInt(8 * 1024 + 100);
                case 2 -> 4096 - 8 + rnd.nextInt(3);
                default -> rnd.nextInt(131072 - 8);
            };
            byte[] payload = new byte[size];
            rnd.nextBytes(payload);
            if (rnd.nextBoolean()) {
                parts.add(PUBLISH);
                expected.add(EXPECTED.get(2));
            } else {
                parts.add(frame(3, 1, payload));
                java.util.zip.CRC32 crc = new java.util.zip.CRC32();
                crc.update(payload);
                expected.add("body 1 " + size + " crc " + crc.getValue());
            }
        }
        byte[] stream = concat(parts.toArray(new byte[0][]));
        List<String> whole = decodeWithFrameMax(List.of(stream));
        assertEquals(expected, whole);
        for (int round = 0; round < 3; round++) {
            List<byte[]> reads = new ArrayList<>();
            int from = 0;
            while (from < stream.length) {
                int n = 1 + rnd.nextInt(rnd.nextBoolean() ? 20 : 70_000);
                int to = Math.min(stream.length, from + n);
                reads.add(Arrays.copyOfRange(stream, from, to));
                from = to;
            }
            assertEquals(whole, decodeWithFrameMax(reads), "round " + round);
        }
    }

    private static List<String> decodeWithFrameMax(List<byte[]> reads) {
        FrameDecoder decoder = new FrameDecoder();
        EmbeddedChannel ch = new EmbeddedChannel(decoder);
        ch.writeInbound(buf(HEADER));
        decoder.frameMax(131072);
        List<String> got = new ArrayList<>();
        for (byte[] r : reads) {
            ch.writeInbound(buf(r));
            Object o;
            while ((o = ch.readInbound()) != null) {
                if (o instanceof Frame.ContentBody b) {
                    // a checksum: hex dumps of 100 KB bodies under paranoid leak tracking take minutes
                    java.util.zip.CRC32 crc = new java.util.zip.CRC32();
                    crc.update(ByteBufUtil.getBytes(b.body()));
                    got.add("body " + b.channel() + " " + b.body().readableBytes() + " crc " + crc.getValue());
                    b.body().release();
                } else {
                    got.add(describe((Frame) o));
                }
            }
        }
        assertFalse(ch.finish(), "left-over messages");
        return got;
    }

    // ---- malformed frames -----------------------------------------------------------------------

    @Test
    void badFrameEnd() {
        byte[] f = TUNE_OK.clone();
        f[f.length - 1] = 0;
        ConnectionException e = decodeError(open(), f);
        assertEquals(ReplyCode.FRAME_ERROR, e.code());
    }

    @Test
    void unknownFrameType() {
        ConnectionException e = decodeError(open(), frame(7, 1, new byte[] {1, 2, 3}));
        assertEquals(ReplyCode.FRAME_ERROR, e.code());
    }

    @Test
    void unknownClass() {
        ConnectionException e = decodeError(open(), frame(1, 1, hex("0063 000A")));
        assertEquals(ReplyCode.COMMAND_INVALID, e.code());
        assertEquals(99, e.classId());
        assertEquals(10, e.methodId());
    }

    @Test
    void unknownMethodOfAKnownClass() {
        ConnectionException e = decodeError(open(), frame(1, 1, hex("003C 0063")));
        assertEquals(ReplyCode.COMMAND_INVALID, e.code());
        assertEquals(60, e.classId());
        assertEquals(99, e.methodId());
    }

    @Test
    void methodPayloadTooShortForItsIds() {
        ConnectionException e = decodeError(open(), frame(1, 1, hex("003C")));
        assertEquals(ReplyCode.FRAME_ERROR, e.code());
    }

    @Test
    void truncatedMethodArguments() {
        byte[] payload = Arrays.copyOfRange(QUEUE_DECLARE, 7, QUEUE_DECLARE.length - 1);
        for (int n = 4; n < payload.length; n++) {
            ConnectionException e = decodeError(open(), frame(1, 1, Arrays.copyOf(payload, n)));
            assertEquals(ReplyCode.FRAME_ERROR, e.code(), "queue.declare cut to " + n + " bytes");
            assertEquals(50, e.classId());
            assertEquals(10, e.methodId());
        }
    }

    @Test
    void fieldTableLongerThanTheFrame() {
        byte[] payload = Bytes.of().shortInt(50).shortInt(10).shortInt(0).shortStr("q").octet(0).longInt(1000).toArray();
        ConnectionException e = decodeError(open(), frame(1, 1, payload));
        assertEquals(ReplyCode.FRAME_ERROR, e.code());
    }

    /** A table nested 5,000 deep used to overflow the stack (541 and a trace); now 501 like any undecodable argument. */
    @Test
    void methodArgumentsNestedTooDeepAreAFrameError() {
        for (int depth : new int[] {Wire.MAX_TABLE_DEPTH + 1, 5_000}) {
            ConnectionException e = decodeError(open(131072), frame(1, 1, queueDeclareWithArguments(
                    FieldTableTest.nested(depth, true))));
            assertEquals(ReplyCode.FRAME_ERROR, e.code());
            assertEquals("cannot decode arguments of queue.declare: field table nested deeper than 128 levels",
                    e.getMessage());
            assertEquals(50, e.classId());
            assertEquals(10, e.methodId());
        }
        EmbeddedChannel ch = open(131072);
        ch.writeInbound(buf(frame(1, 1, queueDeclareWithArguments(FieldTableTest.nested(Wire.MAX_TABLE_DEPTH, true)))));
        Frame.Method m = ch.readInbound();
        assertInstanceOf(io.warren.amqp.protocol.QueueDeclare.class, m.method());
        assertFalse(ch.finish());
    }

    private static byte[] queueDeclareWithArguments(byte[] table) {
        return Bytes.of().shortInt(50).shortInt(10).shortInt(0).shortStr("q").octet(0).raw(table).toArray();
    }

    /** All 14 basic properties (flags 0xFFFC), the headers table holding a nested table. */
    static final byte[] ALL_PROPERTIES = Bytes.of().shortInt(0xFFFC).shortStr("text/plain").shortStr("gzip")
            .raw(FieldTableTest.nested(3, true)).octet(2).octet(5).shortStr("corr").shortStr("reply")
            .shortStr("60000").shortStr("id").longLong(1_700_000_000L).shortStr("type").shortStr("guest")
            .shortStr("app").shortStr("cluster").toArray();

    private static byte[] contentHeader(byte[] properties) {
        return frame(2, 1, Bytes.of().shortInt(60).shortInt(0).longLong(5).raw(properties).toArray());
    }

    @Test
    void wellFormedPropertiesPass() {
        EmbeddedChannel ch = open();
        ch.writeInbound(buf(contentHeader(ALL_PROPERTIES)));
        assertEquals(List.of("header 1 class 60 size 5 properties " + ByteBufUtil.hexDump(ALL_PROPERTIES)), drain(ch));
        assertFalse(ch.finish());
    }

    /**
     * A property list cut short anywhere (the flags announce properties that are absent) is a
     * frame error, answered at once: nothing holds the frame, nothing leaks.
     */
    @Test
    void propertyListCutShortAnywhereIsAFrameError() {
        for (int n = 2; n < ALL_PROPERTIES.length; n++) {
            ConnectionException e = headerError(open(), contentHeader(Arrays.copyOf(ALL_PROPERTIES, n)));
            assertEquals(ReplyCode.FRAME_ERROR, e.code(), "properties cut to " + n + " bytes");
            assertTrue(e.getMessage().startsWith("cannot decode content header properties: "), e.getMessage());
            assertEquals(60, e.classId());
            assertEquals(40, e.methodId());
        }
    }

    @Test
    void malformedPropertyListsAreFrameErrors() {
        Map<String, byte[]> cases = new LinkedHashMap<>();
        cases.put("property list ends before 'delivery-mode', which the property flags announce",
                Bytes.of().shortInt(0x1000).toArray());
        cases.put("property 'content-type' claims 10 bytes, 3 are left",
                Bytes.of().shortInt(0x8000).octet(10).raw("abc".getBytes()).toArray());
        cases.put("property 'headers': field table claims 1000 bytes, 4 are left",
                Bytes.of().shortInt(0x2000).longInt(1000).longInt(0).toArray());
        cases.put("property 'headers': field table nested deeper than 128 levels",
                Bytes.of().shortInt(0x2000).raw(FieldTableTest.nested(Wire.MAX_TABLE_DEPTH + 1, false)).toArray());
        cases.put("property 'headers': unknown field value type 'Z' (90)",
                Bytes.of().shortInt(0x2000).longInt(3).shortStr("k").octet('Z').toArray());
        cases.put("property 'timestamp' needs 8 bytes, 4 are left",
                Bytes.of().shortInt(0x0040).longInt(7).toArray());
        cases.put("property flags continuation is not supported", Bytes.of().shortInt(0x8001).shortStr("x").toArray());
        for (Map.Entry<String, byte[]> c : cases.entrySet()) {
            ConnectionException e = headerError(open(131072), contentHeader(c.getValue()));
            assertEquals(ReplyCode.FRAME_ERROR, e.code(), c.getKey());
            assertEquals("cannot decode content header properties: " + c.getKey(), e.getMessage());
        }
    }

    @Test
    void contentHeaderTooShort() {
        ConnectionException e = headerError(open(), frame(2, 1, hex("003C 00")));
        assertEquals(ReplyCode.FRAME_ERROR, e.code());
    }

    @Test
    void heartbeatWithAPayload() {
        ConnectionException e = decodeError(open(), frame(8, 0, new byte[] {1}));
        assertEquals(ReplyCode.FRAME_ERROR, e.code());
    }

    @Test
    void heartbeatOnANonZeroChannel() {
        ConnectionException e = decodeError(open(), frame(8, 1, new byte[0]));
        assertEquals(ReplyCode.UNEXPECTED_FRAME, e.code());
    }

    /** Frames before the bad one are delivered; the error follows them. */
    @Test
    void framesBeforeAnErrorAreDelivered() {
        EmbeddedChannel ch = open();
        byte[] bad = TUNE_OK.clone();
        bad[bad.length - 1] = 0;
        assertThrows(DecoderException.class, () -> ch.writeInbound(buf(concat(PUBLISH, BODY, bad))));
        assertEquals(List.of(EXPECTED.get(2), EXPECTED.get(4)), drain(ch));
        ch.finishAndReleaseAll();
    }

    /**
     * After an error the bad frame is skipped and decoding goes on, so the client's
     * connection.close-ok is seen; a second error closes the channel.
     */
    @Test
    void afterAnErrorOnlyTheBadFrameIsSkipped() {
        EmbeddedChannel ch = open();
        decodeError(ch, frame(7, 1, new byte[] {1, 2, 3}));
        ch.writeInbound(buf(frame(1, 0, hex("000A 0033"))));
        Frame.Method closeOk = ch.readInbound();
        assertInstanceOf(ConnectionCloseOk.class, closeOk.method());
        assertTrue(ch.isOpen());
        ch.writeInbound(buf(frame(7, 1, new byte[0])));
        assertFalse(ch.isOpen(), "a second error while closing drops the connection");
        ch.finishAndReleaseAll();
    }

    /** A frame too large is skipped by its header: what follows is read as the next frame. */
    @Test
    void afterFrameTooLargeDecodingResumesAfterItsHeader() {
        EmbeddedChannel ch = open();
        decodeError(ch, hex("03 0001 00100000"));
        ch.writeInbound(buf(frame(1, 0, hex("000A 0033"))));
        Frame.Method closeOk = ch.readInbound();
        assertInstanceOf(ConnectionCloseOk.class, closeOk.method());
        ch.finishAndReleaseAll();
    }

    // ---- helpers --------------------------------------------------------------------------------

    private static ByteBuf buf(byte[] b) {
        return ByteBufAllocator.DEFAULT.buffer(b.length).writeBytes(b);
    }

    /** A channel past the protocol header. */
    private static EmbeddedChannel open() {
        return open(4096);
    }

    /** A channel past the protocol header, with a negotiated frame_max. */
    private static EmbeddedChannel open(long frameMax) {
        FrameDecoder decoder = new FrameDecoder();
        EmbeddedChannel ch = new EmbeddedChannel(decoder);
        ch.writeInbound(buf(HEADER));
        assertNull(ch.readInbound());
        decoder.frameMax(frameMax);
        return ch;
    }

    /**
     * A content header that cannot be read is passed on as a MalformedHeader frame (the channel
     * decides between 505 and its error); returns that error.
     */
    private static ConnectionException headerError(EmbeddedChannel ch, byte[] bytes) {
        ch.writeInbound(buf(bytes));
        Object f = ch.readInbound();
        Frame.MalformedHeader h = assertInstanceOf(Frame.MalformedHeader.class, f);
        assertNull(ch.readInbound());
        return h.error();
    }

    private static ConnectionException decodeError(EmbeddedChannel ch, byte[] bytes) {
        DecoderException e = assertThrows(DecoderException.class, () -> ch.writeInbound(buf(bytes)));
        drain(ch);
        return assertInstanceOf(ConnectionException.class, e.getCause());
    }

    private static List<String> decode(byte[]... chunks) {
        EmbeddedChannel ch = new EmbeddedChannel(new FrameDecoder());
        List<String> got = new ArrayList<>();
        for (byte[] c : chunks) {
            ch.writeInbound(buf(c));
            got.addAll(drain(ch));
        }
        assertFalse(ch.finish(), "left-over messages");
        return got;
    }

    /** Describes and releases every decoded frame. */
    private static List<String> drain(EmbeddedChannel ch) {
        List<String> got = new ArrayList<>();
        Object o;
        while ((o = ch.readInbound()) != null) {
            got.add(describe((Frame) o));
        }
        return got;
    }

    private static String describe(Frame f) {
        if (f instanceof Frame.Method m) {
            return "method " + m.channel() + " " + m.method();
        } else if (f instanceof Frame.ContentHeader h) {
            try {
                return "header " + h.channel() + " class " + h.classId() + " size " + h.bodySize() + " properties "
                        + ByteBufUtil.hexDump(h.properties());
            } finally {
                h.properties().release();
            }
        } else if (f instanceof Frame.ContentBody b) {
            try {
                return "body " + b.channel() + " " + ByteBufUtil.hexDump(b.body());
            } finally {
                b.body().release();
            }
        }
        return "heartbeat " + f.channel();
    }
}
