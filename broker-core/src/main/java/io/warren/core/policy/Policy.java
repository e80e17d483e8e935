package io.warren.core.policy;

import java.util.Map;
import java.util.regex.Pattern;

/**
 * A policy (or an operator policy) of one vhost, as RabbitMQ has them: a regular expression
 * matched against queue and exchange names, what it applies to, a priority, and a validated
 * definition (see {@link PolicyValidator}). Immutable; {@link #compiled} is the pattern,
 * compiled once when the policy is made.
 */
public record Policy(String vhost, String name, String pattern, ApplyTo applyTo, int priority,
                     Map<String, Object> definition, Pattern compiled) {

    /** What a policy applies to: RabbitMQ's {@code apply-to}. */
    public enum ApplyTo {
        QUEUES("queues"), EXCHANGES("exchanges"), ALL("all");

        private final String wireName;

        ApplyTo(String wireName) {
            this.wireName = wireName;
        }

        public String wireName() {
            return wireName;
        }

        /** The value for {@code s}, or a {@link PolicyException} with RabbitMQ's text. */
        public static ApplyTo of(String s) {
            for (ApplyTo a : values()) {
                if (a.wireName.equals(s)) {
                    return a;
                }
            }
            throw PolicyException.validation("apply-to '" + s + "' unrecognised; should be 'queues', 'exchanges'"
                    + " or 'all'");
        }

        boolean queues() {
            return this != EXCHANGES;
        }

        boolean exchanges() {
            return this != QUEUES;
        }
    }

    public Policy {
        definition = Map.copyOf(definition);
    }
}
