package io.warren.core.exchange;

import io.warren.core.message.Message;

import java.util.List;
import java.util.Map;

/** Routes to every bound destination, ignoring the routing key. */
public final class FanoutExchange extends Exchange {
    private volatile Destination[] destinations = new Destination[0];

    FanoutExchange(String name, boolean durable, boolean autoDelete, boolean internal, Map<String, Object> args) {
        super(name, ExchangeType.FANOUT, durable, autoDelete, internal, args);
    }

    @Override public void route(Message message, RoutingResult out) {
        for (Destination d : destinations) {
            out.add(d, message);
        }
    }

    @Override protected void rebuild(List<Binding> bindings) {
        destinations = bindings.stream().map(Binding::destination).distinct().toArray(Destination[]::new);
    }
}
