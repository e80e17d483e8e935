package io.warren.server.metrics;

import io.netty.util.internal.PlatformDependent;
import io.warren.amqp.channel.ChannelInfo;
import io.warren.amqp.channel.ChannelStats;
import io.warren.amqp.connection.AmqpConnection;
import io.warren.amqp.connection.ConnectionInfo;
import io.warren.amqp.server.AmqpCounters;
import io.warren.amqp.server.BrokerContext;
import io.warren.core.flow.ResourceAlarms;
import io.warren.core.exchange.Exchange;
import io.warren.core.queue.MessageQueue;
import io.warren.core.vhost.QueueChurn;
import io.warren.core.vhost.VirtualHost;
import io.warren.cluster.QueueGroup;
import io.warren.server.cluster.ReplicatedMessageStore;
import io.warren.server.flow.ResourceMonitor;

import java.io.IOException;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryUsage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * What the Prometheus endpoint says, with RabbitMQ 3.10's rabbitmq_prometheus names, types,
 * HELP texts and labels: {@code /metrics} sums every object (as RabbitMQ does by default),
 * {@code /metrics/per-object} labels each queue, channel, connection and exchange,
 * {@code /metrics/detailed} gives the families asked for. Runs on the metrics thread: queue and
 * exchange counts are read where they are (recent values, no lock), channel and connection
 * state comes from snapshots each connection's loop takes of itself.
 */
final class MetricsRenderer {
    /** How long a scrape waits for the connections' snapshots. */
    static final long SNAPSHOT_TIMEOUT_MS = 2_000;
    private static final String[] AMQP = {"protocol", "amqp091"};

    private final BrokerContext broker;
    private final ResourceMonitor monitor;
    private final String node;
    private final long startedAtMs;
    private final String version;
    private List<ConnectionInfo> snapshots;

    MetricsRenderer(BrokerContext broker, ResourceMonitor monitor, String node, long startedAtMs, String version) {
        this.broker = broker;
        this.monitor = monitor;
        this.node = node;
        this.startedAtMs = startedAtMs;
        this.version = version;
    }

    // ---- the three endpoints ---------------------------------------------------------------

    /** {@code /metrics}: every object summed; the global counters; alarms; the node; the JVM. */
    void aggregated(Exposition x) {
        info(x);
        totals(x);
        queueTotals(x);
        raft(x, "rabbitmq_", queues(null), false);
        channelTotals(x);
        churn(x);
        node(x);
        alarms(x);
        global(x);
        jvm(x);
    }

    /** {@code /metrics/per-object}: each queue, exchange, channel and connection with its labels. */
    void perObject(Exposition x) {
        info(x);
        totals(x);
        queueFamilies(x, queues(null), false, m -> true);
        raft(x, "rabbitmq_", queues(null), true);
        exchanges(x);
        channelFamilies(x, "rabbitmq_", java.util.EnumSet.allOf(ChannelGroup.class));
        connections(x, "rabbitmq_");
        churn(x);
        node(x);
        global(x);
        jvm(x);
    }

    /**
     * {@code /metrics/detailed?family=F&vhost=V}: only the families named (unknown ones are
     * ignored, as RabbitMQ does), per object, prefixed {@code rabbitmq_detailed_} (the cluster
     * families {@code rabbitmq_cluster_}); {@code vhosts} (empty: all) filters the queue families.
     */
    void detailed(Exposition x, Set<String> families, Set<String> vhosts) {
        info(x);
        String p = "rabbitmq_detailed_";
        if (QUEUE_METRICS.stream().anyMatch(m -> asked(m, families))) {
            queueFamilies(x, queues(vhosts.isEmpty() ? null : vhosts), true, m -> asked(m, families));
        }
        if (families.contains("ra_metrics")) {
            raft(x, p, queues(vhosts.isEmpty() ? null : vhosts), true);
        }
        Set<ChannelGroup> channelGroups = java.util.EnumSet.noneOf(ChannelGroup.class);
        for (ChannelGroup g : ChannelGroup.values()) {
            if (families.contains(g.name().toLowerCase(java.util.Locale.ROOT))) {
                channelGroups.add(g);
            }
        }
        if (!channelGroups.isEmpty()) {
            channelFamilies(x, p, channelGroups);
        }
        if (families.contains("connection_metrics")) {
            connections(x, p);
        }
        if (families.contains("connection_churn_metrics")) {
            churn(x, p);
        }
        if (families.contains("node_coarse_metrics") || families.contains("node_metrics")) {
            nodeFamilies(x, p, families.contains("node_coarse_metrics"), families.contains("node_metrics"));
        }
        if (families.contains("vhost_status")) {
            x.family("rabbitmq_cluster_vhost_status", "gauge", "Whether a given vhost is running");
            for (VirtualHost v : broker.vhosts().all()) {
                x.sample("rabbitmq_cluster_vhost_status", "vhost", v.name(), 1);
            }
        }
        if (families.contains("exchange_names")) {
            x.family("rabbitmq_cluster_exchange_name", "gauge",
                    "Enumerates exchanges without any additional info. This value is cluster-wide. A cheaper "
                            + "alternative to `exchange_bindings`");
            for (VirtualHost v : broker.vhosts().all()) {
                for (Exchange e : v.exchanges()) {
                    x.sample("rabbitmq_cluster_exchange_name",
                            new String[] {"vhost", v.name(), "exchange", e.name(), "type", e.type().wireName()}, 1);
                }
            }
        }
        if (families.contains("exchange_bindings")) {
            x.family("rabbitmq_cluster_exchange_bindings", "gauge",
                    "Number of bindings for an exchange. This value is cluster-wide.");
            for (VirtualHost v : broker.vhosts().all()) {
                Map<Exchange, Integer> count = new IdentityHashMap<>();
                for (io.warren.core.exchange.Binding b : v.bindings()) {
                    count.merge(b.source(), 1, Integer::sum);
                }
                for (Exchange e : v.exchanges()) {
                    x.sample("rabbitmq_cluster_exchange_bindings",
                            new String[] {"vhost", v.name(), "exchange", e.name(), "type", e.type().wireName()},
                            count.getOrDefault(e, 0));
                }
            }
        }
    }

    // ---- parts -----------------------------------------------------------------------------

    private void info(Exposition x) {
        x.family("rabbitmq_build_info", "untyped", "RabbitMQ & Erlang/OTP version info");
        x.sample("rabbitmq_build_info", new String[] {"product_name", "warren", "product_version", version,
                "rabbitmq_version", AmqpConnection.RABBITMQ_VERSION, "prometheus_plugin_version", version,
                "prometheus_client_version", "warren-" + version,
                "erlang_version", "none (Java " + System.getProperty("java.version") + ")"}, 1);
        x.family("rabbitmq_identity_info", "untyped", "RabbitMQ node & cluster identity info");
        x.sample("rabbitmq_identity_info", new String[] {"rabbitmq_node", node, "rabbitmq_cluster", node,
                "rabbitmq_cluster_permanent_id", "warren-" + node}, 1);
    }

    /** Object counts: RabbitMQ's TOTALS, on every endpoint but detailed. */
    private void totals(Exposition x) {
        AmqpCounters c = broker.counters();
        gauge(x, "rabbitmq_connections", "Connections currently open", broker.openConnections().get());
        io.warren.core.queue.RemoteQueues remotes = broker.vhosts().remotes();
        gauge(x, "warren_cluster_links", "Connections open from this node to other nodes' AMQP listeners, for its "
                + "clients' use of the queues they hold (relayed consumers and gets, forwarded publishes)",
                remotes == null ? 0 : remotes.openLinks());
        gauge(x, "rabbitmq_channels", "Channels currently open",
                Math.max(0, c.channelsOpened.sum() - c.channelsClosed.sum()));
        long consumers = 0;
        long queues = 0;
        for (VirtualHost v : broker.vhosts().all()) {
            for (MessageQueue q : v.queues()) {
                consumers += q.consumerCount();
                queues++;
            }
        }
        gauge(x, "rabbitmq_consumers", "Consumers currently connected", consumers);
        gauge(x, "rabbitmq_queues", "Queues available", queues);
    }

    /**
     * One queue metric: {@code owner}'s prefix ({@code rabbitmq} or, for warren's own,
     * {@code warren}), its name, the detailed families that give it, and its value from the
     * queue and its unacknowledged count.
     */
    private record QueueMetric(String owner, String name, String type, String help, Set<String> families,
                               java.util.function.ToLongBiFunction<MessageQueue, Integer> value) {
        String fullName(boolean detailed) {
            return owner + (detailed ? "_detailed_" : "_") + name;
        }
    }

    /** RabbitMQ 3.10's queue metrics that warren has, HELP texts verbatim, and warren's memory figure. */
    private static final List<QueueMetric> QUEUE_METRICS = List.of(
            new QueueMetric("rabbitmq", "queue_messages_ready", "gauge", "Messages ready to be delivered to consumers",
                    Set.of("queue_coarse_metrics"), (q, unacked) -> q.messageCount()),
            new QueueMetric("rabbitmq", "queue_messages_unacked", "gauge",
                    "Messages delivered to consumers but not yet acknowledged", Set.of("queue_coarse_metrics"),
                    (q, unacked) -> unacked),
            new QueueMetric("rabbitmq", "queue_messages", "gauge",
                    "Sum of ready and unacknowledged messages - total queue depth", Set.of("queue_coarse_metrics"),
                    (q, unacked) -> q.messageCount() + unacked),
            new QueueMetric("rabbitmq", "queue_consumers", "gauge", "Consumers on a queue",
                    Set.of("queue_metrics", "queue_consumer_count"), (q, unacked) -> q.consumerCount()),
            new QueueMetric("warren", "queue_messages_ready_memory_bytes", "gauge",
                    "Memory the ready messages in memory hold (content and per-message overhead)",
                    Set.of("queue_metrics"), (q, unacked) -> q.inMemoryBytes()),
            new QueueMetric("rabbitmq", "queue_messages_paged_out", "gauge", "Messages paged out to disk",
                    Set.of("queue_metrics"), (q, unacked) -> q.pagedOutCount()),
            // RabbitMQ's is per channel, queue and exchange (channel_queue_exchange_metrics): not in detailed
            new QueueMetric("rabbitmq", "queue_messages_published_total", "counter",
                    "Total number of messages published to queues", Set.of(), (q, unacked) -> q.publishCount()));

    private static boolean asked(QueueMetric m, Set<String> families) {
        return m.families().stream().anyMatch(families::contains);
    }

    /** The queue metrics summed over every queue (/metrics). */
    private void queueTotals(Exposition x) {
        List<MessageQueue> queues = queues(null);
        Map<MessageQueue, Integer> unacked = unackedByQueue();
        for (QueueMetric m : QUEUE_METRICS) {
            long n = 0;
            for (MessageQueue q : queues) {
                n += m.value().applyAsLong(q, unacked.getOrDefault(q, 0));
            }
            x.family(m.fullName(false), m.type(), m.help());
            x.sample(m.fullName(false), n);
        }
    }

    /** The queue metrics {@code which} picks, per queue of {@code queues}. */
    private void queueFamilies(Exposition x, List<MessageQueue> queues, boolean detailed,
                               java.util.function.Predicate<QueueMetric> which) {
        byte[][] labels = queueLabels(queues);
        Map<MessageQueue, Integer> unacked = unackedByQueue();
        for (QueueMetric m : QUEUE_METRICS) {
            if (!which.test(m)) {
                continue;
            }
            String name = m.fullName(detailed);
            x.family(name, m.type(), m.help());
            for (int i = 0; i < labels.length; i++) {
                MessageQueue q = queues.get(i);
                x.sample(name, labels[i], m.value().applyAsLong(q, unacked.getOrDefault(q, 0)));
            }
        }
    }

    /**
     * One of RabbitMQ's Raft metrics of a quorum queue (its ra_metrics family), HELP text verbatim;
     * {@code largest}: /metrics takes the largest over the queues, not the sum.
     */
    private record RaftMetric(String name, String type, String help, boolean largest,
                              java.util.function.ToDoubleFunction<QueueGroup.RaftStats> value) {}

    private static final List<RaftMetric> RAFT_METRICS = List.of(
            new RaftMetric("raft_term_total", "counter", "Current Raft term number", false, QueueGroup.RaftStats::term),
            new RaftMetric("raft_log_snapshot_index", "gauge", "Raft log snapshot index", false,
                    QueueGroup.RaftStats::snapshotIndex),
            new RaftMetric("raft_log_last_applied_index", "gauge", "Raft log last applied index", false,
                    QueueGroup.RaftStats::lastAppliedIndex),
            new RaftMetric("raft_log_commit_index", "gauge", "Raft log commit index", false, QueueGroup.RaftStats::commitIndex),
            new RaftMetric("raft_log_last_written_index", "gauge", "Raft log last written index", false,
                    QueueGroup.RaftStats::lastWrittenIndex),
            new RaftMetric("raft_entry_commit_latency_seconds", "gauge", "Time taken for a log entry to be committed",
                    true, r -> r.commitLatencyNanos() / 1e9));

    /**
     * RabbitMQ's Raft metrics of the quorum queues with a member on this node (a node without
     * one has no samples): per queue ({@code perQueue}), or summed over them (/metrics; the
     * commit latency is the largest, as a sum of latencies means nothing). With no member here
     * the families are still written, /metrics' samples then 0.
     */
    private void raft(Exposition x, String prefix, List<MessageQueue> queues, boolean perQueue) {
        List<MessageQueue> members = new ArrayList<>();
        List<QueueGroup.RaftStats> stats = new ArrayList<>();
        for (MessageQueue q : queues) {
            if (q.store() instanceof ReplicatedMessageStore r) {
                QueueGroup.RaftStats st = r.raftStats();
                if (st != null) {
                    members.add(q);
                    stats.add(st);
                }
            }
        }
        byte[][] labels = perQueue ? queueLabels(members) : null;
        for (RaftMetric m : RAFT_METRICS) {
            String name = prefix + m.name();
            x.family(name, m.type(), m.help());
            if (perQueue) {
                for (int i = 0; i < labels.length; i++) {
                    x.sample(name, labels[i], m.value().applyAsDouble(stats.get(i)));
                }
            } else {
                double v = 0;
                for (QueueGroup.RaftStats st : stats) {
                    v = m.largest() ? Math.max(v, m.value().applyAsDouble(st)) : v + m.value().applyAsDouble(st);
                }
                x.sample(name, v);
            }
        }
    }

    /** Which of RabbitMQ's detailed families a channel metric belongs to. */
    private enum ChannelGroup { CHANNEL_METRICS, CHANNEL_EXCHANGE_METRICS, CHANNEL_QUEUE_METRICS }

    /**
     * One channel metric: its value per channel (for /metrics/per-object and detailed) and, for
     * /metrics, either the broker-wide count ({@code total}) or the sum over the open channels
     * ({@code summed} gauges; the prefetch limits are not summed).
     */
    private record ChannelMetric(String name, String type, String help, ChannelGroup group,
                                 java.util.function.ToLongFunction<ChannelInfo> perChannel,
                                 java.util.function.ToLongFunction<AmqpCounters> total, boolean summed) {
    }

    private static ChannelMetric channelGauge(String name, String help, boolean summed,
                                              java.util.function.ToLongFunction<ChannelInfo> perChannel) {
        return new ChannelMetric(name, "gauge", help, ChannelGroup.CHANNEL_METRICS, perChannel, null, summed);
    }

    private static ChannelMetric channelCounter(String name, String help, ChannelGroup group,
                                                java.util.function.ToLongFunction<ChannelInfo> perChannel,
                                                java.util.function.ToLongFunction<AmqpCounters> total) {
        return new ChannelMetric(name, "counter", help, group, perChannel, total, false);
    }

    /** RabbitMQ 3.10's channel metrics, names without the prefix, HELP texts verbatim. */
    private static final List<ChannelMetric> CHANNEL_METRICS = List.of(
            channelGauge("channel_consumers", "Consumers on a channel", true, ch -> ch.consumers().size()),
            channelGauge("channel_messages_unacked", "Delivered but not yet acknowledged messages", true,
                    ChannelInfo::unacked),
            channelGauge("channel_messages_unconfirmed", "Published but not yet confirmed messages", true,
                    ch -> ch.counts().unconfirmed()),
            channelGauge("channel_prefetch", "Total limit of unacknowledged messages for all consumers on a channel",
                    false, ChannelInfo::globalPrefetchCount),
            channelGauge("consumer_prefetch", "Limit of unacknowledged messages for each consumer", false,
                    ChannelInfo::prefetchCount),
            channelCounter("channel_messages_published_total",
                    "Total number of messages published into an exchange on a channel",
                    ChannelGroup.CHANNEL_EXCHANGE_METRICS, ch -> ch.counts().published(),
                    k -> k.sum(AmqpCounters.RECEIVED)),
            channelCounter("channel_messages_confirmed_total",
                    "Total number of messages published into an exchange and confirmed on the channel",
                    ChannelGroup.CHANNEL_EXCHANGE_METRICS, ch -> ch.counts().confirmed(),
                    k -> k.sum(AmqpCounters.CONFIRMED)),
            channelCounter("channel_messages_unroutable_returned_total",
                    "Total number of messages published as mandatory into an exchange and returned to the publisher "
                            + "as unroutable", ChannelGroup.CHANNEL_EXCHANGE_METRICS,
                    ch -> ch.counts().unroutableReturned(), k -> k.sum(AmqpCounters.UNROUTABLE_RETURNED)),
            channelCounter("channel_messages_unroutable_dropped_total",
                    "Total number of messages published as non-mandatory into an exchange and dropped as unroutable",
                    ChannelGroup.CHANNEL_EXCHANGE_METRICS, ch -> ch.counts().unroutableDropped(),
                    k -> k.sum(AmqpCounters.UNROUTABLE_DROPPED)),
            channelCounter("channel_get_ack_total",
                    "Total number of messages fetched with basic.get in manual acknowledgement mode",
                    ChannelGroup.CHANNEL_QUEUE_METRICS, ch -> ch.counts().getAck(),
                    k -> k.sumAllTypes(AmqpCounters.GET_MANUAL_ACK)),
            channelCounter("channel_get_total",
                    "Total number of messages fetched with basic.get in automatic acknowledgement mode",
                    ChannelGroup.CHANNEL_QUEUE_METRICS, ch -> ch.counts().getNoAck(),
                    k -> k.sumAllTypes(AmqpCounters.GET_AUTO_ACK)),
            channelCounter("channel_messages_delivered_ack_total",
                    "Total number of messages delivered to consumers in manual acknowledgement mode",
                    ChannelGroup.CHANNEL_QUEUE_METRICS, ch -> ch.counts().deliveredAck(),
                    k -> k.sumAllTypes(AmqpCounters.CONSUME_MANUAL_ACK)),
            channelCounter("channel_messages_delivered_total",
                    "Total number of messages delivered to consumers in automatic acknowledgement mode",
                    ChannelGroup.CHANNEL_QUEUE_METRICS, ch -> ch.counts().deliveredNoAck(),
                    k -> k.sumAllTypes(AmqpCounters.CONSUME_AUTO_ACK)),
            channelCounter("channel_messages_redelivered_total", "Total number of messages redelivered to consumers",
                    ChannelGroup.CHANNEL_QUEUE_METRICS, ch -> ch.counts().redelivered(),
                    k -> k.sumAllTypes(AmqpCounters.REDELIVERED)),
            channelCounter("channel_messages_acked_total", "Total number of messages acknowledged by consumers",
                    ChannelGroup.CHANNEL_QUEUE_METRICS, ch -> ch.counts().acked(),
                    k -> k.sumAllTypes(AmqpCounters.ACKNOWLEDGED)),
            channelCounter("channel_get_empty_total", "Total number of times basic.get operations fetched no message",
                    ChannelGroup.CHANNEL_QUEUE_METRICS, ch -> ch.counts().getEmpty(),
                    k -> k.sumAllTypes(AmqpCounters.GET_EMPTY)));

    /**
     * The channel families summed: gauges over the open channels, counters from the broker-wide
     * counts (which, unlike RabbitMQ's sums over open channels, never fall when a channel closes).
     */
    private void channelTotals(Exposition x) {
        List<ConnectionInfo> conns = snapshots();
        AmqpCounters k = broker.counters();
        for (ChannelMetric m : CHANNEL_METRICS) {
            if (m.total() != null) {
                counter(x, "rabbitmq_" + m.name(), m.help(), m.total().applyAsLong(k));
            } else if (m.summed()) {
                long n = 0;
                for (ConnectionInfo c : conns) {
                    for (ChannelInfo ch : c.channels()) {
                        n += m.perChannel().applyAsLong(ch);
                    }
                }
                gauge(x, "rabbitmq_" + m.name(), m.help(), n);
            }
        }
    }

    /** Each open channel's metrics of {@code groups}, labelled {@code channel="<its management API name>"}. */
    private void channelFamilies(Exposition x, String p, Set<ChannelGroup> groups) {
        List<ConnectionInfo> conns = snapshots();
        for (ChannelMetric m : CHANNEL_METRICS) {
            if (!groups.contains(m.group())) {
                continue;
            }
            String name = p + m.name();
            x.family(name, m.type(), m.help());
            for (ConnectionInfo c : conns) {
                for (ChannelInfo ch : c.channels()) {
                    x.sample(name, "channel", c.name() + " (" + ch.number() + ")", m.perChannel().applyAsLong(ch));
                }
            }
        }
    }

    /** Each connection, labelled {@code channel="<its name>"} as RabbitMQ labels connection metrics. */
    private void connections(Exposition x, String p) {
        List<ConnectionInfo> conns = snapshots();
        x.family(p + "connection_channels", "gauge", "Channels on a connection");
        for (ConnectionInfo c : conns) {
            x.sample(p + "connection_channels", "channel", c.name(), c.channels().size());
        }
    }

    /** Each exchange's publishes in and out (warren's counts; RabbitMQ 3.10 has no per-exchange metrics). */
    private void exchanges(Exposition x) {
        List<String[]> labels = new ArrayList<>();
        List<Exchange> all = new ArrayList<>();
        for (VirtualHost v : broker.vhosts().all()) {
            for (Exchange e : v.exchanges()) {
                labels.add(new String[] {"vhost", v.name(), "exchange", e.name()});
                all.add(e);
            }
        }
        x.family("warren_exchange_messages_published_in_total", "counter",
                "Total number of messages published into an exchange");
        for (int i = 0; i < all.size(); i++) {
            x.sample("warren_exchange_messages_published_in_total", labels.get(i), all.get(i).publishIn());
        }
        x.family("warren_exchange_messages_published_out_total", "counter",
                "Total number of messages an exchange routed to queues or exchanges");
        for (int i = 0; i < all.size(); i++) {
            x.sample("warren_exchange_messages_published_out_total", labels.get(i), all.get(i).publishOut());
        }
    }

    private void churn(Exposition x) {
        churn(x, "rabbitmq_");
    }

    private void churn(Exposition x, String p) {
        AmqpCounters c = broker.counters();
        QueueChurn q = broker.vhosts().churn();
        counter(x, p + "connections_opened_total", "Total number of connections opened", c.connectionsOpened.sum());
        counter(x, p + "connections_closed_total", "Total number of connections closed or terminated",
                c.connectionsClosed.sum());
        counter(x, p + "channels_opened_total", "Total number of channels opened", c.channelsOpened.sum());
        counter(x, p + "channels_closed_total", "Total number of channels closed", c.channelsClosed.sum());
        counter(x, p + "queues_declared_total", "Total number of queues declared", c.queuesDeclared.sum());
        counter(x, p + "queues_created_total", "Total number of queues created", q.created.sum());
        counter(x, p + "queues_deleted_total", "Total number of queues deleted", q.deleted.sum());
    }

    private void node(Exposition x) {
        nodeFamilies(x, "rabbitmq_", true, true);
    }

    private void nodeFamilies(Exposition x, String p, boolean coarse, boolean limits) {
        if (coarse) {
            gauge(x, p + "process_open_fds", "Open file descriptors", openFds());
            gauge(x, p + "process_open_tcp_sockets", "Open TCP sockets", broker.connections().size());
            gauge(x, p + "process_resident_memory_bytes", "Memory used in bytes", monitor.memory().used());
            gauge(x, p + "disk_space_available_bytes", "Disk space available in bytes", monitor.disk().free());
        }
        if (limits) {
            long maxFds = maxFds();
            gauge(x, p + "process_max_fds", "Open file descriptors limit", maxFds);
            int connMax = broker.settings().connectionMax();
            gauge(x, p + "process_max_tcp_sockets", "Open TCP sockets limit",
                    connMax == Integer.MAX_VALUE ? maxFds : Math.min(maxFds, connMax));
            gauge(x, p + "resident_memory_limit_bytes", "Memory high watermark in bytes", monitor.memory().limit());
            gauge(x, p + "disk_space_available_limit_bytes", "Free disk space low watermark in bytes",
                    monitor.disk().limit());
            gauge(x, p + "erlang_uptime_seconds", "Node uptime", (System.currentTimeMillis() - startedAtMs) / 1000.0);
        }
    }

    private void alarms(Exposition x) {
        ResourceAlarms a = broker.alarms();
        // warren has no file descriptor alarm (connection_max bounds connections; running out of
        // descriptors fails the accept, logged), so it is never in effect
        x.family("rabbitmq_alarms_file_descriptor_limit", "untyped", "is 1 if file descriptor limit alarm is in effect");
        x.sample("rabbitmq_alarms_file_descriptor_limit", 0);
        x.family("rabbitmq_alarms_free_disk_space_watermark", "untyped",
                "is 1 if free disk space watermark alarm is in effect");
        x.sample("rabbitmq_alarms_free_disk_space_watermark",
                a != null && a.active(ResourceAlarms.Resource.DISK) ? 1 : 0);
        x.family("rabbitmq_alarms_memory_used_watermark", "untyped", "is 1 if VM memory watermark alarm is in effect");
        x.sample("rabbitmq_alarms_memory_used_watermark",
                a != null && a.active(ResourceAlarms.Resource.MEMORY) ? 1 : 0);
    }

    /** RabbitMQ's rabbitmq_global_* counters: labelled by protocol, the delivery side also by queue type. */
    private void global(Exposition x) {
        AmqpCounters c = broker.counters();
        counter(x, "rabbitmq_global_messages_received_total", "Total number of messages received from publishers",
                AMQP, c.sum(AmqpCounters.RECEIVED));
        counter(x, "rabbitmq_global_messages_received_confirm_total",
                "Total number of messages received from publishers expecting confirmations", AMQP,
                c.sum(AmqpCounters.RECEIVED_CONFIRM));
        counter(x, "rabbitmq_global_messages_routed_total", "Total number of messages routed to queues or streams",
                AMQP, c.sum(AmqpCounters.ROUTED));
        counter(x, "rabbitmq_global_messages_unroutable_dropped_total",
                "Total number of messages published as non-mandatory into an exchange and dropped as unroutable", AMQP,
                c.sum(AmqpCounters.UNROUTABLE_DROPPED));
        counter(x, "rabbitmq_global_messages_unroutable_returned_total",
                "Total number of messages published as mandatory into an exchange and returned to the publisher as "
                        + "unroutable", AMQP, c.sum(AmqpCounters.UNROUTABLE_RETURNED));
        counter(x, "rabbitmq_global_messages_confirmed_total", "Total number of messages confirmed to publishers", AMQP,
                c.sum(AmqpCounters.CONFIRMED));
        long publishers = 0;
        long consumers = 0;
        for (ConnectionInfo conn : snapshots()) {
            for (ChannelInfo ch : conn.channels()) {
                publishers += ch.counts().published() > 0 ? 1 : 0;
                consumers += ch.consumers().size();
            }
        }
        gauge(x, "rabbitmq_global_publishers", "Current number of publishers", AMQP, publishers);
        gauge(x, "rabbitmq_global_consumers", "Current number of consumers", AMQP, consumers);
        byType(x, "rabbitmq_global_messages_delivered_total", "Total number of messages delivered to consumers",
                t -> c.delivered(t));
        byType(x, "rabbitmq_global_messages_delivered_consume_manual_ack_total",
                "Total number of messages delivered to consumers using basic.consume with manual acknowledgment",
                t -> c.sum(AmqpCounters.CONSUME_MANUAL_ACK, t));
        byType(x, "rabbitmq_global_messages_delivered_consume_auto_ack_total",
                "Total number of messages delivered to consumers using basic.consume with automatic acknowledgment",
                t -> c.sum(AmqpCounters.CONSUME_AUTO_ACK, t));
        byType(x, "rabbitmq_global_messages_delivered_get_manual_ack_total",
                "Total number of messages delivered to consumers using basic.get with manual acknowledgment",
                t -> c.sum(AmqpCounters.GET_MANUAL_ACK, t));
        byType(x, "rabbitmq_global_messages_delivered_get_auto_ack_total",
                "Total number of messages delivered to consumers using basic.get with automatic acknowledgment",
                t -> c.sum(AmqpCounters.GET_AUTO_ACK, t));
        byType(x, "rabbitmq_global_messages_get_empty_total",
                "Total number of times basic.get operations fetched no message", t -> c.sum(AmqpCounters.GET_EMPTY, t));
        byType(x, "rabbitmq_global_messages_redelivered_total", "Total number of messages redelivered to consumers",
                t -> c.sum(AmqpCounters.REDELIVERED, t));
        byType(x, "rabbitmq_global_messages_acknowledged_total", "Total number of messages acknowledged by consumers",
                t -> c.sum(AmqpCounters.ACKNOWLEDGED, t));
    }

    private static void byType(Exposition x, String name, String help, java.util.function.IntToLongFunction value) {
        x.family(name, "counter", help);
        for (int t = 0; t < AmqpCounters.QUEUE_TYPE_LABELS.length; t++) {
            x.sample(name, "protocol", "amqp091", "queue_type", AmqpCounters.QUEUE_TYPE_LABELS[t], value.applyAsLong(t));
        }
    }

    /** The JVM's own figures, under warren's prefix. */
    private void jvm(Exposition x) {
        MemoryUsage heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
        gauge(x, "warren_jvm_memory_heap_used_bytes", "Heap in use (live and not yet collected), in bytes",
                heap.getUsed());
        gauge(x, "warren_jvm_memory_heap_committed_bytes", "Heap the JVM has committed, in bytes", heap.getCommitted());
        gauge(x, "warren_jvm_memory_heap_max_bytes", "The heap's limit (-Xmx), in bytes", heap.getMax());
        gauge(x, "warren_jvm_memory_direct_used_bytes",
                "Direct (off-heap) memory in use: the JDK's direct buffers and Netty's own", directUsed());
        gauge(x, "warren_jvm_memory_direct_max_bytes", "The direct memory limit, in bytes",
                PlatformDependent.maxDirectMemory());
        gauge(x, "warren_process_resident_memory_bytes", "The process's resident set size (RSS), in bytes", rss());
        x.family("warren_jvm_gc_collections_total", "counter", "Garbage collections, by collector");
        List<GarbageCollectorMXBean> gcs = ManagementFactory.getGarbageCollectorMXBeans();
        for (GarbageCollectorMXBean gc : gcs) {
            x.sample("warren_jvm_gc_collections_total", "gc", gc.getName(), Math.max(0, gc.getCollectionCount()));
        }
        x.family("warren_jvm_gc_collection_seconds_total", "counter",
                "Time spent in garbage collections, by collector (for stop-the-world collectors: pauses)");
        for (GarbageCollectorMXBean gc : gcs) {
            x.sample("warren_jvm_gc_collection_seconds_total", "gc", gc.getName(),
                    Math.max(0, gc.getCollectionTime()) / 1000.0);
        }
        java.lang.management.ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        gauge(x, "warren_jvm_threads", "Live threads", threads.getThreadCount());
        gauge(x, "warren_jvm_threads_daemon", "Live daemon threads", threads.getDaemonThreadCount());
        gauge(x, "warren_jvm_threads_peak", "Most live threads since start", threads.getPeakThreadCount());
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            counter(x, "warren_process_cpu_seconds_total", "CPU time the process used", os.getProcessCpuTime() / 1e9);
        }
        gauge(x, "warren_uptime_seconds", "Seconds since the broker started",
                (System.currentTimeMillis() - startedAtMs) / 1000.0);
    }

    // ---- helpers ---------------------------------------------------------------------------

    private static void gauge(Exposition x, String name, String help, double v) {
        x.family(name, "gauge", help);
        x.sample(name, v);
    }

    private static void gauge(Exposition x, String name, String help, String[] labels, double v) {
        x.family(name, "gauge", help);
        x.sample(name, labels, v);
    }

    private static void counter(Exposition x, String name, String help, double v) {
        x.family(name, "counter", help);
        x.sample(name, v);
    }

    private static void counter(Exposition x, String name, String help, String[] labels, double v) {
        x.family(name, "counter", help);
        x.sample(name, labels, v);
    }

    /** Each queue's {@code {vhost="...",queue="..."}}, encoded once for all its families. */
    private static byte[][] queueLabels(List<MessageQueue> queues) {
        byte[][] out = new byte[queues.size()][];
        for (int i = 0; i < out.length; i++) {
            MessageQueue q = queues.get(i);
            out[i] = Exposition.labels("vhost", q.vhost(), "queue", q.name());
        }
        return out;
    }

    /** Every queue (of {@code vhosts}, null: all), in vhost order. */
    private List<MessageQueue> queues(Set<String> vhosts) {
        List<MessageQueue> out = new ArrayList<>();
        for (VirtualHost v : broker.vhosts().all()) {
            if (vhosts == null || vhosts.contains(v.name())) {
                out.addAll(v.queues());
            }
        }
        return out;
    }

    private Map<MessageQueue, Integer> unackedByQueue() {
        Map<MessageQueue, Integer> n = new IdentityHashMap<>();
        for (ConnectionInfo c : snapshots()) {
            for (ChannelInfo ch : c.channels()) {
                ch.unackedByQueue().forEach((q, k) -> n.merge(q, k, Integer::sum));
            }
        }
        return n;
    }

    /**
     * The connections' snapshots, taken once per scrape, each on its connection's loop; one
     * that does not answer within {@link #SNAPSHOT_TIMEOUT_MS} is left out.
     */
    private List<ConnectionInfo> snapshots() {
        if (snapshots != null) {
            return snapshots;
        }
        List<CompletableFuture<ConnectionInfo>> parts = new ArrayList<>();
        for (AmqpConnection c : broker.connections()) {
            CompletableFuture<ConnectionInfo> f = new CompletableFuture<>();
            try {
                c.snapshot(f::complete);
            } catch (RuntimeException e) {
                f.complete(null); // its loop is gone: so is the connection
            }
            parts.add(f);
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(SNAPSHOT_TIMEOUT_MS);
        List<ConnectionInfo> out = new ArrayList<>(parts.size());
        for (CompletableFuture<ConnectionInfo> f : parts) {
            try {
                ConnectionInfo i = f.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                if (i != null) {
                    out.add(i);
                }
            } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException e) {
                // left out of this scrape
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        snapshots = out;
        return out;
    }

    private static final BufferPoolMXBean DIRECT_POOL = ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)
            .stream().filter(b -> b.getName().equals("direct")).findFirst().orElse(null);

    private static long directUsed() {
        long d = DIRECT_POOL == null ? 0 : DIRECT_POOL.getMemoryUsed();
        if (PlatformDependent.useDirectBufferNoCleaner()) {
            d += Math.max(0, PlatformDependent.usedDirectMemory());
        }
        return d;
    }

    private static long openFds() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.UnixOperatingSystemMXBean u) {
            return u.getOpenFileDescriptorCount();
        }
        return -1;
    }

    private static long maxFds() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.UnixOperatingSystemMXBean u) {
            return u.getMaxFileDescriptorCount();
        }
        return -1;
    }

    /** VmRSS from /proc/self/status (Linux), else -1. */
    static long rss() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    String[] f = line.trim().split("\\s+");
                    return Long.parseLong(f[1]) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux
        }
        return -1;
    }
}
