package io.warren.core.exchange;

import io.warren.core.BrokerException;

/**
 * The exchange types warren implements. {@link #DELAYED} is the community
 * rabbitmq-delayed-message-exchange plugin's type, built in: it routes by the type its
 * {@code x-delayed-type} argument names, at each message's due time.
 */
public enum ExchangeType {
    DIRECT("direct"), FANOUT("fanout"), TOPIC("topic"), HEADERS("headers"), DELAYED("x-delayed-message");

    private final String wireName;

    ExchangeType(String wireName) {
        this.wireName = wireName;
    }

    public String wireName() {
        return wireName;
    }

    /** The four types of AMQP 0-9-1 (each with an amq.* exchange in every vhost). */
    public boolean standard() {
        return this != DELAYED;
    }

    /**
     * Parses a type name; unknown names fail with COMMAND_INVALID (a connection error), as in
     * RabbitMQ 3.10, whose text is "unknown exchange type 'x'" for names it has never heard of
     * ("invalid exchange type" only for names of types whose plugin is not enabled).
     */
    public static ExchangeType of(String name) {
        for (ExchangeType t : values()) {
            if (t.wireName.equals(name)) {
                return t;
            }
        }
        throw BrokerException.commandInvalid("unknown exchange type '%s'", name);
    }
}
