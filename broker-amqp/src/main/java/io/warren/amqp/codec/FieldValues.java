package io.warren.amqp.codec;

import io.warren.core.message.TableValue;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Java types for AMQP field-table values whose type letter is not implied by a plain Java type,
 * so that a decoded table re-encodes byte for byte.
 *
 * <p>Mapping: t Boolean, b Byte, B {@link UnsignedByte}, s Short, u {@link UnsignedShort},
 * I Integer, i {@link UnsignedInt}, l Long, f Float, d Double, D BigDecimal, S {@link LongString},
 * x {@link ByteArray}, A java.util.List, T {@link Timestamp}, F java.util.Map, V null.
 * The records are {@link TableValue}s, so broker-core can compare them and name their types.
 */
public final class FieldValues {
    private FieldValues() {}

    /** 'S': a long string, kept as bytes (it need not be UTF-8). */
    public record LongString(byte[] bytes) implements TableValue {
        public static LongString of(String s) {
            return new LongString(s.getBytes(StandardCharsets.UTF_8));
        }

        @Override public boolean equals(Object o) {
            return o instanceof LongString other && Arrays.equals(bytes, other.bytes);
        }

        @Override public int hashCode() {
            return Arrays.hashCode(bytes);
        }

        @Override public String toString() {
            return new String(bytes, StandardCharsets.UTF_8);
        }

        @Override public Object comparable() {
            return toString();
        }

        @Override public String typeName() {
            return "longstr";
        }
    }

    /** 'x': a byte array. */
    public record ByteArray(byte[] bytes) implements TableValue {
        @Override public boolean equals(Object o) {
            return o instanceof ByteArray other && Arrays.equals(bytes, other.bytes);
        }

        @Override public int hashCode() {
            return Arrays.hashCode(bytes);
        }

        @Override public String toString() {
            return "ByteArray[" + bytes.length + "]";
        }

        @Override public Object comparable() {
            return this;
        }

        @Override public String typeName() {
            return "binary";
        }
    }

    /** 'B': unsigned octet. */
    public record UnsignedByte(int value) implements TableValue {
        @Override public Object comparable() {
            return (long) value;
        }

        @Override public String typeName() {
            return "unsignedbyte";
        }
    }

    /** 'u': unsigned short. */
    public record UnsignedShort(int value) implements TableValue {
        @Override public Object comparable() {
            return (long) value;
        }

        @Override public String typeName() {
            return "unsignedshort";
        }
    }

    /** 'i': unsigned 32-bit integer. */
    public record UnsignedInt(long value) implements TableValue {
        @Override public Object comparable() {
            return value;
        }

        @Override public String typeName() {
            return "unsignedint";
        }
    }

    /** 'T': seconds since the epoch. */
    public record Timestamp(long seconds) implements TableValue {
        @Override public Object comparable() {
            return this;
        }

        @Override public String typeName() {
            return "timestamp";
        }
    }

}
