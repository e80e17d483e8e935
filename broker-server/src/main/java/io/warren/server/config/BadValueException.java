package io.warren.server.config;

/**
 * Thrown by {@link Values} when a value does not fit its key; carries only what was
 * expected. {@link ConfigParser} adds the file, line and key to make the operator's message.
 */
final class BadValueException extends Exception {
    BadValueException(String expected) {
        super(expected, null, false, false);
    }

    String expected() {
        return getMessage();
    }
}
