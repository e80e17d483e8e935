package io.warren.core.exchange;

import io.warren.core.message.Message;
import io.warren.core.queue.MessageQueue;

import java.util.List;
import java.util.Map;
import java.util.function.Function;

/** The nameless direct exchange every queue is implicitly bound to by its own name. */
public final class DefaultExchange extends Exchange {
    private final Function<String, MessageQueue> queues;

    public DefaultExchange(Function<String, MessageQueue> queues) {
        super("", ExchangeType.DIRECT, true, false, false, Map.of());
        this.queues = queues;
    }

    @Override public void route(Message message, RoutingResult out) {
        MessageQueue q = queues.apply(message.routingKey());
        if (q != null) {
            out.add(q, message);
        }
        String[] cc = message.ccRoutes();
        if (cc != null) {
            for (String key : cc) {
                MessageQueue c = queues.apply(key);
                if (c != null) {
                    out.add(c, message);
                }
            }
        }
    }

    @Override protected void rebuild(List<Binding> bindings) {
        throw new UnsupportedOperationException("the default exchange has no explicit bindings");
    }
}
