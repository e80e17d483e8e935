package io.warren.core.exchange;

import io.warren.core.BrokerException;
import io.warren.core.message.Message;
import io.warren.core.message.TableValue;
import io.warren.core.store.DelayStore;
import io.warren.core.store.MessageStore;

import java.util.List;
import java.util.Map;

/**
 * {@code x-delayed-message}: the community rabbitmq-delayed-message-exchange plugin's exchange,
 * built in. A message published to it with a positive integer {@code x-delay} header (ms) waits
 * in the node's {@link DelayStore} and is routed, at its due time, by the type named in the
 * {@code x-delayed-type} argument (direct, fanout, topic, headers), with the bindings the
 * exchange has then. Without {@code x-delay}, or with one that is not a positive integer, it is
 * routed at once, as by the plugin. Bindings and routing are delegated to an exchange of the
 * underlying type ({@link #route} is the due-time routing).
 */
public final class DelayedExchange extends Exchange {
    public static final String DELAYED_TYPE = "x-delayed-type";
    public static final String DELAY_HEADER = "x-delay";

    private final Exchange underlying;
    private volatile DelayStore store;
    private volatile String vhost;

    DelayedExchange(String name, boolean durable, boolean autoDelete, boolean internal, Map<String, Object> args) {
        super(name, ExchangeType.DELAYED, durable, autoDelete, internal, args);
        this.underlying = Exchange.create(name, underlyingType(args), durable, autoDelete, internal, Map.of());
    }

    /**
     * The {@code x-delayed-type} argument as a type, with the plugin's errors: missing or not a
     * string, 406 "Invalid argument, 'x-delayed-type' must be an existing exchange type"; the
     * delayed type itself, 406; an unknown name, 503 "unknown exchange type" (as an unknown
     * exchange.declare type, which is what the plugin's rabbit_exchange:check_type answers).
     */
    public static ExchangeType underlyingType(Map<String, Object> args) {
        Object v = args == null ? null : args.get(DELAYED_TYPE);
        Object s = v instanceof TableValue t ? t.comparable() : v;
        if (!(s instanceof CharSequence)) {
            throw BrokerException.preconditionFailed("Invalid argument, '%s' must be an existing exchange type",
                    DELAYED_TYPE);
        }
        String name = s.toString();
        if (ExchangeType.DELAYED.wireName().equals(name)) {
            throw BrokerException.preconditionFailed("Invalid argument, '%s' can't be used for '%s'",
                    ExchangeType.DELAYED.wireName(), DELAYED_TYPE);
        }
        return ExchangeType.of(name);
    }

    /**
     * The message's delay in ms: its {@code x-delay} header when that is an integer (any AMQP
     * integer type) above 0; else 0, routed at once (the plugin treats a missing, negative or
     * non-integer x-delay the same way). Decodes the headers (only on this exchange's publishes).
     */
    public static long delayOf(Message message) {
        Map<String, Object> headers = message.headers();
        Object v = headers == null ? null : headers.get(DELAY_HEADER);
        if (v instanceof TableValue t) {
            v = t.comparable();
        }
        if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte) {
            return Math.max(0, ((Number) v).longValue());
        }
        return 0;
    }

    /** Connects the exchange to the node's schedule; {@code vhostName} is its vhost. */
    public void attachStore(DelayStore delays, String vhostName) {
        this.store = delays;
        this.vhost = vhostName;
    }

    /**
     * Schedules {@code message} to be routed {@code delay} ms from now; the schedule keeps a copy
     * (the caller keeps its reference). {@code safe} runs once it is written (forced for a
     * persistent message on a durable exchange). Returns the store to wait on.
     */
    public DelayStore schedule(Message message, long delay, MessageStore.Durable safe) {
        DelayStore s = store;
        if (s == null) {
            throw BrokerException.commandInvalid("invalid exchange type '%s'", ExchangeType.DELAYED.wireName());
        }
        long due = System.currentTimeMillis() + delay;
        if (due < 0) {
            due = Long.MAX_VALUE; // x-delay near Long.MAX_VALUE: never, rather than at once
        }
        s.schedule(vhost, name(), message, due, message.persistent() && durable(), safe);
        return s;
    }

    /** How many messages wait here now; 0 when not attached. */
    public long waiting() {
        DelayStore s = store;
        return s == null ? 0 : s.waiting(vhost, name());
    }

    /** The type messages are routed by once due. */
    public ExchangeType underlying() {
        return underlying.type();
    }

    @Override public void route(Message message, RoutingResult out) {
        underlying.route(message, out);
    }

    @Override protected void rebuild(List<Binding> bindings) {
        // Bindings are kept by this exchange; the routing snapshot is the underlying type's.
        underlying.rebuild(bindings);
    }

    @Override public void validateBinding(Binding b) {
        underlying.validateBinding(b);
    }
}
