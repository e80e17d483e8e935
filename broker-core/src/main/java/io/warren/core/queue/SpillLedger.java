package io.warren.core.queue;

import io.warren.core.message.QueueEntry;

/**
 * What a length-limited queue must know about its paged-out entries without reading them back:
 * each one's body size (x-max-length-bytes) and expiry (whether dropping it frees a place in the
 * count or it had already expired), in spill order, and its enqueue time and own TTL, so that a
 * TTL change re-times it ({@link #retime}). A ring of four longs per entry, kept only by queues
 * with a length limit: a queue without one pays nothing per paged-out message. For these entries
 * the ledger's expiry is the one the queue's counts ({@link SpillExpiries}) go by. Owner: the
 * queue's loop.
 */
final class SpillLedger {
    private static final int STRIDE = 4;
    private long[] ring = new long[64 * STRIDE];
    /** Index of the oldest entry's first long; always a multiple of {@link #STRIDE}. */
    private int head;
    private int size;
    /** Entries from the head already re-timed by the {@link #retime} pass under way. */
    private int retimed;

    /** An entry went to the spill: {@code ownTtl} is the message's own TTL, -1 for none. */
    void add(long bodyBytes, long enqueuedAt, long ownTtl, long expiresAt) {
        if (STRIDE * size == ring.length) {
            long[] bigger = new long[ring.length * 2];
            int first = ring.length - head;
            System.arraycopy(ring, head, bigger, 0, first);
            System.arraycopy(ring, 0, bigger, first, head);
            ring = bigger;
            head = 0;
        }
        int at = (head + STRIDE * size) & (ring.length - 1);
        ring[at] = bodyBytes;
        ring[at + 1] = expiresAt;
        ring[at + 2] = enqueuedAt;
        ring[at + 3] = ownTtl;
        size++;
    }

    boolean isEmpty() {
        return size == 0;
    }

    int size() {
        return size;
    }

    /** The oldest entry's body size. */
    long headBytes() {
        return ring[head];
    }

    /** The oldest entry's expiry. */
    long headExpiresAt() {
        return ring[head + 1];
    }

    /** The oldest entry left the spill (read back or dropped). */
    void poll() {
        if (size == 0) {
            return;
        }
        head = (head + STRIDE) & (ring.length - 1);
        size--;
        if (retimed > 0) {
            retimed--;
        }
    }

    /** Starts a re-timing pass from the head ({@link #retime}). */
    void startRetime() {
        retimed = 0;
    }

    /**
     * Re-times up to {@code max} entries after those this pass re-timed already: each gets the
     * expiry the queue TTL {@code ttl} (-1: none) gives it from its enqueue time and own TTL,
     * except one that had expired by {@code changedAt} (when the TTL changed), as the spill's
     * sweep does on disk; {@code moves} learns each change so that the counts follow. True when
     * the pass reached the tail (entries added meanwhile got the new TTL when they were added).
     */
    boolean retime(long ttl, long changedAt, int max, SpillExpiries.Moves moves) {
        int end = Math.min(size, retimed + max);
        int mask = ring.length - 1;
        for (int i = retimed; i < end; i++) {
            int at = (head + STRIDE * i) & mask;
            long old = ring[at + 1];
            if (old != QueueEntry.NEVER && old <= changedAt) {
                continue;
            }
            long now = QueueEntry.expiry(ring[at + 2], ring[at + 3], ttl);
            if (now != old) {
                ring[at + 1] = now;
                moves.moved(old, now, ring[at]);
            }
        }
        retimed = end;
        return end == size;
    }

    void clear() {
        head = 0;
        size = 0;
        retimed = 0;
        if (ring.length > 64 * STRIDE) {
            ring = new long[64 * STRIDE];
        }
    }
}
