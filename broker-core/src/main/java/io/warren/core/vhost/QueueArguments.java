package io.warren.core.vhost;

import io.warren.core.BrokerException;

import java.util.Map;
import java.util.Objects;

/**
 * Validates queue x-arguments, one rule per argument, with RabbitMQ's wording. Arguments
 * this version does not act on yet (TTL, length limits, dead-lettering) are accepted and kept,
 * as RabbitMQ keeps unknown ones.
 */
final class QueueArguments {
    private QueueArguments() {}

    static void validate(String queue, String vhost, Map<String, Object> args) {
        if (args == null) {
            return;
        }
        Object type = args.get("x-queue-type");
        if (type != null) {
            String t = type.toString();
            if (t.equals("quorum") || t.equals("stream")) {
                throw BrokerException.preconditionFailed(
                        "invalid arg 'x-queue-type' for queue '%s' in vhost '%s': queue type '%s' is not supported"
                                + " by warren yet (classic queues only)", queue, vhost, t);
            }
            if (!t.equals("classic")) {
                throw BrokerException.preconditionFailed(
                        "invalid arg 'x-queue-type' for queue '%s' in vhost '%s': unknown queue type '%s'",
                        queue, vhost, t);
            }
        }
        Object mode = args.get("x-queue-mode");
        if (mode != null && !mode.toString().equals("default") && !mode.toString().equals("lazy")) {
            throw BrokerException.preconditionFailed(
                    "invalid arg 'x-queue-mode' for queue '%s' in vhost '%s': {unsupported_queue_mode,%s}",
                    queue, vhost, mode);
        }
    }

    /** Redeclaring with different x-arguments fails like RabbitMQ (x-queue-type classic equals none). */
    static void checkEquivalent(String queue, String vhost, Map<String, Object> received, Map<String, Object> current) {
        Map<String, Object> r = received == null ? Map.of() : received;
        for (String key : new java.util.TreeSet<>(union(r, current))) {
            if (key.equals("x-queue-mode")) {
                continue; // RabbitMQ 3.10 lets x-queue-mode differ (it is policy-overridable)
            }
            Object a = normal(key, r.get(key));
            Object b = normal(key, current.get(key));
            if (!Objects.equals(a, b)) {
                throw BrokerException.preconditionFailed(
                        "inequivalent arg '%s' for queue '%s' in vhost '%s': received '%s' but current is '%s'",
                        key, queue, vhost, a == null ? "none" : a, b == null ? "none" : b);
            }
        }
    }

    private static java.util.Set<String> union(Map<String, Object> a, Map<String, Object> b) {
        java.util.Set<String> s = new java.util.HashSet<>(a.keySet());
        s.addAll(b.keySet());
        return s;
    }

    private static Object normal(String key, Object v) {
        if (v == null) {
            return key.equals("x-queue-type") ? "classic" : null;
        }
        if (v instanceof Number n && !(v instanceof Float || v instanceof Double)) {
            return n.longValue();
        }
        if (v instanceof io.warren.core.message.TableValue t) {
            return t.comparable();
        }
        return v.toString();
    }
}
