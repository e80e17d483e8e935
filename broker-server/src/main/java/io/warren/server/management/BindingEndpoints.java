package io.warren.server.management;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.warren.core.exchange.Binding;
import io.warren.core.exchange.Exchange;
import io.warren.core.queue.MessageQueue;
import io.warren.core.vhost.VirtualHost;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * /api/bindings: list (all, per vhost, between an exchange and a queue or exchange), create
 * (POST, 201 with a Location naming the new binding's properties key), show and delete one by
 * its properties key. Paths name the destination kind as RabbitMQ does: {@code e/SOURCE/q/QUEUE}
 * or {@code e/SOURCE/e/EXCHANGE}.
 */
final class BindingEndpoints {
    private final ApiContext ctx;

    BindingEndpoints(ApiContext ctx) {
        this.ctx = ctx;
    }

    static List<Binding> sorted(List<Binding> bindings) {
        bindings.sort(Comparator.comparing((Binding b) -> b.source().name())
                .thenComparing(b -> b.destination().name())
                .thenComparing(Binding::routingKey));
        return bindings;
    }

    /** RabbitMQ's default order of bindings. */
    static final List<String> BINDING_SORT = List.of("vhost", "source", "destination", "routing_key");

    ApiResponse list(ApiRequest r) {
        List<VirtualHost> vhosts = r.param("vhost") == null ? ctx.vhosts() : List.of(ctx.vhost(r.param("vhost")));
        Listing.Params p = Listing.params(r);
        List<Object> out = new ArrayList<>();
        for (VirtualHost v : vhosts) {
            for (MessageQueue q : QueueEndpoints.sorted(v.queues())) {
                out.add(Views.defaultBinding(q));
            }
            for (Binding b : sorted(v.bindings())) {
                out.add(Views.binding(v.name(), b));
            }
        }
        return Listing.reply(p, ctx.visible(r, out), BINDING_SORT);
    }

    /** The bindings from {source} to {dest}; 404 when either end is missing. */
    ApiResponse between(ApiRequest r) {
        Ends e = ends(r);
        List<Object> out = new ArrayList<>();
        for (Binding b : e.bindings()) {
            out.add(Views.binding(e.vhost.name(), b));
        }
        return ApiResponse.ok(out);
    }

    /** As AMQP (RabbitMQ's binding_action_with_checks): write on the destination, read on the source. */
    private void authorizeBinding(ApiRequest r, Ends e, String source, String dest, String key) {
        if (source.isEmpty() || dest.isEmpty()) {
            return; // the vhost refuses the default exchange
        }
        ctx.authorize(r, e.vhost.name(), e.toQueue ? io.warren.core.auth.Authorizer.Kind.QUEUE : io.warren.core.auth.Authorizer.Kind.EXCHANGE, dest, io.warren.core.auth.AccessControl.Permission.WRITE);
        ctx.authorize(r, e.vhost.name(), io.warren.core.auth.Authorizer.Kind.EXCHANGE, source, io.warren.core.auth.AccessControl.Permission.READ);
        io.warren.core.exchange.Exchange x = e.vhost.exchange(source);
        if (x != null && x.type() == io.warren.core.exchange.ExchangeType.TOPIC) {
            new io.warren.core.auth.Authorizer(ctx.broker().access(), r.user(), e.vhost.name()).checkTopic(source, key,
                    io.warren.core.auth.AccessControl.Permission.READ);
        }
    }

    CompletableFuture<ApiResponse> create(ApiRequest r) {
        Ends e = ends(r);
        ObjectNode body = Json.object(r.body());
        String key = Json.string(body, "routing_key", "");
        Map<String, Object> args = Json.arguments(body, "arguments");
        String source = ExchangeEndpoints.name(r.param("source"));
        String dest = e.destinationName();
        authorizeBinding(r, e, source, dest, key);
        return CompletableFuture.supplyAsync(() -> {
            if (e.toQueue) {
                e.vhost.bindQueue(dest, source, key, args, null);
            } else {
                e.vhost.bindExchange(dest, source, key, args);
            }
            // Relative to the request's URL, as RabbitMQ's: "DEST/PROPS".
            String location = Views.quote(r.param("dest")).replace("+", "%20") + "/" + Views.propertiesKey(key, args);
            return new ApiResponse(201, null, Map.of("location", location));
        }, ctx.worker).thenCompose(resp -> ApiContext.durable(e.vhost, resp));
    }

    ApiResponse show(ApiRequest r) {
        Ends e = ends(r);
        return ApiResponse.ok(Views.binding(e.vhost.name(), find(e, r.param("props"))));
    }

    CompletableFuture<ApiResponse> delete(ApiRequest r) {
        Ends e = ends(r);
        Binding b = find(e, r.param("props"));
        String source = b.source().name();
        authorizeBinding(r, e, source, b.destination().name(), b.routingKey());
        return CompletableFuture.supplyAsync(() -> {
            if (e.toQueue) {
                e.vhost.unbindQueue(b.destination().name(), source, b.routingKey(), b.arguments(), null);
            } else {
                e.vhost.unbindExchange(b.destination().name(), source, b.routingKey(), b.arguments());
            }
            return ApiResponse.status(204);
        }, ctx.worker).thenCompose(resp -> ApiContext.durable(e.vhost, resp));
    }

    private static Binding find(Ends e, String props) {
        for (Binding b : e.bindings()) {
            if (Views.propertiesKey(b.routingKey(), b.arguments()).equals(props)) {
                return b;
            }
        }
        throw ApiException.notFound();
    }

    /** The two ends a binding path names; 404 for a missing vhost. */
    private Ends ends(ApiRequest r) {
        VirtualHost v = ctx.vhost(r.param("vhost"));
        String kind = r.param("kind");
        if (!kind.equals("q") && !kind.equals("e")) {
            throw ApiException.notFound();
        }
        return new Ends(v, ExchangeEndpoints.name(r.param("source")), kind.equals("q"), r.param("dest"));
    }

    private record Ends(VirtualHost vhost, String source, boolean toQueue, String dest) {
        String destinationName() {
            return toQueue ? dest : ExchangeEndpoints.name(dest);
        }

        /** The bindings between the ends; 404 when the source or the destination does not exist. */
        List<Binding> bindings() {
            Exchange x = vhost.exchange(source);
            Object d = toQueue ? vhost.queue(dest) : vhost.exchange(destinationName());
            if (x == null || d == null) {
                throw ApiException.notFound();
            }
            List<Binding> out = new ArrayList<>();
            if (source.isEmpty() && d instanceof MessageQueue) {
                // the default exchange's implicit binding is not in the list; nothing to show
                return out;
            }
            for (Binding b : sorted(vhost.bindings())) {
                if (b.source() == x && b.destination() == d) {
                    out.add(b);
                }
            }
            return out;
        }
    }
}
