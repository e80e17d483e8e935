package io.warren.core.publish;

import io.warren.core.exchange.DelayedExchange;
import io.warren.core.exchange.Exchange;
import io.warren.core.exchange.RoutingResult;
import io.warren.core.message.Message;
import io.warren.core.store.DelayStore;
import io.warren.core.store.DurableWrites;
import io.warren.core.store.MessageStore;
import io.warren.core.vhost.VirtualHost;
import io.warren.core.vhost.VirtualHosts;

/**
 * Routes delayed messages at their due time, from their x-delayed-message exchange as the vhost
 * has it now (bindings and all), through the same publish path as any message. Owner: the delay
 * store's thread (one routing result, reused).
 */
public final class DueRouter implements DelayStore.Router {
    private final VirtualHosts vhosts;
    private final RoutingResult routing = new RoutingResult();

    public DueRouter(VirtualHosts vhosts) {
        this.vhosts = vhosts;
    }

    private DelayedExchange exchange(String vhost, String exchange) {
        VirtualHost v = vhosts.get(vhost);
        Exchange x = v == null ? null : v.exchange(exchange);
        return x instanceof DelayedExchange dx ? dx : null;
    }

    @Override public boolean exists(String vhost, String exchange) {
        return exchange(vhost, exchange) != null;
    }

    @Override public void route(String vhost, String exchange, Message message, MessageStore.Durable safe) {
        DelayedExchange x = exchange(vhost, exchange);
        if (x == null) {
            message.release();
            safe.done(null);
            return;
        }
        DurableWrites store;
        try {
            store = Publisher.publishDue(x, message, routing, safe);
        } finally {
            routing.clear();
        }
        if (store == null) {
            safe.done(null); // as safe as it will be: handed to its queues, or dropped as unroutable
        }
    }
}
