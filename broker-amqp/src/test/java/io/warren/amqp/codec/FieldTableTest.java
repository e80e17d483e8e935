package io.warren.amqp.codec;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.warren.amqp.codec.FieldValues.ByteArray;
import io.warren.amqp.codec.FieldValues.LongString;
import io.warren.amqp.codec.FieldValues.Timestamp;
import io.warren.amqp.codec.FieldValues.UnsignedByte;
import io.warren.amqp.codec.FieldValues.UnsignedInt;
import io.warren.amqp.codec.FieldValues.UnsignedShort;
import io.warren.amqp.protocol.BasicProperties;
import org.junit.jupiter.api.Test;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Field tables with every type letter RabbitMQ knows (t b B s u I i l f d D S x A T F V) and the
 * 14 basic properties: decoding hand-built bytes gives the documented Java types, and encoding
 * what was decoded gives the same bytes back.
 */
class FieldTableTest {
    private static final ByteBufAllocator ALLOC = ByteBufAllocator.DEFAULT;

    /** One value per type letter: letter, its encoded value, the Java value it decodes to. */
    private record Case(char letter, byte[] encoded, Object decoded) {}

    private static final List<Case> CASES = List.of(
            new Case('t', Bytes.of().octet(1).toArray(), true),
            new Case('b', Bytes.of().octet(0xFE).toArray(), (byte) -2),
            new Case('B', Bytes.of().octet(200).toArray(), new UnsignedByte(200)),
            new Case('s', Bytes.of().shortInt(-200 & 0xFFFF).toArray(), (short) -200),
            new Case('u', Bytes.of().shortInt(60000).toArray(), new UnsignedShort(60000)),
            new Case('I', Bytes.of().longInt(-100000 & 0xFFFFFFFFL).toArray(), -100000),
            new Case('i', Bytes.of().longInt(4_000_000_000L).toArray(), new UnsignedInt(4_000_000_000L)),
            new Case('l', Bytes.of().longLong(-5_000_000_000L).toArray(), -5_000_000_000L),
            new Case('f', Bytes.hex("3FC00000"), 1.5f),
            new Case('d', Bytes.hex("C002000000000000"), -2.25d),
            new Case('D', Bytes.of().octet(2).longInt(-12345 & 0xFFFFFFFFL).toArray(), new BigDecimal("-123.45")),
            // a long string need not be UTF-8: kept as bytes, written back unchanged
            new Case('S', Bytes.of().longStr(new byte[] {'h', (byte) 0xC3, (byte) 0xA9, (byte) 0xFF}).toArray(),
                    new LongString(new byte[] {'h', (byte) 0xC3, (byte) 0xA9, (byte) 0xFF})),
            new Case('x', Bytes.of().longStr(new byte[] {0, 1, 2}).toArray(), new ByteArray(new byte[] {0, 1, 2})),
            new Case('A', sized(Bytes.of().octet('I').longInt(1).octet('S').longStr(new byte[] {'a'}).octet('V')),
                    Arrays.asList(1, LongString.of("a"), null)),
            new Case('T', Bytes.of().longLong(1_700_000_000L).toArray(), new Timestamp(1_700_000_000L)),
            new Case('F', sized(Bytes.of().shortStr("k").octet('t').octet(0)), Map.of("k", false)),
            new Case('V', new byte[0], null));

    @Test
    void everyTypeLetterIsCovered() {
        StringBuilder letters = new StringBuilder();
        CASES.forEach(c -> letters.append(c.letter()));
        assertEquals("tbBsuIilfdDSxATFV", letters.toString());
    }

    @Test
    void eachTypeAloneRoundTripsByteForByte() {
        for (Case c : CASES) {
            byte[] table = table(List.of(c));
            Map<String, Object> decoded = decodeTable(table);
            assertEquals(Arrays.asList(c.decoded()), new ArrayList<>(decoded.values()), "type " + c.letter());
            assertEquals(hexOf(table), hexOf(encodeTable(decoded)), "type " + c.letter());
        }
    }

    @Test
    void aTableOfEveryTypeRoundTripsByteForByte() {
        byte[] table = table(CASES);
        Map<String, Object> decoded = decodeTable(table);
        assertEquals(CASES.size(), decoded.size());
        for (Case c : CASES) {
            assertEquals(c.decoded(), decoded.get(String.valueOf(c.letter())), "type " + c.letter());
        }
        assertEquals(hexOf(table), hexOf(encodeTable(decoded)));
    }

    /** The values are also found inside an array, where there are no keys. */
    @Test
    void anArrayOfEveryTypeRoundTripsByteForByte() {
        Bytes items = Bytes.of();
        for (Case c : CASES) {
            items.octet(c.letter()).raw(c.encoded());
        }
        byte[] value = Bytes.of().octet('A').longInt(items.size()).raw(items.toArray()).toArray();
        ByteBuf in = ALLOC.buffer().writeBytes(value);
        try {
            Object decoded = Wire.readFieldValue(in);
            assertFalse(in.isReadable());
            ByteBuf out = ALLOC.buffer();
            Wire.writeFieldValue(out, decoded);
            assertEquals(hexOf(value), ByteBufUtil.hexDump(out));
            out.release();
        } finally {
            in.release();
        }
    }

    /** Plain Java values take the letter RabbitMQ's Java client gives them. */
    @Test
    void plainJavaValuesGetTheUsualLetters() {
        Map<String, Object> t = new LinkedHashMap<>();
        t.put("s", "str");
        t.put("i", 7);
        t.put("x", new byte[] {9});
        t.put("l", List.of(true));
        byte[] expected = sized(Bytes.of()
                .shortStr("s").octet('S').longStr("str".getBytes())
                .shortStr("i").octet('I').longInt(7)
                .shortStr("x").octet('x').longStr(new byte[] {9})
                .shortStr("l").octet('A').longInt(2).octet('t').octet(1));
        assertEquals(hexOf(expected), hexOf(encodeTable(t)));
    }

    @Test
    void malformedTablesAreRefused() {
        // unknown type letter
        assertThrows(MalformedFrameException.class, () -> decodeTable(Bytes.of().longInt(3).shortStr("k").octet('Z')
                .toArray()));
        // declared size beyond the data
        assertThrows(MalformedFrameException.class, () -> decodeTable(Bytes.of().longInt(100).toArray()));
        // a value overrunning the declared size
        assertThrows(MalformedFrameException.class, () -> decodeTable(Bytes.of().longInt(3).shortStr("k").octet('I')
                .longInt(1).toArray()));
        // a long string longer than what is left
        assertThrows(MalformedFrameException.class, () -> decodeTable(Bytes.of().longInt(7).shortStr("k").octet('S')
                .longInt(50).toArray()));
    }

    // ---- nesting depth ------------------------------------------------------------------------

    /** A table nested {@code depth} levels deep (the outermost is level 1), every other level an array. */
    static byte[] nested(int depth, boolean withArrays) {
        byte[] inner = Bytes.of().longInt(0).toArray(); // the innermost table (or array): empty
        for (int level = depth - 1; level >= 1; level--) {
            boolean innerIsArray = withArrays && (level + 1) % 2 == 0;
            boolean thisIsArray = withArrays && level % 2 == 0;
            Bytes content = Bytes.of();
            if (!thisIsArray) {
                content.shortStr("n");
            }
            content.octet(innerIsArray ? 'A' : 'F').raw(inner);
            inner = sized(content);
        }
        return inner;
    }

    @Test
    void tablesNestedUpToTheLimitDecodeAndReEncode() {
        for (boolean arrays : new boolean[] {false, true}) {
            byte[] deepest = nested(Wire.MAX_TABLE_DEPTH, arrays);
            Map<String, Object> decoded = decodeTable(deepest);
            assertEquals(hexOf(deepest), hexOf(encodeTable(decoded)));
            ByteBuf in = ALLOC.buffer().writeBytes(deepest);
            try {
                Wire.skipTable(in);
                assertFalse(in.isReadable());
            } finally {
                in.release();
            }
        }
    }

    /** One level more, or 5,000 (which used to overflow the stack), is a malformed table, not a crash. */
    @Test
    void tablesNestedDeeperThanTheLimitAreRefused() {
        for (int depth : new int[] {Wire.MAX_TABLE_DEPTH + 1, 5_000}) {
            for (boolean arrays : new boolean[] {false, true}) {
                byte[] tooDeep = nested(depth, arrays);
                ByteBuf in = Unpooled.wrappedBuffer(tooDeep);
                MalformedFrameException e = assertThrows(MalformedFrameException.class, () -> Wire.readTable(in),
                        "depth " + depth);
                assertEquals("field table nested deeper than 128 levels", e.getMessage());
                in.readerIndex(0);
                try {
                    e = assertThrows(MalformedFrameException.class, () -> Wire.skipTable(in));
                    assertEquals("field table nested deeper than 128 levels", e.getMessage());
                } finally {
                    in.release();
                }
            }
        }
    }

    /** A single value holding a table: that table is level 1. */
    @Test
    void aFieldValueStartsCountingAtItsTable() {
        byte[] atLimit = Bytes.of().octet('F').raw(nested(Wire.MAX_TABLE_DEPTH, false)).toArray();
        ByteBuf in = ALLOC.buffer().writeBytes(atLimit);
        try {
            Wire.readFieldValue(in);
        } finally {
            in.release();
        }
        byte[] over = Bytes.of().octet('A').raw(nested(Wire.MAX_TABLE_DEPTH + 1, true)).toArray();
        ByteBuf in2 = ALLOC.buffer().writeBytes(over);
        try {
            assertThrows(MalformedFrameException.class, () -> Wire.readFieldValue(in2));
        } finally {
            in2.release();
        }
    }

    /**
     * {@link Wire#skipTable} (used to check properties without decoding them) accepts exactly what
     * {@link Wire#readTable} decodes and stops at the same place: every table of this class, and a
     * few thousand random mutations of them (seeded, so a failure repeats).
     */
    @Test
    void skipTableAgreesWithReadTable() {
        List<byte[]> seeds = new ArrayList<>(List.of(table(CASES), nested(6, true), nested(Wire.MAX_TABLE_DEPTH, true),
                nested(Wire.MAX_TABLE_DEPTH + 1, false), Bytes.of().longInt(0).toArray()));
        for (Case c : CASES) {
            seeds.add(table(List.of(c)));
        }
        java.util.Random random = new java.util.Random(42);
        int refused = 0;
        for (int i = 0; i < 5_000; i++) {
            byte[] b = seeds.get(random.nextInt(seeds.size())).clone();
            if (i >= seeds.size()) {
                int edits = 1 + random.nextInt(3);
                for (int k = 0; k < edits && b.length > 0; k++) {
                    int at = random.nextInt(b.length);
                    switch (random.nextInt(3)) {
                        case 0 -> b[at] = (byte) random.nextInt(256);
                        case 1 -> b[at] = "tbBsuIilfdDSxATFVZ".getBytes()[random.nextInt(18)];
                        default -> b = Arrays.copyOf(b, at);
                    }
                }
            }
            String read = outcome(b, in -> Wire.readTable(in));
            String skip = outcome(b, in -> {
                Wire.skipTable(in);
                return null;
            });
            assertEquals(read, skip, "input " + hexOf(b));
            if (read.startsWith("refused")) {
                refused++;
            }
        }
        assertTrue(refused > 1_000 && refused < 4_900, "mutations should give both outcomes: " + refused + " refused");
    }

    /** "ok at N" (reader index after) or "refused": a malformed table is refused by either exception. */
    private static String outcome(byte[] bytes, Function<ByteBuf, Object> f) {
        // not from ALLOC: paranoid leak tracking records every access, too slow for thousands of inputs
        ByteBuf in = Unpooled.wrappedBuffer(bytes);
        try {
            f.apply(in);
            return "ok at " + in.readerIndex();
        } catch (MalformedFrameException | IndexOutOfBoundsException e) {
            return "refused";
        } finally {
            in.release();
        }
    }

    // ---- basic properties -----------------------------------------------------------------------

    private static final Map<String, Object> HEADERS = decodeTable(table(CASES));

    /** All 14 basic properties, in spec order, as their name, encoded bytes and Java value. */
    private record Property(String name, byte[] encoded, Object value) {}

    private static final List<Property> PROPERTIES = List.of(
            new Property("content-type", Bytes.of().shortStr("application/json").toArray(), "application/json"),
            new Property("content-encoding", Bytes.of().shortStr("gzip").toArray(), "gzip"),
            new Property("headers", table(CASES), HEADERS),
            new Property("delivery-mode", new byte[] {2}, 2),
            new Property("priority", new byte[] {9}, 9),
            new Property("correlation-id", Bytes.of().shortStr("corr-1").toArray(), "corr-1"),
            new Property("reply-to", Bytes.of().shortStr("amq.rabbitmq.reply-to").toArray(), "amq.rabbitmq.reply-to"),
            new Property("expiration", Bytes.of().shortStr("60000").toArray(), "60000"),
            new Property("message-id", Bytes.of().shortStr("m-42").toArray(), "m-42"),
            new Property("timestamp", Bytes.of().longLong(1_700_000_000L).toArray(), 1_700_000_000L),
            new Property("type", Bytes.of().shortStr("order.created").toArray(), "order.created"),
            new Property("user-id", Bytes.of().shortStr("guest").toArray(), "guest"),
            new Property("app-id", Bytes.of().shortStr("tests").toArray(), "tests"),
            new Property("cluster-id", Bytes.of().shortStr("c1").toArray(), "c1"));

    @Test
    void allFourteenPropertiesRoundTripByteForByte() {
        Bytes b = Bytes.of().shortInt(0xFFFC);
        PROPERTIES.forEach(p -> b.raw(p.encoded()));
        byte[] bytes = b.toArray();
        BasicProperties decoded = read(bytes);
        assertEquals(properties(PROPERTIES), decoded);
        assertEquals(hexOf(bytes), hexOf(write(decoded)));
    }

    @Test
    void eachPropertyAloneRoundTripsByteForByte() {
        for (int i = 0; i < PROPERTIES.size(); i++) {
            Property p = PROPERTIES.get(i);
            byte[] bytes = Bytes.of().shortInt(1 << (15 - i)).raw(p.encoded()).toArray();
            BasicProperties decoded = read(bytes);
            assertEquals(properties(List.of(p)), decoded, p.name());
            assertEquals(hexOf(bytes), hexOf(write(decoded)), p.name());
        }
    }

    @Test
    void noPropertiesIsTwoZeroBytes() {
        assertEquals("0000", hexOf(write(BasicProperties.EMPTY)));
        assertEquals(BasicProperties.EMPTY, read(new byte[2]));
    }

    /** The lazy path used for routing: only the headers table, the two strings before it skipped. */
    @Test
    void readHeadersSkipsToTheHeadersTable() {
        Bytes b = Bytes.of().shortInt(0xFFFC);
        PROPERTIES.forEach(p -> b.raw(p.encoded()));
        ByteBuf in = ALLOC.buffer().writeBytes(b.toArray());
        try {
            assertEquals(HEADERS, BasicProperties.readHeaders(in));
        } finally {
            in.release();
        }
        ByteBuf none = ALLOC.buffer().writeBytes(Bytes.of().shortInt(0x8000).shortStr("text/plain").toArray());
        try {
            assertNull(BasicProperties.readHeaders(none));
        } finally {
            none.release();
        }
    }

    // ---- helpers --------------------------------------------------------------------------------

    /** A field table holding each case under its letter as key. */
    private static byte[] table(List<Case> cases) {
        Bytes entries = Bytes.of();
        for (Case c : cases) {
            entries.shortStr(String.valueOf(c.letter())).octet(c.letter()).raw(c.encoded());
        }
        return sized(entries);
    }

    /** {@code content} behind its 32-bit size, as tables and arrays are written. */
    private static byte[] sized(Bytes content) {
        return Bytes.of().longInt(content.size()).raw(content.toArray()).toArray();
    }

    private static BasicProperties properties(List<Property> set) {
        Function<String, Object> v = name -> set.stream().filter(p -> p.name().equals(name)).map(Property::value)
                .findFirst().orElse(null);
        @SuppressWarnings("unchecked") Map<String, Object> headers = (Map<String, Object>) v.apply("headers");
        return new BasicProperties((String) v.apply("content-type"), (String) v.apply("content-encoding"), headers,
                (Integer) v.apply("delivery-mode"), (Integer) v.apply("priority"), (String) v.apply("correlation-id"),
                (String) v.apply("reply-to"), (String) v.apply("expiration"), (String) v.apply("message-id"),
                (Long) v.apply("timestamp"), (String) v.apply("type"), (String) v.apply("user-id"),
                (String) v.apply("app-id"), (String) v.apply("cluster-id"));
    }

    private static Map<String, Object> decodeTable(byte[] bytes) {
        ByteBuf in = ALLOC.buffer().writeBytes(bytes);
        try {
            Map<String, Object> t = Wire.readTable(in);
            assertFalse(in.isReadable(), "bytes left after the table");
            return t;
        } finally {
            in.release();
        }
    }

    private static byte[] encodeTable(Map<String, Object> table) {
        ByteBuf out = ALLOC.buffer();
        try {
            Wire.writeTable(out, table);
            return ByteBufUtil.getBytes(out);
        } finally {
            out.release();
        }
    }

    private static BasicProperties read(byte[] bytes) {
        ByteBuf in = ALLOC.buffer().writeBytes(bytes);
        try {
            BasicProperties p = BasicProperties.read(in);
            assertFalse(in.isReadable(), "bytes left after the properties");
            return p;
        } finally {
            in.release();
        }
    }

    private static byte[] write(BasicProperties p) {
        ByteBuf out = ALLOC.buffer();
        try {
            p.write(out);
            return ByteBufUtil.getBytes(out);
        } finally {
            out.release();
        }
    }

    private static String hexOf(byte[] b) {
        return ByteBufUtil.hexDump(b);
    }

    @Test
    void hexHelperSanity() {
        assertArrayEquals(new byte[] {1, (byte) 0xCE}, Bytes.hex("01 CE"));
    }

    /** The CC/BCC scan: top-level names only, values of every type skipped. */
    @Test
    void tableHasFieldMatchesTopLevelNamesOnly() {
        byte[] cc = "CC".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        byte[] bcc = "BCC".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        Map<String, Object> nested = new LinkedHashMap<>();
        nested.put("n", Map.of("CC", "inner"));
        nested.put("a", List.of(1, "x", LongString.of("CC")));
        nested.put("CCX", 5L);
        nested.put("B", new BigDecimal("1.5"));
        ByteBuf without = Unpooled.buffer();
        Wire.writeTable(without, nested);
        assertFalse(Wire.tableHasField(without, cc, bcc));
        nested.put("BCC", List.of("k"));
        ByteBuf with = Unpooled.buffer();
        Wire.writeTable(with, nested);
        assertTrue(Wire.tableHasField(with, cc, bcc));
    }
}
