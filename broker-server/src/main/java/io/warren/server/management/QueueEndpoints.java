package io.warren.server.management;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.warren.core.BrokerException;
import io.warren.core.exchange.Binding;
import io.warren.core.queue.MessageQueue;
import io.warren.core.vhost.VirtualHost;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * /api/queues: list, show, declare (PUT), delete, purge (DELETE .../contents), bindings.
 * Counts of ready messages and consumers are the queues' volatile copies (made for readers on
 * other threads); unacknowledged counts come from the channels, copied on their loops.
 * Declare and delete go through {@link VirtualHost}, as the AMQP channel's do.
 */
final class QueueEndpoints {
    private final ApiContext ctx;

    QueueEndpoints(ApiContext ctx) {
        this.ctx = ctx;
    }

    CompletableFuture<ApiResponse> list(ApiRequest r) {
        List<VirtualHost> vhosts = r.param("vhost") == null ? ctx.vhosts() : List.of(ctx.vhost(r.param("vhost")));
        Listing.Params p = Listing.params(r);
        return ctx.snapshots(r.loop()).thenCombineAsync(ctx.heldElsewhere(vhosts), (conns, held) -> {
            Map<MessageQueue, Integer> unacked = ApiContext.unackedByQueue(conns);
            Map<String, Boolean> running = running();
            List<Object> out = new ArrayList<>();
            for (VirtualHost v : vhosts) {
                for (MessageQueue q : sorted(v.queues())) {
                    Map<String, Object> m = Views.queue(q, unacked.getOrDefault(q, 0), ctx.node, ctx.stats, running,
                            held.get(HeldCounts.key(v.name(), q.name())));
                    PolicyEndpoints.applied(m, v.appliedTo(q), true);
                    out.add(m);
                }
            }
            return Listing.reply(p, ctx.visible(r, out), Listing.DEFAULT_SORT);
        }, r.loop());
    }

    /** The cluster's nodes and whether each is up; null for a single broker. */
    private Map<String, Boolean> running() {
        return ctx.control == null ? null : ctx.control.clusterNodes();
    }

    static List<MessageQueue> sorted(List<MessageQueue> queues) {
        queues.sort(Comparator.comparing(MessageQueue::name));
        return queues;
    }

    CompletableFuture<ApiResponse> show(ApiRequest r) {
        MessageQueue q = existing(r);
        CompletableFuture<Map<String, HeldCounts.Counts>> held = q.remoteHome() != null && ctx.control != null
                ? ctx.control.heldElsewhere() : CompletableFuture.completedFuture(Map.of());
        return ctx.snapshots(r.loop()).thenCombineAsync(held, (conns, elsewhere) -> {
            Map<String, Object> m = Views.queue(q, ApiContext.unackedByQueue(conns).getOrDefault(q, 0), ctx.node,
                    ctx.stats, running(), elsewhere.get(HeldCounts.key(q.vhost(), q.name())));
            PolicyEndpoints.applied(m, ctx.vhost(r.param("vhost")).appliedTo(q), true);
            m.put("consumer_details", Views.consumers(conns, ctx.node, k -> k.queue() == q));
            return ApiResponse.ok(m);
        }, r.loop());
    }

    private MessageQueue existing(ApiRequest r) {
        MessageQueue q = ctx.vhost(r.param("vhost")).queue(r.param("name"));
        if (q == null) {
            throw ApiException.notFound();
        }
        return q;
    }

    /** PUT: 201 when created, 204 when an equivalent queue existed, 400 when it differs. */
    CompletableFuture<ApiResponse> declare(ApiRequest r) {
        VirtualHost v = ctx.vhost(r.param("vhost"));
        String name = r.param("name");
        ObjectNode body = Json.object(r.body());
        boolean durable = Json.bool(body, "durable", false);
        boolean autoDelete = Json.bool(body, "auto_delete", false);
        Map<String, Object> args = Json.arguments(body, "arguments");
        if (name.isEmpty()) {
            throw ApiException.badRequest("queue name must not be empty");
        }
        ctx.authorize(r, v.name(), io.warren.core.auth.Authorizer.Kind.QUEUE, name, io.warren.core.auth.AccessControl.Permission.CONFIGURE);
        // Topology changes run on the worker thread, off the HTTP loop; the reply waits for the disk.
        return CompletableFuture.supplyAsync(() -> v.declareQueue(name, false, durable, false, autoDelete, args, null),
                ctx.worker).thenCompose(d -> ApiContext.durable(v, ApiResponse.status(d.created() ? 201 : 204)));
    }

    /** DELETE with RabbitMQ's if-empty / if-unused query parameters. */
    CompletableFuture<ApiResponse> delete(ApiRequest r) {
        VirtualHost v = ctx.vhost(r.param("vhost"));
        MessageQueue q = existing(r);
        ctx.authorize(r, v.name(), io.warren.core.auth.Authorizer.Kind.QUEUE, q.name(), io.warren.core.auth.AccessControl.Permission.CONFIGURE);
        CompletableFuture<ApiResponse> done = new CompletableFuture<>();
        ctx.worker.execute(() -> {
            try {
                v.deleteQueue(q.name(), r.flag("if-unused"), r.flag("if-empty"), null, (count, refused) -> {
                    if (refused != null) {
                        done.completeExceptionally(refused);
                    } else {
                        done.complete(ApiResponse.status(204));
                    }
                });
            } catch (BrokerException e) {
                done.completeExceptionally(e);
            }
        });
        return done.thenCompose(resp -> ApiContext.durable(v, resp));
    }

    /**
     * DELETE .../contents: purge, on the queue's loop; a queue another node holds (a quorum queue
     * led elsewhere, a classic queue of another node) is purged there, as queue.purge through this
     * node is, so warrenctl purge_queue works through any node (RabbitMQ's does).
     */
    CompletableFuture<ApiResponse> purge(ApiRequest r) {
        MessageQueue standIn = existing(r);
        ctx.authorize(r, r.param("vhost"), io.warren.core.auth.Authorizer.Kind.QUEUE, r.param("name"), io.warren.core.auth.AccessControl.Permission.READ);
        if (standIn.remoteHome() != null && standIn.remotes() != null) {
            // A quorum queue whose leader is not known yet waits for one (this node may lead it next).
            return standIn.remotes().whenHolderKnown(standIn).thenCompose(v -> purgeHereOrAtHolder(r, standIn));
        }
        return purgeHereOrAtHolder(r, standIn);
    }

    private CompletableFuture<ApiResponse> purgeHereOrAtHolder(ApiRequest r, MessageQueue standIn) {
        CompletableFuture<ApiResponse> done = new CompletableFuture<>();
        if (standIn.remoteHome() != null && standIn.remotes() != null) {
            standIn.remotes().purge(standIn, r.user(), n -> done.complete(ApiResponse.status(204)), e -> {
                if (standIn.remoteHome() == null) {
                    purgeHere(standIn, done); // this node took the queue over meanwhile (a new leader)
                } else {
                    done.completeExceptionally(e);
                }
            });
            return done;
        }
        purgeHere(ctx.vhost(r.param("vhost")).existingQueue(r.param("name"), null), done);
        return done;
    }

    /** Purges this node's queue {@code q} on its loop; {@code done} gets the 204. */
    private static void purgeHere(MessageQueue q, CompletableFuture<ApiResponse> done) {
        q.execute(() -> q.purge(n -> done.complete(ApiResponse.status(204))));
    }

    ApiResponse bindings(ApiRequest r) {
        MessageQueue q = existing(r);
        List<Object> out = new ArrayList<>();
        out.add(Views.defaultBinding(q));
        for (Binding b : BindingEndpoints.sorted(ctx.vhost(q.vhost()).bindings())) {
            if (b.destination() == q) {
                out.add(Views.binding(q.vhost(), b));
            }
        }
        return ApiResponse.ok(out);
    }
}
