package io.warren.cli;

/** A failure that ends the command: a one-line message for stderr and rabbitmqctl's exit code. */
final class CliException extends RuntimeException {
    final int code;

    CliException(int code, String message) {
        super(message, null, false, false);
        this.code = code;
    }
}
