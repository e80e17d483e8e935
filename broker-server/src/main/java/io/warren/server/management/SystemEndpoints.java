package io.warren.server.management;

import io.netty.buffer.Unpooled;
import io.warren.amqp.channel.MessageHeaders;
import io.warren.amqp.connection.ConnectionInfo;
import io.warren.amqp.server.BrokerContext;
import io.warren.core.exchange.ExchangeType;
import io.warren.core.flow.ResourceAlarms;
import io.warren.core.message.Message;
import io.warren.core.message.QueueEntry;
import io.warren.core.publish.Publisher;
import io.warren.core.queue.MessageQueue;
import io.warren.core.vhost.VirtualHost;

import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/** /api/overview, /api/nodes, /api/whoami, /api/vhosts, health checks and the aliveness test. */
final class SystemEndpoints {
    private final ApiContext ctx;

    SystemEndpoints(ApiContext ctx) {
        this.ctx = ctx;
    }

    CompletableFuture<ApiResponse> overview(ApiRequest r) {
        List<VirtualHost> vhosts = ctx.vhosts();
        CompletableFuture<List<byte[]>> others = ctx.askOthers(ClusterViews.TOTALS);
        return ctx.snapshots(r.loop()).thenCombine(others, Map::entry)
                .thenCombineAsync(ctx.heldElsewhere(vhosts), (both, held) -> {
            List<ConnectionInfo> conns = both.getKey();
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("management_version", BrokerContext.VERSION);
            m.put("rates_mode", "basic");
            m.put("statistics_db_event_queue", 0);
            List<Map<String, Object>> types = new ArrayList<>();
            for (ExchangeType t : ExchangeType.values()) {
                Map<String, Object> type = new LinkedHashMap<>();
                type.put("name", t.wireName());
                // The delayed type's text is the plugin's (rabbit_exchange_type_delayed_message).
                type.put("description", t.standard()
                        ? "AMQP " + t.wireName() + " exchange, as per the AMQP specification"
                        : "Delayed Message Exchange.");
                type.put("enabled", true);
                types.add(type);
            }
            m.put("exchange_types", types);
            m.put("product_version", BrokerContext.VERSION);
            m.put("product_name", "warren");
            m.put("rabbitmq_version", BrokerContext.VERSION);
            m.put("cluster_name", ctx.node);
            m.put("node", ctx.node);
            // the clients of every node, as RabbitMQ's overview counts the cluster's
            int[] clients = ClusterViews.totals(both.getValue(), ClusterViews.totals(ClusterViews.clients(conns)));
            int exchanges = 0;
            int queues = 0;
            // messages as the queues' holders count them (the cluster's, as RabbitMQ's overview)
            Map<MessageQueue, Integer> unackedByQueue = ApiContext.unackedByQueue(conns);
            long ready = 0;
            long unacked = 0;
            for (VirtualHost v : vhosts) {
                exchanges += v.exchanges().size();
                List<MessageQueue> qs = v.queues();
                queues += qs.size();
                long[] t = ApiContext.messageTotals(qs, unackedByQueue, held);
                ready += t[0];
                unacked += t[1];
            }
            Map<String, Object> totals = new LinkedHashMap<>();
            totals.put("connections", clients[0]);
            totals.put("channels", clients[1]);
            totals.put("exchanges", exchanges);
            totals.put("queues", queues);
            totals.put("consumers", clients[2]);
            m.put("object_totals", totals);
            Map<String, Object> qt = new LinkedHashMap<>();
            qt.put("messages", ready + unacked);
            qt.put("messages_ready", ready);
            qt.put("messages_unacknowledged", unacked);
            m.put("queue_totals", qt);
            m.put("message_stats", ctx.stats.overview(ctx.vhosts()));
            m.put("listeners", ctx.listeners);
            return ApiResponse.ok(m);
        }, r.loop());
    }

    /**
     * This node with its figures; in a cluster, every other node too, with the figures it gave
     * when asked, or (a node that did not answer) as RabbitMQ lists a node it cannot reach: its
     * name, type and whether it runs.
     */
    CompletableFuture<ApiResponse> nodes(ApiRequest r) {
        Map<String, Boolean> cluster = ctx.control.clusterNodes();
        if (cluster == null) {
            return CompletableFuture.completedFuture(ApiResponse.ok(List.of(localNode(ctx))));
        }
        return othersNodes().thenApplyAsync(others -> {
            List<Map<String, Object>> l = new ArrayList<>();
            cluster.forEach((name, running) -> l.add(name.equals(ctx.node) ? localNode(ctx)
                    : otherNode(others.get(name), name, running)));
            return ApiResponse.ok(l);
        }, r.loop());
    }

    CompletableFuture<ApiResponse> node(ApiRequest r) {
        String name = r.param("node");
        if (name.equals(ctx.node)) {
            return CompletableFuture.completedFuture(ApiResponse.ok(localNode(ctx)));
        }
        Map<String, Boolean> cluster = ctx.control.clusterNodes();
        if (cluster == null || !cluster.containsKey(name)) {
            throw ApiException.notFound();
        }
        return othersNodes().thenApplyAsync(others -> ApiResponse.ok(
                otherNode(others.get(name), name, cluster.get(name))), r.loop());
    }

    /**
     * The figures of the other running nodes, by name, as each gives its own (memory, disk, file
     * descriptors, alarms, uptime), as RabbitMQ's /api/nodes shows every node's; a node that does
     * not answer is left out (it is then listed with its name and whether it runs only).
     */
    private CompletableFuture<Map<String, Map<String, Object>>> othersNodes() {
        return ctx.askOthers(ClusterViews.NODE).thenApply(answers -> {
            Map<String, Map<String, Object>> byName = new LinkedHashMap<>();
            for (Map<String, Object> n : ClusterViews.views(answers)) {
                byName.put(String.valueOf(n.get("name")), n);
            }
            return byName;
        });
    }

    /**
     * Another node's entry: the figures it gave ({@code answered}, null when it gave none), its
     * name, and whether it runs as this node's probe of the cluster sees it (its application
     * started), not as it says of itself.
     */
    private static Map<String, Object> otherNode(Map<String, Object> answered, String name, boolean running) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", name);
        m.put("type", "disc");
        m.put("running", running);
        if (answered != null) {
            answered.forEach(m::putIfAbsent);
        }
        return m;
    }

    /** This node's entry of /api/nodes (also what it answers another node's /api/nodes with). */
    static Map<String, Object> localNode(ApiContext ctx) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", ctx.node);
        m.put("type", "disc");
        m.put("running", true);
        m.put("os_pid", String.valueOf(ProcessHandle.current().pid()));
        m.put("mem_used", ctx.monitor.memory().used());
        m.put("mem_limit", ctx.monitor.memory().limit());
        m.put("mem_alarm", ctx.monitor.alarms().active(ResourceAlarms.Resource.MEMORY));
        m.put("disk_free", ctx.monitor.disk().free());
        m.put("disk_free_limit", ctx.monitor.disk().limit());
        m.put("disk_free_alarm", ctx.monitor.alarms().active(ResourceAlarms.Resource.DISK));
        m.put("uptime", System.currentTimeMillis() - ctx.startedAt);
        m.put("processors", Runtime.getRuntime().availableProcessors());
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.UnixOperatingSystemMXBean u) {
            m.put("fd_used", u.getOpenFileDescriptorCount());
            m.put("fd_total", u.getMaxFileDescriptorCount());
        }
        m.put("being_drained", false);
        m.put("partitions", List.of());
        return m;
    }

    ApiResponse whoami(ApiRequest r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", r.user());
        m.put("tags", ctx.access().tags(r.user()));
        return ApiResponse.ok(m);
    }

    CompletableFuture<ApiResponse> vhosts(ApiRequest r) {
        Listing.Params p = Listing.params(r);
        List<VirtualHost> vhosts = ctx.vhosts();
        return ctx.snapshots(r.loop()).thenCombineAsync(ctx.heldElsewhere(vhosts), (conns, held) -> {
            Map<MessageQueue, Integer> unacked = ApiContext.unackedByQueue(conns);
            List<Object> out = new ArrayList<>();
            List<String> tags = ctx.access().tags(r.user());
            boolean all = tags.contains("administrator") || tags.contains("monitoring");
            for (VirtualHost v : vhosts) {
                // RabbitMQ: management users see the vhosts they have permissions in.
                if (all || ctx.access().canAccessVhost(r.user(), v.name())) {
                    out.add(vhost(v, unacked, held));
                }
            }
            return Listing.reply(p, out, List.of("name"));
        }, r.loop());
    }

    CompletableFuture<ApiResponse> vhost(ApiRequest r) {
        VirtualHost v = ctx.vhost(r.param("vhost"));
        return ctx.snapshots(r.loop()).thenCombineAsync(ctx.heldElsewhere(List.of(v)),
                (conns, held) -> ApiResponse.ok(vhost(v, ApiContext.unackedByQueue(conns), held)), r.loop());
    }

    private Map<String, Object> vhost(VirtualHost v, Map<MessageQueue, Integer> unackedByQueue,
                                      Map<String, HeldCounts.Counts> held) {
        long[] t = ApiContext.messageTotals(v.queues(), unackedByQueue, held);
        long ready = t[0];
        long unacked = t[1];
        Map<String, Object> m = new LinkedHashMap<>();
        io.warren.core.vhost.VirtualHosts.Info info = ctx.broker().vhosts().info(v.name());
        m.put("name", v.name());
        m.put("description", info.description());
        m.put("tags", info.tags());
        m.put("tracing", false);
        m.put("cluster_state", Map.of(ctx.node, "running"));
        m.put("messages", ready + unacked);
        m.put("messages_ready", ready);
        m.put("messages_unacknowledged", unacked);
        return m;
    }

    /**
     * RabbitMQ's rabbit_mgmt_wm_health_check_alarms: 503 with the alarms while any is set, this
     * node's first, then (in a cluster) every other node's as this node knows them.
     */
    ApiResponse alarms(ApiRequest r) {
        return alarms(true, "There are alarms in effect in the cluster");
    }

    /** RabbitMQ's rabbit_mgmt_wm_health_check_local_alarms: as {@link #alarms}, this node's own alarms only. */
    ApiResponse localAlarms(ApiRequest r) {
        return alarms(false, "There are alarms in effect on the node");
    }

    private ApiResponse alarms(boolean cluster, String reason) {
        ResourceAlarms all = ctx.monitor.alarms();
        List<Map<String, Object>> alarms = new ArrayList<>();
        for (ResourceAlarms.Resource a : all.active()) {
            alarms.add(alarm(ctx.node, a));
        }
        if (cluster) {
            all.remote().forEach((node, set) -> set.stream().sorted().forEach(a -> alarms.add(alarm(node, a))));
        }
        if (alarms.isEmpty()) {
            return ApiResponse.ok(Map.of("status", "ok"));
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("status", "failed");
        m.put("reason", reason);
        m.put("alarms", alarms);
        return new ApiResponse(503, m, Map.of());
    }

    private static Map<String, Object> alarm(String node, ResourceAlarms.Resource a) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("node", node);
        m.put("resource", a.id());
        return m;
    }

    /**
     * RabbitMQ's rabbit_mgmt_wm_health_check_node_is_quorum_critical (rabbitmq-queues
     * check_if_node_is_quorum_critical, a check before stopping a node): 503 naming the quorum
     * queues with a member on this node that would lose their quorum were it stopped, else 200.
     */
    ApiResponse quorumCritical(ApiRequest r) {
        ctx.broker(); // 503 while the application is stopped (stop_app), as RabbitMQ's needs it running
        java.util.List<MessageQueue> critical = ctx.control == null ? null : ctx.control.quorumCriticalQueues();
        if (critical == null) {
            return ApiResponse.ok(singleNode());
        }
        if (critical.isEmpty()) {
            return ApiResponse.ok(Map.of("status", "ok"));
        }
        List<Map<String, Object>> queues = new ArrayList<>();
        for (MessageQueue q : critical) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", q.name());
            m.put("readable_name", "queue '" + q.name() + "' in vhost '" + q.vhost() + "'");
            m.put("type", "quorum");
            m.put("virtual_host", q.vhost());
            queues.add(m);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("status", "failed");
        m.put("reason", "There are quorum queues that would lose their quorum if the target node is shut down");
        m.put("queues", queues);
        return new ApiResponse(503, m, Map.of());
    }

    private static Map<String, Object> singleNode() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("status", "ok");
        m.put("reason", "single node cluster");
        return m;
    }

    /**
     * RabbitMQ's rabbit_mgmt_wm_health_check_node_is_mirror_sync_critical: whether a classic
     * mirrored queue would lose its last synchronised mirror were this node stopped. warren has
     * no mirrored classic queues (its replicated queues are quorum queues), so never.
     */
    ApiResponse mirrorSyncCritical(ApiRequest r) {
        ctx.broker(); // 503 while the application is stopped, as the quorum check
        return ApiResponse.ok(Map.of("status", "ok"));
    }

    /**
     * RabbitMQ's rabbit_mgmt_wm_health_check_virtual_hosts: 200 {"status":"ok"} when every vhost
     * runs. A warren vhost runs whenever the application does; while it is stopped (stop_app)
     * the answer is the 503 every model endpoint gives.
     */
    ApiResponse virtualHostsHealth(ApiRequest r) {
        ctx.broker();
        return ApiResponse.ok(Map.of("status", "ok"));
    }

    static final String ALIVENESS_QUEUE = "aliveness-test";
    private static final String ALIVENESS_BODY = "test_message";

    /**
     * As RabbitMQ's rabbit_mgmt_wm_aliveness_test: declares the non-durable queue
     * "aliveness-test", publishes "test_message" to it through the default exchange and gets it
     * back; {"status":"ok"} when the body comes back.
     */
    CompletableFuture<ApiResponse> aliveness(ApiRequest r) {
        VirtualHost v = ctx.vhost(r.param("vhost"));
        return CompletableFuture.supplyAsync(
                () -> v.declareQueue(ALIVENESS_QUEUE, false, false, false, false, Map.of(), null).queue(), ctx.worker)
                .thenCompose(q -> {
                    byte[] body = ALIVENESS_BODY.getBytes(StandardCharsets.UTF_8);
                    // No properties: the two property-flag bytes are zero.
                    Message msg = new Message("", ALIVENESS_QUEUE, Unpooled.wrappedBuffer(new byte[2]),
                            Unpooled.wrappedBuffer(body), false, MessageHeaders.READER);
                    Publisher.publishTransient(v, "", msg);
                    // The get is queued on the queue's loop after the enqueue: it sees the message.
                    CompletableFuture<String> got = new CompletableFuture<>();
                    q.execute(() -> q.get((entry, remaining) -> got.complete(take(q, entry))));
                    return got;
                })
                .thenApplyAsync(text -> ALIVENESS_BODY.equals(text) ? ApiResponse.ok(Map.of("status", "ok"))
                        : new ApiResponse(500, Map.of("status", "failed", "reason",
                                text == null ? "no message came back" : "got '" + text + "' back"), Map.of()),
                        r.loop());
    }

    /** Acks (discards) a got entry and returns its body; queue loop. */
    private static String take(MessageQueue q, QueueEntry e) {
        if (e == null) {
            return null;
        }
        String text = e.message().body().toString(StandardCharsets.UTF_8);
        q.discard(e);
        return text;
    }
}
