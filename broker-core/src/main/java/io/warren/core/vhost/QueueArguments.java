package io.warren.core.vhost;

import io.warren.core.BrokerException;
import io.warren.core.message.TableValue;

import java.util.List;
import java.util.Map;

/**
 * Validates queue x-arguments, one rule per argument, with RabbitMQ's wording. Arguments
 * RabbitMQ does not know are accepted and kept, as RabbitMQ keeps them.
 */
public final class QueueArguments {
    /**
     * The arguments RabbitMQ 3.10 compares when a classic queue is redeclared (probed against
     * 3.10.8); any other argument may differ between declarations.
     */
    private static final List<String> COMPARED = List.of("x-expires", "x-message-ttl", "x-dead-letter-exchange",
            "x-dead-letter-routing-key", "x-max-length", "x-max-length-bytes", "x-max-priority", "x-overflow",
            "x-queue-mode", "x-single-active-consumer", "x-queue-type", "x-queue-master-locator", "x-queue-version");

    private QueueArguments() {}

    /** The arguments of classic queues a quorum queue refuses (RabbitMQ 3.10, probed against 3.10.8). */
    private static final List<String> CLASSIC_ONLY = List.of("x-max-priority", "x-queue-mode",
            "x-queue-master-locator", "x-queue-version");
    /** The arguments of quorum queues a classic queue refuses. x-delivery-limit is not among them: warren honours it on every queue. */
    private static final List<String> QUORUM_ONLY = List.of("x-max-in-memory-length", "x-max-in-memory-bytes",
            "x-dead-letter-strategy", "x-quorum-initial-group-size", "x-queue-leader-locator");
    /**
     * RabbitMQ 3.10's queue leader locators (x-queue-leader-locator, policy queue-leader-locator):
     * client-local and balanced, and the older names it still takes for balanced.
     */
    public static final List<String> LEADER_LOCATORS = List.of("client-local", "balanced", "random", "least-leaders");

    /**
     * The locator that places a new quorum queue's first leader: the policy's {@code
     * queue-leader-locator} (it wins over the argument, as RabbitMQ 3.10's), else the
     * {@code x-queue-leader-locator} argument, else {@code configured} (queue_leader_locator);
     * {@code client-local} or {@code balanced} (random and least-leaders are balanced, as in 3.10).
     */
    public static String leaderLocator(Map<String, Object> policy, Map<String, Object> args, String configured) {
        String v = policy == null ? null : string(policy.get("queue-leader-locator"));
        if (v == null && args != null) {
            v = string(args.get("x-queue-leader-locator"));
        }
        if (v == null || !LEADER_LOCATORS.contains(v)) {
            v = configured == null ? "client-local" : configured;
        }
        return "client-local".equals(v) ? "client-local" : "balanced";
    }

    /** Whether {@code args} declare a quorum queue. */
    public static boolean quorum(Map<String, Object> args) {
        return args != null && "quorum".equals(string(args.get("x-queue-type")));
    }

    /**
     * Validates a new queue's x-arguments and, for a quorum queue, its properties (RabbitMQ's
     * rabbit_quorum_queue:declare: arguments of the other type, then auto-delete, exclusive,
     * non-durable), each with RabbitMQ 3.10's text.
     */
    static void validate(String queue, String vhost, Map<String, Object> args, boolean durable, boolean autoDelete,
                         boolean exclusive) {
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
        boolean quorum = false;
        if (type != null) {
            String t = string(type);
            if (t == null) {
                throw invalid("x-queue-type", queue, vhost, "{unacceptable_type," + TableValue.typeNameOf(type) + "}");
            }
            if (t.equals("stream")) {
                throw invalid("x-queue-type", queue, vhost,
                        "queue type 'stream' is not supported by warren (classic and quorum queues only)");
            }
            if (!t.equals("classic") && !t.equals("quorum")) {
                throw invalid("x-queue-type", queue, vhost, "\"unsupported queue type '" + t + "'\"");
            }
            quorum = t.equals("quorum");
        }
        for (String key : quorum ? CLASSIC_ONLY : QUORUM_ONLY) {
            if (args.containsKey(key)) {
                throw BrokerException.preconditionFailed("invalid arg '%s' for queue '%s' in vhost '%s' of queue type %s",
                        key, queue, vhost, quorum ? "rabbit_quorum_queue" : "rabbit_classic_queue");
            }
        }
        if (quorum) {
            String resource = "queue '" + queue + "' in vhost '" + vhost + "'";
            if (autoDelete) {
                throw BrokerException.preconditionFailed("invalid property 'auto-delete' for %s", resource);
            }
            if (exclusive) {
                throw BrokerException.preconditionFailed("invalid property 'exclusive-owner' for %s", resource);
            }
            if (!durable) {
                throw BrokerException.preconditionFailed("invalid property 'non-durable' for %s", resource);
            }
            for (String key : List.of("x-max-in-memory-length", "x-max-in-memory-bytes")) {
                if (args.containsKey(key)) {
                    // Accepted by RabbitMQ; warren bounds every queue's memory by its paging bound instead
                    // (and a cluster's quorum-queue members spill past their node's budget).
                    throw invalid(key, queue, vhost, "not supported by warren (every queue keeps at most 64 MiB "
                            + "of ready messages in memory and pages out the rest)");
                }
            }
            Object strategy = args.get("x-dead-letter-strategy");
            if (strategy != null) {
                String st = string(strategy);
                // at-least-once needs a DLX and x-overflow reject-publish; without them RabbitMQ
                // accepts it and falls back with a warning (MessageQueue logs it, as RabbitMQ does)
                if (!"at-most-once".equals(st) && !"at-least-once".equals(st)) {
                    throw invalid("x-dead-letter-strategy", queue, vhost, "invalid_dlx_strategy");
                }
            }
            Object locator = args.get("x-queue-leader-locator");
            if (locator != null) {
                String l = string(locator);
                if (l == null) {
                    throw invalid("x-queue-leader-locator", queue, vhost, "{unacceptable_type,"
                            + TableValue.typeNameOf(locator) + "}");
                }
                if (!LEADER_LOCATORS.contains(l)) {
                    throw invalid("x-queue-leader-locator", queue, vhost, "invalid_queue_locator_arg");
                }
            }
            Object group = args.get("x-quorum-initial-group-size");
            if (group != null && !INTEGER_TYPES.contains(TableValue.typeNameOf(group))) {
                throw invalid("x-quorum-initial-group-size", queue, vhost, "\"expected integer, got "
                        + TableValue.typeNameOf(group) + "\"");
            }
        }
        Object limit = args.get("x-delivery-limit");
        if (limit != null) {
            String lt = TableValue.typeNameOf(limit);
            if (!INTEGER_TYPES.contains(lt)) {
                throw invalid("x-delivery-limit", queue, vhost, "{unacceptable_type," + lt + "}");
            }
            if (integer(limit) < 0) {
                throw invalid("x-delivery-limit", queue, vhost, "{value_negative," + integer(limit) + "}");
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
        // rabbit_amqqueue:check_non_neg_int_arg and check_overflow, in RabbitMQ's order
        for (String arg : List.of("x-max-length", "x-max-length-bytes")) {
            Object v = args.get(arg);
            if (v != null) {
                checkNonNegativeInteger(arg, queue, vhost, v);
            }
        }
        Object overflow = args.get("x-overflow");
        if (overflow != null) {
            String o = string(overflow);
            if (o == null) {
                throw invalid("x-overflow", queue, vhost, "{unacceptable_type," + TableValue.typeNameOf(overflow) + "}");
            }
            if (!OVERFLOW.contains(o)) {
                throw invalid("x-overflow", queue, vhost, "invalid_overflow");
            }
        }
        Object maxPriority = args.get("x-max-priority");
        if (maxPriority != null) {
            checkMaxPriority(queue, vhost, maxPriority);
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

    /** x-overflow's values (rabbit_amqqueue:check_overflow); drop-head is the default. */
    static final List<String> OVERFLOW = List.of("drop-head", "reject-publish", "reject-publish-dlx");

    private static void checkNonNegativeInteger(String arg, String queue, String vhost, Object v) {
        String type = TableValue.typeNameOf(v);
        if (!INTEGER_TYPES.contains(type)) {
            // rabbit_amqqueue:check_int_arg's text, a quoted string (probed against 3.10)
            throw invalid(arg, queue, vhost, "\"expected integer, got " + type + "\"");
        }
        long n = integer(v);
        if (n < 0) {
            throw invalid(arg, queue, vhost, "{value_negative," + n + "}");
        }
    }

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

    /** RabbitMQ's highest supported priority (rabbit_priority_queue ?MAX_SUPPORTED_PRIORITY). */
    static final int MAX_PRIORITY = 255;

    /**
     * x-max-priority: a non-negative integer up to 255; 0 is accepted and means no priorities.
     * Texts as RabbitMQ 3.10.8 answers them (probed): {@code "expected integer, got longstr"}
     * (quotes included), {@code {value_negative,-1}}, {@code {max_value_exceeded,256}}.
     */
    private static void checkMaxPriority(String queue, String vhost, Object v) {
        String type = TableValue.typeNameOf(v);
        if (!INTEGER_TYPES.contains(type)) {
            throw invalid("x-max-priority", queue, vhost, "\"expected integer, got " + type + "\"");
        }
        long n = integer(v);
        if (n < 0) {
            throw invalid("x-max-priority", queue, vhost, "{value_negative," + n + "}");
        }
        if (n > MAX_PRIORITY) {
            throw invalid("x-max-priority", queue, vhost, "{max_value_exceeded," + n + "}");
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
                // absent equals classic; a quorum queue redeclared without the argument "received none"
                a = a == null && !quorum(current) ? "classic" : a;
                b = b == null ? "classic" : b;
            }
            ArgumentEquivalence.check(resource, key, a, b);
        }
    }
}
