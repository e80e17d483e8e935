package io.warren.core.queue;

import io.warren.core.store.SpillStore;

import java.util.concurrent.atomic.LongAdder;

/**
 * How queues keep their memory bounded: a queue keeps at most {@link #queueBound()} bytes of
 * ready messages in memory (content plus {@link #ENTRY_OVERHEAD} per message); a message that
 * arrives past that, and everything after it while the queue has any paged out, goes to the
 * queue's spill in the page-out store ({@link SpillStore}), which costs the heap nothing per
 * message. Paged messages come back a batch at a time ahead of consumers, in order. Under memory
 * pressure (the memory monitor sets it at {@code vm_memory_high_watermark_paging_ratio} of the
 * high watermark) the bound shrinks to {@link #pressureBound()}. Shared by every queue;
 * thread-safe.
 */
public final class Paging {
    /** No page-out store and no bound: messages stay in memory (tests, tools). */
    public static final Paging OFF = new Paging(null, Long.MAX_VALUE, Long.MAX_VALUE);

    /**
     * Bytes a queue keeps in memory before new arrivals page out: 64 MiB is ~50,000 1 KB
     * messages, so a queue whose consumers fall a few seconds behind never touches the disk.
     * Memory pressure shrinks it to the pressure bound.
     */
    public static final long DEFAULT_QUEUE_BOUND = 64L << 20;
    /** The bound under memory pressure: a couple of read-back batches of 1 KB messages. */
    public static final long DEFAULT_PRESSURE_BOUND = 256L << 10;
    /**
     * What a ready message costs in memory besides its content (entry, message, strings,
     * buffer headers), counted against the bound so that a backlog of tiny messages is bounded too.
     */
    public static final int ENTRY_OVERHEAD = 256;

    private final SpillStore store;
    private final long queueBound;
    private final long pressureBound;
    private volatile boolean pressure;
    private final LongAdder pagedOut = new LongAdder();

    /** @param store where queues page out to (null: messages stay in memory) */
    public Paging(SpillStore store, long queueBound, long pressureBound) {
        this.store = store;
        this.queueBound = queueBound;
        this.pressureBound = pressureBound;
    }

    /** False when there is no page-out store: messages stay in memory. */
    boolean enabled() {
        return store != null;
    }

    /** A spill for {@code queue}, or null when paging is off. */
    SpillStore.Spill open(MessageQueue queue) {
        return store == null ? null : store.open(queue.toString());
    }

    public long queueBound() {
        return queueBound;
    }

    public long pressureBound() {
        return pressureBound;
    }

    /** What publishers look at when there is no page-out store. */
    private static final io.warren.core.store.WriteBacklog NEVER_BEHIND = new io.warren.core.store.WriteBacklog() { };

    /**
     * The page-out store's write backlog: publishers pause while it is behind (what queues paged
     * out and its thread has not written yet is past its bound), so a fast publisher into a
     * queue that pages cannot fill memory with chunks waiting for the disk.
     */
    public io.warren.core.store.WriteBacklog backlog() {
        return store == null ? NEVER_BEHIND : store;
    }

    /** The bound in force now. */
    long bound() {
        return pressure ? pressureBound : queueBound;
    }

    /** Set by the memory monitor when memory passes the paging ratio of the high watermark. */
    public void pressure(boolean on) {
        pressure = on;
    }

    public boolean pressure() {
        return pressure;
    }

    void countOut() {
        pagedOut.increment();
    }

    /** Messages paged out so far. */
    public long pagedOut() {
        return pagedOut.sum();
    }
}
