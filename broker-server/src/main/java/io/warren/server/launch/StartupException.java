package io.warren.server.launch;

/** A start-up failure whose message is already the one line an operator needs (it names the key or file). */
public final class StartupException extends RuntimeException {
    public StartupException(String message, Throwable cause) {
        super(message, cause);
    }
}
