package io.warren.core.publish;

import io.warren.core.queue.MessageQueue;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * One confirmed publish waiting for the queues that may refuse it (a length limit with
 * x-overflow reject-publish or reject-publish-dlx, {@link MessageQueue#mayRefuse()}): each such
 * queue decides on its own loop, where its counts live, and the last decision tells the
 * publisher's {@link Sink} once whether any queue refused (RabbitMQ then nacks the publish, even
 * when other queues took it). Only publishes that reach such a queue with confirms on create
 * one; every other publish pays nothing.
 *
 * <p>The publisher holds one count until it has handed the message to every queue
 * ({@link #handedOver()}), so an early decision cannot settle the publish while later queues
 * are still being handed their copy. Thread-safe.
 */
public final class QueueVerdicts implements MessageQueue.Admission {
    /** Gets the outcome of publish {@code seq}, once, on the thread of the last decision. */
    @FunctionalInterface
    public interface Sink {
        void decided(long seq, boolean refused);
    }

    private final long seq;
    private final Sink sink;
    private final AtomicInteger pending = new AtomicInteger(1);
    private volatile boolean refused;

    public QueueVerdicts(long seq, Sink sink) {
        this.seq = seq;
        this.sink = sink;
    }

    /** One more queue will decide. The publisher's thread, before {@link #handedOver()}. */
    public void expect() {
        pending.incrementAndGet();
    }

    /** The publisher handed the message to every queue: releases its own count. */
    public void handedOver() {
        done();
    }

    @Override public void accepted() {
        done();
    }

    @Override public void refused() {
        refused = true;
        done();
    }

    private void done() {
        // The volatile write of `refused` comes before the decrement; whoever reaches zero reads it after.
        if (pending.decrementAndGet() == 0) {
            sink.decided(seq, refused);
        }
    }
}
