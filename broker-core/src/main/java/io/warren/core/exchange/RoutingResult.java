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
    /** Calls to {@link #add}, seen destinations included: tells whether an exchange's bindings matched. */
    private int matched;
    /** Whether the last publish through this result reached a queue (or a delay), for the routed/unroutable counts. */
    private boolean routed;

    public void clear() {
        queues.clear();
        seen.clear();
    }

    /** Adds a destination reached by {@code message}; exchanges are routed through once. */
    public void add(Destination d, io.warren.core.message.Message message) {
        matched++;
        if (seen.put(d, Boolean.TRUE) != null) {
            return;
        }
        if (d instanceof MessageQueue q) {
            queues.add(q);
        } else if (d instanceof Exchange x) {
            route(x, message);
        }
    }

    /**
     * Routes {@code message} through {@code x}; when x's own bindings matched nothing (no queue,
     * no exchange, not even one already reached) it goes on to x's alternate exchange, as
     * RabbitMQ's rabbit_exchange:route does for every exchange it walks through. Each exchange is
     * routed through at most once, so an AE cycle ends where it started. A missing AE is no AE.
     */
    public void route(Exchange x, io.warren.core.message.Message message) {
        int before = matched;
        x.route(message, this);
        if (matched == before) {
            Exchange ae = x.alternate();
            if (ae != null) {
                add(ae, message);
            }
        }
    }

    /** The publish path records whether the message it routed reached anything. */
    public void outcome(boolean reached) {
        routed = reached;
    }

    /** Whether the last published message reached a queue (or was scheduled for later). */
    public boolean routed() {
        return routed;
    }

    public List<MessageQueue> queues() {
        return queues;
    }

    /** Marks the exchange a publish starts at, so a cycle back to it is not followed. */
    public void start(Exchange x) {
        seen.put(x, Boolean.TRUE);
    }
}
