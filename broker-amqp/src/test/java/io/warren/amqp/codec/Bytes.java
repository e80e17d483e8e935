package io.warren.amqp.codec;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** Hand-built wire bytes for codec tests. */
final class Bytes {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    static Bytes of() {
        return new Bytes();
    }

    /** Hex digits; spaces are ignored: {@code hex("01 0000 0000000C")}. */
    static byte[] hex(String digits) {
        return ByteBufUtil.decodeHexDump(digits.replace(" ", ""));
    }

    static byte[] bytes(ByteBuf b) {
        return ByteBufUtil.getBytes(b);
    }

    Bytes octet(int v) {
        out.write(v);
        return this;
    }

    Bytes shortInt(int v) {
        return octet(v >>> 8).octet(v);
    }

    Bytes longInt(long v) {
        return shortInt((int) (v >>> 16) & 0xFFFF).shortInt((int) v & 0xFFFF);
    }

    Bytes longLong(long v) {
        return longInt(v >>> 32).longInt(v & 0xFFFFFFFFL);
    }

    Bytes shortStr(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        return octet(b.length).raw(b);
    }

    Bytes longStr(byte[] b) {
        return longInt(b.length).raw(b);
    }

    Bytes raw(byte[] b) {
        out.write(b, 0, b.length);
        return this;
    }

    int size() {
        return out.size();
    }

    byte[] toArray() {
        return out.toByteArray();
    }

    /** A frame around {@code payload}: type, channel, size, payload, frame-end. */
    static byte[] frame(int type, int channel, byte[] payload) {
        return of().octet(type).shortInt(channel).longInt(payload.length).raw(payload).octet(0xCE).toArray();
    }

    static byte[] concat(byte[]... parts) {
        Bytes b = of();
        for (byte[] p : parts) {
            b.raw(p);
        }
        return b.toArray();
    }
}
