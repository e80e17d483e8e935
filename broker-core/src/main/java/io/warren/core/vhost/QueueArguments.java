package io.warren.core.vhost;

import io.warren.core.BrokerException;
import io.warren.core.message.TableValue;

import java.util.List;
import java.util.Map;

/**
 * Validates queue x-arguments, one rule per argument, with RabbitMQ's wording. Arguments
 * this version does not act on yet (TTL, length limits, dead-lettering) are accepted and kept,
 * as RabbitMQ keeps unknown ones.
 */
final class QueueArguments {
    /**
     * The arguments RabbitMQ 3.10 compares when a classic queue is redeclared (probed against
     * 3.10.8); any other argument may differ between declarations.
     */
    private static final List<String> COMPARED = List.of("x-expires", "x-message-ttl", "x-dead-letter-exchange",
            "x-dead-letter-routing-key", "x-max-length", "x-max-length-bytes", "x-max-priority", "x-overflow",
            "x-queue-mode", "x-single-active-consumer", "x-queue-type", "x-queue-master-locator", "x-queue-version");

    private QueueArguments() {}

    static void validate(String queue, String vhost, Map<String, Object> args) {
        if (args == null) {
            return;
        }
        // rabbit_channel:check_dlx runs before the queue's own argument checks, with its own text
        // (rabbit_misc:r_arg): "invalid type 'signedint' for arg 'x-dead-letter-exchange' in queue ..."
        if (args.containsKey("x-dead-letter-exchange") && string(args.get("x-dead-letter-exchange")) == null) {
            throw BrokerException.preconditionFailed(
                    "invalid type '%s' for arg 'x-dead-letter-exchange' in queue '%s' in vhost '%s'", TableValue.typeNameOf(args.get("x-dead-letter-exchange")), queue, vhost);
        }
        Object type = args.get("x-queue-type");
        if (type != null) {
            String t = string(type);
            if (t == null) {
                throw invalid("x-queue-type", queue, vhost, "{unacceptable_type," + TableValue.typeNameOf(type) + "}");
            }
            if (t.equals("quorum") || t.equals("stream")) {
                throw invalid("x-queue-type", queue, vhost,
                        "queue type '" + t + "' is not supported by warren yet (classic queues only)");
            }
            if (!t.equals("classic")) {
                throw invalid("x-queue-type", queue, vhost, "\"unsupported queue type '" + t + "'\"");
            }
        }
        Object sac = args.get("x-single-active-consumer");
        if (sac != null && !(sac instanceof Boolean)) {
            throw invalid("x-single-active-consumer", queue, vhost, "{unacceptable_type," + TableValue.typeNameOf(sac)
                    + "}");
        }
        Object timeout = args.get("x-consumer-timeout");
        if (timeout != null) {
            if (!(timeout instanceof Byte || timeout instanceof Short || timeout instanceof Integer
                    || timeout instanceof Long)) {
                throw invalid("x-consumer-timeout", queue, vhost, "{unacceptable_type," + TableValue.typeNameOf(timeout)
                        + "}");
            }
            long ms = ((Number) timeout).longValue();
            if (ms <= 0) {
                throw invalid("x-consumer-timeout", queue, vhost, ms == 0 ? "{value_zero,0}" : "{value_negative," + ms
                        + "}");
            }
        }
        // rabbit_amqqueue:check_expires_arg / check_message_ttl_arg, in RabbitMQ's order
        Object expires = args.get("x-expires");
        if (expires != null) {
            checkExpiry("x-expires", queue, vhost, expires, true);
        }
        Object ttl = args.get("x-message-ttl");
        if (ttl != null) {
            checkExpiry("x-message-ttl", queue, vhost, ttl, false);
        }
        // rabbit_amqqueue:check_dlxrk_arg (the DLX name's type is checked first, above)
        Object dlrk = args.get("x-dead-letter-routing-key");
        if (args.containsKey("x-dead-letter-routing-key")) {
            if (string(dlrk) == null) {
                throw invalid("x-dead-letter-routing-key", queue, vhost, "{unacceptable_type,"
                        + TableValue.typeNameOf(dlrk) + "}");
            }
            if (!args.containsKey("x-dead-letter-exchange")) {
                throw invalid("x-dead-letter-routing-key", queue, vhost, "routing_key_but_no_dlx_defined");
            }
        }
        Object mode = args.get("x-queue-mode");
        if (mode != null) {
            String m = string(mode);
            if (m == null) {
                throw invalid("x-queue-mode", queue, vhost, "{unacceptable_type," + TableValue.typeNameOf(mode) + "}");
            }
            if (!m.equals("default") && !m.equals("lazy")) {
                throw invalid("x-queue-mode", queue, vhost, "\"unsupported queue mode '" + m + "'\"");
            }
        }
    }

    /** rabbit_misc:check_expiry's limit: timers take at most 2^32-1 ms. */
    static final long MAX_EXPIRY = 4294967295L;

    /** The integer field types RabbitMQ accepts for integer arguments (rabbit_amqqueue ?INTEGER_ARG_TYPES). */
    private static final List<String> INTEGER_TYPES = List.of("byte", "short", "signedint", "long",
            "unsignedbyte", "unsignedshort", "unsignedint");

    private static void checkExpiry(String arg, String queue, String vhost, Object v, boolean zeroInvalid) {
        String type = TableValue.typeNameOf(v);
        if (!INTEGER_TYPES.contains(type)) {
            throw invalid(arg, queue, vhost, "{unacceptable_type," + type + "}");
        }
        long n = integer(v);
        if (zeroInvalid && n == 0) {
            throw invalid(arg, queue, vhost, "{value_zero,0}");
        }
        if (n > MAX_EXPIRY) {
            throw invalid(arg, queue, vhost, "{value_too_big," + n + "}");
        }
        if (n < 0) {
            throw invalid(arg, queue, vhost, "{value_negative," + n + "}");
        }
    }

    /** An integer argument's value (one that passed the integer type check). */
    static long integer(Object v) {
        if (v instanceof TableValue t) {
            return ((Number) t.comparable()).longValue();
        }
        return ((Number) v).longValue();
    }

    private static BrokerException invalid(String arg, String queue, String vhost, String why) {
        return BrokerException.preconditionFailed("invalid arg '%s' for queue '%s' in vhost '%s': %s",
                arg, queue, vhost, why);
    }

    private static String string(Object v) {
        if (v instanceof TableValue t && t.comparable() instanceof String s) {
            return s;
        }
        return v instanceof CharSequence s ? s.toString() : null;
    }

    /** Redeclaring with different x-arguments fails like RabbitMQ (x-queue-type classic equals none). */
    static void checkEquivalent(String queue, String vhost, Map<String, Object> received, Map<String, Object> current) {
        Map<String, Object> r = received == null ? Map.of() : received;
        String resource = "queue '" + queue + "' in vhost '" + vhost + "'";
        for (String key : COMPARED) {
            Object a = r.get(key);
            Object b = current.get(key);
            if (key.equals("x-queue-type")) {
                a = a == null ? "classic" : a;
                b = b == null ? "classic" : b;
            }
            ArgumentEquivalence.check(resource, key, a, b);
        }
    }
}
