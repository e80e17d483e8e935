package io.warren.core.policy;

import java.util.Collection;
import java.util.HashMap;
import java.util.Map;

import io.warren.core.text.MatchBudget;

/**
 * What applies to one queue or exchange: the policy and the operator policy that won (either may
 * be null), and their merged definition (RabbitMQ's {@code effective_policy_definition}).
 */
public record Applied(Policy policy, Policy operatorPolicy, Map<String, Object> definition) {
    public static final Applied NONE = new Applied(null, null, Map.of());

    /**
     * Character reads one pattern may spend on one name: far more than any sane pattern needs
     * (names are at most 255 bytes), and small enough that a catastrophically backtracking
     * pattern costs a declare milliseconds, not minutes. A pattern that runs out does not match.
     */
    static final long MATCH_BUDGET = 200_000;

    /** The policies that win for a queue ({@code queue}) or an exchange named {@code name}. */
    public static Applied of(Collection<Policy> policies, Collection<Policy> operatorPolicies, String name,
                             boolean queue) {
        Policy p = match(policies, name, queue);
        Policy op = match(operatorPolicies, name, queue);
        if (p == null && op == null) {
            return NONE;
        }
        return new Applied(p, op, merge(p == null ? Map.of() : p.definition(),
                op == null ? Map.of() : op.definition()));
    }

    /**
     * The highest priority policy matching {@code name} that applies to its kind. RabbitMQ 3.10
     * leaves equal priorities in table order (unspecified); warren takes the lowest name, so the
     * choice is the same after every restart.
     */
    static Policy match(Collection<Policy> policies, String name, boolean queue) {
        Policy best = null;
        for (Policy p : policies) {
            if (!(queue ? p.applyTo().queues() : p.applyTo().exchanges())) {
                continue;
            }
            if (best != null && (p.priority() < best.priority()
                    || (p.priority() == best.priority() && p.name().compareTo(best.name()) > 0))) {
                continue;
            }
            boolean matches;
            try {
                matches = new MatchBudget(MATCH_BUDGET).find(p.compiled(), name);
            } catch (MatchBudget.Exceeded e) {
                matches = false;
            }
            if (matches) {
                best = p;
            }
        }
        return best;
    }

    /**
     * An operator policy on top of a policy (rabbit_policy:merge_policies): its keys are added;
     * where both set one, the smaller value wins (every key an operator policy may set is a limit).
     */
    static Map<String, Object> merge(Map<String, Object> policy, Map<String, Object> operator) {
        Map<String, Object> m = new HashMap<>(policy);
        operator.forEach((k, v) -> m.merge(k, v, (a, b) -> a instanceof Number x && b instanceof Number y
                ? (x.longValue() <= y.longValue() ? a : b) : b));
        return Map.copyOf(m);
    }

    // ---- effective values: a queue's or exchange's x-argument against the policy --------------

    /**
     * For message-ttl, expires, max-length, max-length-bytes, delivery-limit: the smaller of the
     * x-argument and the policy value, as RabbitMQ; -1 when neither is set.
     */
    public static long smaller(Object argument, Object policyValue) {
        long a = number(argument);
        long p = number(policyValue);
        if (a < 0) {
            return p;
        }
        return p < 0 ? a : Math.min(a, p);
    }

    /** For dead-letter-*, overflow, alternate-exchange: the x-argument when set, else the policy's. */
    public static Object argumentFirst(Object argument, Object policyValue) {
        return argument != null ? argument : policyValue;
    }

    private static long number(Object v) {
        if (v instanceof io.warren.core.message.TableValue t) {
            v = t.comparable();
        }
        return v instanceof Number n ? n.longValue() : -1;
    }
}
