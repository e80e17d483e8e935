package io.warren.core.exchange;

import io.warren.core.BrokerException;
import io.warren.core.message.Message;
import io.warren.core.message.TableValue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * An exchange: routes messages to destinations through its bindings. Bindings change under
 * the vhost's topology lock; each change rebuilds an immutable routing snapshot published
 * through a volatile field, so {@link #route} (every publish, any thread) takes no lock.
 */
public abstract class Exchange implements Destination {
    private final String name;
    private final ExchangeType type;
    private final boolean durable;
    private final boolean autoDelete;
    private final boolean internal;
    private final Map<String, Object> arguments;
    /** The {@code alternate-exchange} argument, null without one. */
    private final String alternateName;
    /** The vhost's exchanges by name, to find the AE at publish time (it may come and go). */
    private volatile Function<String, Exchange> siblings;
    /** The alternate-exchange a policy gives this exchange (the argument wins over it), or null. */
    private volatile String policyAlternateName;
    /**
     * Messages published to this exchange, and those of them that reached a queue (RabbitMQ's
     * publish_in / publish_out). Any publishing thread adds: LongAdder spreads contended adds
     * over cells instead of one contended line, and allocates nothing per message.
     */
    private final java.util.concurrent.atomic.LongAdder publishIn = new java.util.concurrent.atomic.LongAdder();
    private final java.util.concurrent.atomic.LongAdder publishOut = new java.util.concurrent.atomic.LongAdder();
    /** Guarded by the vhost topology lock. */
    private final List<Binding> bindings = new ArrayList<>();

    protected Exchange(String name, ExchangeType type, boolean durable, boolean autoDelete, boolean internal,
                       Map<String, Object> arguments) {
        this.name = name;
        this.type = type;
        this.durable = durable;
        this.autoDelete = autoDelete;
        this.internal = internal;
        this.arguments = arguments == null ? Map.of() : arguments;
        this.alternateName = alternateExchangeName(this.arguments);
    }

    /** The AMQP name of the {@code alternate-exchange} argument. */
    public static final String ALTERNATE_EXCHANGE = "alternate-exchange";

    /**
     * Refuses an {@code alternate-exchange} argument that is not a string, with RabbitMQ's text
     * (rabbit_channel, exchange.declare of a new exchange). Any thread.
     */
    public static void checkArguments(String exchangeName, String vhostName, Map<String, Object> args) {
        Object v = args == null ? null : args.get(ALTERNATE_EXCHANGE);
        if (v != null && alternateExchangeName(args) == null) {
            throw BrokerException.preconditionFailed("invalid type '%s' for arg '%s' in exchange '%s' in vhost '%s'",
                    TableValue.typeNameOf(v), ALTERNATE_EXCHANGE, exchangeName, vhostName);
        }
    }

    /** {@link #checkArguments} and, for {@code type}, its own arguments (x-delayed-message: x-delayed-type). */
    public static void checkArguments(String exchangeName, String vhostName, ExchangeType type,
                                      Map<String, Object> args) {
        checkArguments(exchangeName, vhostName, args);
        if (type == ExchangeType.DELAYED) {
            DelayedExchange.underlyingType(args);
        }
    }

    /** The alternate exchange's name when the argument is a string, else null. */
    public static String alternateExchangeName(Map<String, Object> args) {
        Object v = args == null ? null : args.get(ALTERNATE_EXCHANGE);
        if (v instanceof TableValue t && "longstr".equals(t.typeName())) {
            return t.toString();
        }
        return v instanceof CharSequence s ? s.toString() : null;
    }

    /** Lets {@link #alternate} find the AE among the vhost's exchanges. Called once the exchange is in its vhost. */
    public void attach(Function<String, Exchange> vhostExchanges) {
        this.siblings = vhostExchanges;
    }

    /** The alternate exchange as the vhost has it now; null without one or when it does not exist. Any thread. */
    public Exchange alternate() {
        String n = alternateName != null ? alternateName : policyAlternateName;
        if (n == null) {
            return null;
        }
        Function<String, Exchange> s = siblings;
        return s == null ? null : s.apply(n);
    }

    /**
     * The policy hook: {@code definition} is the effective policy definition that applies now
     * (empty when none does). Its alternate-exchange applies unless the argument sets one
     * (RabbitMQ: the argument wins). Any thread.
     */
    public void applyPolicy(Map<String, Object> definition) {
        Object ae = definition.get(ALTERNATE_EXCHANGE);
        policyAlternateName = ae instanceof String s ? s : null;
    }

    public static Exchange create(String name, ExchangeType type, boolean durable, boolean autoDelete,
                                  boolean internal, Map<String, Object> arguments) {
        return switch (type) {
            case DIRECT -> new DirectExchange(name, durable, autoDelete, internal, arguments);
            case FANOUT -> new FanoutExchange(name, durable, autoDelete, internal, arguments);
            case TOPIC -> new TopicExchange(name, durable, autoDelete, internal, arguments);
            case HEADERS -> new HeadersExchange(name, durable, autoDelete, internal, arguments);
            case DELAYED -> new DelayedExchange(name, durable, autoDelete, internal, arguments);
        };
    }

    @Override public String name() {
        return name;
    }

    /** Counts one message published here; {@code routed}: it reached at least one queue. Any thread. */
    public void countPublish(boolean routed) {
        publishIn.increment();
        if (routed) {
            publishOut.increment();
        }
    }

    public long publishIn() {
        return publishIn.sum();
    }

    public long publishOut() {
        return publishOut.sum();
    }

    public ExchangeType type() {
        return type;
    }

    public boolean durable() {
        return durable;
    }

    public boolean autoDelete() {
        return autoDelete;
    }

    public boolean internal() {
        return internal;
    }

    public Map<String, Object> arguments() {
        return arguments;
    }

    /** Adds every destination {@code message} routes to. Any thread. */
    public abstract void route(Message message, RoutingResult out);

    /** Rebuilds the routing snapshot from the current bindings. */
    protected abstract void rebuild(List<Binding> bindings);

    /**
     * Refuses a binding this exchange type cannot route by (PRECONDITION_FAILED, RabbitMQ's
     * validate_binding). Checked before the binding is added; the default accepts all.
     */
    public void validateBinding(Binding b) {
    }

    /** Whether an equal binding exists. Caller holds the topology lock. */
    public boolean hasBinding(Binding b) {
        return bindings.contains(b);
    }

    /** Adds a binding; false when an equal one exists. Caller holds the topology lock. */
    public boolean addBinding(Binding b) {
        if (bindings.contains(b)) {
            return false;
        }
        bindings.add(b);
        rebuild(List.copyOf(bindings));
        return true;
    }

    /** Removes a binding; false when there was none. Caller holds the topology lock. */
    public boolean removeBinding(Binding b) {
        boolean removed = bindings.remove(b);
        if (removed) {
            rebuild(List.copyOf(bindings));
        }
        return removed;
    }

    /** Removes every binding to {@code d}; returns them. Caller holds the topology lock. */
    public List<Binding> removeBindingsTo(Destination d) {
        List<Binding> removed = new ArrayList<>();
        bindings.removeIf(b -> {
            if (b.destination() == d) {
                removed.add(b);
                return true;
            }
            return false;
        });
        if (!removed.isEmpty()) {
            rebuild(List.copyOf(bindings));
        }
        return removed;
    }

    /** A copy of the bindings whose source is this exchange. Caller holds the topology lock. */
    public List<Binding> bindings() {
        return List.copyOf(bindings);
    }

    public boolean hasBindings() {
        return !bindings.isEmpty();
    }
}
