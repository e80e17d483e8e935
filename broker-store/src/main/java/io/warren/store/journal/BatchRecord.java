package io.warren.store.journal;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32C;

/**
 * A batch record as read back from the store: the messages of one group commit packed
 * together, in slot order.
 * <pre>
 * record := int MAGIC | int crc32c (of everything after this field) | long batchId
 *           | int messageCount | int slotCount | message * messageCount   (see {@link MessageEncoding})
 * </pre>
 * The journal frame holding the record has its own CRC (checked at recovery); the record's
 * CRC is checked again at each load, and the batch id cross-checks that the in-memory index
 * points at the right record.
 */
final class BatchRecord {
    /** Records whose messages end with publishedAt and ttl (see {@link MessageEncoding}). */
    static final int MAGIC = 0x57424132; // "WBA2"
    /** Records written before warren kept publishedAt and ttl: messages end at the body. */
    static final int MAGIC_V1 = 0x57424154; // "WBAT"

    static boolean isMagic(int m) {
        return m == MAGIC || m == MAGIC_V1;
    }
    static final int HEADER = 4 + 4 + 8 + 4 + 4;

    private static final VarHandle INT = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.BIG_ENDIAN);
    private static final VarHandle LONG = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.BIG_ENDIAN);

    final long batchId;
    final byte[] data;
    final int messageCount;
    final int slotCount;
    /** Offset of the message holding each slot: loads go straight to it. */
    private final int[] messageOffsetBySlot;

    /** Whether messages carry publishedAt and ttl ({@link #MAGIC}). */
    private final boolean timed;

    private BatchRecord(long batchId, byte[] data, int messageCount, int slotCount, int[] offsets, boolean timed) {
        this.timed = timed;
        this.batchId = batchId;
        this.data = data;
        this.messageCount = messageCount;
        this.slotCount = slotCount;
        this.messageOffsetBySlot = offsets;
    }

    /** Checks and indexes a record; the failure text says what is wrong, the caller adds the file. */
    static BatchRecord parse(byte[] data, long expectedBatchId) throws CorruptRecordException {
        if (data == null || data.length < HEADER) {
            throw new CorruptRecordException("batch " + expectedBatchId + ": record missing or truncated");
        }
        if (!isMagic(getInt(data, 0))) {
            throw new CorruptRecordException("batch " + expectedBatchId + ": bad record magic");
        }
        CRC32C crc = new CRC32C();
        crc.update(data, 8, data.length - 8);
        if ((int) crc.getValue() != getInt(data, 4)) {
            throw new CorruptRecordException("batch " + expectedBatchId + ": record checksum mismatch");
        }
        long batchId = getLong(data, 8);
        if (batchId != expectedBatchId) {
            throw new CorruptRecordException("batch " + expectedBatchId + ": index points at record of batch " + batchId);
        }
        int messages = getInt(data, 16);
        int slots = getInt(data, 20);
        if (slots < 0 || slots > Refs.MAX_SLOTS || messages < 0 || messages > slots) {
            throw new CorruptRecordException("batch " + batchId + ": bad counts " + messages + "/" + slots);
        }
        int[] offsets = new int[slots];
        int off = HEADER;
        int slot = 0;
        for (int m = 0; m < messages; m++) {
            if (off + 8 > data.length) {
                throw new CorruptRecordException("batch " + batchId + ": message " + m + " runs past the record");
            }
            int len = getInt(data, off);
            int n = getInt(data, off + 4);
            if (len < 0 || off + 4L + len > data.length || n < 0 || slot + n > slots) {
                throw new CorruptRecordException("batch " + batchId + ": message " + m + " has bad lengths");
            }
            for (int i = 0; i < n; i++) {
                offsets[slot++] = off;
            }
            off += 4 + len;
        }
        if (slot != slots || off != data.length) {
            throw new CorruptRecordException("batch " + batchId + ": slot count or length does not add up");
        }
        return new BatchRecord(batchId, data, messages, slots, offsets, getInt(data, 0) == MAGIC);
    }

    int messageOffset(int slot) {
        return messageOffsetBySlot[slot];
    }

    // Field accessors of the message at offset off (see MessageEncoding for the layout).
    // A "...Field" offset is that of the field's length prefix; its bytes follow the prefix.

    int queueCount(int off) {
        return getInt(data, off + 4);
    }

    long queueId(int off, int i) {
        return getLong(data, off + 8 + 8 * i);
    }

    int exchangeOffset(int off) {
        return off + 8 + 8 * queueCount(off);
    }

    int exchangeLength(int off) {
        return getShort(exchangeOffset(off));
    }

    int routingKeyOffset(int off) {
        return exchangeOffset(off) + 2 + exchangeLength(off);
    }

    int routingKeyLength(int off) {
        return getShort(routingKeyOffset(off));
    }

    int propertiesField(int off) {
        return routingKeyOffset(off) + 2 + routingKeyLength(off);
    }

    int propertiesLength(int off) {
        return getInt(data, propertiesField(off));
    }

    int bodyField(int off) {
        return propertiesField(off) + 4 + propertiesLength(off);
    }

    int bodyLength(int off) {
        return getInt(data, bodyField(off));
    }

    /** When the message at {@code off} was published (epoch ms), or -1 in an old record. */
    long publishedAt(int off) {
        return timed ? getLong(data, bodyField(off) + 4 + bodyLength(off)) : -1;
    }

    /** The own TTL (ms) of the message at {@code off}, or -1: none or an old record. */
    long ttl(int off) {
        return timed ? getLong(data, bodyField(off) + 4 + bodyLength(off) + 8) : -1;
    }

    /** Offset of the message after the one at {@code off}. */
    int next(int off) {
        return off + 4 + getInt(data, off);
    }

    String string(int lenOffset) {
        return new String(data, lenOffset + 2, getShort(lenOffset), StandardCharsets.UTF_8);
    }

    private int getShort(int off) {
        return (data[off] & 0xFF) << 8 | data[off + 1] & 0xFF;
    }

    static int getInt(byte[] b, int off) {
        return (int) INT.get(b, off);
    }

    static long getLong(byte[] b, int off) {
        return (long) LONG.get(b, off);
    }

    /** A record that fails its checks. */
    static final class CorruptRecordException extends Exception {
        CorruptRecordException(String message) {
            super(message);
        }
    }
}
