package io.warren.core.exchange;

import io.warren.core.BrokerException;

/** The exchange types warren implements. */
public enum ExchangeType {
    DIRECT("direct"), FANOUT("fanout"), TOPIC("topic"), HEADERS("headers");

    private final String wireName;

    ExchangeType(String wireName) {
        this.wireName = wireName;
    }

    public String wireName() {
        return wireName;
    }

    /** Parses a type name; unknown names fail with COMMAND_INVALID, as RabbitMQ does. */
    public static ExchangeType of(String name) {
        for (ExchangeType t : values()) {
            if (t.wireName.equals(name)) {
                return t;
            }
        }
        throw BrokerException.commandInvalid("invalid exchange type '%s'", name);
    }
}
