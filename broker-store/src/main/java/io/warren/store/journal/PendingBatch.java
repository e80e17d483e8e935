package io.warren.store.journal;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * The batch being formed by appenders, then written by the committer as one record
 * ({@link BatchRecord} layout) inside a journal frame. Appenders add already-encoded messages
 * under the append lock; only the committer reads it afterwards.
 */
final class PendingBatch {
    /**
     * A batch is sealed at 16,384 slots or 4 MiB so that its removed-slot bitmap stays at 2 KiB
     * and a load or recovery reads at most ~4 MiB to reach one message.
     */
    static final int MAX_SLOTS = 16_384;
    static final int MAX_BYTES = 4 << 20;

    final long batchId;
    final List<byte[]> messages = new ArrayList<>();
    int slotCount;
    long bytes;

    PendingBatch(long batchId) {
        this.batchId = batchId;
    }

    /** Whether a message of {@code slots} slots and {@code size} bytes still fits; an empty batch takes anything. */
    boolean fits(int slots, int size) {
        return messages.isEmpty() || slotCount + slots <= MAX_SLOTS && bytes + size <= MAX_BYTES;
    }

    /** Adds the message and returns its first slot. */
    int add(byte[] encoded, int slots) {
        int first = slotCount;
        messages.add(encoded);
        slotCount += slots;
        bytes += encoded.length;
        return first;
    }

    /** Size of the record {@link #writeRecord} writes. */
    long recordLength() {
        return BatchRecord.HEADER + bytes;
    }

    /** Writes the record (header with its CRC, then the messages) at {@code out}'s position. */
    void writeRecord(ByteBuffer out) {
        byte[] head = new byte[BatchRecord.HEADER - 8];
        ByteBuffer.wrap(head).putLong(batchId).putInt(messages.size()).putInt(slotCount);
        CRC32C crc = new CRC32C();
        crc.update(head);
        for (byte[] m : messages) {
            crc.update(m);
        }
        out.putInt(BatchRecord.MAGIC).putInt((int) crc.getValue()).put(head);
        for (byte[] m : messages) {
            out.put(m);
        }
    }
}
