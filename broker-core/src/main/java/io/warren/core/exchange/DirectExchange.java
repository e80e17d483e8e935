package io.warren.core.exchange;

import io.warren.core.message.Message;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Routes to bindings whose key equals the routing key: one hash lookup per publish. */
public final class DirectExchange extends Exchange {
    private static final Destination[] NONE = new Destination[0];
    private volatile Map<String, Destination[]> byKey = Map.of();

    DirectExchange(String name, boolean durable, boolean autoDelete, boolean internal, Map<String, Object> args) {
        super(name, ExchangeType.DIRECT, durable, autoDelete, internal, args);
    }

    @Override public void route(Message message, RoutingResult out) {
        Map<String, Destination[]> snapshot = byKey;
        for (Destination d : snapshot.getOrDefault(message.routingKey(), NONE)) {
            out.add(d, message);
        }
        String[] cc = message.ccRoutes();
        if (cc != null) {
            for (String key : cc) {
                for (Destination d : snapshot.getOrDefault(key, NONE)) {
                    out.add(d, message);
                }
            }
        }
    }

    @Override protected void rebuild(List<Binding> bindings) {
        Map<String, List<Destination>> m = new HashMap<>();
        for (Binding b : bindings) {
            m.computeIfAbsent(b.routingKey(), k -> new ArrayList<>()).add(b.destination());
        }
        Map<String, Destination[]> snapshot = new HashMap<>();
        m.forEach((k, v) -> snapshot.put(k, v.stream().distinct().toArray(Destination[]::new)));
        byKey = snapshot;
    }
}
