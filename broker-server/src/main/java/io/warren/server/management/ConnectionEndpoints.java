package io.warren.server.management;

import io.warren.amqp.channel.ChannelInfo;
import io.warren.amqp.connection.AmqpConnection;
import io.warren.amqp.connection.ConnectionInfo;

import java.util.ArrayList;
import java.util.List;
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
        return ctx.snapshots(r.loop()).thenApply(conns -> {
            List<Object> out = new ArrayList<>();
            for (ConnectionInfo c : conns) {
                if (vhost == null || vhost.equals(c.vhost())) {
                    out.add(Views.connection(c, ctx.node));
                }
            }
            return Listing.reply(p, ctx.visible(r, out), Listing.DEFAULT_SORT);
        });
    }

    /** The vhost a /api/vhosts/{vhost}/... listing is limited to (404 if missing), else null. */
    private String vhostFilter(ApiRequest r) {
        String v = r.param("vhost");
        return v == null ? null : ctx.vhost(v).name();
    }

    CompletableFuture<ApiResponse> show(ApiRequest r) {
        AmqpConnection c = ctx.connection(r.param("name"));
        return ctx.snapshot(c).thenApplyAsync(info -> {
            if (info == null) {
                throw ApiException.notFound();
            }
            return ApiResponse.ok(Views.connection(info, ctx.node));
        }, r.loop());
    }

    /** DELETE: closes the connection with 320 and the X-Reason header's text (RabbitMQ's behaviour). */
    ApiResponse close(ApiRequest r) {
        AmqpConnection c = ctx.connection(r.param("name"));
        String reason = Objects.requireNonNullElse(r.header("x-reason"), DEFAULT_REASON);
        c.closeByOperator(reason);
        return ApiResponse.status(204);
    }

    CompletableFuture<ApiResponse> channelsOf(ApiRequest r) {
        AmqpConnection c = ctx.connection(r.param("name"));
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
        return ctx.snapshots(r.loop()).thenApply(conns -> {
            List<Object> out = new ArrayList<>();
            for (ConnectionInfo c : conns) {
                if (vhost == null || vhost.equals(c.vhost())) {
                    for (ChannelInfo ch : c.channels()) {
                        out.add(Views.channel(c, ch, ctx.node));
                    }
                }
            }
            return Listing.reply(p, ctx.visible(r, out), Listing.DEFAULT_SORT);
        });
    }

    CompletableFuture<ApiResponse> consumers(ApiRequest r) {
        String vhost = vhostFilter(r);
        Listing.Params p = Listing.params(r);
        return ctx.snapshots(r.loop()).thenApply(conns -> Listing.reply(p,
                ctx.visible(r, Views.consumers(conns, ctx.node, k -> vhost == null || vhost.equals(k.queue().vhost()))),
                List.of("queue.vhost", "queue.name", "consumer_tag")));
    }
}
