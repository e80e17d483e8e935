package io.warren.core.policy;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Predicate;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Checks a policy before it is set, as RabbitMQ 3.10 does (rabbit_policies, rabbit_policy):
 * every value of a key it knows is validated (its texts, probed against 3.10), then keys it does
 * not know are refused together ({@code [{<<"foo">>,1}] are not recognised policy settings}).
 * On top of that warren refuses, naming the key, what it recognises but does not honour: a key
 * accepted and ignored would look as if it worked.
 */
public final class PolicyValidator {
    /** rabbit_misc:check_expiry's limit, also warren's x-message-ttl / x-expires limit. */
    static final long MAX_EXPIRY = 4294967295L;

    /** The keys policies may set in RabbitMQ 3.10, with their value rule and text. */
    private static final Map<String, Rule> RULES = new LinkedHashMap<>();
    /** The keys operator policies may set in RabbitMQ 3.10 (rabbit_policies' operator_policy_validator). */
    static final Set<String> OPERATOR_KEYS = Set.of("expires", "message-ttl", "max-length", "max-length-bytes",
            "max-in-memory-length", "max-in-memory-bytes", "delivery-limit");
    /** Keys warren honours today. */
    public static final Set<String> SUPPORTED = Set.of("message-ttl", "expires", "alternate-exchange", "queue-mode",
            "max-length", "max-length-bytes", "overflow", "delivery-limit", "dead-letter-exchange",
            "dead-letter-routing-key", "dead-letter-strategy", "queue-leader-locator");
    /**
     * Keys whose features are being built (dead-lettering, length limits, delivery limits): refused
     * with "not supported by warren yet" until each is wired to the queues (then it moves to
     * {@link #SUPPORTED}).
     */
    static final Set<String> NOT_YET = Set.of();

    private record Rule(Predicate<Object> valid, String what) {}

    static {
        RULES.put("alternate-exchange", new Rule(v -> v instanceof String, "alternate exchange name"));
        RULES.put("dead-letter-exchange", new Rule(v -> v instanceof String, "dead letter exchange name"));
        RULES.put("dead-letter-routing-key", new Rule(v -> v instanceof String, "dead letter routing key"));
        // quorum queues only (RabbitMQ 3.10 validates it for every policy, and classic queues ignore it)
        RULES.put("dead-letter-strategy", new Rule(v -> "at-most-once".equals(v) || "at-least-once".equals(v),
                "dead letter strategy"));
        // quorum queues only: where a new one's first leader goes (classic queues ignore it, as in RabbitMQ)
        RULES.put("queue-leader-locator", new Rule(v -> v instanceof String s
                && io.warren.core.vhost.QueueArguments.LEADER_LOCATORS.contains(s), "queue leader locator value"));
        RULES.put("message-ttl", new Rule(v -> integer(v, 0, MAX_EXPIRY), "message TTL"));
        RULES.put("expires", new Rule(v -> integer(v, 1, MAX_EXPIRY), "queue expiry"));
        RULES.put("max-length", new Rule(v -> integer(v, 0, Long.MAX_VALUE), "maximum length"));
        RULES.put("max-length-bytes", new Rule(v -> integer(v, 0, Long.MAX_VALUE), "maximum length in bytes"));
        RULES.put("max-in-memory-length", new Rule(v -> integer(v, 0, Long.MAX_VALUE), "maximum memory length"));
        RULES.put("max-in-memory-bytes", new Rule(v -> integer(v, 0, Long.MAX_VALUE), "maximum memory in bytes"));
        RULES.put("delivery-limit", new Rule(v -> integer(v, 0, Long.MAX_VALUE), "delivery limit"));
        RULES.put("queue-mode", new Rule(v -> v instanceof String s && (s.equals("default") || s.equals("lazy")),
                "queue-mode value"));
        RULES.put("overflow", new Rule(v -> v instanceof String s && (s.equals("drop-head")
                || s.equals("reject-publish") || s.equals("reject-publish-dlx")), "overflow value"));
        // Recognised by RabbitMQ 3.10 (mirroring, streams, CQ versions), never by warren.
        for (String k : List.of("ha-mode", "ha-params", "ha-sync-mode", "ha-sync-batch-size", "ha-promote-on-shutdown",
                "ha-promote-on-failure", "queue-master-locator", "max-age", "stream-max-segment-size-bytes",
                "queue-version")) {
            RULES.put(k, new Rule(v -> true, null));
        }
    }

    private PolicyValidator() {}

    private static boolean integer(Object v, long min, long max) {
        if (!(v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte)) {
            return false;
        }
        long n = ((Number) v).longValue();
        return n >= min && n <= max;
    }

    /**
     * Makes a policy (operator policy when {@code operator}) of {@code vhost} from its parts, or
     * throws a {@link PolicyException} with RabbitMQ's text. Integers in {@code definition} must be
     * Long / Integer (JSON integers), strings String.
     */
    public static Policy policy(String vhost, String name, String pattern, String applyTo, int priority,
                                Map<String, Object> definition, boolean operator) {
        Pattern compiled;
        try {
            compiled = Pattern.compile(pattern);
        } catch (PatternSyntaxException e) {
            throw PolicyException.validation("pattern should be regular expression but is invalid: "
                    + e.getDescription());
        }
        Policy.ApplyTo a = Policy.ApplyTo.of(applyTo == null ? "all" : applyTo);
        validate(definition, operator);
        return new Policy(vhost, name, pattern, a, priority, definition, compiled);
    }

    /** Checks a definition, as {@link #policy} does. */
    public static void validate(Map<String, Object> definition, boolean operator) {
        if (definition == null || definition.isEmpty()) {
            throw PolicyException.validation("no policy provided");
        }
        List<String> unknown = new ArrayList<>();
        for (String key : new TreeSet<>(definition.keySet())) {
            Rule rule = RULES.get(key);
            if (rule == null || (operator && !OPERATOR_KEYS.contains(key))) {
                continue;
            }
            Object v = definition.get(key);
            if (rule.what() != null && !rule.valid().test(v)) {
                throw PolicyException.validation(erlang(v) + " is not a valid " + rule.what());
            }
        }
        for (Map.Entry<String, Object> e : definition.entrySet()) {
            if (!RULES.containsKey(e.getKey()) || (operator && !OPERATOR_KEYS.contains(e.getKey()))) {
                unknown.add("{" + erlang(e.getKey()) + "," + erlang(e.getValue()) + "}");
            }
        }
        if (!unknown.isEmpty()) {
            throw PolicyException.validation("[" + String.join(",", unknown) + "] are not recognised policy settings");
        }
        for (String key : new TreeSet<>(definition.keySet())) {
            if (NOT_YET.contains(key)) {
                throw PolicyException.validation("policy key '" + key + "' is not supported by warren yet"
                        + " (recognised, but its feature is not built yet)");
            }
            if (!SUPPORTED.contains(key)) {
                throw PolicyException.validation("policy key '" + key + "' is not supported by warren"
                        + (key.startsWith("max-in-memory") ? " (quorum queues only)"
                        : key.startsWith("ha-") || key.equals("queue-master-locator") ? " (no mirrored queues)"
                        : ""));
            }
        }
    }

    /** A JSON value as Erlang's ~p prints what RabbitMQ decoded it to (its error texts show that). */
    static String erlang(Object v) {
        if (v instanceof String s) {
            return "<<\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\">>";
        }
        if (v == null) {
            return "null";
        }
        if (v instanceof List<?> l) {
            List<String> parts = new ArrayList<>();
            l.forEach(x -> parts.add(erlang(x)));
            return "[" + String.join(",", parts) + "]";
        }
        if (v instanceof Map<?, ?> m) {
            List<String> parts = new ArrayList<>();
            m.forEach((k, x) -> parts.add(erlang(k) + " => " + erlang(x)));
            return "#{" + String.join(",", parts) + "}";
        }
        return String.valueOf(v);
    }
}
