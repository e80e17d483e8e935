package io.warren.core;

/**
 * A protocol-neutral failure of a broker operation. The protocol layer maps {@link Reason} to
 * its reply codes; {@link #getMessage()} is the text without the code name, worded like
 * RabbitMQ's (e.g. "no queue 'x' in vhost '/'").
 */
public class BrokerException extends RuntimeException {
    /** Why the operation failed; each maps to one AMQP reply code. */
    public enum Reason {
        NOT_FOUND, ACCESS_REFUSED, RESOURCE_LOCKED, PRECONDITION_FAILED, NOT_ALLOWED,
        COMMAND_INVALID, NOT_IMPLEMENTED, INTERNAL_ERROR, CHANNEL_ERROR, SYNTAX_ERROR, UNEXPECTED_FRAME,
        FRAME_ERROR, RESOURCE_ERROR, CONNECTION_FORCED
    }

    private final Reason reason;

    public BrokerException(Reason reason, String text) {
        super(text, null, false, false);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }

    public static BrokerException notFound(String fmt, Object... args) {
        return new BrokerException(Reason.NOT_FOUND, String.format(fmt, args));
    }

    public static BrokerException accessRefused(String fmt, Object... args) {
        return new BrokerException(Reason.ACCESS_REFUSED, String.format(fmt, args));
    }

    public static BrokerException resourceLocked(String fmt, Object... args) {
        return new BrokerException(Reason.RESOURCE_LOCKED, String.format(fmt, args));
    }

    public static BrokerException preconditionFailed(String fmt, Object... args) {
        return new BrokerException(Reason.PRECONDITION_FAILED, String.format(fmt, args));
    }

    public static BrokerException commandInvalid(String fmt, Object... args) {
        return new BrokerException(Reason.COMMAND_INVALID, String.format(fmt, args));
    }

}
