package io.warren.core.store;

/** A store that cannot be opened or written; the message names the file and what is wrong. */
public class StoreException extends RuntimeException {
    public StoreException(String message, Throwable cause) {
        super(message, cause);
    }

    public StoreException(String message) {
        super(message);
    }

    /**
     * The store no longer holds the message: it was settled by another way than the queue that
     * asks knew of (a quorum queue's ack that a former leader sent through the log after this
     * node's queue was rebuilt from its copy). Nothing to deliver; not an error of the store.
     */
    public static final class Settled extends StoreException {
        public Settled(String message) {
            super(message);
        }
    }
}
