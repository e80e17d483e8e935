package io.warren.store.journal;

import io.warren.core.store.MessageStore.Durable;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * What the committer has not taken yet: the batch being formed, sealed batches, removes and
 * waiting callbacks. Callers (event loops) hold the lock only to hand out slots or queue a
 * ref; the committer takes everything in one swap.
 */
final class PendingWork {
    /** Everything the committer took in one go; committed (or failed) as one unit. */
    record Take(List<PendingBatch> batches, long[] removes, int removeCount, List<Durable> waiters) {
        boolean writes() {
            return !batches.isEmpty() || removeCount > 0;
        }
    }

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition ready = lock.newCondition();
    private final String storeName;
    private long nextBatchId;
    private PendingBatch forming;
    private List<PendingBatch> sealed = new ArrayList<>();
    private long[] removes = new long[256];
    private int removeCount;
    private List<Durable> waiters = new ArrayList<>();
    private boolean hasWork;
    private boolean closed;

    PendingWork(String storeName, long firstBatchId) {
        this.storeName = storeName;
        this.nextBatchId = firstBatchId;
    }

    /** Assigns {@code slots} consecutive slots to an encoded message; returns the first ref. */
    long append(byte[] encoded, int slots, Durable durable) {
        lock.lock();
        try {
            checkOpen();
            if (forming == null || !forming.fits(slots, encoded.length)) {
                if (forming != null) {
                    sealed.add(forming);
                }
                forming = new PendingBatch(nextBatchId++);
            }
            int first = forming.add(encoded, slots);
            if (durable != null) {
                waiters.add(durable);
            }
            wake();
            return Refs.ref(forming.batchId, first);
        } finally {
            lock.unlock();
        }
    }

    /** Queues a remove; false if the store is closed (the slot then survives until next start). */
    boolean remove(long ref) {
        lock.lock();
        try {
            if (closed) {
                return false;
            }
            addRemove(ref);
            wake();
            return true;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Puts back removes of a failed commit for the next commit to retry. It does not wake the
     * committer: with a broken disk that would spin on failing commits; the next write (or
     * close) carries them. Returns false when closed and they are dropped: a dropped remove
     * only means a redelivery after restart, and dropping it ends the retries at close.
     */
    boolean requeueRemoves(long[] refs, int count) {
        lock.lock();
        try {
            if (closed) {
                return false;
            }
            for (int i = 0; i < count; i++) {
                addRemove(refs[i]);
            }
            return true;
        } finally {
            lock.unlock();
        }
    }

    void sync(Durable durable) {
        lock.lock();
        try {
            checkOpen();
            waiters.add(durable);
            wake();
        } finally {
            lock.unlock();
        }
    }

    /** Blocks until there is work; null once closed and drained. Committer thread only. */
    Take await() {
        lock.lock();
        try {
            while (!hasWork && !closed) {
                // Uninterruptible on purpose: an interrupt would also close the journal's FileChannel.
                ready.awaitUninterruptibly();
            }
            if (!hasWork && removeCount == 0) {
                return null; // closed and drained (requeued removes count as work at close)
            }
            if (forming != null) {
                sealed.add(forming);
                forming = null;
            }
            Take t = new Take(sealed, removes, removeCount, waiters);
            sealed = new ArrayList<>();
            removes = new long[Math.max(256, Math.min(removeCount, 1 << 16))];
            removeCount = 0;
            waiters = new ArrayList<>();
            hasWork = false;
            return t;
        } finally {
            lock.unlock();
        }
    }

    /** Refuses new work; the committer drains what is queued and then stops. */
    void close() {
        lock.lock();
        try {
            closed = true;
            ready.signalAll();
        } finally {
            lock.unlock();
        }
    }

    private void addRemove(long ref) {
        if (removeCount == removes.length) {
            removes = Arrays.copyOf(removes, removeCount * 2);
        }
        removes[removeCount++] = ref;
    }

    private void wake() {
        if (!hasWork) {
            hasWork = true;
            ready.signal();
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new io.warren.core.store.StoreException("message store " + storeName + " is closed");
        }
    }
}
