package io.warren.server.management;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.warren.server.WarrenConfig;
import io.warren.server.config.ConfigParser;
import io.warren.server.flow.Watermark;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * warren's own endpoints under {@code /api/warren/}, for what rabbitmqctl does over Erlang
 * distribution and RabbitMQ's management API has no path for: {@code warrenctl environment}
 * (the effective configuration, passwords masked) and {@code warrenctl
 * set_vm_memory_high_watermark} (administrators only, as the command needs RabbitMQ's admin rights).
 */
final class WarrenEndpoints {
    static final String MASK = "********";
    private final ApiContext ctx;

    WarrenEndpoints(ApiContext ctx) {
        this.ctx = ctx;
    }

    /** The effective configuration under warren.conf's key names; secrets masked. */
    ApiResponse environment(ApiRequest r) {
        WarrenConfig c = ctx.config;
        if (c == null) {
            throw ApiException.notFound();
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("listeners.tcp.default", (c.listenHost() == null ? "" : c.listenHost() + ":") + c.listenPort());
        m.put("management.enabled", c.managementPort() != WarrenConfig.MANAGEMENT_DISABLED);
        m.put("management.tcp.ip", c.managementIp());
        m.put("management.tcp.port", c.managementPort());
        m.put("default_user", c.defaultUser());
        m.put("default_pass", MASK);
        m.put("default_vhost", c.defaultVhost());
        m.put("loopback_users", c.loopbackUsers());
        m.put("auth_mechanisms", c.auth().mechanisms());
        m.put("consumer_timeout", c.consumerTimeoutMs() == 0 ? "none" : c.consumerTimeoutMs());
        m.put("ssl_cert_login_from", c.auth().certLoginFrom());
        m.put("heartbeat", c.heartbeatSeconds());
        m.put("frame_max", c.frameMax());
        m.put("channel_max", c.channelMax());
        m.put("max_message_size", c.maxMessageSize());
        m.put("connection_max", c.connectionMax() == Integer.MAX_VALUE ? "infinity" : c.connectionMax());
        m.put("tcp_listen_options.send_timeout", c.sendTimeoutMs());
        // The watermark in force: set_vm_memory_high_watermark changes it at run time.
        putWatermark(m, "vm_memory_high_watermark", ctx.monitor.memory().watermark());
        m.put("vm_memory_high_watermark_paging_ratio", c.memoryPagingRatio());
        putWatermark(m, "disk_free_limit", ctx.monitor.disk().watermark());
        m.put("data_dir", String.valueOf(c.dataDir()));
        m.put("log.file", c.logFile() == null ? false : c.logFile().toString());
        m.put("log.level", c.logLevel());
        WarrenConfig.LogOutputs lo = c.logOutputs();
        m.put("log.console", lo.console());
        m.put("log.console.level", lo.consoleLevel());
        m.put("log.console.formatter", lo.consoleFormatter());
        m.put("log.file.level", lo.fileLevel());
        m.put("log.file.formatter", lo.fileFormatter());
        WarrenConfig.TlsConfig t = c.tls();
        if (t != null) {
            m.put("listeners.ssl.default", (t.host() == null ? "" : t.host() + ":") + t.port());
            m.put("ssl_options.certfile", String.valueOf(t.certFile()));
            m.put("ssl_options.keyfile", String.valueOf(t.keyFile()));
            if (t.keyPassword() != null) {
                m.put("ssl_options.password", MASK);
            }
            if (t.caCertFile() != null) {
                m.put("ssl_options.cacertfile", t.caCertFile().toString());
            }
            m.put("ssl_options.verify", t.verifyPeer() ? "verify_peer" : "verify_none");
            m.put("ssl_options.fail_if_no_peer_cert", t.failIfNoPeerCert());
        }
        return ApiResponse.ok(m);
    }

    private static void putWatermark(Map<String, Object> m, String key, Watermark w) {
        if (w instanceof Watermark.Relative rel) {
            m.put(key + ".relative", rel.fraction());
        } else if (w instanceof Watermark.Absolute abs) {
            m.put(key + ".absolute", abs.limit());
        }
    }

    /** GET: the watermark in force and the limit it gives, in bytes. */
    ApiResponse memoryWatermark(ApiRequest r) {
        return ApiResponse.ok(watermarkView());
    }

    private Map<String, Object> watermarkView() {
        Map<String, Object> m = new LinkedHashMap<>();
        Watermark w = ctx.monitor.memory().watermark();
        if (w instanceof Watermark.Relative rel) {
            m.put("relative", rel.fraction());
        } else if (w instanceof Watermark.Absolute abs) {
            m.put("absolute", abs.limit());
        }
        m.put("limit", ctx.monitor.memory().limit());
        return m;
    }

    /**
     * PUT {@code {"relative": 0.4}} or {@code {"absolute": "512MB"}} (or a number of bytes): the
     * new memory high watermark, in force at once (alarm set or cleared). Administrators only.
     * A fraction is 0.0..1.0 as rabbitmqctl checks it (and as the config key takes it).
     */
    ApiResponse setMemoryWatermark(ApiRequest r) {
        ctx.requireAdministrator(r);
        ctx.memoryWatermark.accept(watermark(r, 1.0));
        return ApiResponse.ok(watermarkView());
    }

    /**
     * {@code {"relative": f}} (0.0..{@code maxRelative}) or {@code {"absolute": bytes or "512MB"}}
     * from a PUT body; 400 otherwise.
     */
    private static Watermark watermark(ApiRequest r, double maxRelative) {
        ObjectNode body = Json.object(r.body());
        JsonNode rel = body.get("relative");
        JsonNode abs = body.get("absolute");
        if ((rel == null) == (abs == null)) {
            throw ApiException.badRequest("expected one of the fields 'relative' or 'absolute'");
        }
        Watermark w;
        if (rel != null) {
            if (!rel.isNumber() || !(rel.asDouble() >= 0.0 && rel.asDouble() <= maxRelative)) {
                throw ApiException.badRequest("relative: expected a number 0.0.." + maxRelative);
            }
            w = new Watermark.Relative(rel.asDouble());
        } else if (abs.isIntegralNumber() && abs.canConvertToLong() && abs.asLong() >= 0) {
            w = new Watermark.Absolute(abs.asLong());
        } else if (abs.isTextual()) {
            try {
                w = new Watermark.Absolute(ConfigParser.bytes(abs.asText()));
            } catch (IllegalArgumentException e) {
                throw ApiException.badRequest("absolute: " + e.getMessage());
            }
        } else {
            throw ApiException.badRequest("absolute: expected bytes, or a string such as \"512MB\"");
        }
        return w;
    }

    /** GET /api/warren/disk_free_limit: the limit in force and what it is in bytes now. */
    ApiResponse diskFreeLimit(ApiRequest r) {
        Map<String, Object> m = new LinkedHashMap<>();
        Watermark w = ctx.monitor.disk().watermark();
        if (w instanceof Watermark.Relative rel) {
            m.put("relative", rel.fraction());
        } else if (w instanceof Watermark.Absolute abs) {
            m.put("absolute", abs.limit());
        }
        m.put("limit", ctx.monitor.disk().limit());
        m.put("free", ctx.monitor.disk().free());
        m.put("alarm", ctx.monitor.alarms().active(io.warren.core.flow.ResourceAlarms.Resource.DISK));
        return ApiResponse.ok(m);
    }

    /**
     * PUT /api/warren/disk_free_limit {@code {"absolute": "50MB"}} (or bytes) or {@code
     * {"relative": 1.5}} (rabbitmqctl's mem_relative: a multiple of the machine's RAM, so above
     * 1.0 is allowed; 100 is a bound that no real setting reaches): in force at once.
     * Administrators only.
     */
    ApiResponse setDiskFreeLimit(ApiRequest r) {
        ctx.requireAdministrator(r);
        ctx.control.setDiskFreeLimit(watermark(r, MAX_DISK_RELATIVE));
        return diskFreeLimit(r);
    }

    /** The largest mem_relative disk_free_limit accepted: a sanity bound on a typo, not a policy. */
    static final double MAX_DISK_RELATIVE = 100.0;

    /** GET /api/warren/app: whether the application runs (answers while it is stopped too). */
    ApiResponse app(ApiRequest r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("node", ctx.node);
        m.put("running", ctx.appRunning());
        m.put("product_version", io.warren.amqp.server.BrokerContext.VERSION);
        // warrenctl stop on the same machine waits for this process to be gone.
        m.put("pid", ProcessHandle.current().pid());
        return ApiResponse.ok(m);
    }

    /**
     * POST /api/warren/stop_app and /api/warren/start_app: run on the API's worker thread (they
     * close and open files and wait for queue loops), answered once done, 204. Administrators only.
     */
    java.util.concurrent.CompletableFuture<ApiResponse> stopApp(ApiRequest r) {
        ctx.requireAdministrator(r);
        return java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            ctx.control.stopApp();
            return ApiResponse.status(204);
        }, ctx.worker);
    }

    java.util.concurrent.CompletableFuture<ApiResponse> startApp(ApiRequest r) {
        ctx.requireAdministrator(r);
        return java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                ctx.control.startApp();
            } catch (ApiException | io.warren.core.BrokerException e) {
                throw e;
            } catch (Exception e) {
                throw new ApiException(500, "internal_error", "cannot start the application: " + e.getMessage());
            }
            return ApiResponse.status(204);
        }, ctx.worker);
    }

    /**
     * DELETE /api/warren/cluster/nodes/{node}: warrenctl forget_cluster_node. 204 once the node is
     * out of the cluster; 400 for this node itself or a node that is not clustered, 404 for a node
     * that is not in the cluster, 409 for a node still running, 503 when the cluster could not
     * commit the change (no majority). Runs on the API's worker thread (it waits for the cluster's
     * log). Administrators only.
     */
    java.util.concurrent.CompletableFuture<ApiResponse> forgetClusterNode(ApiRequest r) {
        ctx.requireAdministrator(r);
        String node = r.param("node");
        return clusterChange(() -> ctx.control.forgetClusterNode(node));
    }

    /** A cluster command that blocks until committed. */
    @FunctionalInterface
    private interface ClusterChange {
        void run() throws BrokerControl.ClusterRefusal;
    }

    /** Runs {@code change} on the API's worker thread: 204 when done, a refusal's status and reason otherwise. */
    private java.util.concurrent.CompletableFuture<ApiResponse> clusterChange(ClusterChange change) {
        return java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                change.run();
            } catch (BrokerControl.ClusterRefusal e) {
                throw new ApiException(e.status(), e.error() != null ? e.error() : switch (e.status()) {
                    case 404 -> "not_found";
                    case 409 -> "conflict";
                    case 500 -> "internal_error";
                    case 503 -> "service_unavailable";
                    default -> "bad_request";
                }, e.getMessage());
            }
            return ApiResponse.status(204);
        }, ctx.worker);
    }

    /**
     * POST /api/warren/cluster/join {"node": "NAME@HOST:PORT"}: warrenctl join_cluster. 204 once
     * this node is a member of that node's cluster; 400 for a node that is not clustered, a bad
     * or missing node, this node itself; 409 while the application runs or when it is a member
     * already; 503 when the node cannot be reached or the cluster cannot commit. Runs on the API's
     * worker thread. Administrators only.
     */
    java.util.concurrent.CompletableFuture<ApiResponse> joinCluster(ApiRequest r) {
        ctx.requireAdministrator(r);
        JsonNode node = Json.object(r.body()).get("node");
        if (node == null || !node.isTextual()) {
            throw new ApiException(400, "bad_request", "the body needs \"node\": the name and inter-node port of a "
                    + "node of the cluster to join, NAME@HOST:PORT");
        }
        return clusterChange(() -> ctx.control.joinCluster(node.asText()));
    }

    /** The quorum queue the path names: 404 when there is no such vhost or queue, 400 for a classic queue. */
    private io.warren.core.queue.MessageQueue quorumQueue(ApiRequest r) {
        io.warren.core.queue.MessageQueue q = ctx.vhost(r.param("vhost")).queue(r.param("name"));
        if (q == null) {
            throw ApiException.notFound();
        }
        if (!q.quorum()) {
            throw new ApiException(400, "classic_queue_not_supported", "queue '" + q.name() + "' in vhost '"
                    + q.vhost() + "' is a classic queue: only quorum queues have members to add or delete");
        }
        return q;
    }

    private static String nodeOf(ApiRequest r) {
        JsonNode node = Json.object(r.body()).get("node");
        if (node == null || !node.isTextual() || node.asText().isEmpty()) {
            throw ApiException.badRequest("the body needs \"node\": the name of a node of the cluster");
        }
        return node.asText();
    }

    /**
     * POST /api/warren/queues/{vhost}/{name}/members {"node": N}: warrenctl add_member
     * (rabbitmq-queues add_member). 204 once the queue's group has a member on node N (at once
     * when it had one); 404 for no such queue, 400 for a classic queue (error
     * {@code classic_queue_not_supported}), a single node, or a node that is not running or not
     * in the cluster (error {@code node_not_running}), 503 when the group did not take the
     * member in time. A single broker is a cluster of one (its own name is a member already, any
     * other is not running). Runs on the API's worker thread. Administrators only.
     */
    java.util.concurrent.CompletableFuture<ApiResponse> addQueueMember(ApiRequest r) {
        ctx.requireAdministrator(r);
        io.warren.core.queue.MessageQueue q = quorumQueue(r);
        String node = nodeOf(r);
        return clusterChange(() -> changeMember(q, node, true));
    }

    /**
     * Quorum queue {@code q}'s members: a single broker is a cluster of one to these commands, as
     * a RabbitMQ node on its own is (its quorum queues have their one member on it).
     */
    private java.util.List<String> quorumMembers(io.warren.core.queue.MessageQueue q) {
        return clustered() ? ctx.control.quorumMembers(q) : java.util.List.of(ctx.node);
    }

    /** Whether this broker is a node of a cluster (else a single broker). */
    private boolean clustered() {
        return ctx.control != null && ctx.control.nodeRunning(ctx.node);
    }

    /** add_member ({@code add}) or delete_member of {@code node} to quorum queue {@code q}; blocks. */
    private void changeMember(io.warren.core.queue.MessageQueue q, String node, boolean add)
            throws BrokerControl.ClusterRefusal {
        if (clustered()) {
            ctx.control.changeQuorumMember(q, node, add);
        } else if (add && !node.equals(ctx.node)) {
            throw new BrokerControl.ClusterRefusal(400, "node_not_running", "node " + node + " is not running, or "
                    + "not a node of this cluster (a single broker: " + ctx.node + ")");
        } else if (!add && node.equals(ctx.node)) {
            throw new BrokerControl.ClusterRefusal(400, "last_node", "node " + node + " holds the last member of "
                    + "quorum queue '" + q.name() + "' in vhost '" + q.vhost() + "': delete the queue instead");
        } // else: a member already, or none there: no change
    }

    /**
     * DELETE /api/warren/queues/{vhost}/{name}/members/{node}: warrenctl delete_member
     * (rabbitmq-queues delete_member). 204 once the queue's group no longer has a member on the
     * node (at once when it had none); 404 for no such queue, 400 for a classic queue or for the
     * last member (error {@code last_node}), 503 when the group did not drop the member in time.
     * The node may be down. Runs on the API's worker thread. Administrators only.
     */
    java.util.concurrent.CompletableFuture<ApiResponse> deleteQueueMember(ApiRequest r) {
        ctx.requireAdministrator(r);
        io.warren.core.queue.MessageQueue q = quorumQueue(r);
        String node = r.param("node");
        return clusterChange(() -> changeMember(q, node, false));
    }

    /**
     * POST /api/warren/grow {"node": N, "strategy": "all" | "even", "vhost_pattern": RE,
     * "queue_pattern": RE}: warrenctl grow (rabbitmq-queues grow). Adds a member on node N, when
     * it runs, to each matching quorum queue without one there (with "even": only to those with
     * an even number of members), one queue at a time; 200 with a row per queue tried:
     * {@code vhost}, {@code name}, {@code size} (its members after), {@code result} ("ok" or
     * "error: " and the reason). Administrators only.
     *
     * <p>POST /api/warren/shrink {"node": N}: warrenctl shrink (rabbitmq-queues shrink). Deletes
     * the member on node N of every quorum queue that has one, rows as grow's; a queue of which
     * it is the last member keeps it ("error: the last node cannot be removed", as RabbitMQ's).
     */
    java.util.concurrent.CompletableFuture<ApiResponse> grow(ApiRequest r) {
        ctx.requireAdministrator(r);
        ObjectNode body = Json.object(r.body());
        String node = nodeOf(r);
        String strategy = Json.string(body, "strategy", null);
        if (strategy == null || !java.util.List.of("all", "even").contains(strategy)) {
            throw ApiException.badRequest("strategy " + strategy + " is not supported. Try one of all, even.");
        }
        java.util.regex.Pattern vhosts = pattern(body, "vhost_pattern");
        java.util.regex.Pattern queues = pattern(body, "queue_pattern");
        java.util.Set<io.warren.core.queue.MessageQueue> which = quorumQueues(vhosts, queues);
        return memberChanges(which, true, node, strategy.equals("even"));
    }

    java.util.concurrent.CompletableFuture<ApiResponse> shrink(ApiRequest r) {
        ctx.requireAdministrator(r);
        String node = nodeOf(r);
        java.util.regex.Pattern all = java.util.regex.Pattern.compile(".*");
        return memberChanges(quorumQueues(all, all), false, node, false);
    }

    private java.util.concurrent.CompletableFuture<ApiResponse> memberChanges(
            java.util.Set<io.warren.core.queue.MessageQueue> which, boolean add, String node, boolean evenOnly) {
        return java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            java.util.List<Object> out = new java.util.ArrayList<>();
            java.util.List<io.warren.core.queue.MessageQueue> sorted = new java.util.ArrayList<>(which);
            sorted.sort(java.util.Comparator.comparing(io.warren.core.queue.MessageQueue::vhost)
                    .thenComparing(io.warren.core.queue.MessageQueue::name));
            for (io.warren.core.queue.MessageQueue q : sorted) {
                java.util.List<String> members = quorumMembers(q);
                if (members == null || members.contains(node) != !add || evenOnly && members.size() % 2 != 0) {
                    continue; // (null: a queue this node has not attached yet)
                }
                if (add && !(clustered() ? ctx.control.nodeRunning(node) : node.equals(ctx.node))) {
                    break; // as RabbitMQ's: nothing to grow on a node that does not run
                }
                String result = "ok";
                try {
                    changeMember(q, node, add);
                } catch (BrokerControl.ClusterRefusal e) {
                    result = "error: " + ("last_node".equals(e.error()) ? "the last node cannot be removed"
                            : e.getMessage());
                }
                java.util.List<String> now = quorumMembers(q);
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("vhost", q.vhost());
                m.put("name", q.name());
                m.put("size", now == null ? 0 : now.size());
                m.put("result", result);
                out.add(m);
            }
            return ApiResponse.ok(out);
        }, ctx.worker);
    }

    /** A rebalance's regular expressions may read this many characters over all queue and vhost names. */
    static final long REBALANCE_MATCH_BUDGET = 5_000_000;

    /**
     * POST /api/warren/rebalance {"type": "all" | "classic" | "quorum", "vhost_pattern": RE,
     * "queue_pattern": RE} (patterns default ".*", unanchored as RabbitMQ's): warrenctl rebalance,
     * rabbitmq-queues rebalance. Moves the leaders of the matching quorum queues over the running
     * nodes and answers once done: 200 with each node that leads any of them and how many, as
     * rabbitmq-queues prints it ({@code node_name}, {@code number_of_quorum_queues},
     * {@code number_of_replicated_classic_queues}: warren has no mirrored classic queues, so
     * {@code classic} has nothing to move). 400 for a bad type or pattern, 409 while another
     * rebalance runs on this node. Runs on the API's worker thread. Administrators only.
     */
    java.util.concurrent.CompletableFuture<ApiResponse> rebalance(ApiRequest r) {
        ctx.requireAdministrator(r);
        ObjectNode body = Json.object(r.body());
        String type = Json.string(body, "type", null);
        if (type == null || !java.util.List.of("all", "classic", "quorum").contains(type)) {
            throw ApiException.badRequest("type " + type + " is not supported. Try one of all, classic, quorum.");
        }
        java.util.regex.Pattern vhosts = pattern(body, "vhost_pattern");
        java.util.regex.Pattern queues = pattern(body, "queue_pattern");
        java.util.Set<io.warren.core.queue.MessageQueue> which = type.equals("classic")
                ? java.util.Set.of() : quorumQueues(vhosts, queues);
        return rebalance(which);
    }

    /**
     * POST /api/rebalance/queues: RabbitMQ's, which starts a rebalance of all its replicated
     * queues and answers 204 at once; so here, of every quorum queue (the outcome is logged).
     * Administrators only.
     */
    ApiResponse rebalanceAll(ApiRequest r) {
        ctx.requireAdministrator(r);
        java.util.regex.Pattern all = java.util.regex.Pattern.compile(".*");
        rebalance(quorumQueues(all, all)).whenComplete((v, e) -> {
            if (e != null) {
                org.slf4j.LoggerFactory.getLogger(WarrenEndpoints.class).warn("queue rebalance: {}",
                        e.getCause() != null ? e.getCause().getMessage() : e.getMessage());
            }
        });
        return ApiResponse.status(204);
    }

    private java.util.concurrent.CompletableFuture<ApiResponse> rebalance(
            java.util.Set<io.warren.core.queue.MessageQueue> which) {
        return java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            java.util.List<io.warren.server.cluster.QueueRebalance.NodeCount> counts;
            try {
                counts = ctx.control == null ? null : ctx.control.rebalanceQuorumQueues(which::contains);
            } catch (BrokerControl.ClusterRefusal e) {
                throw new ApiException(e.status(), e.status() == 409 ? "conflict" : "bad_request", e.getMessage());
            }
            if (counts == null) {
                // a single broker: its quorum queues all live here
                counts = which.isEmpty() ? java.util.List.of()
                        : java.util.List.of(new io.warren.server.cluster.QueueRebalance.NodeCount(ctx.node, which.size()));
            }
            java.util.List<Object> out = new java.util.ArrayList<>();
            for (io.warren.server.cluster.QueueRebalance.NodeCount c : counts) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("node_name", c.node());
                m.put("number_of_quorum_queues", c.quorumQueues());
                m.put("number_of_replicated_classic_queues", 0);
                out.add(m);
            }
            return ApiResponse.ok(out);
        }, ctx.worker);
    }

    private static java.util.regex.Pattern pattern(ObjectNode body, String field) {
        String p = Json.string(body, field, ".*");
        if (p.length() > Listing.MAX_FILTER_LENGTH) {
            throw ApiException.badRequest(field + " is too long (at most " + Listing.MAX_FILTER_LENGTH + " characters)");
        }
        try {
            return java.util.regex.Pattern.compile(p);
        } catch (java.util.regex.PatternSyntaxException e) {
            throw ApiException.badRequest("invalid " + field + " '" + p + "': " + e.getDescription());
        }
    }

    /** This node's quorum queues whose vhost and name match (a budget of character reads over them all). */
    private java.util.Set<io.warren.core.queue.MessageQueue> quorumQueues(java.util.regex.Pattern vhosts,
                                                                         java.util.regex.Pattern queues) {
        io.warren.core.text.MatchBudget budget = new io.warren.core.text.MatchBudget(REBALANCE_MATCH_BUDGET);
        java.util.Set<io.warren.core.queue.MessageQueue> out = new java.util.LinkedHashSet<>();
        try {
            for (io.warren.core.vhost.VirtualHost v : ctx.vhosts()) {
                if (!budget.find(vhosts, v.name())) {
                    continue;
                }
                for (io.warren.core.queue.MessageQueue q : v.queues()) {
                    if (q.quorum() && budget.find(queues, q.name())) {
                        out.add(q);
                    }
                }
            }
        } catch (io.warren.core.text.MatchBudget.Exceeded e) {
            throw ApiException.badRequest("vhost_pattern or queue_pattern is too expensive to match");
        }
        return out;
    }

    /**
     * POST /api/warren/stop: 202 now, then the broker stops as bin/warren stop stops it (the
     * process exits); the client waits for the API to stop answering. Administrators only.
     */
    ApiResponse stop(ApiRequest r) {
        ctx.requireAdministrator(r);
        // Its own thread: the stop closes this API (its loop and worker) and must not wait on itself.
        Thread t = new Thread(ctx.control::stopNode, "warren-stop");
        t.start();
        return ApiResponse.status(202);
    }

    /**
     * PUT / DELETE /api/warren/alarms/{resource} ({@code memory} or {@code disk}): sets or clears
     * an alarm by hand, as rabbitmqctl's {@code eval 'rabbit_alarm:set_alarm(...)'} does (RabbitMQ's
     * client test suites block publishers this way). The alarm holds until cleared by hand, whatever
     * the monitor measures. Administrators only.
     */
    ApiResponse setAlarm(ApiRequest r, boolean on) {
        ctx.requireAdministrator(r);
        io.warren.core.flow.ResourceAlarms.Resource res = switch (r.param("resource")) {
            case "memory" -> io.warren.core.flow.ResourceAlarms.Resource.MEMORY;
            case "disk" -> io.warren.core.flow.ResourceAlarms.Resource.DISK;
            default -> throw ApiException.notFound();
        };
        ctx.monitor.alarms().setByOperator(res, on);
        return ApiResponse.status(204);
    }
}
