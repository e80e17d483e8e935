package io.warren.server;

import io.warren.amqp.codec.TableArgumentCodec;
import io.warren.amqp.server.AmqpServer;
import io.warren.amqp.server.AmqpSettings;
import io.warren.amqp.server.BrokerContext;
import io.warren.core.auth.AccessControl;
import io.warren.core.flow.ResourceAlarms;
import io.warren.amqp.channel.MessageHeaders;
import io.warren.core.queue.Paging;
import io.warren.store.spill.FileSpillStore;
import io.warren.core.store.StoreDurability;
import io.warren.core.vhost.VirtualHosts;
import io.warren.server.flow.ResourceMonitor;
import io.warren.server.launch.StartupException;
import io.warren.server.tls.TlsContexts;
import io.warren.server.flow.Watermark;
import io.warren.store.DataDirLock;
import io.warren.store.definitions.SnapshotDefinitionStore;
import io.warren.store.journal.JournalMessageStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Wires the broker from a {@link WarrenConfig} and owns its lifecycle: the one place where
 * the parts are constructed and connected (no container, no global state).
 *
 * <p>Two layers, as RabbitMQ's node and its {@code rabbit} application: the node (data dir
 * lock, users, resource monitor, management API) lives from {@link #start} to {@link #close};
 * the application (message, definition and page-out stores, vhosts and queues, the AMQP and
 * TLS listeners) can be stopped and started again inside it ({@link #stopApp}, {@link
 * #startApp}: rabbitmqctl stop_app / start_app). Every lifecycle method is synchronized; the
 * management API calls the blocking ones on its worker thread, never on its event loop, and
 * reads the current model through a volatile field.
 */
public final class Broker implements AutoCloseable, io.warren.server.management.BrokerControl {
    private static final Logger log = LoggerFactory.getLogger(Broker.class);

    private final WarrenConfig config;
    // ---- the node: from start() to close()
    private DataDirLock lock;
    /**
     * Users and permissions, loaded from the definitions store by each start of the application;
     * the last one stays while the application is stopped, so management logins keep working.
     */
    private volatile AccessControl access;
    private io.netty.handler.ssl.SslContext tlsContext;
    private volatile ResourceMonitor resources;
    private volatile io.warren.server.management.ManagementServer management;
    /** The Prometheus endpoint (prometheus.*); like the API, it outlives stop_app (scrapes then get 503). */
    private io.warren.server.metrics.PrometheusServer prometheus;
    /** What warrenctl stop asks for; WarrenMain makes it the process's exit (its shutdown hook closes). */
    private volatile Runnable stopRequest = this::close;
    /**
     * The ports the listeners got at the first start: start_app binds them again, so a configured
     * port 0 comes back where clients (and the API's listener list) last saw it. -1: not yet bound.
     */
    private int amqpPort = -1;
    private int amqpTlsPort = -1;
    // ---- the application: from startApp() to stopApp()
    private AmqpServer server;
    /** The running application's model; null while it is stopped. Read without the lock by the API. */
    private volatile BrokerContext context;
    private io.warren.core.store.DefinitionStore definitions;
    /** This node's part of the cluster (cluster_formation.* keys); null for a single node. Node-level. */
    private io.warren.server.cluster.ClusterNode cluster;
    /** Cluster: the links this node's clients use queues of other nodes through; app-level. */
    private io.warren.amqp.link.LinkRelays relays;
    /** A new object for each run of the application (null while stopped): background work of a run checks it. */
    private volatile Object appRun;
    private JournalMessageStore messages;
    private FileSpillStore pageStore;
    private io.warren.store.delayed.BucketDelayStore delays;

    private final io.netty.buffer.ByteBufAllocator allocator;

    public Broker(WarrenConfig config) {
        this(config, null);
    }

    /**
     * A broker whose client connections allocate their buffers from {@code allocator} (null:
     * Netty's default). For tests that inject allocation failures; not a configuration key.
     */
    public Broker(WarrenConfig config, io.netty.buffer.ByteBufAllocator allocator) {
        this.config = config;
        this.allocator = allocator;
    }

    /**
     * Locks and opens the store in data_dir, recovers durable definitions and messages, then
     * binds the AMQP listener; returns once it accepts connections. A store that cannot be
     * opened fails with a {@link io.warren.core.store.StoreException} naming the file.
     */
    public synchronized void start() throws Exception {
        if (lock != null) {
            throw new IllegalStateException("already started");
        }
        // Certificates and key first: a bad file fails the start before anything is opened.
        tlsContext = config.tls() == null ? null : TlsContexts.server(config.tls());
        try {
            Path dataDir = config.dataDir();
            Files.createDirectories(dataDir);
            lock = DataDirLock.acquire(dataDir);
            startCluster(dataDir);
            openApp();
        } catch (Exception | Error e) {
            closeManagement();
            closeNode();
            throw e;
        }
    }

    /**
     * rabbitmqctl start_app: reopens the stores, recovers durable definitions and persistent
     * messages as {@link #start} does, and listens again on the ports the listeners had. A no-op
     * while the application runs.
     */
    @Override public synchronized void startApp() throws Exception {
        if (lock == null) {
            throw new IllegalStateException("broker not started");
        }
        if (server != null) {
            return;
        }
        log.info("starting the warren application (start_app)");
        openApp();
        log.info("warren application started, AMQP on {}", WarrenMain.address(config.listenHost(), server.port()));
    }

    /**
     * rabbitmqctl stop_app: closes the AMQP and TLS listeners and every client connection with
     * 320 CONNECTION_FORCED, the queues and the stores. Non-durable queues and exchanges and
     * transient messages are gone; durable ones and persistent messages come back with
     * {@link #startApp}. The process, the management API, the data dir lock and the resource
     * monitor stay. A no-op while the application is stopped.
     */
    @Override public synchronized void stopApp() {
        if (server == null) {
            return;
        }
        log.info("stopping the warren application (stop_app)");
        closeApp();
        log.info("warren application stopped; the management API still answers (start_app starts it again)");
    }

    /** True while the application (stores, queues, AMQP listeners) runs. */
    public boolean appRunning() {
        return context != null;
    }

    /** rabbitmqctl stop: whatever {@link #onStopRequest} set; by default {@link #close}. */
    @Override public void stopNode() {
        log.info("stop requested through the management API (warrenctl stop)");
        stopRequest.run();
    }

    /**
     * What a stop request from the management API does. WarrenMain exits the process, so the
     * stop runs its shutdown hook as bin/warren stop's SIGTERM does (close, pid file removed).
     */
    public void onStopRequest(Runnable r) {
        stopRequest = r;
    }

    /** Opens the application: stores, recovery, the API on the first start, then the listeners. */
    private void openApp() throws Exception {
        AmqpServer s = new AmqpServer(Runtime.getRuntime().availableProcessors());
        BrokerContext ctx = null;
        appRun = new Object();
        try {
            Path dataDir = config.dataDir();
            definitions = cluster != null ? cluster.definitions() : SnapshotDefinitionStore.open(dataDir);
            messages = JournalMessageStore.open(dataDir);
            // priority queues order recovered messages before their content loads
            messages.priorityReader(io.warren.amqp.channel.MessagePriority::read);
            pageStore = FileSpillStore.open(dataDir.resolve("paging"), MessageHeaders.READER);
            delays = io.warren.store.delayed.BucketDelayStore.open(dataDir.resolve("delayed"), MessageHeaders.READER);
            Paging paging = new Paging(pageStore, Paging.DEFAULT_QUEUE_BOUND, Paging.DEFAULT_PRESSURE_BOUND);
            // The monitor runs from before recovery: a large recovered backlog must see memory
            // pressure (smaller paging bound) like any other. It outlives stop_app.
            if (resources == null) {
                ResourceMonitor m = new ResourceMonitor(config.memoryHighWatermark(), dataDir, config.diskFreeLimit(),
                        paging, config.memoryPagingRatio());
                resources = m;
                m.start();
            } else {
                resources.memory().paging(paging);
                resources.memory().check();
            }
            if (cluster != null) {
                cluster.alarms(resources.alarms()); // cluster-wide, as RabbitMQ's
            }
            StoreDurability durability = new StoreDurability(definitions, messages, new TableArgumentCodec(),
                    cluster == null ? null : cluster.quorumQueues());
            VirtualHosts vhosts = new VirtualHosts(s.loops(), durability, paging);
            vhosts.delays(delays); // before recovery: durable x-delayed-message exchanges come back attached
            // Dead-lettering rewrites properties (x-death, expiration): the AMQP codec does it for core.
            vhosts.deadLetterCodec(new io.warren.amqp.channel.AmqpDeadLetterCodec());
            AccessControl ac;
            if (cluster == null) {
                ac = new AccessControl(definitions, config.loopbackUsers());
                durability.recover(vhosts);
            } else {
                // What the cluster's log built so far, and from then on every change another node
                // makes: nothing falls between the two.
                AccessControl[] made = new AccessControl[1];
                cluster.definitions().follow(new io.warren.server.cluster.ClusterChanges(cluster.nodeName(), vhosts,
                        () -> made[0], () -> context, new TableArgumentCodec(), messages, durability), () -> {
                            made[0] = new AccessControl(definitions, config.loopbackUsers());
                            durability.recover(vhosts);
                        });
                ac = made[0];
            }
            // After the definitions and queues: what came due while stopped is routed right away.
            delays.start(new io.warren.core.publish.DueRouter(vhosts));
            if (cluster != null) {
                seedCluster(vhosts, ac);
            } else if (!ac.seeded()) {
                seed(vhosts, ac);
            }
            access = ac;
            AmqpSettings settings = new AmqpSettings(config.heartbeatSeconds(), config.frameMax(),
                    config.channelMax(), config.maxMessageSize(), config.connectionMax(), config.sendTimeoutMs(),
                    config.auth().mechanisms(), config.auth().certLoginFrom().equals("common_name"),
                    config.consumerTimeoutMs());
            ctx = new BrokerContext(vhosts, ac, settings, resources.alarms(),
                    cluster == null ? null : cluster.linkAuth());
            context = ctx;
            if (cluster != null) {
                // What another node's listings show of this node: the counts of the queues it
                // holds, its clients, its figures (ClusterViews); nothing of the model while stopped.
                String self = cluster.nodeName();
                cluster.apiAnswers(question -> {
                    if (question.equals(io.warren.server.management.ClusterViews.NODE)) {
                        io.warren.server.management.ManagementServer m = management;
                        return java.util.concurrent.CompletableFuture.completedFuture(
                                m == null ? new byte[0] : m.nodeView());
                    }
                    BrokerContext running = context;
                    if (running == null) {
                        return java.util.concurrent.CompletableFuture.completedFuture(new byte[0]);
                    }
                    return question.equals(io.warren.server.management.HeldCounts.QUESTION)
                            ? io.warren.server.management.HeldCounts.encode(running)
                            : io.warren.server.management.ClusterViews.answer(running, self, question);
                });
                // This node's clients use queues other nodes hold through links to those nodes.
                relays = new io.warren.amqp.link.LinkRelays(s.workers(), s.clientChannelClass(), cluster.nodeName(),
                        cluster.linkAuth(), cluster.directory());
                vhosts.remotes(relays);
            }
            // The API first: once bin/warren sees the AMQP port open, the API answers too.
            if (management == null && config.managementPort() != WarrenConfig.MANAGEMENT_DISABLED) {
                startManagement();
            }
            if (prometheus == null && config.prometheus().enabled()) {
                startPrometheus();
                if (management != null) {
                    // as RabbitMQ lists its rabbitmq_prometheus listener in /api/overview
                    management.amqpListener("http/prometheus", config.prometheus().ip(), prometheus.port());
                }
            }
            if (cluster != null) {
                catchUp(cluster);
            }
            s.bind(config.listenHost(), amqpPort < 0 ? config.listenPort() : amqpPort, ctx, allocator);
            amqpPort = s.port();
            if (cluster != null) {
                cluster.amqpListener(config.listenHost(), s.port());
            }
            if (management != null) {
                management.amqpListener("amqp", config.listenHost(), s.port());
            }
            if (tlsContext != null) {
                WarrenConfig.TlsConfig tls = config.tls();
                int port = amqpTlsPort < 0 ? tls.port() : amqpTlsPort;
                try {
                    s.bindTls(tls.host(), port, ctx, allocator, tlsContext);
                    amqpTlsPort = s.tlsPort();
                    if (management != null) {
                        management.amqpListener("amqp/ssl", tls.host(), s.tlsPort());
                    }
                } catch (Exception e) {
                    throw new StartupException("cannot listen on " + (tls.host() == null ? "" : tls.host() + ":")
                            + port + " (listeners.ssl.default): " + e.getMessage(), e);
                }
            }
        } catch (Exception | Error e) {
            context = null;
            if (relays != null) {
                relays.close();
                relays = null;
            }
            appRun = null;
            if (management != null) {
                management.amqpListenersClosed();
            }
            s.close(ctx == null ? new BrokerContext(new VirtualHosts(s.loops(), "/"), null, null, null) : ctx);
            closeStores();
            throw e;
        }
        server = s;
    }

    /** Closes the application: listeners, connections (320), queues, stores. */
    private void closeApp() {
        appRun = null;
        // The delay timer first: nothing is routed into queues that are closing.
        closeDelays();
        BrokerContext ctx = context;
        // From here the API answers 503 for the model: nothing reads queues that are closing.
        context = null;
        if (management != null) {
            management.amqpListenersClosed();
        }
        if (relays != null) {
            relays.close();
            relays = null;
        }
        if (cluster != null) {
            cluster.amqpListener(null, 0);
        }
        server.close(ctx);
        server = null;
        closeStores();
    }

    /**
     * A new data dir (or one from before access control was stored) gets RabbitMQ's first-start
     * set-up: the default vhost, and the default user as an administrator with every permission
     * in it. Later starts keep what operators made of them (default_user and default_pass are
     * then not read, as in RabbitMQ).
     */
    private void seed(VirtualHosts vhosts, AccessControl ac) {
        vhosts.create(config.defaultVhost(), new VirtualHosts.Info("Default virtual host", java.util.List.of()));
        if (ac.user(config.defaultUser()) == null) {
            ac.putUser(config.defaultUser(), config.defaultPass(), java.util.List.of("administrator"));
        }
        ac.setPermissions(config.defaultUser(), config.defaultVhost(), ".*", ".*", ".*");
        ac.markSeeded();
        java.util.concurrent.CompletableFuture<Throwable> synced = new java.util.concurrent.CompletableFuture<>();
        ac.whenDurable(synced::complete);
        Throwable failure = synced.join();
        if (failure != null) {
            throw new io.warren.core.store.StoreException("cannot store the default vhost and user: " + failure, failure);
        }
        log.info("created the default vhost '{}' and user '{}' (administrator)", config.defaultVhost(),
                config.defaultUser());
    }

    /**
     * A clustered node starts its member of the cluster's metadata group before the application:
     * the definitions come from the cluster's log. A data dir is either a single node's or a
     * cluster node's: the other kind's data would be lost (queues without their definitions),
     * so a start that mixes them is refused.
     */
    private void startCluster(Path dataDir) throws java.io.IOException {
        boolean clusterDir = Files.isDirectory(dataDir.resolve("cluster"));
        if (!config.cluster().clustered()) {
            if (clusterDir) {
                throw new StartupException("data_dir " + dataDir + " belongs to a cluster node (it has "
                        + dataDir.resolve("cluster") + "): start it with its cluster_formation keys", null);
            }
            return;
        }
        if (!clusterDir && Files.exists(dataDir.resolve("definitions.dat"))) {
            throw new StartupException("data_dir " + dataDir + " holds a single node's definitions: a node joins a "
                    + "cluster with an empty data_dir (warren cannot move a node's queues into a cluster yet)", null);
        }
        try {
            cluster = io.warren.server.cluster.ClusterNode.start(config.cluster(), dataDir);
        } catch (IllegalArgumentException e) {
            // the secret file (missing, unreadable, too short): the message names it
            throw new StartupException("cluster.secret_file: " + e.getMessage(), e);
        }
    }

    /** How long a node that starts waits to catch up with its cluster's log before it lets clients in. */
    static final long CATCH_UP_WAIT_MS = 10_000;

    /**
     * Cluster: before clients are let in, this node catches up with the cluster's metadata log (a
     * barrier through it, committed by a majority and applied here), so that it never routes a
     * publish by definitions it has not got yet: a queue declared while it was down, published to
     * through it right after its restart, would take the message nowhere and confirm it. Not
     * waited for when no other node answers as a member (the first node of a cluster starting
     * cold: there is no majority to catch up with), nor for longer than {@link #CATCH_UP_WAIT_MS}.
     */
    private static void catchUp(io.warren.server.cluster.ClusterNode node) {
        if (!node.anotherNodeRuns()) {
            return;
        }
        try {
            node.definitions().barrier().get(CATCH_UP_WAIT_MS, java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            log.warn("node {} could not catch up with the cluster's log within {} ms (no majority?): it lets "
                    + "clients in without", node.nodeName(), CATCH_UP_WAIT_MS);
        } catch (java.util.concurrent.ExecutionException e) {
            log.warn("node {} could not catch up with the cluster's log: {}; it lets clients in without",
                    node.nodeName(), String.valueOf(e.getCause()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * A cluster's first start creates the default vhost and user once, cluster-wide: after this
     * node has caught up with the cluster's log (a barrier through it: needs a majority), and only
     * if no node did it before. The application does not wait for it: the nodes of a new cluster
     * start one by one, and the first has no majority yet.
     */
    private void seedCluster(VirtualHosts vhosts, AccessControl ac) {
        io.warren.server.cluster.ClusterNode node = cluster;
        Object run = appRun;
        Thread t = new Thread(() -> {
            while (appRun == run) {
                try {
                    node.definitions().barrier().get();
                    break;
                } catch (java.util.concurrent.ExecutionException e) {
                    log.info("waiting for a majority of the cluster's nodes ({})", String.valueOf(e.getCause()));
                } catch (InterruptedException e) {
                    return;
                }
            }
            if (appRun != run || ac.seeded()) {
                return;
            }
            try {
                seed(vhosts, ac);
            } catch (RuntimeException e) {
                log.error("cannot create the default vhost and user in the cluster", e);
            }
        }, "warren-cluster-seed");
        t.setDaemon(true);
        t.start();
    }

    @Override public java.util.Map<String, Boolean> clusterNodes() {
        io.warren.server.cluster.ClusterNode c = cluster;
        return c == null ? null : c.running();
    }

    @Override public java.util.concurrent.CompletableFuture<java.util.Map<String,
            io.warren.server.management.HeldCounts.Counts>> heldElsewhere() {
        return askOthers(io.warren.server.management.HeldCounts.QUESTION).thenApply(answers -> {
            java.util.Map<String, io.warren.server.management.HeldCounts.Counts> all = new java.util.HashMap<>();
            for (byte[] answer : answers) {
                try {
                    all.putAll(io.warren.server.management.HeldCounts.decode(answer));
                } catch (java.io.IOException e) {
                    log.debug("queue counts left out: {}", e.toString());
                }
            }
            return all;
        });
    }

    @Override public java.util.concurrent.CompletableFuture<java.util.List<byte[]>> askOthers(String question) {
        io.warren.server.cluster.ClusterNode c = cluster;
        if (c == null) {
            return java.util.concurrent.CompletableFuture.completedFuture(java.util.List.of());
        }
        java.util.List<java.util.concurrent.CompletableFuture<byte[]>> asked = new java.util.ArrayList<>();
        c.running().forEach((node, up) -> {
            if (up && !node.equals(c.nodeName())) {
                asked.add(c.askApi(node, question).exceptionally(e -> {
                    log.debug("no answer from node {} to '{}': {}", node, question, e.toString());
                    return new byte[0];
                }));
            }
        });
        return java.util.concurrent.CompletableFuture.allOf(asked.toArray(new java.util.concurrent.CompletableFuture<?>[0]))
                .thenApply(v -> asked.stream().map(java.util.concurrent.CompletableFuture::join).toList());
    }

    @Override public java.util.concurrent.CompletableFuture<byte[]> askNode(String node, String question) {
        io.warren.server.cluster.ClusterNode c = cluster;
        return c == null ? io.warren.server.management.BrokerControl.super.askNode(node, question)
                : c.askApi(node, question);
    }

    @Override public void forgetClusterNode(String node) throws ClusterRefusal {
        io.warren.server.cluster.ClusterNode c = cluster;
        if (c == null) {
            io.warren.server.management.BrokerControl.super.forgetClusterNode(node);
            return;
        }
        c.forget(node);
    }

    @Override public java.util.List<io.warren.core.queue.MessageQueue> quorumCriticalQueues() {
        io.warren.server.cluster.ClusterNode c = cluster;
        // a cluster of one node (the others forgotten): the check does not apply, as RabbitMQ's
        return c == null || c.members().size() < 2 ? null : c.quorumQueues().withMinimumQuorum();
    }

    @Override public void changeQuorumMember(io.warren.core.queue.MessageQueue q, String node, boolean add)
            throws ClusterRefusal {
        io.warren.server.cluster.ClusterNode c = cluster;
        if (c == null) {
            io.warren.server.management.BrokerControl.super.changeQuorumMember(q, node, add);
        } else if (add) {
            c.quorumQueues().addMember(q, node);
        } else {
            c.quorumQueues().deleteMember(q, node);
        }
    }

    @Override public boolean nodeRunning(String node) {
        io.warren.server.cluster.ClusterNode c = cluster;
        return c != null && c.isMember(node) && (node.equals(c.nodeName()) || c.running().getOrDefault(node, false));
    }

    @Override public java.util.List<String> quorumMembers(io.warren.core.queue.MessageQueue q) {
        io.warren.server.cluster.ClusterNode c = cluster;
        return c == null ? null : c.quorumQueues().membersOf(q);
    }

    @Override public java.util.List<io.warren.server.cluster.QueueRebalance.NodeCount> rebalanceQuorumQueues(
            java.util.function.Predicate<io.warren.core.queue.MessageQueue> which) throws ClusterRefusal {
        io.warren.server.cluster.ClusterNode c = cluster;
        return c == null ? null : c.rebalance(which);
    }

    @Override public synchronized void joinCluster(String node) throws ClusterRefusal {
        io.warren.server.cluster.ClusterNode c = cluster;
        if (c == null) {
            io.warren.server.management.BrokerControl.super.joinCluster(node);
            return;
        }
        WarrenConfig.ClusterConfig.Peer target;
        try {
            // RabbitMQ's join_cluster names the node alone (epmd finds its port): NAME@HOST means
            // the node's inter-node port is the default one, cluster.listener.port's 25672
            boolean portless = node.indexOf('@') > 0 && node.indexOf(':', node.indexOf('@')) < 0;
            target = io.warren.server.config.ConfigParser.clusterNode(portless
                    ? node + ":" + WarrenConfig.ClusterConfig.DEFAULT_PORT : node);
        } catch (IllegalArgumentException e) {
            throw new ClusterRefusal(400, "node '" + node + "': " + e.getMessage());
        }
        if (target.name().equals(c.nodeName())) {
            throw new ClusterRefusal(400, "node " + node + " is this node: name a node of the cluster to join");
        }
        if (appRunning()) {
            // RabbitMQ: "Mnesia is still running on node ... Please stop the node with rabbitmqctl stop_app first."
            throw new ClusterRefusal(409, "the application is still running on node " + c.nodeName()
                    + ": stop it with warrenctl stop_app first");
        }
        // Asked before anything is reset: a node that cannot be reached, or a cluster this node
        // is in already, leaves this node as it is.
        io.warren.server.cluster.ClusterNode.membersToJoin(config.cluster(), target);
        // As RabbitMQ's join_cluster, the node is reset first: what it had goes (its own
        // cluster's log, its queues' messages); the data dir lock stays held.
        log.info("node {} joins the cluster of {}: resetting it", c.nodeName(), target.name());
        cluster = null;
        c.close();
        Path dataDir = config.dataDir();
        try {
            resetDataDir(dataDir);
        } catch (java.io.IOException e) {
            throw new ClusterRefusal(500, "cannot reset data_dir " + dataDir + ": " + e.getMessage());
        }
        try {
            cluster = io.warren.server.cluster.ClusterNode.join(config.cluster(), dataDir, target);
        } catch (ClusterRefusal | java.io.IOException | RuntimeException refused) {
            // Not joined: the node goes on as a new cluster of its own config (its data dir is empty).
            try {
                resetDataDir(dataDir);
                cluster = io.warren.server.cluster.ClusterNode.start(config.cluster(), dataDir);
            } catch (java.io.IOException e) {
                log.error("cannot start this node's cluster member again after a failed join", e);
            }
            throw refused instanceof ClusterRefusal r ? r : new ClusterRefusal(503, "cannot join the cluster of "
                    + target.name() + ": " + refused.getMessage());
        }
    }

    /** Empties the data dir but for its lock file, the pid file and a log file kept there (join_cluster's reset). */
    private void resetDataDir(Path dataDir) throws java.io.IOException {
        java.util.Set<Path> keep = new java.util.HashSet<>(java.util.List.of(dataDir.resolve(DataDirLock.FILE_NAME),
                dataDir.resolve(io.warren.server.launch.PidFile.NAME)));
        if (config.logFile() != null) {
            keep.add(config.logFile().toAbsolutePath().normalize());
        }
        try (java.util.stream.Stream<Path> entries = Files.list(dataDir)) {
            for (Path p : (Iterable<Path>) entries::iterator) {
                if (keep.contains(p) || keep.contains(p.toAbsolutePath().normalize())) {
                    continue;
                }
                if (Files.isDirectory(p)) {
                    try (java.util.stream.Stream<Path> tree = Files.walk(p)) {
                        for (Path f : (Iterable<Path>) tree.sorted(java.util.Comparator.reverseOrder())::iterator) {
                            Files.delete(f);
                        }
                    }
                } else {
                    Files.delete(p);
                }
            }
        }
    }

    /** This node's part of the cluster; null for a single node. */
    public io.warren.server.cluster.ClusterNode cluster() {
        return cluster;
    }

    private void startManagement() throws InterruptedException {
        management = new io.warren.server.management.ManagementServer();
        try {
            management.start(config.managementIp(), config.managementPort(), () -> context, () -> access, this, resources,
                    config, this::setMemoryHighWatermark);
        } catch (Exception e) {
            String address = WarrenMain.address(config.managementIp(), config.managementPort());
            String why = String.valueOf(e.getMessage()).contains("Address already in use") || e instanceof java.net.BindException
                    ? "address already in use" : String.valueOf(e.getMessage());
            throw new StartupException("cannot listen on " + address
                    + " for the management API (management.tcp.ip / management.tcp.port): " + why, e);
        }
    }

    private void closeManagement() {
        if (management != null) {
            management.close();
            management = null;
        }
        if (prometheus != null) {
            prometheus.close();
            prometheus = null;
        }
    }

    private void startPrometheus() throws InterruptedException {
        WarrenConfig.PrometheusConfig p = config.prometheus();
        prometheus = new io.warren.server.metrics.PrometheusServer();
        try {
            prometheus.start(p.ip(), p.port(), p.path(), p.perObject(), () -> context, resources,
                    config.cluster().nodeName(),
                    java.lang.management.ManagementFactory.getRuntimeMXBean().getStartTime(), BrokerContext.VERSION);
        } catch (Exception e) {
            prometheus.close();
            prometheus = null;
            String address = WarrenMain.address(p.ip(), p.port());
            String why = String.valueOf(e.getMessage()).contains("Address already in use") || e instanceof java.net.BindException
                    ? "address already in use" : String.valueOf(e.getMessage());
            throw new StartupException("cannot listen on " + address
                    + " for the Prometheus metrics (prometheus.tcp.ip / prometheus.tcp.port): " + why, e);
        }
    }

    /** The bound Prometheus port (useful when configured with port 0); -1 when disabled or not running. */
    public synchronized int prometheusPort() {
        return prometheus == null ? -1 : prometheus.port();
    }

    /**
     * The bound management API port (useful when configured with port 0); -1 when the API is
     * disabled ({@code management.enabled = false}) or the broker is not running.
     */
    public synchronized int managementPort() {
        return management == null ? -1 : management.port();
    }

    /** The bound TLS port (listeners.ssl.default; useful when configured with port 0), or -1 without TLS. */
    public synchronized int tlsPort() {
        return server == null ? -1 : server.tlsPort();
    }

    /** The bound AMQP port (useful when configured with port 0); while the application is stopped, the one it had. */
    public synchronized int port() {
        return server != null ? server.port() : amqpPort >= 0 ? amqpPort : config.listenPort();
    }

    public WarrenConfig config() {
        return config;
    }

    /** Closes every client connection with 320 CONNECTION_FORCED, then the listener; then the node. */
    @Override public synchronized void close() {
        if (lock != null) {
            log.info("stopping warren");
            closeManagement();
            if (server != null) {
                closeApp();
            }
            closeNode();
        }
    }

    // ---- resource alarms: the broker methods warrenctl and the management API call ---------

    /** The alarms in force (memory, disk); empty when publishers may publish. */
    public java.util.Set<ResourceAlarms.Resource> alarms() {
        return monitor().alarms().active();
    }

    /** rabbitmqctl set_vm_memory_high_watermark: takes effect at once (alarms set or cleared). */
    public void setMemoryHighWatermark(Watermark w) {
        monitor().memory().setWatermark(w);
    }

    /** rabbitmqctl set_disk_free_limit: takes effect at once. */
    @Override public void setDiskFreeLimit(Watermark w) {
        monitor().disk().setLimit(w);
    }

    /** Users, tags and permissions of the running application. */
    public synchronized AccessControl access() {
        if (context == null) {
            throw new IllegalStateException("broker not started");
        }
        return context.access();
    }

    /** A virtual host by name, or null; for tests. */
    public synchronized io.warren.core.vhost.VirtualHost vhost(String name) {
        if (context == null) {
            throw new IllegalStateException("broker not started");
        }
        return context.vhosts().get(name);
    }

    /**
     * The client connections now (a snapshot), with their state (running, flow, blocked ...),
     * for tests and the coming management API's list of connections.
     */
    public synchronized java.util.List<io.warren.amqp.connection.AmqpConnection> connections() {
        if (context == null) {
            throw new IllegalStateException("broker not started");
        }
        return java.util.List.copyOf(context.connections());
    }

    /** How queues page out (bounds, counters). */
    public synchronized Paging paging() {
        if (context == null) {
            throw new IllegalStateException("broker not started");
        }
        return context.vhosts().paging();
    }

    /** The resource monitor: memory used and its limit, free disk and its limit. */
    public ResourceMonitor monitor() {
        // Not synchronized: the API's event loop calls the watermark setters, and must not wait
        // for a start_app that holds the lock.
        ResourceMonitor m = resources;
        if (m == null) {
            throw new IllegalStateException("broker not started");
        }
        return m;
    }

    /** After the application: the monitor, then the data dir lock. */
    private void closeNode() {
        if (cluster != null) {
            cluster.close();
            cluster = null;
        }
        if (resources != null) {
            resources.close();
            resources = null;
        }
        if (lock != null) {
            lock.close();
            lock = null;
        }
    }

    /** After the queues are closed: commit what is pending, close the files. */
    private void closeDelays() {
        if (delays != null) {
            delays.close();
            delays = null;
        }
    }

    private void closeStores() {
        closeDelays();
        // The page-out store first: a purge still under way there frees journal slots.
        if (pageStore != null) {
            pageStore.close();
            pageStore = null;
        }
        if (messages != null) {
            messages.close();
            messages = null;
        }
        if (definitions != null) {
            if (cluster != null) {
                cluster.definitions().unfollow(); // the node's: it follows the log until the node stops
                cluster.quorumQueues().applicationStopped();
            } else {
                definitions.close();
            }
            definitions = null;
        }
    }
}
