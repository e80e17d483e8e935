package io.warren.core.store;

/** A store that cannot be opened or written; the message names the file and what is wrong. */
public class StoreException extends RuntimeException {
    public StoreException(String message, Throwable cause) {
        super(message, cause);
    }

    public StoreException(String message) {
        super(message);
    }
}
