package io.warren.server.cluster;

import io.warren.cluster.ClusterSecret;
import io.warren.cluster.Member;
import io.warren.cluster.MetadataGroup;
import io.warren.cluster.RaftSettings;
import io.warren.cluster.ReplicatedState;
import io.warren.core.queue.MessageQueue;
import io.warren.server.WarrenConfig;
import io.warren.server.management.BrokerControl.ClusterRefusal;
import io.warren.store.definitions.ReplicatedDefinitionStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;

/**
 * This node's part of a cluster: its member of the metadata group (the Raft log every
 * definition change goes through, in {@code data_dir/cluster}) and the definitions it builds
 * ({@link ReplicatedDefinitionStore}). Lives from the node's start to its stop, across
 * stop_app / start_app: the cluster's log goes on while the application is stopped.
 *
 * <p>A monitor thread connects to each other node's inter-node port every 5 seconds; what it
 * finds is {@link #running} for cluster_status (RabbitMQ's running nodes: the node is up).
 */
public final class ClusterNode implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ClusterNode.class);
    /**
     * Each probe is a full TLS handshake (elliptic-curve key exchange and signatures, in Java):
     * at every 2 s they were a sixth of a busy leader's sampled Java CPU (JFR, bench/quorum.sh).
     * RabbitMQ notices a node gone after its net_ticktime (60 s); 5 s is plenty for cluster_status.
     */
    static final long PROBE_EVERY_MS = 5000;
    static final int PROBE_TIMEOUT_MS = 1000;

    private final WarrenConfig.ClusterConfig config;
    private final ReplicatedDefinitionStore definitions;
    private final MetadataGroup group;
    private final Map<String, Boolean> running = new java.util.concurrent.ConcurrentHashMap<>();
    private final Thread monitor;
    private final QuorumQueues quorumQueues = new QuorumQueues(this);
    private final java.util.concurrent.ExecutorService membership = java.util.concurrent.Executors
            .newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "warren-cluster-membership");
                t.setDaemon(true);
                return t;
            });
    /** This node's cluster credentials, for the probes: a peer is up when it passes the same check Raft's traffic does. */
    private final javax.net.ssl.SSLContext probeTls;
    private volatile boolean closed;

    private final ClusterSecret secret;
    /** Every node's resource alarms block publishers cluster-wide. */
    private final ClusterAlarms alarms;

    private ClusterNode(WarrenConfig.ClusterConfig config, ReplicatedDefinitionStore definitions, MetadataGroup group,
                        javax.net.ssl.SSLContext probeTls, ClusterSecret secret) {
        this.secret = secret;
        this.probeTls = probeTls;
        this.config = config;
        this.definitions = definitions;
        this.group = group;
        this.alarms = new ClusterAlarms(config.nodeName());
        for (WarrenConfig.ClusterConfig.Peer p : config.nodes()) {
            running.put(p.name(), p.name().equals(config.nodeName()));
        }
        group.answerLater(this::answerLater);
        definitions.membersListener((id, names) -> {
            try {
                membership.execute(() -> quorumQueues.membersChanged(id));
            } catch (java.util.concurrent.RejectedExecutionException e) {
                // stopping
            }
        });
        definitions.spread(new AppliedEverywhere(group::applied, () -> {
            List<String> others = new java.util.ArrayList<>();
            for (WarrenConfig.ClusterConfig.Peer p : members()) {
                if (!p.name().equals(config.nodeName())) {
                    others.add(memberId(p.name()));
                }
            }
            return others;
        }, id -> members().stream().anyMatch(p -> memberId(p.name()).equals(id)
                && running.getOrDefault(p.name(), false))));
        this.monitor = new Thread(this::probeLoop, "warren-cluster-monitor");
        monitor.setDaemon(true);
        monitor.start();
    }

    /** The Raft member id of a node name: '@' is not in Ratis' alphabet, '_' is not in a host name. */
    static String memberId(String nodeName) {
        return nodeName.replace('@', '_');
    }

    /**
     * Starts this node's member of the metadata group: it recovers its log from
     * {@code dataDir/cluster} and joins the others; a leader is elected once a majority runs.
     */
    public static ClusterNode start(WarrenConfig.ClusterConfig config, Path dataDir) throws IOException {
        // Before anything is opened: a missing or weak secret fails the start naming the file.
        ClusterSecret secret = ClusterSecret.fromFile(config.secretFile());
        List<Member> members = config.nodes().stream()
                .map(p -> new Member(memberId(p.name()), p.host() + ":" + p.port())).toList();
        return start(config, dataDir, secret, members, false);
    }

    /**
     * warrenctl join_cluster: this node, whose data dir the caller emptied, becomes a member of
     * the cluster that node {@code target} is in. It asks {@code target} for the metadata group's
     * members, starts its own member with them and itself, has the group add it (the leader
     * catches it up), waits until it has applied the cluster's log, and records its name and
     * address in the log, so every node lists it. Quorum queues keep their members (as RabbitMQ's,
     * which grow onto a new node only when told to); one declared through the joined node has a
     * member there, then on the first nodes of the list the cluster was formed with. Blocks.
     */
    public static ClusterNode join(WarrenConfig.ClusterConfig config, Path dataDir, WarrenConfig.ClusterConfig.Peer target)
            throws IOException, ClusterRefusal {
        ClusterSecret secret = ClusterSecret.fromFile(config.secretFile());
        Member self = self(config);
        List<Member> all = new java.util.ArrayList<>(membersToJoin(config, target));
        all.add(self);
        ClusterNode node = start(config, dataDir, secret, all, true);
        try {
            node.group.addSelf(all);
            // this node has the cluster's log, and every node learns its name and address
            node.definitions.barrier().get(60, java.util.concurrent.TimeUnit.SECONDS);
            // quorum queues place their members on the cluster's node list: this node's config
            // does not have it (the metadata leader records it within seconds of its election)
            long until = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
            while (node.definitions.nodeList().isEmpty()) {
                if (System.nanoTime() > until) {
                    throw new IOException("the cluster's log has no node list yet: try again in a few seconds");
                }
                Thread.sleep(200);
            }
            node.definitions.recordJoined(config.nodeName(), self.address()).get(60,
                    java.util.concurrent.TimeUnit.SECONDS);
        } catch (IOException | RuntimeException | java.util.concurrent.ExecutionException
                 | java.util.concurrent.TimeoutException e) {
            node.close();
            throw new ClusterRefusal(503, "cannot join the cluster of " + target.name() + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            node.close();
            throw new ClusterRefusal(503, "interrupted while joining the cluster of " + target.name());
        }
        log.info("node {} joined the cluster of {}", config.nodeName(), target.name());
        return node;
    }

    private static Member self(WarrenConfig.ClusterConfig config) {
        return member(config.nodes().stream().filter(p -> p.name().equals(config.nodeName())).findFirst()
                .orElseThrow());
    }

    /**
     * The members of the metadata group of node {@code target}'s cluster, which this node may
     * join: refused when the node cannot be reached as a node of a cluster with this node's
     * secret (503), or when this node is a member already (409). Blocks.
     */
    public static List<Member> membersToJoin(WarrenConfig.ClusterConfig config, WarrenConfig.ClusterConfig.Peer target)
            throws ClusterRefusal {
        List<Member> current;
        try {
            current = io.warren.cluster.RaftNode.metadataMembersAt(member(target),
                    ClusterSecret.fromFile(config.secretFile()), RaftSettings.DEFAULT);
        } catch (IOException | RuntimeException e) {
            throw new ClusterRefusal(503, "cannot reach node " + target.name() + " at " + target.host() + ":"
                    + target.port() + " as a node of a cluster with this node's secret: " + e.getMessage());
        }
        Member self = self(config);
        if (current.stream().anyMatch(m -> m.id().equals(self.id()))) {
            throw new ClusterRefusal(409, "node " + config.nodeName() + " is already a member of the cluster of "
                    + target.name() + " (forget_cluster_node it there first)");
        }
        return current;
    }

    /** {@code joining}: join_cluster, this node's member waits for the group to take it in (RaftNode#startJoining). */
    private static ClusterNode start(WarrenConfig.ClusterConfig config, Path dataDir, ClusterSecret secret,
                                     List<Member> members, boolean joining) throws IOException {
        Member self = members.stream().filter(m -> m.id().equals(memberId(config.nodeName()))).findFirst()
                .orElseThrow();
        AtomicReference<MetadataGroup> groupRef = new AtomicReference<>();
        CompletableFuture<ClusterNode> made = new CompletableFuture<>();
        ReplicatedDefinitionStore definitions = new ReplicatedDefinitionStore(config.nodeName(), record -> {
            MetadataGroup g = groupRef.get();
            return g == null ? CompletableFuture.failedFuture(new IllegalStateException("cluster not started"))
                    : g.submit(record);
        }, () -> {
            try {
                return !made.get().othersStarted();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("stopped");
            } catch (java.util.concurrent.ExecutionException e) {
                throw new IllegalStateException(e.getCause());
            }
        });
        ReplicatedState state = new ReplicatedState() {
            @Override public void apply(long index, byte[] record) {
                definitions.apply(index, record);
            }

            @Override public byte[] snapshot() {
                return definitions.snapshot();
            }

            @Override public void restore(long index, byte[] snapshot) {
                definitions.restore(index, snapshot);
            }
        };
        javax.net.ssl.SSLContext probeTls;
        try {
            probeTls = javax.net.ssl.SSLContext.getInstance("TLS");
            io.warren.cluster.ClusterTls tls = io.warren.cluster.ClusterTls.create(secret);
            probeTls.init(new javax.net.ssl.KeyManager[] {tls.keyManager()},
                    new javax.net.ssl.TrustManager[] {tls.trustManager()}, null);
        } catch (java.security.GeneralSecurityException e) {
            throw new IOException("cannot set up TLS for the cluster: " + e, e);
        }
        MetadataGroup group;
        try {
            if (self.port() != config.port()) {
                log.warn("node {}: the others reach it at {} (cluster_formation.classic_config.nodes), it listens on "
                        + "port {} (cluster.listener.port): that works through a port forward or a proxy only",
                        config.nodeName(), self.address(), config.port());
            }
            group = (joining ? io.warren.cluster.RaftNode.startJoining(self, config.port(), members, secret,
                    dataDir.resolve("cluster"), RaftSettings.DEFAULT, state)
                    : io.warren.cluster.RaftNode.start(self, config.port(), members, secret, dataDir.resolve("cluster"),
                    RaftSettings.DEFAULT, state)).metadata();
        } catch (IOException | RuntimeException e) {
            definitions.close();
            throw e;
        }
        groupRef.set(group);
        log.info("node {} is in a cluster of {}: inter-node port {}", config.nodeName(), config.nodes(),
                config.port());
        ClusterNode node = new ClusterNode(config, definitions, group, probeTls, secret);
        made.complete(node);
        definitions.ready(); // the group replayed this node's log: its start record may go
        return node;
    }

    /** This node's Raft member id of a node name. */
    static Member member(WarrenConfig.ClusterConfig.Peer p) {
        return new Member(memberId(p.name()), p.host() + ":" + p.port());
    }

    /**
     * The node list the cluster was formed with: where quorum queues place their members. The
     * cluster's log has it (the metadata leader records its config's list once); this node's
     * config's list until then.
     */
    List<WarrenConfig.ClusterConfig.Peer> placement() {
        List<String> list = definitions.nodeList();
        if (list.isEmpty()) {
            return config.nodes();
        }
        List<WarrenConfig.ClusterConfig.Peer> peers = new java.util.ArrayList<>(list.size());
        for (String n : list) {
            peers.add(peer(n));
        }
        return peers;
    }

    /** Every node the cluster ever had: its node list, then the nodes joined since, in the order they did. */
    List<WarrenConfig.ClusterConfig.Peer> nodes() {
        List<WarrenConfig.ClusterConfig.Peer> all = new java.util.ArrayList<>(placement());
        definitions.joinedNodes().forEach((name, address) -> {
            if (all.stream().noneMatch(p -> p.name().equals(name))) {
                all.add(peer(name + " " + address));
            }
        });
        return all;
    }

    /** "NAME HOST:PORT", as the node list is kept in the cluster's log. */
    private static String entry(WarrenConfig.ClusterConfig.Peer p) {
        return p.name() + " " + p.host() + ":" + p.port();
    }

    private static WarrenConfig.ClusterConfig.Peer peer(String entry) {
        int space = entry.indexOf(' ');
        int colon = entry.lastIndexOf(':');
        return new WarrenConfig.ClusterConfig.Peer(entry.substring(0, space), entry.substring(space + 1, colon),
                Integer.parseInt(entry.substring(colon + 1)));
    }

    /** The node name of a Raft member id (the id of a node in the list), or the id itself. */
    String nodeNameOfId(String memberId) {
        for (WarrenConfig.ClusterConfig.Peer p : nodes()) {
            if (memberId(p.name()).equals(memberId)) {
                return p.name();
            }
        }
        return memberId;
    }

    /** This node's place in the cluster's directory (0-based): unique among the cluster's nodes. */
    int index() {
        List<WarrenConfig.ClusterConfig.Peer> nodes = nodes();
        for (int i = 0; i < nodes.size(); i++) {
            if (nodes.get(i).name().equals(config.nodeName())) {
                return i;
            }
        }
        throw new IllegalStateException("not in the node list");
    }

    /** Where group joins and leaves run (they block on disk and Ratis). */
    java.util.concurrent.Executor executor() {
        return membership;
    }

    /** See {@link io.warren.cluster.RaftNode#transferLeadership(String, List, String, java.time.Duration)}. */
    boolean transferLeadership(String groupName, List<Member> members, String memberId, java.time.Duration timeout) {
        return group.node().transferLeadership(groupName, members, memberId, timeout);
    }

    /** Every queue group this node hosts, by name (RaftNode#queueGroups). */
    Map<String, io.warren.cluster.QueueGroup> queueGroups() {
        return group.node().queueGroups();
    }

    /** See RaftNode#removeFromQueueGroup. Blocks. */
    void removeFromQueueGroup(String name, List<Member> members, String memberId) throws IOException {
        group.node().removeFromQueueGroup(name, members, memberId);
    }

    io.warren.cluster.QueueGroup joinQueueGroup(String name, List<Member> members, boolean added) throws IOException {
        return group.node().joinQueueGroup(name, members, added);
    }

    void leaveQueueGroup(String name) throws IOException {
        group.node().leaveQueueGroup(name);
    }

    // ---- forwarding: this node's clients use queues other nodes hold (io.warren.amqp.link)

    /** The cluster links' login proofs (WARREN-LINK): MACs under the cluster's secret. */
    public io.warren.amqp.server.LinkAuth linkAuth() {
        return secret::linkProof;
    }

    /**
     * What this node tells the others its AMQP listener is (null: none, the application is
     * stopped): "HOST:PORT", HOST empty when it listens on every interface (the others then use
     * the host they reach this node at).
     */
    public void amqpListener(String host, int port) {
        listener = port <= 0 ? "" : (host == null || host.isEmpty() || host.equals("0.0.0.0") || host.equals("::")
                ? "" : host) + ":" + port;
    }

    /** What amqpListener last said. */
    private volatile String listener = "";

    /**
     * This node's resource alarms: the other nodes' alarms are set on them (so publishers here
     * are blocked while any node has one), and the others are told of this node's own.
     */
    public void alarms(io.warren.core.flow.ResourceAlarms resourceAlarms) {
        // off the changing thread: an operator's alarm is set on the API's event loop
        alarms.attach(resourceAlarms, () -> CompletableFuture.runAsync(this::tellAlarms));
        tellAlarms();
    }

    /** Tells every other node this node's alarms (and takes theirs from the answers); does not wait. */
    private void tellAlarms() {
        for (WarrenConfig.ClusterConfig.Peer p : members()) {
            if (!p.name().equals(config.nodeName())) {
                tellAlarms(p.name());
            }
        }
    }

    private void tellAlarms(String node) {
        if (closed) {
            return;
        }
        group.ask(memberId(node), alarms.question()).whenComplete((answer, e) -> {
            if (e == null) {
                alarms.answered(node, answer);
            } else {
                log.debug("cannot exchange resource alarms with node {}: {}", node, e.toString());
            }
        });
    }

    /** A management API question ({@link #apiAnswers}); anything else: {@link #answer}. */
    private CompletableFuture<byte[]> answerLater(String question) {
        if (question.startsWith(API)) {
            java.util.function.Function<String, CompletableFuture<byte[]>> a = apiAnswers;
            return a == null ? CompletableFuture.completedFuture(new byte[0]) : a.apply(question.substring(API.length()));
        }
        return CompletableFuture.completedFuture(answer(question));
    }

    private static final String API = "api ";

    /** What this node answers the management API's questions with ({@link #askApi}); null: nothing. */
    private volatile java.util.function.Function<String, CompletableFuture<byte[]>> apiAnswers;

    /**
     * Sets how this node answers another node's management API questions (the counts of the
     * queues it holds, its client connections, channels and consumers, its node figures; a close
     * of one of its connections); null: it answers nothing. The function must not block: it runs
     * on a Ratis thread.
     */
    public void apiAnswers(java.util.function.Function<String, CompletableFuture<byte[]>> answers) {
        apiAnswers = answers;
    }

    /** Node {@code node}'s answer to management API question {@code question}; fails when it cannot be asked. */
    public CompletableFuture<byte[]> askApi(String node, String question) {
        return group.ask(memberId(node), API + question);
    }

    /**
     * This node's answer to ask: "leader GROUP" is answered with the node that leads that quorum
     * queue group as this member knows it (empty when none is known or this node is no member);
     * "alarms ..." with this node's resource alarms ({@link ClusterAlarms});
     * any other question with its AMQP listener, then "\nstarted" once this run's start is in the
     * log (othersStarted).
     */
    private byte[] answer(String question) {
        if (question.startsWith(ClusterAlarms.QUESTION)) {
            return alarms.answer(question.substring(ClusterAlarms.QUESTION.length()));
        }
        String a = question.startsWith(LEADER) ? quorumQueues.leaderOf(question.substring(LEADER.length()))
                : question.startsWith(CONFIGURATION)
                ? quorumQueues.configurationOf(question.substring(CONFIGURATION.length()))
                : listener + (definitions.started().isDone() ? "\n" + STARTED : "");
        return a.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }

    private static final String LEADER = "leader ";
    private static final String CONFIGURATION = "configuration ";

    /**
     * Node {@code member}'s view of queue group {@code groupName}'s configuration
     * ({@link QuorumQueues#configurationOf}): "1" or "0" (it leads or not), a newline, the member
     * ids; "" when it holds no member of it.
     */
    CompletableFuture<String> askConfiguration(String member, String groupName) {
        return group.ask(memberId(member), CONFIGURATION + groupName)
                .thenApply(b -> new String(b, java.nio.charset.StandardCharsets.UTF_8));
    }

    /** Which node leads quorum queue group {@code groupName}, as node {@code member} (a member of it) says; "" when it knows none. */
    CompletableFuture<String> askLeader(String member, String groupName) {
        return group.ask(memberId(member), LEADER + groupName)
                .thenApply(b -> new String(b, java.nio.charset.StandardCharsets.UTF_8));
    }

    private static final String STARTED = "started";

    /**
     * How long a starting node keeps asking a node that neither answers nor refuses connections
     * before it takes it as not running: a running node may be slow to answer (a loaded machine,
     * a JVM starting, a GC), and taking it for stopped would end every non-durable exchange of
     * the cluster. As long as the grace a down node's non-durable queues get ({@link #TRANSIENT_GRACE_MS}).
     */
    static final long START_CHECK_MS = 30_000;

    /**
     * Whether another node runs with its start recorded in the cluster's log: each is asked. A
     * node answers so only after it asked this itself, so the first node of a cluster that had
     * stopped finds none (ReplicatedDefinitionStore.NODE_STARTED). Only a node whose port refuses
     * connections, or that answers without its start, is taken as not started at once; one whose
     * question fails otherwise (timed out, not ready) is asked again for up to {@link #START_CHECK_MS}.
     */
    boolean othersStarted() {
        List<WarrenConfig.ClusterConfig.Peer> others = members().stream()
                .filter(p -> !p.name().equals(config.nodeName())).toList();
        return anyStarted(others, p -> group.ask(memberId(p.name()))
                .thenApply(b -> new String(b, java.nio.charset.StandardCharsets.UTF_8).endsWith("\n" + STARTED)),
                ClusterNode::refuses, START_CHECK_MS, 500);
    }

    /**
     * Whether any of {@code peers} answers {@code ask} with true. A peer whose question fails is
     * asked again every {@code retryMs}, unless {@code refused} says its port refuses connections
     * (it is down), until {@code waitMs} have passed; then it counts as not running (logged).
     */
    static <P> boolean anyStarted(List<P> peers, java.util.function.Function<P, CompletableFuture<Boolean>> ask,
                                  java.util.function.Predicate<P> refused, long waitMs, long retryMs) {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(waitMs);
        List<P> pending = peers;
        while (true) {
            Map<P, CompletableFuture<Boolean>> asked = new LinkedHashMap<>();
            for (P p : pending) {
                CompletableFuture<Boolean> f;
                try {
                    f = ask.apply(p);
                } catch (RuntimeException e) {
                    f = CompletableFuture.failedFuture(e);
                }
                asked.put(p, f);
            }
            List<P> unsure = new java.util.ArrayList<>();
            Throwable why = null;
            for (Map.Entry<P, CompletableFuture<Boolean>> a : asked.entrySet()) {
                try {
                    if (a.getValue().join()) {
                        return true;
                    }
                } catch (RuntimeException e) {
                    if (!refused.test(a.getKey())) {
                        unsure.add(a.getKey());
                        why = e;
                    }
                }
            }
            if (unsure.isEmpty()) {
                return false;
            }
            if (System.nanoTime() - deadline >= 0) {
                log.warn("nodes {} neither answered nor refused connections for {} ms ({}): taken as not running",
                        unsure, waitMs, String.valueOf(why));
                return false;
            }
            try {
                Thread.sleep(retryMs);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while asking the other nodes"); // stopping: not alone
            }
            pending = unsure;
        }
    }

    /**
     * Whether another node of the cluster answers on its inter-node port as a member of this
     * cluster does (the monitor's probe: a proxy or load balancer in front of a node that is down
     * accepts connections, so a port that does not refuse proves nothing). Blocks for up to a
     * probe's timeout per node; not for an event loop.
     */
    public boolean anotherNodeRuns() {
        return members().stream().filter(p -> !p.name().equals(config.nodeName())).anyMatch(this::probe);
    }

    /** Whether the node's inter-node port refuses connections (or its host cannot be reached at all): it is down. */
    private static boolean refuses(WarrenConfig.ClusterConfig.Peer p) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(p.host(), p.port()), PROBE_TIMEOUT_MS);
            return false;
        } catch (java.net.ConnectException | java.net.UnknownHostException | java.net.NoRouteToHostException e) {
            return true;
        } catch (IOException | RuntimeException e) {
            return false; // timed out: a host that drops packets, or a node too busy to accept
        }
    }

    private final Map<String, CompletableFuture<InetSocketAddress>> addresses =
            new java.util.concurrent.ConcurrentHashMap<>();

    /** Where the other nodes' AMQP listeners are, asked of each node itself and kept until a link to it fails. */
    public io.warren.amqp.link.LinkRelays.Directory directory() {
        return new io.warren.amqp.link.LinkRelays.Directory() {
            @Override public CompletableFuture<InetSocketAddress> amqpAddress(String node) {
                return addresses.computeIfAbsent(node, ClusterNode.this::askListener);
            }

            @Override public void forget(String node) {
                addresses.remove(node);
            }
        };
    }

    private CompletableFuture<InetSocketAddress> askListener(String node) {
        WarrenConfig.ClusterConfig.Peer peer = nodes().stream().filter(p -> p.name().equals(node)).findFirst()
                .orElse(null);
        if (peer == null) {
            return CompletableFuture.failedFuture(new IllegalArgumentException("no node '" + node + "' in the cluster"));
        }
        // Resolved here, off any event loop (a name lookup may block).
        CompletableFuture<InetSocketAddress> f = group.ask(memberId(node)).thenApplyAsync(bytes -> {
            String listener = new String(bytes, java.nio.charset.StandardCharsets.UTF_8);
            int newline = listener.indexOf('\n');
            if (newline >= 0) {
                listener = listener.substring(0, newline);
            }
            int colon = listener.lastIndexOf(':');
            if (colon < 0) {
                throw new IllegalStateException("node " + node + " has no AMQP listener running");
            }
            String host = colon == 0 ? peer.host() : listener.substring(0, colon);
            InetSocketAddress a = new InetSocketAddress(host, Integer.parseInt(listener.substring(colon + 1)));
            if (a.isUnresolved()) {
                throw new IllegalStateException("cannot resolve host " + host + " of node " + node);
            }
            return a;
        });
        // A failed answer is not kept: the next use asks again.
        f.whenComplete((a, e) -> {
            if (e != null) {
                addresses.remove(node, f);
            }
        });
        return f;
    }

    /** This node's quorum queues. */
    public QuorumQueues quorumQueues() {
        return quorumQueues;
    }

    public ReplicatedDefinitionStore definitions() {
        return definitions;
    }

    public String nodeName() {
        return config.nodeName();
    }

    public WarrenConfig.ClusterConfig config() {
        return config;
    }

    /** Every node of the cluster and whether it was up at the last probe (this node: true). */
    public Map<String, Boolean> running() {
        Map<String, Boolean> m = new LinkedHashMap<>();
        for (WarrenConfig.ClusterConfig.Peer p : members()) {
            m.put(p.name(), running.getOrDefault(p.name(), false));
        }
        return m;
    }

    /**
     * The cluster's nodes now, in node-list order: those of the node list that are members of the
     * metadata group's configuration as this node's log has it (forget_cluster_node removes a
     * node from it). The whole list while the configuration cannot be read.
     */
    public List<WarrenConfig.ClusterConfig.Peer> members() {
        java.util.Set<String> ids = group.memberIds();
        List<WarrenConfig.ClusterConfig.Peer> all = nodes();
        if (ids.isEmpty()) {
            return all;
        }
        return all.stream().filter(p -> ids.contains(memberId(p.name()))).toList();
    }

    /** Whether node {@code name} is one of the cluster's nodes now (see {@link #members}). */
    public boolean isMember(String name) {
        return members().stream().anyMatch(p -> p.name().equals(name));
    }

    /** A rebalance runs on this node (RabbitMQ takes a cluster-wide lock; warren one per node). */
    private final java.util.concurrent.atomic.AtomicBoolean rebalancing = new java.util.concurrent.atomic.AtomicBoolean();

    /**
     * rabbitmq-queues rebalance: moves the leaders of the quorum queues {@code which} accepts
     * over the running nodes ({@link QueueRebalance}), one Ratis leadership transfer at a time.
     * Blocks until done (a few hundred milliseconds a queue moved, at most about 7 s each); not
     * for an event loop.
     *
     * @throws ClusterRefusal 409 while another rebalance runs on this node
     */
    public List<QueueRebalance.NodeCount> rebalance(java.util.function.Predicate<MessageQueue> which)
            throws ClusterRefusal {
        if (!rebalancing.compareAndSet(false, true)) {
            throw new ClusterRefusal(409, "a queue rebalance is in progress on node " + nodeName() + ", please wait");
        }
        try {
            List<String> up = new ArrayList<>();
            running().forEach((n, r) -> {
                if (r || n.equals(nodeName())) {
                    up.add(n);
                }
            });
            List<QueueRebalance.Queue> queues = quorumQueues.placements().stream()
                    .filter(q -> which.test(q.queue())).toList();
            log.info("starting a rebalance of {} quorum queues' leaders over the running nodes {}", queues.size(), up);
            List<QueueRebalance.NodeCount> result = QueueRebalance.run(queues, up, (q, target) -> {
                boolean moved = quorumQueues.moveLeader(q.queue(), target);
                if (moved) {
                    log.info("quorum queue '{}' in vhost '{}': its leader moved from {} to {}", q.queue().name(),
                            q.queue().vhost(), q.leader(), target);
                } else {
                    log.warn("quorum queue '{}' in vhost '{}': its leader could not be moved from {} to {}",
                            q.queue().name(), q.queue().vhost(), q.leader(), target);
                }
                return moved;
            });
            log.info("finished the rebalance: {}", result);
            return result;
        } finally {
            rebalancing.set(false);
        }
    }

    /**
     * warrenctl forget_cluster_node (RabbitMQ's): removes node {@code name}, which must be stopped,
     * from the cluster: from the metadata group's configuration (a Raft configuration change, which
     * needs a majority of the nodes with it and without it up), so every node stops listing it;
     * then each quorum queue's leader removes its member there ({@link #shrinkQueueGroups}, which
     * this node's monitor and every other node's run every few seconds). Its classic queues keep
     * their definitions (their node is gone: a use of them gets 404 naming it). The forgotten node
     * must not come back with its data dir: the others no longer count it. Blocks (the change is
     * committed before this returns); not for an event loop.
     */
    public void forget(String name) throws ClusterRefusal {
        if (name.equals(config.nodeName())) {
            throw new ClusterRefusal(400, "node " + name + " cannot forget itself: run forget_cluster_node against "
                    + "another node of the cluster");
        }
        WarrenConfig.ClusterConfig.Peer peer = members().stream().filter(p -> p.name().equals(name)).findFirst()
                .orElse(null);
        if (peer == null) {
            throw new ClusterRefusal(404, "node " + name + " is not a node of this cluster (cluster_status lists them)");
        }
        if (probe(peer)) {
            running.put(name, true);
            throw new ClusterRefusal(409, "warren on node " + name + " must be stopped (bin/warren stop) before it "
                    + "can be removed");
        }
        try {
            group.removeMember(memberId(name));
        } catch (IOException | RuntimeException e) {
            throw new ClusterRefusal(503, "cannot remove node " + name + " from the cluster: " + e.getMessage());
        }
        running.remove(name);
        alarms.down(name);
        addresses.remove(name);
        downSince.remove(name);
        log.info("node {} was removed from the cluster", name);
        // its non-durable queues went with it (their messages were in its memory)
        for (long run : definitions.transientRunsOf(name)) {
            definitions.nodeDown(name, run);
        }
        shrinkQueueGroups();
    }

    /** Whether a round of {@link QuorumQueues#reconcile} is queued or running. */
    private final java.util.concurrent.atomic.AtomicBoolean reconciling = new java.util.concurrent.atomic.AtomicBoolean();

    /** Removals of forgotten members queued or running ("group \0 member"): each once at a time. */
    private final java.util.Set<String> shrinking = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /**
     * Each quorum queue group this node leads drops the members whose node is no longer in the
     * cluster (forgotten). The removals run on the membership executor; a failure is logged and
     * tried again at the next round. (A member an operator removed, delete_member, is taken out
     * by the node asked and by that member itself: QuorumQueues#deleteMember.)
     */
    void shrinkQueueGroups() {
        java.util.Set<String> cluster = group.memberIds();
        if (cluster.isEmpty() || !cluster.contains(memberId(config.nodeName())) || closed) {
            return; // the configuration cannot be read: nothing to compare with
        }
        String self = memberId(config.nodeName());
        for (io.warren.cluster.QueueGroup g : group.node().queueGroups().values()) {
            if (!self.equals(g.leaderId())) {
                continue;
            }
            for (String member : g.memberIds()) {
                String key = g.name() + "\0" + member;
                if (!cluster.contains(member) && shrinking.add(key)) {
                    try {
                        membership.execute(() -> {
                            try {
                                g.removeMember(member);
                                log.info("quorum queue group {}: member {} of a forgotten node removed", g.name(),
                                        member);
                            } catch (IOException | RuntimeException e) {
                                log.warn("quorum queue group {}: cannot remove member {} of a forgotten node yet: {}",
                                        g.name(), member, e.toString());
                            } finally {
                                shrinking.remove(key);
                            }
                        });
                    } catch (java.util.concurrent.RejectedExecutionException e) {
                        shrinking.remove(key);
                        return; // stopping
                    }
                }
            }
        }
    }

    /**
     * How long a node is down before the metadata leader removes its non-durable queues (their
     * messages were in its memory): RabbitMQ does at once when it sees a node down, after its
     * net_ticktime (60 s); a node paused or cut off for less keeps them.
     */
    static final long TRANSIENT_GRACE_MS = 30_000;
    /** Since when (nanoTime) each node has been found down, while it is. */
    private final Map<String, Long> downSince = new java.util.concurrent.ConcurrentHashMap<>();

    private void endTransientQueues(String down) {
        Long since = downSince.get(down);
        if (since == null || System.nanoTime() - since < java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(
                TRANSIENT_GRACE_MS) || !group.isLeader()) {
            return;
        }
        for (long run : definitions.transientRunsOf(down)) {
            log.info("node {} is down: its non-durable queues are removed", down);
            definitions.nodeDown(down, run).whenComplete((v, e) -> {
                if (e != null) {
                    log.warn("cannot remove the non-durable queues of node {}: {}", down, String.valueOf(e));
                }
            });
        }
    }

    /**
     * The metadata leader records the node list the cluster was formed with (its config's) once,
     * so that quorum queues place their members the same way on every node, those that join
     * later too (their configs list themselves only).
     */
    private void recordNodeList() {
        if (group.isLeader() && definitions.nodeList().isEmpty()) {
            definitions.recordNodeList(config.nodes().stream().map(ClusterNode::entry).toList());
        }
    }

    /** Whether this node's member leads the metadata group now. */
    public boolean metadataLeader() {
        return group.isLeader();
    }

    private void probeLoop() {
        while (!closed) {
            for (WarrenConfig.ClusterConfig.Peer p : members()) {
                if (p.name().equals(config.nodeName())) {
                    continue;
                }
                boolean up = probe(p);
                Boolean was = running.put(p.name(), up);
                if (was != null && was != up) {
                    log.info("node {} is {}", p.name(), up ? "up" : "down");
                }
                if (up) {
                    downSince.remove(p.name());
                    tellAlarms(p.name());
                } else {
                    downSince.putIfAbsent(p.name(), System.nanoTime());
                    alarms.down(p.name());
                    endTransientQueues(p.name());
                }
            }
            for (String alarmed : alarms.alarmed()) {
                if (!isMember(alarmed)) {
                    alarms.down(alarmed); // forgotten
                }
            }
            shrinkQueueGroups();
            if (reconciling.compareAndSet(false, true)) {
                try {
                    membership.execute(() -> {
                        try {
                            quorumQueues.reconcile();
                        } finally {
                            reconciling.set(false);
                        }
                    });
                } catch (java.util.concurrent.RejectedExecutionException e) {
                    reconciling.set(false);
                }
            }
            quorumQueues.refreshMembers();
            quorumQueues.refreshLeaders();
            recordNodeList();
            try {
                Thread.sleep(PROBE_EVERY_MS);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /**
     * Whether the node's inter-node port answers as a member of this cluster does: a TLS
     * handshake in which each side proves the cluster's secret, then the HTTP/2 SETTINGS frame
     * its gRPC server sends first. A process without the secret, or anything else on the port,
     * is not up.
     */
    private boolean probe(WarrenConfig.ClusterConfig.Peer p) {
        try (Socket raw = new Socket()) {
            raw.connect(new InetSocketAddress(p.host(), p.port()), PROBE_TIMEOUT_MS);
            raw.setSoTimeout(PROBE_TIMEOUT_MS);
            try (javax.net.ssl.SSLSocket s = (javax.net.ssl.SSLSocket) probeTls.getSocketFactory()
                    .createSocket(raw, p.host(), p.port(), false)) {
                javax.net.ssl.SSLParameters params = s.getSSLParameters();
                params.setApplicationProtocols(new String[] {"h2"});
                s.setSSLParameters(params);
                s.startHandshake();
                byte[] header = s.getInputStream().readNBytes(9);
                return header.length == 9 && header[3] == 4; // an HTTP/2 SETTINGS frame
            }
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    @Override public void close() {
        closed = true;
        monitor.interrupt();
        membership.shutdownNow();
        definitions.close();
        group.close();
    }
}
