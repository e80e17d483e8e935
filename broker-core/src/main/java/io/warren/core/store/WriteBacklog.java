package io.warren.core.store;

/**
 * Back-pressure from a store that writes on a thread of its own: while what it was handed and
 * has not written yet is past its bound, publishers pause ({@link io.warren.core.flow.PublisherFlow})
 * until it has caught up.
 */
public interface WriteBacklog {

    /** True while the store's write backlog is past its bound. Any thread, cheap. */
    default boolean overloaded() {
        return false;
    }

    /** Runs {@code callback} on {@code executor} once the backlog is back under its bound, or at once. */
    default void whenDrained(java.util.concurrent.Executor executor, Runnable callback) {
        executor.execute(callback);
    }
}
