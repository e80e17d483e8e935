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

    public static Map<String, Object> readTable(ByteBuf in) {
        long len = in.readUnsignedInt();
        checkReadable(in, len);
        Map<String, Object> table = new LinkedHashMap<>();
        int end = in.readerIndex() + (int) len;
        while (in.readerIndex() < end) {
            String key = readShortStr(in);
            table.put(key, readFieldValue(in));
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

    static List<Object> readArray(ByteBuf in) {
        long len = in.readUnsignedInt();
        checkReadable(in, len);
        List<Object> list = new ArrayList<>();
        int end = in.readerIndex() + (int) len;
        while (in.readerIndex() < end) {
            list.add(readFieldValue(in));
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

    public static Object readFieldValue(ByteBuf in) {
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
            case 'A': return readArray(in);
            case 'T': return new Timestamp(in.readLong());
            case 'F': return readTable(in);
            case 'V': return null;
            default: throw new MalformedFrameException("unknown field value type '" + type + "' (" + (int) type + ")");
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
