package io.warren.store.delayed;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.warren.core.message.Message;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.function.Function;
import java.util.zip.CRC32;

/**
 * The record format of the delayed-message bucket files: {@code [payload length][CRC32 of the
 * payload][payload]}, the payload {@code [due][stamp][flags][ttl][vhost][exchange][routing key]
 * [cc count][cc...][properties][body]} (strings and blobs with an int length, big-endian).
 */
final class DelayRecords {
    static final int FLAG_DURABLE = 1;
    static final int FLAG_PERSISTENT = 2;
    /** Record header: payload length and its CRC32. */
    static final int HEADER = 8;

    private DelayRecords() {
    }

    /** The write stamp of an encoded record. */
    static long stampOf(ByteBuf record) {
        return record.getLong(HEADER + 8);
    }

    /** The payload of an encoded record, retained. */
    static ByteBuf payload(ByteBuf record) {
        return record.retainedSlice(HEADER, record.writerIndex() - HEADER);
    }

    /**
     * {@code [len][crc32][due][stamp][flags][ttl][vhost][exchange][routing key][cc count][cc...]
     * [properties][body]}: strings and blobs with an int length. Encoded by the caller (the copy
     * a delayed message needs anyway); the thread only writes it.
     */
    static ByteBuf encode(String vhost, String exchange, Message m, long dueAt, boolean durable, long stamp) {
        byte[] v = vhost.getBytes(StandardCharsets.UTF_8);
        byte[] x = exchange.getBytes(StandardCharsets.UTF_8);
        byte[] rk = m.routingKey().getBytes(StandardCharsets.UTF_8);
        String[] cc = m.ccRoutes();
        int ccBytes = 0;
        byte[][] ccs = new byte[cc == null ? 0 : cc.length][];
        for (int i = 0; i < ccs.length; i++) {
            ccs[i] = cc[i].getBytes(StandardCharsets.UTF_8);
            ccBytes += 4 + ccs[i].length;
        }
        ByteBuf props = m.properties();
        ByteBuf body = m.body();
        int payload = 8 + 8 + 1 + 8 + 4 + v.length + 4 + x.length + 4 + rk.length + 4 + ccBytes
                + 4 + props.readableBytes() + 4 + body.readableBytes();
        ByteBuf b = Unpooled.buffer(HEADER + payload, HEADER + payload);
        b.writeInt(payload);
        b.writeInt(0);
        b.writeLong(dueAt);
        b.writeLong(stamp);
        b.writeByte((durable ? FLAG_DURABLE : 0) | (m.persistent() ? FLAG_PERSISTENT : 0));
        b.writeLong(m.ttl());
        writeBytes(b, v);
        writeBytes(b, x);
        writeBytes(b, rk);
        b.writeInt(ccs.length);
        for (byte[] c : ccs) {
            writeBytes(b, c);
        }
        b.writeInt(props.readableBytes());
        b.writeBytes(props, props.readerIndex(), props.readableBytes());
        b.writeInt(body.readableBytes());
        b.writeBytes(body, body.readerIndex(), body.readableBytes());
        b.setInt(4, crc(b, HEADER, payload));
        return b;
    }

    private static void writeBytes(ByteBuf b, byte[] bytes) {
        b.writeInt(bytes.length);
        b.writeBytes(bytes);
    }

    private static String readString(ByteBuf b) {
        int n = b.readInt();
        String s = b.toString(b.readerIndex(), n, StandardCharsets.UTF_8);
        b.skipBytes(n);
        return s;
    }

    private static int crc(ByteBuf b, int from, int length) {
        CRC32 c = new CRC32();
        c.update(b.nioBuffer(from, length));
        return (int) c.getValue();
    }

    /** The fields of a record read before deciding what to do with it (the payload's reader index is not moved). */
    record Head(long due, long stamp, boolean durable, String vhost, String exchange) {
        String key() {
            return BucketDelayStore.key(vhost, exchange);
        }
    }

    static Head head(ByteBuf payload) {
        ByteBuf b = payload.duplicate();
        long dueAt = b.readLong();
        long stamp = b.readLong();
        int flags = b.readByte();
        b.readLong();
        String vhost = readString(b);
        String exchange = readString(b);
        return new Head(dueAt, stamp, (flags & FLAG_DURABLE) != 0, vhost, exchange);
    }

    /** The message a payload holds; its content is slices of the payload (retained). */
    static Message message(ByteBuf payload, Function<ByteBuf, Map<String, Object>> headersReader) {
        ByteBuf b = payload.duplicate();
        b.skipBytes(16);
        int flags = b.readByte();
        long ttl = b.readLong();
        readString(b);
        String exchange = readString(b);
        String routingKey = readString(b);
        int ccCount = b.readInt();
        String[] cc = ccCount == 0 ? null : new String[ccCount];
        for (int i = 0; i < ccCount; i++) {
            cc[i] = readString(b);
        }
        int p = b.readInt();
        ByteBuf props = b.retainedSlice(b.readerIndex(), p);
        b.skipBytes(p);
        int n = b.readInt();
        ByteBuf body = b.retainedSlice(b.readerIndex(), n);
        Message m = new Message(exchange, routingKey, props, body, (flags & FLAG_PERSISTENT) != 0, headersReader, cc);
        m.ttl(ttl);
        return m;
    }

    /**
     * Calls {@code sink} with each whole, valid record's payload (a slice of {@code file}) in
     * order; returns the length of the valid prefix (a torn or corrupt tail is not visited).
     */
    static int scan(ByteBuf file, java.util.function.Consumer<ByteBuf> sink) {
        int pos = 0;
        int end = file.writerIndex();
        while (end - pos >= HEADER) {
            int len = file.getInt(pos);
            if (len <= 0 || len > end - pos - HEADER || crc(file, pos + HEADER, len) != file.getInt(pos + 4)) {
                break;
            }
            sink.accept(file.slice(pos + HEADER, len));
            pos += HEADER + len;
        }
        return pos;
    }
}
