package io.warren.server.management;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.warren.core.BrokerException;
import io.warren.core.exchange.Exchange;
import io.warren.core.vhost.VirtualHost;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * /api/exchanges: list, show, declare (PUT), delete. In paths the default exchange is
 * {@code amq.default}, as in RabbitMQ; it and the other {@code amq.*} exchanges cannot be
 * declared or deleted (401 "Access refused.", RabbitMQ's answer).
 */
final class ExchangeEndpoints {
    private final ApiContext ctx;

    ExchangeEndpoints(ApiContext ctx) {
        this.ctx = ctx;
    }

    /** The exchange name a path segment stands for. */
    static String name(String segment) {
        return segment.equals("amq.default") ? "" : segment;
    }

    ApiResponse list(ApiRequest r) {
        List<VirtualHost> vhosts = r.param("vhost") == null ? ctx.vhosts() : List.of(ctx.vhost(r.param("vhost")));
        Listing.Params p = Listing.params(r);
        List<Object> out = new ArrayList<>();
        for (VirtualHost v : vhosts) {
            List<Exchange> xs = v.exchanges();
            xs.sort(Comparator.comparing(Exchange::name));
            for (Exchange x : xs) {
                Map<String, Object> m = Views.exchange(x, v.name(), ctx.stats);
                PolicyEndpoints.applied(m, v.appliedTo(x), false);
                out.add(m);
            }
        }
        return Listing.reply(p, ctx.visible(r, out), Listing.DEFAULT_SORT);
    }

    /**
     * GET /api/warren/delayed[/{vhost}] (warren's, for warrenctl list_delayed): every
     * x-delayed-message exchange with its underlying type and how many messages wait in it.
     */
    ApiResponse delayed(ApiRequest r) {
        List<VirtualHost> vhosts = r.param("vhost") == null ? ctx.vhosts() : List.of(ctx.vhost(r.param("vhost")));
        List<Object> out = new ArrayList<>();
        for (VirtualHost v : vhosts) {
            List<Exchange> xs = v.exchanges();
            xs.sort(Comparator.comparing(Exchange::name));
            for (Exchange x : xs) {
                if (x instanceof io.warren.core.exchange.DelayedExchange dx) {
                    Map<String, Object> m = new java.util.LinkedHashMap<>();
                    m.put("vhost", v.name());
                    m.put("name", x.name());
                    m.put("delayed_type", dx.underlying().wireName());
                    m.put("durable", x.durable());
                    m.put("messages_delayed", dx.waiting());
                    out.add(m);
                }
            }
        }
        return ApiResponse.ok(ctx.visible(r, out));
    }

    ApiResponse show(ApiRequest r) {
        VirtualHost v = ctx.vhost(r.param("vhost"));
        Exchange x = v.exchange(name(r.param("name")));
        if (x == null) {
            throw ApiException.notFound();
        }
        Map<String, Object> m = Views.exchange(x, v.name(), ctx.stats);
        PolicyEndpoints.applied(m, v.appliedTo(x), false);
        return ApiResponse.ok(m);
    }

    /** PUT {"type":..,"durable":..,"auto_delete":..,"internal":..,"arguments":{}}: 201, 204 or 400. */
    CompletableFuture<ApiResponse> declare(ApiRequest r) {
        VirtualHost v = ctx.vhost(r.param("vhost"));
        String name = name(r.param("name"));
        ObjectNode body = Json.object(r.body());
        String type = Json.string(body, "type", "direct");
        boolean durable = Json.bool(body, "durable", false);
        boolean autoDelete = Json.bool(body, "auto_delete", false);
        boolean internal = Json.bool(body, "internal", false);
        Map<String, Object> args = Json.arguments(body, "arguments");
        if (!name.isEmpty()) {
            ctx.authorize(r, v.name(), io.warren.core.auth.Authorizer.Kind.EXCHANGE, name, io.warren.core.auth.AccessControl.Permission.CONFIGURE);
        }
        return CompletableFuture.supplyAsync(() -> {
            boolean existed = v.exchange(name) != null;
            v.declareExchange(name, type, false, durable, autoDelete, internal, args);
            return ApiResponse.status(existed ? 204 : 201);
        }, ctx.worker).thenCompose(resp -> ApiContext.durable(v, resp));
    }

    CompletableFuture<ApiResponse> delete(ApiRequest r) {
        VirtualHost v = ctx.vhost(r.param("vhost"));
        String name = name(r.param("name"));
        boolean ifUnused = r.flag("if-unused");
        if (name.isEmpty() || name.startsWith("amq.")) {
            // Refused before looking it up, as RabbitMQ does (also for amq.* names that do not exist).
            throw new BrokerException(BrokerException.Reason.ACCESS_REFUSED, "access refused");
        }
        if (v.exchange(name) == null) {
            throw ApiException.notFound();
        }
        ctx.authorize(r, v.name(), io.warren.core.auth.Authorizer.Kind.EXCHANGE, name, io.warren.core.auth.AccessControl.Permission.CONFIGURE);
        return CompletableFuture.supplyAsync(() -> {
            v.deleteExchange(name, ifUnused);
            return ApiResponse.status(204);
        }, ctx.worker).thenCompose(resp -> ApiContext.durable(v, resp));
    }
}
