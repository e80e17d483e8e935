package io.warren.core.queue;

import io.warren.core.message.QueueEntry;

import java.util.TreeMap;

/**
 * When a queue's paged-out entries expire, without reading them back: a count per
 * {@link #BUCKET_MS} bucket of expiry time (bucket end -> entries). At expiry time the due
 * buckets' counts move to {@link #expired()}, which the queue subtracts from its message count at
 * once; the entries themselves stay on disk and are dropped when they are read back, or earlier
 * by a sweep of the spill (queues with a dead-letter exchange, TTL changes: see
 * MessageQueue#sweepSpill), whose re-timing moves counts between buckets ({@link Moves}). A bucket
 * lies entirely at or before {@link #countedUpTo} once counted, so an entry read back knows
 * whether it was counted from its expiry alone: no heap per paged message, only per bucket.
 * Owner: the queue's loop.
 */
final class SpillExpiries {
    /**
     * Bucket width: entries expire up to this late in the counts (well within the promised
     * second), and a spill holds at most 10 buckets per second of expiry spread.
     */
    static final long BUCKET_MS = 100;

    private final TreeMap<Long, long[]> buckets = new TreeMap<>();
    /** Every bucket ending at or before this has been counted. */
    private long countedUpTo = Long.MIN_VALUE;
    private long expired;
    /** Body bytes of the {@link #expired} entries (x-max-length-bytes counts ready bytes). */
    private long expiredBytes;

    private static long bucket(long expiresAt) {
        return Math.floorDiv(expiresAt, BUCKET_MS) * BUCKET_MS + BUCKET_MS;
    }

    /** An entry with this expiry and body size went to the spill. */
    void add(long expiresAt, long bytes) {
        if (expiresAt == QueueEntry.NEVER) {
            return;
        }
        long b = bucket(expiresAt);
        if (b <= countedUpTo) {
            expired++;
            expiredBytes += bytes;
        } else {
            long[] c = buckets.computeIfAbsent(b, k -> new long[2]);
            c[0]++;
            c[1] += bytes;
        }
    }

    /** Counts the entries due by {@code now} as expired. */
    void expireUpTo(long now) {
        while (!buckets.isEmpty() && buckets.firstKey() <= now) {
            long[] c = buckets.pollFirstEntry().getValue();
            expired += c[0];
            expiredBytes += c[1];
        }
        countedUpTo = Math.max(countedUpTo, now);
    }

    /**
     * An entry came back from the spill: true when it has expired and must be dropped. An entry
     * already counted leaves {@link #expired()}; one not counted yet leaves its bucket.
     */
    boolean readBack(QueueEntry e, long now) {
        long at = e.expiresAt();
        return left(at, e.message().bodySize()) || (at != QueueEntry.NEVER && at <= now);
    }

    /**
     * An entry with this expiry and body size leaves the spill's accounting (read back, or
     * dropped by a length limit while still on disk): true when it had been counted as expired.
     */
    boolean left(long expiresAt, long bytes) {
        if (expiresAt == QueueEntry.NEVER) {
            return false;
        }
        long b = bucket(expiresAt);
        if (b <= countedUpTo) {
            expired--;
            expiredBytes -= bytes;
            return true;
        }
        long[] c = buckets.get(b);
        if (c != null) {
            c[1] -= bytes;
            if (--c[0] == 0) {
                buckets.remove(b);
            }
        }
        return false;
    }

    /**
     * Expiry changes of paged-out entries, by bucket: what a sweep that re-timed them on disk
     * found, gathered on the store's thread, then applied on the loop with {@link #apply}. Heap per
     * bucket touched, not per entry.
     */
    static final class Moves {
        /** bucket -> {entries, bytes} leaving it, and arriving. */
        final TreeMap<Long, long[]> from = new TreeMap<>();
        final TreeMap<Long, long[]> to = new TreeMap<>();
        private final Side leaving = new Side(from);
        private final Side arriving = new Side(to);

        /** An entry of {@code bytes} moved from expiry {@code oldAt} to {@code newAt}. */
        void moved(long oldAt, long newAt, long bytes) {
            leaving.add(oldAt, bytes);
            arriving.add(newAt, bytes);
        }

        /** One side's counts by bucket, with the last bucket touched at hand: neighbours in a spill mostly share one. */
        private static final class Side {
            private final TreeMap<Long, long[]> counts;
            private long lastBucket = Long.MIN_VALUE;
            private long[] last;

            Side(TreeMap<Long, long[]> counts) {
                this.counts = counts;
            }

            void add(long at, long bytes) {
                if (at == QueueEntry.NEVER) {
                    return;
                }
                long b = bucket(at);
                if (b != lastBucket) {
                    lastBucket = b;
                    last = counts.computeIfAbsent(b, k -> new long[2]);
                }
                last[0]++;
                last[1] += bytes;
            }
        }

        boolean isEmpty() {
            return from.isEmpty() && to.isEmpty();
        }
    }

    /**
     * Applies a sweep's re-timing: each moved entry leaves the bucket (or the expired count) of
     * its old expiry and joins that of its new one, counted as expired at once when that is due.
     */
    void apply(Moves m) {
        for (var en : m.from.entrySet()) {
            long b = en.getKey();
            long[] c = en.getValue();
            if (b <= countedUpTo) {
                expired -= c[0];
                expiredBytes -= c[1];
            } else {
                long[] have = buckets.get(b);
                if (have != null) {
                    have[0] -= c[0];
                    have[1] -= c[1];
                    if (have[0] <= 0) {
                        buckets.remove(b);
                    }
                }
            }
        }
        for (var en : m.to.entrySet()) {
            long b = en.getKey();
            long[] c = en.getValue();
            if (b <= countedUpTo) {
                expired += c[0];
                expiredBytes += c[1];
            } else {
                long[] have = buckets.computeIfAbsent(b, k -> new long[2]);
                have[0] += c[0];
                have[1] += c[1];
            }
        }
    }

    /** Body bytes of the entries counted in {@link #expired()}. */
    long expiredBytes() {
        return expiredBytes;
    }

    /** Paged-out entries counted as expired but still on disk. */
    long expired() {
        return expired;
    }

    /** When the next bucket is due, or {@link QueueEntry#NEVER}. */
    long next() {
        return buckets.isEmpty() ? QueueEntry.NEVER : buckets.firstKey();
    }

    /** The spill was emptied (purge, delete). */
    void clear() {
        buckets.clear();
        expired = 0;
        expiredBytes = 0;
    }
}
