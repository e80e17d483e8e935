package io.warren.core.policy;

/**
 * A policy that cannot be set, with RabbitMQ's text: {@code "Validation failed\n\n<why>\n"} for
 * a definition, pattern or apply-to it refuses (the management API answers it as a 400 reason,
 * warrenctl prints it on one line).
 */
public final class PolicyException extends RuntimeException {
    private PolicyException(String message) {
        super(message, null, false, false);
    }

    /** RabbitMQ's rabbit_parameter_validation wording around {@code why}. */
    static PolicyException validation(String why) {
        return new PolicyException("Validation failed\n\n" + why + "\n");
    }
}
