package io.warren.store.mapdb;

import java.nio.ByteBuffer;

/**
 * A committed batch as the store keeps it in memory and in its index, so that removes never
 * read the record back. The index entry (the value of {@code batchId -> entry}) is
 * <pre>
 * entry := long recid | int slotCount | long removedBits * ceil(slotCount / 64)
 * </pre>
 * {@code recid} and {@code slotCount} never change; the removed-slot bitmap and the live count
 * are owned by the committer thread, which replaces them only after a successful commit.
 */
final class BatchState {
    final long batchId;
    final long recid;
    final int slotCount;
    private long[] removed;
    private volatile int live; // volatile: read by liveSlots() on other threads

    BatchState(long batchId, long recid, int slotCount, long[] removed) {
        this.batchId = batchId;
        this.recid = recid;
        this.slotCount = slotCount;
        this.removed = removed;
        this.live = slotCount - cardinality(removed);
    }

    static long[] emptyBitmap(int slotCount) {
        return new long[(slotCount + 63) >>> 6];
    }

    static boolean isSet(long[] bits, int slot) {
        return (bits[slot >>> 6] & 1L << slot) != 0;
    }

    static int cardinality(long[] bits) {
        int n = 0;
        for (long w : bits) {
            n += Long.bitCount(w);
        }
        return n;
    }

    boolean isLive(int slot) {
        return slot < slotCount && !isSet(removed, slot);
    }

    int live() {
        return live;
    }

    /** A copy of the bitmap for the committer to change before its commit. */
    long[] removedCopy() {
        return removed.clone();
    }

    /** Installs the bitmap of a successful commit. */
    void install(long[] bits, int liveCount) {
        this.removed = bits;
        this.live = liveCount;
    }

    static byte[] entry(long recid, int slotCount, long[] removed) {
        ByteBuffer b = ByteBuffer.allocate(12 + 8 * removed.length);
        b.putLong(recid).putInt(slotCount);
        for (long w : removed) {
            b.putLong(w);
        }
        return b.array();
    }

    /** Reads an index entry; null if it is malformed (the caller names the file). */
    static BatchState fromEntry(long batchId, byte[] entry) {
        if (entry == null || entry.length < 12) {
            return null;
        }
        ByteBuffer b = ByteBuffer.wrap(entry);
        long recid = b.getLong();
        int slots = b.getInt();
        if (slots <= 0 || slots > Refs.MAX_SLOTS || entry.length != 12 + 8 * ((slots + 63) >>> 6)) {
            return null;
        }
        long[] bits = emptyBitmap(slots);
        for (int i = 0; i < bits.length; i++) {
            bits[i] = b.getLong();
        }
        return new BatchState(batchId, recid, slots, bits);
    }
}
