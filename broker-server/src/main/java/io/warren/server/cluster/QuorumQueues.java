package io.warren.server.cluster;

import io.netty.buffer.Unpooled;
import io.warren.amqp.channel.MessageHeaders;
import io.warren.amqp.channel.MessagePriority;
import io.warren.cluster.Member;
import io.warren.cluster.QueueGroup;
import io.warren.core.message.Message;
import io.warren.core.queue.MessageQueue;
import io.warren.core.store.MessageStore;
import io.warren.core.store.StoreDurability;
import io.warren.server.WarrenConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * A cluster's quorum queues on this node: each is its own Raft group (members on distinct
 * nodes: the declaring node and the next ones in the node list, {@code x-quorum-initial-group-size}
 * of them, 3 by default), its messages in the group's log ({@link ReplicatedMessageStore}). The
 * member that leads the group holds the live queue: it delivers, takes acks (removes through the
 * log) and takes publishes of any node (puts through the log). The other members' queue objects
 * stand in for it ({@link MessageQueue#remoteHome}): publishes through them go into the log, and
 * consumers are sent to the leader's node. When the leader changes, the new leader's queue is
 * rebuilt from its copy of the log: every message not yet acked, marked redelivered.
 */
public final class QuorumQueues implements StoreDurability.QuorumStores {
    private static final Logger log = LoggerFactory.getLogger(QuorumQueues.class);
    /** How long a declare waits for its queue's first leader before it answers anyway. */
    static final long ELECTION_WAIT_MS = 10_000;

    /** Past this many quorum queues, balanced places a new queue's leader at random (RabbitMQ 3.10's 1,000 queues). */
    static final int BALANCED_COUNTING_UP_TO = 1000;

    private final ClusterNode node;
    private final Map<MessageQueue, QuorumMember> members = new ConcurrentHashMap<>();
    private final Set<CompletableFuture<Void>> elections = ConcurrentHashMap.newKeySet();

    public QuorumQueues(ClusterNode node) {
        this.node = node;
    }

    /**
     * The nodes of a queue's group: the declaring node, then the next ones in the node list the
     * cluster was formed with (a node that joined later and is not in it: then the list from its
     * first), without those forgotten since (forget_cluster_node).
     */
    List<WarrenConfig.ClusterConfig.Peer> membersOf(String declaring, Map<String, Object> arguments) {
        List<WarrenConfig.ClusterConfig.Peer> all = new ArrayList<>(node.placement());
        if (all.stream().noneMatch(p -> p.name().equals(declaring))) {
            // A node that joined later is not in the list: it goes first, then the list from its start.
            node.nodes().stream().filter(p -> p.name().equals(declaring)).findFirst().ifPresent(p -> all.add(0, p));
        }
        int size = all.size();
        Object n = arguments.get("x-quorum-initial-group-size");
        if (n instanceof Number num && num.intValue() > 0) {
            size = Math.min(size, num.intValue());
        } else {
            size = Math.min(size, 3);
        }
        int start = 0;
        for (int i = 0; i < all.size(); i++) {
            if (all.get(i).name().equals(declaring)) {
                start = i;
            }
        }
        List<WarrenConfig.ClusterConfig.Peer> l = new ArrayList<>();
        for (int i = 0; i < size; i++) {
            l.add(all.get((start + i) % all.size()));
        }
        // A forgotten node is no member: a queue's group shrinks by it (ClusterNode#shrinkQueueGroups).
        // The choice above is over the whole node list, so that every node computes the same
        // members for a queue whenever it was declared.
        l.removeIf(p -> !node.isMember(p.name()));
        return l;
    }

    @Override public boolean attach(String vhost, MessageQueue q, long id, String home, boolean declared) {
        String declaring = home == null ? node.nodeName() : home;
        List<WarrenConfig.ClusterConfig.Peer> peers = membersOf(declaring, q.arguments());
        String groupName = vhost.length() + ":" + vhost + "/" + q.name() + "/" + id;
        if (peers.stream().noneMatch(p -> p.name().equals(node.nodeName()))) {
            // This node holds no copy (a group smaller than the cluster, a node that joined
            // later): a stand-in whose leader its members tell, so that its use is relayed and
            // its publishes forwarded there as for a classic queue held elsewhere.
            q.clusterMembers(peers.stream().map(WarrenConfig.ClusterConfig.Peer::name).toList());
            NonMember nm = new NonMember(q, groupName, peers);
            nonMembers.put(q, nm);
            q.leaderLookup(() -> nm.leader);
            q.onHolderSuspect(nm::askSoon);
            node.executor().execute(nm::ask);
            return false;
        }
        List<Member> group = peers.stream().map(ClusterNode::member).toList();
        GroupLog groupLog = new GroupLog();
        ReplicatedMessageStore store = new ReplicatedMessageStore(groupLog, id, node.index(), MessagePriority::read);
        q.remoteHome(StoreDurability.ELECTING);
        q.clusterMembers(peers.stream().map(WarrenConfig.ClusterConfig.Peer::name).toList());
        store.liveWhen(() -> q.remoteHome() == null);
        q.attachStore(store, id);
        // Only a new queue's first leader is placed: a recovered one (this node restarted) stays
        // with the leader its group has, as in RabbitMQ (placing it again moved the lead back to
        // the restarted node, a failover at every restart)
        QuorumMember m = new QuorumMember(q, groupLog, store, declared ? peers : null);
        members.put(q, m);
        elections.add(m.elected);
        m.elected.whenComplete((v, e) -> elections.remove(m.elected));
        // Joining makes the group's storage and talks to Ratis: off the caller's thread (an event loop).
        node.executor().execute(() -> {
            try {
                QueueGroup g = node.joinQueueGroup(groupName, group);
                if (m.deleted) {
                    node.leaveQueueGroup(groupName); // deleted while this node was joining
                    return;
                }
                groupLog.joined(g);
                q.leaderLookup(() -> {
                    String leaderId = g.leaderId();
                    return leaderId == null ? null : node.nodeNameOfId(leaderId);
                });
                g.listen(m);
            } catch (IOException | RuntimeException e) {
                log.error("cannot start this node's member of quorum queue '{}' in vhost '{}'", q.name(), vhost, e);
                groupLog.failed(e);
                m.elected.complete(null);
            }
        });
        return true;
    }

    /**
     * Sets each quorum queue's listed members (list_queues members) to its group's configuration
     * as this member's log has it, in node-list order: a group that dropped a forgotten node's
     * member no longer lists that node. The node's monitor calls it every few seconds.
     */
    void refreshMembers() {
        List<WarrenConfig.ClusterConfig.Peer> all = node.nodes();
        for (QuorumMember m : members.values()) {
            QueueGroup g = m.group.group();
            if (g == null) {
                continue;
            }
            Set<String> ids = g.memberIds();
            if (ids.isEmpty()) {
                continue;
            }
            List<String> names = all.stream().map(WarrenConfig.ClusterConfig.Peer::name)
                    .filter(n -> ids.contains(ClusterNode.memberId(n))).toList();
            if (!names.equals(m.queue.clusterMembers())) {
                m.queue.clusterMembers(names);
            }
        }
    }

    /**
     * stop_app: the queues are closed and the next start_app makes new ones (each attached
     * again: a member's group is joined once and listens to its newest queue).
     */
    public void applicationStopped() {
        for (QuorumMember m : members.values()) {
            m.elected.complete(null);
        }
        members.clear();
        elections.clear();
    }

    @Override public void detach(String vhost, MessageQueue q) {
        nonMembers.remove(q);
        QuorumMember m = members.remove(q);
        if (m == null) {
            return;
        }
        m.deleted = true;
        m.store.close();
        m.elected.complete(null);
        node.executor().execute(() -> {
            QueueGroup g = m.group.group();
            if (g == null) {
                return;
            }
            try {
                node.leaveQueueGroup(g.name());
            } catch (IOException | RuntimeException e) {
                log.warn("cannot remove this node's copy of quorum queue '{}' in vhost '{}'", q.name(), vhost, e);
            }
        });
    }

    @Override public void whenElected(Runnable done) {
        List<CompletableFuture<Void>> waiting = new ArrayList<>(elections);
        if (waiting.isEmpty()) {
            done.run();
            return;
        }
        watchElections();
        CompletableFuture.allOf(waiting.toArray(CompletableFuture[]::new))
                .completeOnTimeout(null, ELECTION_WAIT_MS, TimeUnit.MILLISECONDS)
                .whenComplete((v, e) -> done.run());
    }

    private static final java.util.concurrent.ScheduledExecutorService WATCH =
            java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "warren-quorum-elections");
                t.setDaemon(true);
                return t;
            });
    private final java.util.concurrent.atomic.AtomicBoolean watching = new java.util.concurrent.atomic.AtomicBoolean();
    /**
     * Where new queues' first leaders are moved (a Ratis leadership transfer blocks for up to a few
     * seconds): a thread of its own, so that group joins and leaves never wait behind one.
     */
    private static final java.util.concurrent.ExecutorService PLACEMENT =
            java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "warren-quorum-placement");
                t.setDaemon(true);
                return t;
            });

    /**
     * A member that does not lead hears of no leader from its group (Ratis tells a member when
     * it stops leading, not who leads): every 50 ms, while a declare waits, each waiting queue
     * whose group knows another member as its leader counts as elected. A leader here counts
     * once it has rebuilt its queue ({@code leaderReady}).
     */
    private void watchElections() {
        if (!watching.compareAndSet(false, true)) {
            return;
        }
        WATCH.schedule(this::checkElections, 50, TimeUnit.MILLISECONDS);
    }

    private void checkElections() {
        for (QuorumMember m : members.values()) {
            QueueGroup g = m.group.group();
            if (!m.elected.isDone() && g != null && g.leaderId() != null && !g.isLeader()) {
                m.elected(node.nodeNameOfId(g.leaderId()));
            }
        }
        watching.set(false);
        if (!elections.isEmpty()) {
            watchElections();
        }
    }

    /**
     * A queue's group as its message store sees it. Until this node's member has joined, puts
     * and removes wait in order, and are sent in that order once it has.
     */
    private static final class GroupLog implements ReplicatedMessageStore.Log {
        private QueueGroup group;
        private Throwable failure;
        private final List<Runnable> waiting = new ArrayList<>();

        synchronized QueueGroup group() {
            return group;
        }

        @Override public QueueGroup.RaftStats raftStats() {
            QueueGroup g = group();
            return g == null ? null : g.raftStats();
        }

        void joined(QueueGroup g) {
            List<Runnable> run;
            synchronized (this) {
                group = g;
                run = new ArrayList<>(waiting);
                waiting.clear();
            }
            run.forEach(Runnable::run);
            g.flush();
        }

        void failed(Throwable e) {
            List<Runnable> run;
            synchronized (this) {
                failure = e;
                run = new ArrayList<>(waiting);
                waiting.clear();
            }
            run.forEach(Runnable::run);
        }

        private <T> CompletableFuture<T> when(java.util.function.Function<QueueGroup, CompletableFuture<T>> op) {
            synchronized (this) {
                if (group == null && failure == null) {
                    CompletableFuture<T> f = new CompletableFuture<>();
                    waiting.add(() -> {
                        if (failure != null) {
                            f.completeExceptionally(failure);
                        } else {
                            op.apply(group).whenComplete((v, e) -> {
                                if (e != null) {
                                    f.completeExceptionally(e);
                                } else {
                                    f.complete(v);
                                }
                            });
                        }
                    });
                    return f;
                }
            }
            return failure != null ? CompletableFuture.failedFuture(failure) : op.apply(group);
        }

        @Override public CompletableFuture<?> put(long key, byte[] value) {
            return when(g -> g.putLater(key, value));
        }

        @Override public CompletableFuture<?> remove(long[] keys) {
            return when(g -> g.removeLater(keys));
        }

        @Override public void flush() {
            QueueGroup g = group();
            if (g != null) {
                g.flush();
            }
        }

        @Override public List<Map.Entry<Long, byte[]>> entries() {
            QueueGroup g = group();
            return g == null ? List.of() : g.entries();
        }

        @Override public byte[] get(long key) {
            QueueGroup g = group();
            return g == null ? null : g.get(key);
        }

        @Override public boolean onDisk(long key) {
            QueueGroup g = group();
            return g != null && g.onDisk(key);
        }
    }

    /** The quorum queues this node holds no copy of, with what their members last said of their leader. */
    private final Map<MessageQueue, NonMember> nonMembers = new ConcurrentHashMap<>();

    /** A quorum queue of which this node is no member: its leader, as its members tell. */
    private final class NonMember {
        final MessageQueue queue;
        final String groupName;
        final List<WarrenConfig.ClusterConfig.Peer> peers;
        /** The leader's node as last told; null: not known (an election, no member answered). */
        volatile String leader;

        NonMember(MessageQueue queue, String groupName, List<WarrenConfig.ClusterConfig.Peer> peers) {
            this.queue = queue;
            this.groupName = groupName;
            this.peers = peers;
        }

        /** Asks the members in turn which node leads the queue (blocks for at most a request timeout each). */
        void ask() {
            for (WarrenConfig.ClusterConfig.Peer p : peers) {
                if (!node.running().getOrDefault(p.name(), false)) {
                    continue;
                }
                try {
                    String told = node.askLeader(p.name(), groupName).get(5, TimeUnit.SECONDS);
                    if (!told.isEmpty()) {
                        if (!told.equals(leader)) {
                            log.debug("quorum queue '{}' in vhost '{}' is led by {}", queue.name(), queue.vhost(), told);
                        }
                        leader = told;
                        return;
                    }
                } catch (Exception e) {
                    // the next member
                }
            }
            leader = null;
        }

        /** Whether an {@link #askSoon} is under way. */
        private final java.util.concurrent.atomic.AtomicBoolean asking = new java.util.concurrent.atomic.AtomicBoolean();

        /**
         * A relayed use failed, or no leader is known: asks the members again now, without
         * blocking (one round at a time), so that after an election this node follows the new
         * leader within a round trip, not at the next refresh ({@link ClusterNode#PROBE_EVERY_MS}).
         */
        void askSoon() {
            if (asking.compareAndSet(false, true)) {
                askFrom(0);
            }
        }

        private void askFrom(int from) {
            int i = from;
            while (i < peers.size() && !node.running().getOrDefault(peers.get(i).name(), false)) {
                i++;
            }
            if (i == peers.size()) {
                leader = null;
                asking.set(false);
                return;
            }
            int next = i + 1;
            CompletableFuture<String> asked;
            try {
                asked = node.askLeader(peers.get(i).name(), groupName);
            } catch (RuntimeException e) {
                asked = CompletableFuture.failedFuture(e);
            }
            asked.orTimeout(5, TimeUnit.SECONDS).whenComplete((told, e) -> {
                if (e == null && !told.isEmpty()) {
                    leader = told;
                    asking.set(false);
                } else {
                    askFrom(next);
                }
            });
        }
    }

    /** The node that leads queue group {@code groupName} as this member knows it; "" when none is known or this node is no member. */
    String leaderOf(String groupName) {
        for (QuorumMember m : members.values()) {
            QueueGroup g = m.group.group();
            if (g != null && g.name().equals(groupName)) {
                String id = g.leaderId();
                return id == null ? "" : node.nodeNameOfId(id);
            }
        }
        return "";
    }

    /** How many quorum queues each node leads, as this node knows (its groups' leaders, the others' as last told), but {@code except}. */
    private Map<String, Integer> leadersByNode(QuorumMember except) {
        Map<String, Integer> counts = new java.util.HashMap<>();
        for (QuorumMember m : members.values()) {
            QueueGroup g = m.group.group();
            String id = m == except || g == null ? null : g.leaderId();
            if (id != null) {
                counts.merge(node.nodeNameOfId(id), 1, Integer::sum);
            }
        }
        for (NonMember nm : nonMembers.values()) {
            String leader = nm.leader;
            if (leader != null) {
                counts.merge(leader, 1, Integer::sum);
            }
        }
        return counts;
    }

    /**
     * Every quorum queue this node knows, for a rebalance: its leader's node as this node knows
     * it (null while none is known), its members' nodes in member order, and its messages as this
     * node's copy has them (0 where it holds none).
     */
    public List<QueueRebalance.Queue> placements() {
        List<QueueRebalance.Queue> out = new ArrayList<>();
        for (QuorumMember m : members.values()) {
            QueueGroup g = m.group.group();
            String id = g == null ? null : g.leaderId();
            out.add(new QueueRebalance.Queue(m.queue, id == null ? null : node.nodeNameOfId(id),
                    m.queue.clusterMembers(), g == null ? 0 : g.size()));
        }
        for (NonMember nm : nonMembers.values()) {
            out.add(new QueueRebalance.Queue(nm.queue, nm.leader,
                    nm.peers.stream().map(WarrenConfig.ClusterConfig.Peer::name).toList(), 0));
        }
        return out;
    }

    /**
     * Has node {@code target}, a member of quorum queue {@code q}, take the queue's lead (a Ratis
     * leadership transfer), through this node's member or, where it has none, through the
     * members: true once the target leads and this node names it as the leader (within 2 s
     * more), false when the transfer was refused or did not finish within 5 s. Blocks; not for
     * an event loop.
     */
    public boolean moveLeader(MessageQueue q, String target) {
        java.time.Duration timeout = java.time.Duration.ofMillis(ELECTION_WAIT_MS / 2);
        String targetId = ClusterNode.memberId(target);
        QuorumMember m = members.get(q);
        if (m != null) {
            QueueGroup g = m.group.group();
            if (g == null || !g.transferLeadership(targetId, timeout)) {
                return false;
            }
            // so that listings made after the rebalance show where the queue went
            awaitNamedLeader(g, targetId);
            return true;
        }
        NonMember nm = nonMembers.get(q);
        if (nm == null || !node.transferLeadership(nm.groupName,
                nm.peers.stream().map(ClusterNode::member).toList(), targetId, timeout)) {
            return false;
        }
        nm.leader = target;
        return true;
    }

    /**
     * What this member names as its group's leader follows a transfer at the new leader's first
     * append: waits for it to name {@code leaderId}, 2 s at most. Blocks.
     */
    private static void awaitNamedLeader(QueueGroup g, String leaderId) {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        while (!leaderId.equals(g.leaderId()) && System.nanoTime() - end < 0) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /**
     * RabbitMQ's list_with_minimum_quorum (check_if_node_is_quorum_critical): the quorum queues
     * with a member on this node that would lose their quorum were this node stopped, those with
     * no more members online than a majority of their members (a queue of one member always),
     * by vhost and name. A member is online when its node runs as this node's probes last saw it
     * (this node's own once it has joined its group); RabbitMQ asks each running node for its
     * member's Raft state instead.
     */
    public List<MessageQueue> withMinimumQuorum() {
        Map<String, Boolean> running = node.running();
        List<MessageQueue> out = new ArrayList<>();
        for (QuorumMember m : members.values()) {
            List<String> names = m.queue.clusterMembers();
            if (m.deleted || names == null || names.isEmpty()) {
                continue;
            }
            int online = 0;
            for (String n : names) {
                if (n.equals(node.nodeName()) ? m.group.group() != null : running.getOrDefault(n, false)) {
                    online++;
                }
            }
            if (online <= names.size() / 2 + 1) {
                out.add(m.queue);
            }
        }
        out.sort(java.util.Comparator.comparing(MessageQueue::vhost).thenComparing(MessageQueue::name));
        return out;
    }

    /** Asks again who leads each quorum queue this node is no member of (the node's monitor, every few seconds). */
    void refreshLeaders() {
        nonMembers.values().forEach(NonMember::ask);
    }

    /**
     * This node's member of one queue's group, told of the log's entries and of leadership on
     * the group's apply thread; the queue's own work runs on its loop.
     */
    private final class QuorumMember implements QueueGroup.Listener {
        final MessageQueue queue;
        final GroupLog group;
        final ReplicatedMessageStore store;
        final CompletableFuture<Void> elected = new CompletableFuture<>();
        /** The queue was deleted (not merely closed by stop_app): this node's copy goes. */
        volatile boolean deleted;
        /** Whether the queue here is live (this member leads and has rebuilt it). Apply thread; read anywhere. */
        private volatile boolean leading;
        /**
         * The queue's members when it was declared through this node just now, in member order
         * (this node first): its first leader is placed as its leader locator says once the group
         * has elected one ({@link #elected(String)}). Null otherwise (recovered, or declared
         * through another node, which places it).
         */
        private final List<WarrenConfig.ClusterConfig.Peer> placing;
        private final java.util.concurrent.atomic.AtomicBoolean placementStarted =
                new java.util.concurrent.atomic.AtomicBoolean();
        /** The placement is over (the lead is where it should be, or could not be moved there). */
        private volatile boolean placed;

        QuorumMember(MessageQueue queue, GroupLog group, ReplicatedMessageStore store,
                     List<WarrenConfig.ClusterConfig.Peer> placing) {
            this.queue = queue;
            this.group = group;
            this.store = store;
            this.placing = placing;
            this.placed = placing == null;
        }

        /**
         * The group has a leader, on node {@code leader} (any thread): a declare through this node
         * may answer now, unless the first leader is still to be placed. Then the node the
         * queue's leader locator names ({@link #target}) takes the lead if another has it, and the
         * declare answers once it leads (this node: once it has taken the queue over), or once
         * the transfer failed (the queue stays with the leader Ratis elected).
         */
        void elected(String leader) {
            if (placed) {
                if (!node.nodeName().equals(leader) || leading) {
                    elected.complete(null);
                }
                return;
            }
            if (!placementStarted.compareAndSet(false, true)) {
                return;
            }
            // The target is chosen on the queue's loop, where the policy applied at the declare is seen.
            run(() -> {
                String target = target();
                PLACEMENT.execute(() -> place(target));
            }, () -> elected.complete(null));
        }

        /** Hands the lead to {@code target} if another member has it; blocks (the placement thread). */
        private void place(String target) {
            QueueGroup g = group.group();
            String now = g == null || g.leaderId() == null ? null : node.nodeNameOfId(g.leaderId());
            boolean moved = target.equals(now) || g != null && g.transferLeadership(ClusterNode.memberId(target),
                    java.time.Duration.ofMillis(ELECTION_WAIT_MS / 2));
            if (!moved) {
                log.info("quorum queue '{}' in vhost '{}': could not move its first leader to {} (its queue leader "
                        + "locator's choice); {} leads it", queue.name(), queue.vhost(), target, now);
            }
            if (moved && !target.equals(node.nodeName())) {
                // so that this node's listings name it once the declare answered
                awaitNamedLeader(g, ClusterNode.memberId(target));
            }
            placed = true;
            if (!moved || !target.equals(node.nodeName()) || leading) {
                elected.complete(null);
            } // else: this node's leaderReady completes it once the queue is taken over
        }

        /**
         * The node that should first lead the queue (RabbitMQ's queue leader locators): this node
         * for client-local (the default); for balanced, of the queue's members that run the one
         * that leads the fewest quorum queues this node knows of (ties: member order, this node
         * first), or a random one once there are 1,000 quorum queues or more.
         */
        private String target() {
            String locator = io.warren.core.vhost.QueueArguments.leaderLocator(queue.policyDefinition(),
                    queue.arguments(), node.config().leaderLocator());
            if (locator.equals("client-local")) {
                return node.nodeName();
            }
            // of the members that run (a node that is down could not take the lead)
            List<String> up = new ArrayList<>();
            for (WarrenConfig.ClusterConfig.Peer p : placing) {
                if (p.name().equals(node.nodeName()) || node.running().getOrDefault(p.name(), false)) {
                    up.add(p.name());
                }
            }
            if (members.size() + nonMembers.size() >= BALANCED_COUNTING_UP_TO) {
                return up.get(java.util.concurrent.ThreadLocalRandom.current().nextInt(up.size()));
            }
            Map<String, Integer> leaders = leadersByNode(this);
            String best = up.get(0);
            for (String n : up) {
                if (leaders.getOrDefault(n, 0) < leaders.getOrDefault(best, 0)) {
                    best = n;
                }
            }
            return best;
        }

        @Override public void applied(long index, long key, byte[] value, boolean local) {
            if (!leading || value == null || ReplicatedMessageStore.isCount(key) || store.enqueuedHere(key)) {
                return;
            }
            // A publish through another node (or through this one before it led): enqueue it now.
            ReplicatedMessageStore.Decoded d = ReplicatedMessageStore.decode(value);
            Message m = new Message(d.exchange(), d.routingKey(), Unpooled.wrappedBuffer(d.properties()),
                    Unpooled.wrappedBuffer(d.body()), true, MessageHeaders.READER);
            m.ttl(d.ttl());
            m.priority(MessagePriority.read(m.properties()));
            run(() -> queue.enqueue(m, key), m::release);
        }

        /**
         * Runs {@code task} on the queue's loop; once the application stopped (stop_app, or the
         * node stopping: the loops are gone before the Raft groups close) there is no queue to
         * tell, and {@code otherwise} releases what the task held.
         */
        private void run(Runnable task, Runnable otherwise) {
            try {
                queue.execute(task);
            } catch (java.util.concurrent.RejectedExecutionException e) {
                otherwise.run();
            }
        }

        @Override public void restored(long index) {
            // The leader sent this member a snapshot: as a follower there is nothing to rebuild.
        }

        @Override public void leaderReady() {
            leading = true;
            List<MessageStore.StoredMessage> unsettled = new ArrayList<>();
            store.recover((id, sm) -> unsettled.add(sm));
            log.info("this node leads quorum queue '{}' in vhost '{}' now: {} messages", queue.name(), queue.vhost(),
                    unsettled.size());
            run(() -> {
                queue.promote(unsettled);
                elected(node.nodeName());
            }, () -> { });
        }

        @Override public void leaderLost(String newLeaderId) {
            boolean was = leading;
            leading = false;
            store.leading(false);
            String leader = newLeaderId == null ? null : node.nodeNameOfId(newLeaderId);
            if (was) {
                log.info("quorum queue '{}' in vhost '{}': this node no longer leads it (now: {})", queue.name(),
                        queue.vhost(), leader == null ? "electing" : leader);
            }
            run(() -> {
                queue.demote(leader);
                if (leader != null) {
                    elected(leader);
                }
            }, () -> { });
        }
    }
}
