package io.warren.amqp.channel;

import io.netty.buffer.ByteBuf;
import io.warren.amqp.codec.Wire;

/**
 * The {@code expiration} property: a per-message TTL in ms, as a string. Read from the raw
 * properties only when its flag is set (the hot path reads one flag word), and checked like
 * RabbitMQ's rabbit_basic:parse_expiration.
 */
final class Expiration {
    /** The expiration bit of the property flags (0-9-1 basic properties: 8th of 14). */
    static final int FLAG = 1 << 8;
    /** rabbit_misc:check_expiry's limit (Erlang timers take at most 2^32-1 ms). */
    static final long MAX = 4294967295L;

    /** An invalid expiration; the message is RabbitMQ's 406 text without the code prefix. */
    static final class Invalid extends RuntimeException {
        Invalid(String message) {
            super(message, null, false, false);
        }
    }

    private Expiration() {
    }

    /** True when the properties carry an expiration. */
    static boolean present(ByteBuf props) {
        return props.readableBytes() >= 2 && (props.getUnsignedShort(props.readerIndex()) & FLAG) != 0;
    }

    /** The TTL in ms, or -1 when absent; throws {@link Invalid} with RabbitMQ's text. */
    static long read(ByteBuf props) {
        if (!present(props)) {
            return -1;
        }
        String text = PublishAssembler.decode(props, Expiration::readString);
        return parse(text);
    }

    private static String readString(ByteBuf in) {
        int flags = in.readUnsignedShort();
        if ((flags & 32768) != 0) {
            in.skipBytes(in.readUnsignedByte());
        }
        if ((flags & 16384) != 0) {
            in.skipBytes(in.readUnsignedByte());
        }
        if ((flags & 8192) != 0) {
            in.skipBytes((int) in.readUnsignedInt());
        }
        if ((flags & 4096) != 0) {
            in.skipBytes(1);
        }
        if ((flags & 2048) != 0) {
            in.skipBytes(1);
        }
        if ((flags & 1024) != 0) {
            in.skipBytes(in.readUnsignedByte());
        }
        if ((flags & 512) != 0) {
            in.skipBytes(in.readUnsignedByte());
        }
        return Wire.readShortStr(in);
    }

    /**
     * rabbit_basic:parse_expiration: string:to_integer, then rabbit_misc:check_expiry; the
     * error term is printed with ~p ("invalid expiration '~s': ~p").
     */
    static long parse(String text) {
        int i = 0;
        int n = text.length();
        if (i < n && (text.charAt(i) == '+' || text.charAt(i) == '-')) {
            i++;
        }
        int digits = i;
        while (i < n && text.charAt(i) >= '0' && text.charAt(i) <= '9') {
            i++;
        }
        if (i == digits) {
            throw invalid(text, "no_integer");
        }
        if (i < n) {
            throw invalid(text, "{leftover_string,\"" + text.substring(i).replace("\\", "\\\\").replace("\"", "\\\"")
                    + "\"}");
        }
        java.math.BigInteger v = new java.math.BigInteger(text.charAt(0) == '+' ? text.substring(1) : text);
        if (v.compareTo(java.math.BigInteger.valueOf(MAX)) > 0) {
            throw invalid(text, "{value_too_big," + v + "}");
        }
        if (v.signum() < 0) {
            throw invalid(text, "{value_negative," + v + "}");
        }
        return v.longValueExact();
    }

    private static Invalid invalid(String text, String term) {
        return new Invalid("invalid expiration '" + text + "': " + term);
    }
}
