package io.warren.core.queue;

/**
 * What a length-limited queue must know about its paged-out entries without reading them back:
 * each one's body size (x-max-length-bytes) and expiry (whether dropping it frees a place in the
 * count or it had already expired), in spill order. A ring of two longs per entry, kept only by
 * queues with a length limit: a queue without one pays nothing per paged-out message. Owner: the
 * queue's loop.
 */
final class SpillLedger {
    private long[] ring = new long[64];
    /** Index of the oldest entry's first long; always even. */
    private int head;
    private int size;

    /** An entry went to the spill. */
    void add(long bodyBytes, long expiresAt) {
        if (2 * size == ring.length) {
            long[] bigger = new long[ring.length * 2];
            int first = ring.length - head;
            System.arraycopy(ring, head, bigger, 0, first);
            System.arraycopy(ring, 0, bigger, first, head);
            ring = bigger;
            head = 0;
        }
        int at = (head + 2 * size) & (ring.length - 1);
        ring[at] = bodyBytes;
        ring[at + 1] = expiresAt;
        size++;
    }

    boolean isEmpty() {
        return size == 0;
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
        head = (head + 2) & (ring.length - 1);
        size--;
    }

    void clear() {
        head = 0;
        size = 0;
        if (ring.length > 64) {
            ring = new long[64];
        }
    }
}
