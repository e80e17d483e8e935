package io.warren.core.store;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;

/**
 * Bytes handed to a store's own thread and not yet dealt with, against a bound: past it the
 * backlog is overloaded until the thread has brought it down to half (the hysteresis keeps a
 * publisher from being paused and resumed on every write); then the drain callbacks run on
 * their executors, never on the caller. Thread-safe.
 */
public final class BoundedBacklog implements WriteBacklog {
    private final long bound;
    private long bytes;
    private volatile boolean overloaded;
    private List<Drain> waiters = new ArrayList<>();

    private record Drain(Executor executor, Runnable callback) {}

    public BoundedBacklog(long bound) {
        this.bound = bound;
    }

    /** {@code n} more bytes wait for the store's thread. */
    public synchronized void added(long n) {
        bytes += n;
        if (!overloaded && bytes > bound) {
            overloaded = true;
        }
    }

    /** The store's thread is done with {@code n} bytes (written, or failed); may hand the waiters to their executors. */
    public void done(long n) {
        List<Drain> ready;
        synchronized (this) {
            bytes -= n;
            if (!overloaded || bytes > bound / 2) {
                return;
            }
            overloaded = false;
            ready = waiters;
            waiters = new ArrayList<>();
        }
        for (Drain d : ready) {
            try {
                d.executor().execute(d.callback());
            } catch (RejectedExecutionException gone) {
                // its loop shut down (broker stopping): nobody is left to resume
            }
        }
    }

    /** Bytes waiting now. */
    public synchronized long bytes() {
        return bytes;
    }

    @Override
    public boolean overloaded() {
        return overloaded;
    }

    @Override
    public void whenDrained(Executor executor, Runnable callback) {
        synchronized (this) {
            if (overloaded) {
                waiters.add(new Drain(executor, callback));
                return;
            }
        }
        executor.execute(callback);
    }
}
