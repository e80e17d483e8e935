package io.warren.amqp.codec;

import io.netty.buffer.ByteBuf;
import io.warren.amqp.codec.FieldValues.ByteArray;
import io.warren.amqp.codec.FieldValues.LongString;
import io.warren.amqp.codec.FieldValues.Timestamp;
import io.warren.amqp.codec.FieldValues.UnsignedByte;
import io.warren.amqp.codec.FieldValues.UnsignedInt;
import io.warren.amqp.codec.FieldValues.UnsignedShort;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * AMQP 0-9-1 data types on a {@link ByteBuf}: short and long strings, field tables and arrays.
 * Field-value type letters follow RabbitMQ's table (the "errata" set the Java client uses).
 * Malformed input throws {@link MalformedFrameException}.
 */
public final class Wire {
    /**
     * How deep field tables and arrays may nest; the outermost table is level 1, a table or
     * array inside it level 2, and so on. Decoding, comparing, hashing and re-encoding a table
     * all recurse, about two stack frames per level: a client's table nested 5,000 deep used to
     * end in a StackOverflowError (541 and a stack trace per attempt). Real tables are shallow
     * (RabbitMQ's own x-death header, the deepest in common use, is 4 levels), so 128 leaves
     * ample room while every recursion stays far below a thread's stack. RabbitMQ has no such
     * limit (Erlang stacks grow on the heap); DESIGN.md §5b asks for one.
     */
    public static final int MAX_TABLE_DEPTH = 128;

    private Wire() {}

    public static String readShortStr(ByteBuf in) {
        int len = in.readUnsignedByte();
        checkReadable(in, len);
        String s = in.toString(in.readerIndex(), len, StandardCharsets.UTF_8);
        in.skipBytes(len);
        return s;
    }

    public static void writeShortStr(ByteBuf out, String s) {
        if (s == null) {
            out.writeByte(0);
            return;
        }
        int lenIndex = out.writerIndex();
        out.writeByte(0);
        int n = out.writeCharSequence(s, StandardCharsets.UTF_8);
        if (n > 255) {
            throw new IllegalArgumentException("short string longer than 255 bytes: " + n);
        }
        out.setByte(lenIndex, n);
    }

    public static byte[] readLongStr(ByteBuf in) {
        long len = in.readUnsignedInt();
        checkReadable(in, len);
        byte[] b = new byte[(int) len];
        in.readBytes(b);
        return b;
    }

    public static void writeLongStr(ByteBuf out, byte[] b) {
        if (b == null) {
            out.writeInt(0);
            return;
        }
        out.writeInt(b.length);
        out.writeBytes(b);
    }

    private static void checkReadable(ByteBuf in, long len) {
        if (len > in.readableBytes()) {
            throw new MalformedFrameException("field length " + len + " exceeds the " + in.readableBytes()
                    + " bytes left");
        }
    }

    /** Reads a field table; one nested deeper than {@link #MAX_TABLE_DEPTH} levels is malformed. */
    public static Map<String, Object> readTable(ByteBuf in) {
        return readTable(in, 1);
    }

    private static Map<String, Object> readTable(ByteBuf in, int depth) {
        checkDepth(depth);
        long len = in.readUnsignedInt();
        checkReadable(in, len);
        Map<String, Object> table = new LinkedHashMap<>();
        int end = in.readerIndex() + (int) len;
        while (in.readerIndex() < end) {
            String key = readShortStr(in);
            table.put(key, readFieldValue(in, depth));
        }
        if (in.readerIndex() != end) {
            throw new MalformedFrameException("field table overruns its declared size");
        }
        return table;
    }

    public static void writeTable(ByteBuf out, Map<String, Object> table) {
        int lenIndex = out.writerIndex();
        out.writeInt(0);
        if (table != null) {
            for (Map.Entry<String, Object> e : table.entrySet()) {
                writeShortStr(out, e.getKey());
                writeFieldValue(out, e.getValue());
            }
        }
        out.setInt(lenIndex, out.writerIndex() - lenIndex - 4);
    }

    private static List<Object> readArray(ByteBuf in, int depth) {
        checkDepth(depth);
        long len = in.readUnsignedInt();
        checkReadable(in, len);
        List<Object> list = new ArrayList<>();
        int end = in.readerIndex() + (int) len;
        while (in.readerIndex() < end) {
            list.add(readFieldValue(in, depth));
        }
        if (in.readerIndex() != end) {
            throw new MalformedFrameException("field array overruns its declared size");
        }
        return list;
    }

    static void writeArray(ByteBuf out, List<?> list) {
        int lenIndex = out.writerIndex();
        out.writeInt(0);
        for (Object o : list) {
            writeFieldValue(out, o);
        }
        out.setInt(lenIndex, out.writerIndex() - lenIndex - 4);
    }

    /** Reads one field value (type letter and value); a table or array in it counts as level 1. */
    public static Object readFieldValue(ByteBuf in) {
        return readFieldValue(in, 0);
    }

    /** A value held at nesting level {@code depth}: a table or array in it is one level deeper. */
    private static Object readFieldValue(ByteBuf in, int depth) {
        char type = (char) in.readUnsignedByte();
        switch (type) {
            case 't': return in.readUnsignedByte() != 0;
            case 'b': return in.readByte();
            case 'B': return new UnsignedByte(in.readUnsignedByte());
            case 's': return in.readShort();
            case 'u': return new UnsignedShort(in.readUnsignedShort());
            case 'I': return in.readInt();
            case 'i': return new UnsignedInt(in.readUnsignedInt());
            case 'l': return in.readLong();
            case 'f': return in.readFloat();
            case 'd': return in.readDouble();
            case 'D': {
                int scale = in.readUnsignedByte();
                int unscaled = in.readInt();
                return new BigDecimal(BigInteger.valueOf(unscaled), scale);
            }
            case 'S': return new LongString(readLongStr(in));
            case 'x': return new ByteArray(readLongStr(in));
            case 'A': return readArray(in, depth + 1);
            case 'T': return new Timestamp(in.readLong());
            case 'F': return readTable(in, depth + 1);
            case 'V': return null;
            default: throw new MalformedFrameException("unknown field value type '" + type + "' (" + (int) type + ")");
        }
    }

    private static void checkDepth(int depth) {
        if (depth > MAX_TABLE_DEPTH) {
            throw new MalformedFrameException("field table nested deeper than " + MAX_TABLE_DEPTH + " levels");
        }
    }

    // ---- checking without decoding ------------------------------------------------------------

    /**
     * Moves past a field table after checking it the way {@link #readTable} would decode it (sizes,
     * type letters, nesting depth), without building anything: for content-header properties,
     * which are kept as bytes and decoded only when needed, but must be known to decode.
     */
    public static void skipTable(ByteBuf in) {
        skipTable(in, 1);
    }

    /**
     * Whether a field table has a top-level field named {@code a} or {@code b}: names are compared
     * as bytes and values skipped, so a table without them costs a scan and no allocation.
     */
    public static boolean tableHasField(ByteBuf in, byte[] a, byte[] b) {
        int end = sizedEnd(in, "field table");
        while (in.readerIndex() < end) {
            need(in, 1, "field name");
            int n = in.readUnsignedByte();
            need(in, n, "field name");
            if (nameIs(in, n, a) || nameIs(in, n, b)) {
                return true;
            }
            in.skipBytes(n);
            skipFieldValue(in, 1);
        }
        return false;
    }

    private static boolean nameIs(ByteBuf in, int n, byte[] name) {
        if (n != name.length) {
            return false;
        }
        int at = in.readerIndex();
        for (int i = 0; i < n; i++) {
            if (in.getByte(at + i) != name[i]) {
                return false;
            }
        }
        return true;
    }

    private static void skipTable(ByteBuf in, int depth) {
        checkDepth(depth);
        int end = sizedEnd(in, "field table");
        while (in.readerIndex() < end) {
            need(in, 1, "field name");
            skip(in, in.readUnsignedByte(), "field name");
            skipFieldValue(in, depth);
        }
        if (in.readerIndex() != end) {
            throw new MalformedFrameException("field table overruns its declared size");
        }
    }

    private static void skipArray(ByteBuf in, int depth) {
        checkDepth(depth);
        int end = sizedEnd(in, "field array");
        while (in.readerIndex() < end) {
            skipFieldValue(in, depth);
        }
        if (in.readerIndex() != end) {
            throw new MalformedFrameException("field array overruns its declared size");
        }
    }

    private static void skipFieldValue(ByteBuf in, int depth) {
        need(in, 1, "field value");
        char type = (char) in.readUnsignedByte();
        switch (type) {
            case 'V' -> { }
            case 't', 'b', 'B' -> skip(in, 1, "field value");
            case 's', 'u' -> skip(in, 2, "field value");
            case 'I', 'i', 'f' -> skip(in, 4, "field value");
            case 'D' -> skip(in, 5, "field value");
            case 'l', 'd', 'T' -> skip(in, 8, "field value");
            case 'S', 'x' -> in.readerIndex(sizedEnd(in, "long string"));
            case 'A' -> skipArray(in, depth + 1);
            case 'F' -> skipTable(in, depth + 1);
            default -> throw new MalformedFrameException("unknown field value type '" + type + "' (" + (int) type + ")");
        }
    }

    /** Reads a 32-bit size and returns where the sized value ends, after checking it fits. */
    private static int sizedEnd(ByteBuf in, String what) {
        need(in, 4, what + " size");
        long len = in.readUnsignedInt();
        if (len > in.readableBytes()) {
            throw new MalformedFrameException(what + " claims " + len + " bytes, " + in.readableBytes() + " are left");
        }
        return in.readerIndex() + (int) len;
    }

    private static void need(ByteBuf in, int n, String what) {
        if (in.readableBytes() < n) {
            throw new MalformedFrameException(what + " needs " + n + " bytes, " + in.readableBytes() + " are left");
        }
    }

    private static void skip(ByteBuf in, int n, String what) {
        need(in, n, what);
        in.skipBytes(n);
    }

    /**
     * Content-header property checks, called by the generated {@code BasicProperties.validate}:
     * each moves past one property announced by the flags, or throws naming it.
     */
    public static int checkPropertyFlags(ByteBuf in) {
        need(in, 2, "property flags");
        int flags = in.readUnsignedShort();
        if ((flags & 1) != 0) {
            throw new MalformedFrameException("property flags continuation is not supported");
        }
        return flags;
    }

    /** A fixed-size property ({@code n} bytes: octet, short, long, longlong, timestamp). */
    public static void checkFixedProperty(ByteBuf in, int n, String property) {
        present(in, property);
        if (in.readableBytes() < n) {
            throw new MalformedFrameException("property '" + property + "' needs " + n + " bytes, "
                    + in.readableBytes() + " are left");
        }
        in.skipBytes(n);
    }

    public static void checkShortStrProperty(ByteBuf in, String property) {
        present(in, property);
        int len = in.readUnsignedByte();
        if (len > in.readableBytes()) {
            throw new MalformedFrameException("property '" + property + "' claims " + len + " bytes, "
                    + in.readableBytes() + " are left");
        }
        in.skipBytes(len);
    }

    public static void checkLongStrProperty(ByteBuf in, String property) {
        present(in, property);
        try {
            in.readerIndex(sizedEnd(in, "long string"));
        } catch (MalformedFrameException e) {
            throw new MalformedFrameException("property '" + property + "': " + e.getMessage());
        }
    }

    public static void checkTableProperty(ByteBuf in, String property) {
        present(in, property);
        try {
            skipTable(in);
        } catch (MalformedFrameException e) {
            throw new MalformedFrameException("property '" + property + "': " + e.getMessage());
        }
    }

    private static void present(ByteBuf in, String property) {
        if (!in.isReadable()) {
            throw new MalformedFrameException("property list ends before '" + property
                    + "', which the property flags announce");
        }
    }

    @SuppressWarnings("unchecked")
    public static void writeFieldValue(ByteBuf out, Object v) {
        if (v == null) {
            out.writeByte('V');
        } else if (v instanceof Boolean b) {
            out.writeByte('t');
            out.writeByte(b ? 1 : 0);
        } else if (v instanceof Byte b) {
            out.writeByte('b');
            out.writeByte(b);
        } else if (v instanceof UnsignedByte b) {
            out.writeByte('B');
            out.writeByte(b.value());
        } else if (v instanceof Short s) {
            out.writeByte('s');
            out.writeShort(s);
        } else if (v instanceof UnsignedShort s) {
            out.writeByte('u');
            out.writeShort(s.value());
        } else if (v instanceof Integer i) {
            out.writeByte('I');
            out.writeInt(i);
        } else if (v instanceof UnsignedInt i) {
            out.writeByte('i');
            out.writeInt((int) i.value());
        } else if (v instanceof Long l) {
            out.writeByte('l');
            out.writeLong(l);
        } else if (v instanceof Float f) {
            out.writeByte('f');
            out.writeFloat(f);
        } else if (v instanceof Double d) {
            out.writeByte('d');
            out.writeDouble(d);
        } else if (v instanceof BigDecimal d) {
            out.writeByte('D');
            out.writeByte(d.scale());
            out.writeInt(d.unscaledValue().intValueExact());
        } else if (v instanceof LongString s) {
            out.writeByte('S');
            writeLongStr(out, s.bytes());
        } else if (v instanceof String s) {
            out.writeByte('S');
            int lenIndex = out.writerIndex();
            out.writeInt(0);
            int n = out.writeCharSequence(s, StandardCharsets.UTF_8);
            out.setInt(lenIndex, n);
        } else if (v instanceof ByteArray b) {
            out.writeByte('x');
            writeLongStr(out, b.bytes());
        } else if (v instanceof byte[] b) {
            out.writeByte('x');
            writeLongStr(out, b);
        } else if (v instanceof List<?> l) {
            out.writeByte('A');
            writeArray(out, l);
        } else if (v instanceof Timestamp t) {
            out.writeByte('T');
            out.writeLong(t.seconds());
        } else if (v instanceof Map<?, ?> m) {
            out.writeByte('F');
            writeTable(out, (Map<String, Object>) m);
        } else {
            throw new IllegalArgumentException("no AMQP field type for " + v.getClass().getName());
        }
    }

    /** A table value as a Java string when it is a string of either kind, else null. */
    public static String asString(Object v) {
        if (v instanceof LongString s) {
            return s.toString();
        } else if (v instanceof String s) {
            return s;
        }
        return null;
    }
}
