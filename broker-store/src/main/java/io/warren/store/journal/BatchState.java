package io.warren.store.journal;

/**
 * A committed batch with at least one live slot, as the store keeps it in memory: where its
 * record lies in the journal and which slots are removed. Bodies are never kept here.
 *
 * <p>{@code slotCount} never changes. The bitmap, live count and location are owned by the
 * committer thread, which replaces them only after a successful (durable) commit; the
 * location is volatile because the reader thread follows it.
 */
final class BatchState {
    /** Where the record lies: a segment, the record's offset in the file, its length. */
    record Location(Segment segment, long offset, int length) {}

    final long batchId;
    final int slotCount;
    private volatile Location location;
    private long[] removed;
    @SuppressWarnings("NonAtomicVolatileUpdate") // only the committer (or replay) writes it
    private volatile int live; // volatile: read by liveSlots() on other threads

    BatchState(long batchId, int slotCount, long[] removed, Location location) {
        this.batchId = batchId;
        this.slotCount = slotCount;
        this.removed = removed;
        this.location = location;
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

    Location location() {
        return location;
    }

    void moveTo(Location l) {
        this.location = l;
    }

    /** A copy of the bitmap for the committer to change before its commit. */
    long[] removedCopy() {
        return removed.clone();
    }

    /** Replay only (single-threaded, before the store serves): removes one slot in place; false if it was not live. */
    boolean removeInPlace(int slot) {
        if (slot < 0 || slot >= slotCount || isSet(removed, slot)) {
            return false;
        }
        removed[slot >>> 6] |= 1L << slot;
        live--;
        return true;
    }

    /** Installs the bitmap of a successful commit. */
    void install(long[] bits, int liveCount) {
        this.removed = bits;
        this.live = liveCount;
    }
}
