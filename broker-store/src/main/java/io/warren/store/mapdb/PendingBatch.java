package io.warren.store.mapdb;

import org.mapdb.DataInput2;
import org.mapdb.DataOutput2;
import org.mapdb.Serializer;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * The batch being formed by appenders, then written by the committer as one record
 * ({@link BatchRecord} layout). Appenders add already-encoded messages under the store's
 * append lock; only the committer reads it afterwards.
 */
final class PendingBatch {
    /**
     * A batch is sealed at 16,384 slots or 4 MiB so that its acked-slot bitmap stays at 2 KiB
     * (rewritten at every commit that acks in it) and a load or recovery reads at most ~4 MiB
     * to reach one message. With 1 KB messages that is ~4,000 messages per record, well past
     * the size where MapDB's per-commit cost stops mattering (DESIGN §5: ~110 MB/s at 1 MB).
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

    /** Writes the batch straight into MapDB's output buffer, without concatenating it first. */
    static final Serializer<PendingBatch> SERIALIZER = new Serializer<>() {
        @Override
        public void serialize(DataOutput2 out, PendingBatch b) throws IOException {
            byte[] head = new byte[BatchRecord.HEADER - 8];
            java.nio.ByteBuffer.wrap(head).putLong(b.batchId).putInt(b.messages.size()).putInt(b.slotCount);
            CRC32C crc = new CRC32C();
            crc.update(head);
            for (byte[] m : b.messages) {
                crc.update(m);
            }
            out.writeInt(BatchRecord.MAGIC);
            out.writeInt((int) crc.getValue());
            out.write(head);
            for (byte[] m : b.messages) {
                out.write(m);
            }
        }

        @Override
        public PendingBatch deserialize(DataInput2 input, int available) {
            throw new UnsupportedOperationException("batch records are read back as bytes");
        }
    };
}
