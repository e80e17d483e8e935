package io.warren.core.queue;

import io.warren.core.store.MessageStore;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * How queues keep their memory bounded: once a queue holds more than {@link #queueBound()} bytes
 * of message content in memory, messages that arrive and must wait are paged out. A persistent
 * message that its durable queue has in the journal just drops its in-memory copy; any other
 * message is written to the page-out store first. Paged messages come back ahead of consumers
 * ({@link MessageQueue#LOAD_AHEAD} at a time). Under memory pressure (the memory monitor sets it
 * at {@code vm_memory_high_watermark_paging_ratio} of the high watermark) the bound shrinks to
 * {@link #pressureBound()}. Shared by every queue; thread-safe.
 */
public final class Paging {
    /** No page-out store and no bound: messages stay in memory (tests, tools). */
    public static final Paging OFF = new Paging(null, Long.MAX_VALUE, Long.MAX_VALUE);

    /**
     * Content bytes a queue keeps in memory before new arrivals page out: 64 MiB is 64,000 1 KB
     * messages, so a queue whose consumers fall a few seconds behind never touches the disk
     * (paging costs a consumer of the backlog: PerfTest -s 1000 -q 100 received 22k msg/s with
     * paging against 34k without, 2026-11-30). Memory pressure shrinks it to the pressure bound.
     */
    public static final long DEFAULT_QUEUE_BOUND = 64L << 20;
    /** The bound under memory pressure: enough for one load-ahead batch of 1 KB messages. */
    public static final long DEFAULT_PRESSURE_BOUND = 256L << 10;

    private final MessageStore pageStore;
    private final long queueBound;
    private final long pressureBound;
    private volatile boolean pressure;
    private final AtomicLong queueIds = new AtomicLong();
    private final LongAdder pagedOut = new LongAdder();

    /** @param pageStore where messages without a journal slot page out to (null: they stay in memory) */
    public Paging(MessageStore pageStore, long queueBound, long pressureBound) {
        this.pageStore = pageStore;
        this.queueBound = queueBound;
        this.pressureBound = pressureBound;
    }

    public MessageStore pageStore() {
        return pageStore;
    }

    public long queueBound() {
        return queueBound;
    }

    public long pressureBound() {
        return pressureBound;
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

    /** A queue's id in the page-out store. */
    long nextQueueId() {
        return queueIds.incrementAndGet();
    }

    void countOut() {
        pagedOut.increment();
    }

    /** Messages paged out so far. */
    public long pagedOut() {
        return pagedOut.sum();
    }
}
