package io.warren.server.management;

import io.warren.amqp.channel.ChannelInfo;
import io.warren.amqp.connection.AmqpConnection;
import io.warren.amqp.connection.ConnectionInfo;
import io.warren.amqp.server.BrokerContext;
import io.warren.core.queue.MessageQueue;
import io.warren.core.vhost.VirtualHost;
import io.warren.server.flow.ResourceMonitor;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;

/**
 * What the endpoints share: the broker's model and connections, the resource monitor, the node's
 * identity, and the worker thread that runs topology changes (they take the vhost's topology
 * lock, which the HTTP loop must not wait for); replies to them wait for the definitions store
 * ({@link #durable}).
 */
final class ApiContext {
    /**
     * How long a listing waits for a connection's loop to copy its state. A loop that does not
     * answer in time (shutting down) leaves that connection out rather than hang the request.
     */
    static final long SNAPSHOT_TIMEOUT_MS = 2_000;

    /** The running application's model, or null while it is stopped (warrenctl stop_app). */
    private final java.util.function.Supplier<BrokerContext> broker;
    /** Who may use the API; the same while the application is stopped, so start_app can be asked for. */
    /** Users and permissions: the running application's, or the last one's while it is stopped (logins). */
    private final java.util.function.Supplier<io.warren.core.auth.AccessControl> access;
    /** stop_app, start_app, stop, set_disk_free_limit: what the lifecycle endpoints ask of the broker. */
    final BrokerControl control;
    final ResourceMonitor monitor;
    final String node;
    final long startedAt;
    final Executor worker;
    final List<Map<String, Object>> listeners;
    /** The broker's effective configuration (GET /api/warren/environment); null in tests that have none. */
    final io.warren.server.WarrenConfig config;
    /** message_stats: counters and the rates sampled on the management loop. */
    final MessageStats stats = new MessageStats(this::vhosts);
    /** Broker.setMemoryHighWatermark: changes the memory alarm's watermark at run time. */
    final java.util.function.Consumer<io.warren.server.flow.Watermark> memoryWatermark;

    ApiContext(java.util.function.Supplier<BrokerContext> broker, java.util.function.Supplier<io.warren.core.auth.AccessControl> access,
               BrokerControl control, ResourceMonitor monitor, String node, long startedAt, Executor worker,
               List<Map<String, Object>> listeners, io.warren.server.WarrenConfig config,
               java.util.function.Consumer<io.warren.server.flow.Watermark> memoryWatermark) {
        this.access = access;
        this.control = control;
        this.config = config;
        this.memoryWatermark = memoryWatermark;
        this.broker = broker;
        this.monitor = monitor;
        this.node = node;
        this.startedAt = startedAt;
        this.worker = worker;
        this.listeners = listeners;
    }

    /**
     * The running application's model; 503 while it is stopped (warrenctl stop_app), so that
     * every endpoint that needs queues, exchanges or connections says why it cannot answer.
     */
    BrokerContext broker() {
        BrokerContext b = broker.get();
        if (b == null) {
            throw appStopped(node);
        }
        return b;
    }

    static ApiException appStopped(String node) {
        return new ApiException(503, "service_unavailable", "the warren application is stopped on node " + node
                + " (warrenctl start_app starts it)");
    }

    /** True while the application (stores, queues, AMQP listeners) runs. */
    boolean appRunning() {
        return broker.get() != null;
    }

    io.warren.core.auth.AccessControl access() {
        return access.get();
    }

    /** 403 unless the user is tagged administrator (RabbitMQ answers 401 with the same body). */
    void requireAdministrator(ApiRequest r) {
        if (!access().tags(r.user()).contains("administrator")) {
            throw new ApiException(403, "not_authorised", "Not administrator user");
        }
    }

    /**
     * The AMQP permission check for an API action of the request's user, as RabbitMQ makes it for
     * its API: the user needs access to the vhost and the permission on the object.
     */
    void authorize(ApiRequest r, String vhost, io.warren.core.auth.Authorizer.Kind kind, String name,
                   io.warren.core.auth.AccessControl.Permission permission) {
        io.warren.core.auth.AccessControl ac = broker().access();
        if (!ac.canAccessVhost(r.user(), vhost)) {
            throw new ApiException(401, "not_authorised", "Access refused.");
        }
        new io.warren.core.auth.Authorizer(ac, r.user(), vhost).check(kind, name, permission);
    }

    /**
     * What a list endpoint shows the request's user, as RabbitMQ's management plugin filters it:
     * administrators and monitoring users see everything; other management users see the
     * objects of the vhosts they have permissions in, and only their own connections and
     * channels (items with a {@code user}, or whose {@code channel_details} have one).
     */
    List<?> visible(ApiRequest r, List<?> items) {
        io.warren.core.auth.AccessControl ac = access();
        List<String> tags = ac.tags(r.user());
        if (tags.contains("administrator") || tags.contains("monitoring")) {
            return items;
        }
        List<Object> out = new ArrayList<>(items.size());
        for (Object o : items) {
            if (!(o instanceof Map<?, ?> m)) {
                continue;
            }
            Object vhost = m.get("vhost");
            Object user = m.get("user");
            if (user == null && m.get("channel_details") instanceof Map<?, ?> ch) {
                user = ch.get("user");
            }
            if ((vhost == null || vhost instanceof String v && ac.canAccessVhost(r.user(), v))
                    && (user == null || r.user().equals(user))) {
                out.add(o);
            }
        }
        return out;
    }

    /** The vhost named in the path, or 404. */
    VirtualHost vhost(String name) {
        VirtualHost v = broker().vhosts().get(name);
        if (v == null) {
            throw ApiException.notFound();
        }
        return v;
    }

    /** Every vhost, by name. */
    List<VirtualHost> vhosts() {
        List<VirtualHost> all = new ArrayList<>(broker().vhosts().all());
        all.sort(Comparator.comparing(VirtualHost::name));
        return all;
    }

    /** The other running nodes' answers to {@code question} ({@link ClusterViews}); none for a single node. */
    CompletableFuture<List<byte[]>> askOthers(String question) {
        return control == null ? CompletableFuture.completedFuture(List.of()) : control.askOthers(question);
    }

    /** Node {@code node}'s answer to a management API question; fails when it cannot be asked. */
    CompletableFuture<byte[]> askNode(String node, String question) {
        return control == null ? CompletableFuture.failedFuture(new IllegalStateException("not a cluster node"))
                : control.askNode(node, question);
    }

    /** The connection with RabbitMQ's name {@code name} on this node, or null. */
    AmqpConnection connectionOrNull(String name) {
        return connectionOf(broker(), name);
    }

    /** Broker {@code b}'s connection with RabbitMQ's name {@code name}, or null. */
    static AmqpConnection connectionOf(BrokerContext b, String name) {
        for (AmqpConnection c : b.connections()) {
            if (c.name().equals(name)) {
                return c;
            }
        }
        return null;
    }

    /** The connection with RabbitMQ's name {@code name}, or 404. */
    AmqpConnection connection(String name) {
        AmqpConnection c = connectionOrNull(name);
        if (c == null) {
            throw ApiException.notFound();
        }
        return c;
    }

    /**
     * Copies of every connection's state, each taken on its own loop; completes on {@code loop}
     * (the HTTP connection's), sorted by name.
     */
    CompletableFuture<List<ConnectionInfo>> snapshots(Executor loop) {
        return snapshotsOf(broker(), loop);
    }

    /** As {@link #snapshots}, of broker {@code b}'s connections. */
    static CompletableFuture<List<ConnectionInfo>> snapshotsOf(BrokerContext b, Executor loop) {
        List<CompletableFuture<ConnectionInfo>> parts = new ArrayList<>();
        for (AmqpConnection c : b.connections()) {
            parts.add(snapshot(c));
        }
        return CompletableFuture.allOf(parts.toArray(new CompletableFuture<?>[0])).thenApplyAsync(v -> {
            List<ConnectionInfo> out = new ArrayList<>(parts.size());
            for (CompletableFuture<ConnectionInfo> f : parts) {
                ConnectionInfo i = f.join();
                if (i != null) {
                    out.add(i);
                }
            }
            out.sort(Comparator.comparing(ConnectionInfo::name));
            return out;
        }, loop);
    }

    static CompletableFuture<ConnectionInfo> snapshot(AmqpConnection c) {
        CompletableFuture<ConnectionInfo> f = new CompletableFuture<>();
        try {
            c.snapshot(f::complete);
        } catch (RuntimeException e) {
            f.complete(null); // its loop is gone: so is the connection
        }
        return f.completeOnTimeout(null, SNAPSHOT_TIMEOUT_MS, TimeUnit.MILLISECONDS);
    }

    /**
     * The counts of the queues other nodes hold ({@link BrokerControl#heldElsewhere}), when any of
     * {@code vhosts}' queues is held elsewhere (a cluster); else, at once, none. Listings show
     * those queues' messages and consumers as their holders count them, as RabbitMQ's do on
     * every node.
     */
    CompletableFuture<Map<String, HeldCounts.Counts>> heldElsewhere(List<VirtualHost> vhosts) {
        if (control != null) {
            for (VirtualHost v : vhosts) {
                for (MessageQueue q : v.queues()) {
                    if (q.remoteHome() != null) {
                        return control.heldElsewhere();
                    }
                }
            }
        }
        return CompletableFuture.completedFuture(Map.of());
    }

    /**
     * Messages ready ([0]) and unacknowledged ([1]) in {@code queues}: a queue another node holds
     * counts as {@code held} has it (when known), any other as this node has it.
     */
    static long[] messageTotals(List<MessageQueue> queues, Map<MessageQueue, Integer> unackedByQueue,
                                Map<String, HeldCounts.Counts> held) {
        long[] t = new long[2];
        for (MessageQueue q : queues) {
            HeldCounts.Counts c = q.remoteHome() == null ? null : held.get(HeldCounts.key(q.vhost(), q.name()));
            t[0] += c != null ? c.ready() : q.messageCount();
            t[1] += c != null ? c.unacked() : unackedByQueue.getOrDefault(q, 0);
        }
        return t;
    }

    /** Unacknowledged deliveries per queue, summed over every channel of {@code connections}. */
    static Map<MessageQueue, Integer> unackedByQueue(List<ConnectionInfo> connections) {
        Map<MessageQueue, Integer> n = new IdentityHashMap<>();
        for (ConnectionInfo c : connections) {
            for (ChannelInfo ch : c.channels()) {
                ch.unackedByQueue().forEach((q, k) -> n.merge(q, k, Integer::sum));
            }
        }
        return n;
    }

    /**
     * {@code value} once the definition changes made so far are on disk: an API reply, like an
     * AMQP declare-ok, never promises a durability that a crash would break.
     */
    static <T> java.util.concurrent.CompletableFuture<T> durable(io.warren.core.vhost.VirtualHost v, T value) {
        java.util.concurrent.CompletableFuture<T> f = new java.util.concurrent.CompletableFuture<>();
        v.whenDurable(failure -> {
            if (failure == null) {
                f.complete(value);
            } else {
                f.completeExceptionally(new ApiException(500, "internal_error",
                        "cannot store definitions: " + failure.getMessage()));
            }
        });
        return f;
    }
}
