package io.warren.store.journal;

/**
 * A message reference is {@code batchId << SLOT_BITS | slotIndex}: the batch record and the
 * slot inside it, so {@code remove(ref)} and {@code load(ref)} need no lookup table.
 *
 * <p>44 bits of batch id last 550 years at 1,000 commits/s; 20 bits of slot cover a message
 * routed to up to a million durable queues (the batch caps in {@link PendingBatch} are far below).
 */
final class Refs {
    static final int SLOT_BITS = 20;
    static final int MAX_SLOTS = 1 << SLOT_BITS;
    private static final long SLOT_MASK = MAX_SLOTS - 1;

    private Refs() {}

    static long ref(long batchId, int slot) {
        return batchId << SLOT_BITS | slot;
    }

    static long batchId(long ref) {
        return ref >>> SLOT_BITS;
    }

    static int slot(long ref) {
        return (int) (ref & SLOT_MASK);
    }

    static String format(long ref) {
        return batchId(ref) + ":" + slot(ref);
    }
}
