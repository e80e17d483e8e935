package io.warren.store.journal;

import io.warren.core.store.BoundedBacklog;
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
    record Take(List<PendingBatch> batches, long[] removes, int removeCount, List<Durable> waiters, long bytes) {
        boolean writes() {
            return !batches.isEmpty() || removeCount > 0;
        }
    }

    /** How long removes alone wait for a forced write to ride on. */
    static final long REMOVE_DELAY_NANOS = 50_000_000;
    /** Removes alone are written at once past this many. */
    static final int MAX_DELAYED_REMOVES = 1 << 16;

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
    /** The committer waits for removes alone to get company ({@link #await}): a remove wakes it only when there are many. */
    private boolean delayingRemoves;
    private boolean closed;
    /**
     * Encoded message bytes appended and not yet committed (taken ones included until their
     * commit ends): the heap the publishers' backlog holds, and the size of the next frame.
     */
    private final BoundedBacklog backlog;
    /** Bytes appended since the committer's last take. */
    private long untakenBytes;

    PendingWork(String storeName, long firstBatchId, long maxBacklog) {
        this.storeName = storeName;
        this.nextBatchId = firstBatchId;
        this.backlog = new BoundedBacklog(maxBacklog);
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
            backlog.added(encoded.length);
            untakenBytes += encoded.length;
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
            if (!delayingRemoves || removeCount >= MAX_DELAYED_REMOVES) {
                wake();
            }
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

    /**
     * Blocks until there is work; null once closed and drained. Committer thread only. Removes
     * alone (acks) wait up to {@link #REMOVE_DELAY_NANOS} for a message or a sync to ride on:
     * nobody waits for them, and every frame costs an fsync (about 0.3 ms of kernel CPU on this
     * project's VMs). With one message in flight each ack rides on the next confirm's frame, and
     * a stream of acks alone costs at most 20 fsyncs a second. An ack still pending at a crash
     * only means a redelivery after the restart.
     */
    Take await() {
        lock.lock();
        try {
            while (!hasWork && !closed) {
                // Uninterruptible on purpose: an interrupt would also close the journal's FileChannel.
                ready.awaitUninterruptibly();
            }
            if (onlyRemoves()) {
                long deadline = System.nanoTime() + REMOVE_DELAY_NANOS;
                long left;
                delayingRemoves = true; // more removes do not wake the committer meanwhile
                try {
                    while (onlyRemoves() && !closed && removeCount < MAX_DELAYED_REMOVES
                            && (left = deadline - System.nanoTime()) > 0) {
                        hasWork = false; // so the next append or sync signals
                        try {
                            ready.awaitNanos(left);
                        } catch (InterruptedException e) {
                            break; // not kept: as above, an interrupt would close the journal's FileChannel
                        }
                    }
                } finally {
                    delayingRemoves = false;
                }
                hasWork = hasWork || removeCount > 0;
            }
            if (!hasWork && removeCount == 0) {
                return null; // closed and drained (requeued removes count as work at close)
            }
            if (forming != null) {
                sealed.add(forming);
                forming = null;
            }
            Take t = new Take(sealed, removes, removeCount, waiters, untakenBytes);
            untakenBytes = 0;
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

    /** True while the uncommitted backlog is past its bound (see {@link #whenDrained}). */
    boolean overloaded() {
        return backlog.overloaded();
    }

    /** Runs {@code callback} on {@code executor} once the backlog has fallen to half its bound. */
    void whenDrained(java.util.concurrent.Executor executor, Runnable callback) {
        backlog.whenDrained(executor, callback);
    }

    /**
     * The commit of a take has ended (written or failed): its bytes leave the backlog, and when
     * the backlog is down to half the bound the drain waiters are handed to their executors.
     * Committer thread; the callbacks never run on it.
     */
    void committed(long bytes) {
        backlog.done(bytes);
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

    /** Removes pending and nothing else: no message, no sync. */
    private boolean onlyRemoves() {
        return removeCount > 0 && forming == null && sealed.isEmpty() && waiters.isEmpty();
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
