package io.warren.core.exchange;

import io.warren.core.queue.MessageQueue;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Collects the queues a message routes to, each once, following exchange-to-exchange bindings
 * without looping. One instance per publishing channel, cleared per message, so routing
 * allocates nothing in the common case.
 */
public final class RoutingResult {
    private final List<MessageQueue> queues = new ArrayList<>();
    private final Map<Object, Boolean> seen = new IdentityHashMap<>();

    public void clear() {
        queues.clear();
        seen.clear();
    }

    /** Adds a destination reached by {@code message}; exchanges are routed through once. */
    public void add(Destination d, io.warren.core.message.Message message) {
        if (seen.put(d, Boolean.TRUE) != null) {
            return;
        }
        if (d instanceof MessageQueue q) {
            queues.add(q);
        } else if (d instanceof Exchange x) {
            x.route(message, this);
        }
    }

    public List<MessageQueue> queues() {
        return queues;
    }

    /** Marks the exchange a publish starts at, so a cycle back to it is not followed. */
    public void start(Exchange x) {
        seen.put(x, Boolean.TRUE);
    }
}
