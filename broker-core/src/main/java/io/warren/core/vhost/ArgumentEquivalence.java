package io.warren.core.vhost;

import io.warren.core.BrokerException;
import io.warren.core.message.TableValue;

import java.util.Objects;

/**
 * Whether a redeclaration's x-argument matches the existing one, with RabbitMQ 3.10's texts
 * (rabbit_misc:assert_args_equivalence): integers of any width compare by value, as do floats;
 * other values must have the same type and value. Only the keys each kind of resource lists are
 * compared; other arguments are kept but may differ.
 */
final class ArgumentEquivalence {
    private ArgumentEquivalence() {}

    /**
     * Fails with PRECONDITION_FAILED unless {@code received} (null: absent) is equivalent to
     * {@code current}. {@code resource} reads like "queue 'q' in vhost '/'".
     */
    static void check(String resource, String key, Object received, Object current) {
        if (received == null && current == null || equivalent(received, current)) {
            return;
        }
        if (received != null && current != null) {
            throw BrokerException.preconditionFailed("inequivalent arg '%s' for %s: received '%s' but current is '%s'",
                    key, resource, show(received), show(current));
        }
        throw BrokerException.preconditionFailed("inequivalent arg '%s' for %s: received %s but current is %s",
                key, resource, described(received), described(current));
    }

    private static boolean equivalent(Object a, Object b) {
        if (a == null || b == null) {
            return false;
        }
        String ta = typeClass(a);
        return ta.equals(typeClass(b)) && Objects.equals(comparable(a), comparable(b));
    }

    private static String typeClass(Object v) {
        String t = TableValue.typeNameOf(v);
        return switch (t) {
            case "byte", "short", "signedint", "long", "unsignedbyte", "unsignedshort", "unsignedint" -> "int";
            case "float", "double" -> "float";
            default -> t;
        };
    }

    private static Object comparable(Object v) {
        if (v instanceof TableValue t) {
            v = t.comparable();
        }
        if (v instanceof Byte || v instanceof Short || v instanceof Integer || v instanceof Long) {
            return ((Number) v).longValue();
        }
        if (v instanceof Float || v instanceof Double) {
            return ((Number) v).doubleValue();
        }
        if (v instanceof CharSequence s) {
            return s.toString();
        }
        return v;
    }

    /** "none", or "the value 'lazy' of type 'longstr'" (rabbit_misc:val/1). */
    private static String described(Object v) {
        return v == null ? "none" : "the value '" + show(v) + "' of type '" + TableValue.typeNameOf(v) + "'";
    }

    private static String show(Object v) {
        Object c = v instanceof TableValue t ? t.comparable() : v;
        return String.valueOf(c);
    }
}
