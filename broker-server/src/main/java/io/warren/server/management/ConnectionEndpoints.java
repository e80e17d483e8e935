package io.warren.server.management;

import io.warren.amqp.channel.ChannelInfo;
import io.warren.amqp.connection.AmqpConnection;
import io.warren.amqp.connection.ConnectionInfo;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;

/**
 * /api/connections (DELETE closes one with 320 CONNECTION_FORCED), /api/channels and
 * /api/consumers: each built from copies of the connections' state taken on their loops.
 */
final class ConnectionEndpoints {
    /** RabbitMQ's reason when the request has no X-Reason header. */
    static final String DEFAULT_REASON = "Closed via management plugin";

    private final ApiContext ctx;

    ConnectionEndpoints(ApiContext ctx) {
        this.ctx = ctx;
    }

    CompletableFuture<ApiResponse> list(ApiRequest r) {
        String vhost = vhostFilter(r);
        Listing.Params p = Listing.params(r);
        return ctx.snapshots(r.loop()).thenCombineAsync(ctx.askOthers(ClusterViews.CONNECTIONS), (conns, others) -> {
            List<Object> out = new ArrayList<>();
            for (ConnectionInfo c : ClusterViews.clients(conns)) {
                if (vhost == null || vhost.equals(c.vhost())) {
                    out.add(Views.connection(c, ctx.node));
                }
            }
            out.addAll(ClusterViews.views(others, vhost, "vhost"));
            return Listing.reply(p, ctx.visible(r, out), Listing.DEFAULT_SORT);
        }, r.loop());
    }

    /** The vhost a /api/vhosts/{vhost}/... listing is limited to (404 if missing), else null. */
    private String vhostFilter(ApiRequest r) {
        String v = r.param("vhost");
        return v == null ? null : ctx.vhost(v).name();
    }

    /** GET of one connection: this node's, else the one another node of the cluster has (404: none). */
    CompletableFuture<ApiResponse> show(ApiRequest r) {
        String name = r.param("name");
        AmqpConnection c = ctx.connectionOrNull(name);
        if (c == null) {
            return ctx.askOthers(ClusterViews.CONNECTIONS).thenApplyAsync(others -> {
                for (Map<String, Object> m : ClusterViews.views(others)) {
                    if (name.equals(m.get("name"))) {
                        return ApiResponse.ok(m);
                    }
                }
                throw ApiException.notFound();
            }, r.loop());
        }
        return ctx.snapshot(c).thenApplyAsync(info -> {
            if (info == null) {
                throw ApiException.notFound();
            }
            return ApiResponse.ok(Views.connection(info, ctx.node));
        }, r.loop());
    }

    /**
     * DELETE: closes the connection with 320 and the X-Reason header's text (RabbitMQ's
     * behaviour), on this node or on the node of the cluster that has it.
     */
    CompletableFuture<ApiResponse> close(ApiRequest r) {
        String name = r.param("name");
        String reason = Objects.requireNonNullElse(r.header("x-reason"), DEFAULT_REASON);
        AmqpConnection c = ctx.connectionOrNull(name);
        if (c != null) {
            c.closeByOperator(reason);
            return CompletableFuture.completedFuture(ApiResponse.status(204));
        }
        return ctx.askOthers(ClusterViews.close(name, reason)).thenApplyAsync(answers -> {
            if (!ClusterViews.closed(answers)) {
                throw ApiException.notFound();
            }
            return ApiResponse.status(204);
        }, r.loop());
    }

    CompletableFuture<ApiResponse> channelsOf(ApiRequest r) {
        String name = r.param("name");
        AmqpConnection c = ctx.connectionOrNull(name);
        if (c == null) {
            return ctx.askOthers(ClusterViews.CONNECTIONS).thenCombineAsync(ctx.askOthers(ClusterViews.CHANNELS),
                    (conns, chans) -> {
                        if (ClusterViews.views(conns).stream().noneMatch(m -> name.equals(m.get("name")))) {
                            throw ApiException.notFound();
                        }
                        List<Object> out = new ArrayList<>();
                        for (Map<String, Object> m : ClusterViews.views(chans)) {
                            if (m.get("connection_details") instanceof Map<?, ?> d && name.equals(d.get("name"))) {
                                out.add(m);
                            }
                        }
                        return ApiResponse.ok(out);
                    }, r.loop());
        }
        return ctx.snapshot(c).thenApplyAsync(info -> {
            if (info == null) {
                throw ApiException.notFound();
            }
            List<Object> out = new ArrayList<>();
            for (ChannelInfo ch : info.channels()) {
                out.add(Views.channel(info, ch, ctx.node));
            }
            return ApiResponse.ok(out);
        }, r.loop());
    }

    CompletableFuture<ApiResponse> channels(ApiRequest r) {
        String vhost = vhostFilter(r);
        Listing.Params p = Listing.params(r);
        return ctx.snapshots(r.loop()).thenCombineAsync(ctx.askOthers(ClusterViews.CHANNELS), (conns, others) -> {
            List<Object> out = new ArrayList<>();
            for (ConnectionInfo c : ClusterViews.clients(conns)) {
                if (vhost == null || vhost.equals(c.vhost())) {
                    for (ChannelInfo ch : c.channels()) {
                        out.add(Views.channel(c, ch, ctx.node));
                    }
                }
            }
            out.addAll(ClusterViews.views(others, vhost, "vhost"));
            return Listing.reply(p, ctx.visible(r, out), Listing.DEFAULT_SORT);
        }, r.loop());
    }

    CompletableFuture<ApiResponse> consumers(ApiRequest r) {
        String vhost = vhostFilter(r);
        Listing.Params p = Listing.params(r);
        return ctx.snapshots(r.loop()).thenCombineAsync(ctx.askOthers(ClusterViews.CONSUMERS), (conns, others) -> {
            List<Object> out = new ArrayList<>(Views.consumers(ClusterViews.clients(conns), ctx.node,
                    k -> vhost == null || vhost.equals(k.queue().vhost())));
            out.addAll(ClusterViews.views(others, vhost, "queue", "vhost"));
            return Listing.reply(p, ctx.visible(r, out), List.of("queue.vhost", "queue.name", "consumer_tag"));
        }, r.loop());
    }
}
