package io.warren.server.config;

/**
 * A configuration file that cannot be used. The message is one line in the compiler style
 * {@code FILE:LINE: text} so that an operator can jump straight to the offending line; the
 * launcher prints it as is, without a stack trace.
 */
public final class ConfigException extends RuntimeException {
    private final int line;
    private final String key;

    public ConfigException(String message) {
        this(message, 0, null, null);
    }

    public ConfigException(String message, Throwable cause) {
        this(message, 0, null, cause);
    }

    ConfigException(String message, int line, String key, Throwable cause) {
        super(message, cause);
        this.line = line;
        this.key = key;
    }

    /** The 1-based line in the file, or 0 when the error is not about one line. */
    public int line() {
        return line;
    }

    /** The key on that line, or null when the line had none (or the error is file-wide). */
    public String key() {
        return key;
    }
}
