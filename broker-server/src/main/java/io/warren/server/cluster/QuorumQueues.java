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
     * The nodes of queue {@code id}'s group: as an operator last set them (add_member and friends,
     * recorded in the metadata log), else the declaring node, then the next ones in the node list
     * the cluster was formed with (a node that joined later and is not in it: then the list from
     * its first); without those forgotten since (forget_cluster_node).
     */
    List<WarrenConfig.ClusterConfig.Peer> membersOf(String declaring, Map<String, Object> arguments, long id) {
        List<String> recorded = node.definitions().queueMembers(id);
        if (recorded != null) {
            // in node-list order, as members' listings show their group's configuration (refreshMembers)
            List<WarrenConfig.ClusterConfig.Peer> l = new ArrayList<>(node.nodes());
            l.removeIf(p -> !recorded.contains(p.name()) || !node.isMember(p.name()));
            return l;
        }
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
        List<WarrenConfig.ClusterConfig.Peer> peers = membersOf(declaring, q.arguments(), id);
        String groupName = vhost.length() + ":" + vhost + "/" + q.name() + "/" + id;
        if (!hasSelf(peers)) {
            // This node holds no copy (a group smaller than the cluster, a node that joined
            // later): a stand-in whose leader its members tell, so that its use is relayed and
            // its publishes forwarded there as for a classic queue held elsewhere.
            standIn(q, id, declaring, groupName, peers, null);
            return false;
        }
        GroupLog groupLog = new GroupLog();
        ReplicatedMessageStore store = new ReplicatedMessageStore(groupLog, id, node.index(), MessagePriority::read);
        q.remoteHome(StoreDurability.ELECTING);
        q.clusterMembers(names(peers));
        store.liveWhen(() -> q.remoteHome() == null);
        q.attachStore(store, id);
        // Only a new queue's first leader is placed: a recovered one (this node restarted) stays
        // with the leader its group has, as in RabbitMQ (placing it again moved the lead back to
        // the restarted node, a failover at every restart)
        QuorumMember m = new QuorumMember(q, groupLog, store, declared ? peers : null, id, declaring, groupName);
        // a member an operator added, recovered: its join may not have reached the group's configuration
        m.addPending = node.definitions().queueMembers(id) != null;
        members.put(q, m);
        elections.add(m.elected);
        m.elected.whenComplete((v, e) -> elections.remove(m.elected));
        // Joining makes the group's storage and talks to Ratis: off the caller's thread (an event loop).
        node.executor().execute(() -> join(m, peers));
        return true;
    }

    private boolean hasSelf(List<WarrenConfig.ClusterConfig.Peer> peers) {
        return peers.stream().anyMatch(p -> p.name().equals(node.nodeName()));
    }

    private static List<String> names(List<WarrenConfig.ClusterConfig.Peer> peers) {
        return peers.stream().map(WarrenConfig.ClusterConfig.Peer::name).toList();
    }

    /** Makes {@code q} a stand-in for a quorum queue this node holds no copy of, {@code leader} its leader as last known. */
    private void standIn(MessageQueue q, long id, String declaring, String groupName,
                         List<WarrenConfig.ClusterConfig.Peer> peers, String leader) {
        q.clusterMembers(names(peers));
        NonMember nm = new NonMember(q, id, declaring, groupName, peers);
        nm.leader = leader;
        nonMembers.put(q, nm);
        q.leaderLookup(() -> nm.leader);
        q.onHolderSuspect(nm::askSoon);
        node.executor().execute(nm::ask);
    }

    /**
     * Starts this node's member of {@code m}'s group over {@code peers}, and when an operator
     * added it ({@link QuorumMember#addPending}), has the group take it into its configuration.
     * The membership executor.
     */
    private void join(QuorumMember m, List<WarrenConfig.ClusterConfig.Peer> peers) {
        MessageQueue q = m.queue;
        try {
            // a member an operator added waits for the leader to take it in (see RaftNode#joinQueueGroup)
            QueueGroup g = node.joinQueueGroup(m.groupName, peers.stream().map(ClusterNode::member).toList(),
                    m.addPending);
            if (m.deleted) {
                node.leaveQueueGroup(m.groupName); // deleted while this node was joining
                return;
            }
            m.group.joined(g);
            q.leaderLookup(() -> {
                String leaderId = g.leaderId();
                return leaderId == null ? null : node.nodeNameOfId(leaderId);
            });
            g.listen(m);
        } catch (IOException | RuntimeException e) {
            log.error("cannot start this node's member of quorum queue '{}' in vhost '{}'", q.name(), q.vhost(), e);
            m.group.failed(e);
            m.elected.complete(null);
            return;
        }
        addSelf(m);
    }

    /**
     * Has the group of {@code m} (a member an operator added here) take this node into its
     * configuration, if it has not yet: the leader catches the new member up, then commits the
     * configuration of the recorded members. Tried again at the monitor's next round on failure.
     * Blocks (the membership executor).
     */
    private void addSelf(QuorumMember m) {
        QueueGroup g = m.group.group();
        if (!m.addPending || g == null || m.deleted || m.leaving) {
            return;
        }
        List<WarrenConfig.ClusterConfig.Peer> peers = membersOf(m.declaring, m.queue.arguments(), m.id);
        if (!hasSelf(peers)) {
            return;
        }
        try {
            g.addSelf(peers.stream().map(ClusterNode::member).toList());
            m.addPending = false;
            log.info("quorum queue '{}' in vhost '{}': this node's member is in its group's configuration {}",
                    m.queue.name(), m.queue.vhost(), names(peers));
        } catch (IOException | RuntimeException e) {
            log.warn("quorum queue '{}' in vhost '{}': its group did not take this node's member yet: {}",
                    m.queue.name(), m.queue.vhost(), e.toString());
        }
    }

    /**
     * The recorded members of quorum queue {@code id} changed (add_member, delete_member, grow,
     * shrink on any node): a node added gets a copy (a member of the group, caught up by its
     * leader); a node removed leaves once the group's configuration no longer has it
     * ({@link #reconcile}); the others list the new members. Changes are made on the group's
     * configuration as its leader has it (an add in Ratis' ADD mode, a removal compare-and-set),
     * so a node whose copy of the metadata log lags never drops another member. The membership
     * executor.
     */
    void membersChanged(long id) {
        for (QuorumMember m : members.values()) {
            if (m.id == id && !m.deleted) {
                List<WarrenConfig.ClusterConfig.Peer> peers = membersOf(m.declaring, m.queue.arguments(), id);
                if (!hasSelf(peers)) {
                    if (!m.leaving) {
                        log.info("quorum queue '{}' in vhost '{}': this node is no longer to be a member ({}); it "
                                + "leaves once the group has removed it", m.queue.name(), m.queue.vhost(), names(peers));
                    }
                    m.leaving = true;
                } else if (m.leaving) {
                    // added back before it left: it may have been removed from the configuration already
                    m.leaving = false;
                    m.addPending = true;
                    addSelf(m);
                }
                return;
            }
        }
        for (NonMember nm : nonMembers.values()) {
            if (nm.id != id) {
                continue;
            }
            MessageQueue q = nm.queue;
            List<WarrenConfig.ClusterConfig.Peer> peers = membersOf(nm.declaring, q.arguments(), id);
            if (!hasSelf(peers)) {
                standIn(q, id, nm.declaring, nm.groupName, peers, nm.leader);
                return;
            }
            // This node gets a copy: its member joins the group, and publishes through this node
            // go into its log from now on (until it has joined they wait in order).
            log.info("quorum queue '{}' in vhost '{}': this node becomes a member ({})", q.name(), q.vhost(),
                    names(peers));
            GroupLog groupLog = new GroupLog();
            ReplicatedMessageStore store = new ReplicatedMessageStore(groupLog, id, node.index(), MessagePriority::read);
            store.liveWhen(() -> q.remoteHome() == null);
            QuorumMember m = new QuorumMember(q, groupLog, store, null, id, nm.declaring, nm.groupName);
            m.addPending = true;
            m.elected.complete(null);
            nonMembers.remove(q, nm);
            members.put(q, m);
            q.clusterMembers(names(peers));
            try {
                q.execute(() -> q.replaceStore(store, id));
            } catch (java.util.concurrent.RejectedExecutionException e) {
                return; // stopping
            }
            join(m, peers);
            return;
        }
    }

    /**
     * What this node's member of group {@code groupName} knows of its configuration, for another
     * node's question: "1" when it leads the group (else "0"), a newline, then the member ids of
     * the newest configuration in its log, comma-separated; "" when it holds no member.
     */
    String configurationOf(String groupName) {
        // every group this node hosts, a queue's or not yet (a start, stop_app) or no longer
        // (left over: leaveLeftOvers): "" says that this node has no copy of it at all
        QueueGroup g = node.queueGroups().get(groupName);
        if (g != null) {
            return (g.isLeader() ? "1" : "0") + "\n" + String.join(",", g.memberIds());
        }
        return "";
    }

    /**
     * The monitor's round for operator-set members: a member still to be taken into its group's
     * configuration asks again; a member to leave hands on the lead if it has it (the next
     * leader removes it from the configuration), or leaves once the leader's configuration no
     * longer has it (its copy is deleted and the queue here becomes a stand-in). Blocks (the
     * membership executor).
     */
    void reconcile() {
        for (QuorumMember m : members.values()) {
            if (m.deleted) {
                continue;
            }
            if (m.addPending) {
                addSelf(m);
            }
            QueueGroup g = m.group.group();
            if (!m.leaving || g == null) {
                continue;
            }
            List<WarrenConfig.ClusterConfig.Peer> peers = membersOf(m.declaring, m.queue.arguments(), m.id);
            if (peers.isEmpty()) {
                continue;
            }
            if (removed(m, peers)) {
                continue;
            }
            if (g.isLeader()) {
                for (WarrenConfig.ClusterConfig.Peer p : peers) {
                    if (node.running().getOrDefault(p.name(), false)
                            && g.transferLeadership(ClusterNode.memberId(p.name()), java.time.Duration.ofMillis(
                                    ELECTION_WAIT_MS / 2))) {
                        log.info("quorum queue '{}' in vhost '{}': its lead moved to {}, as this node leaves its "
                                + "members", m.queue.name(), m.queue.vhost(), p.name());
                        break;
                    }
                }
            } else {
                // the node the delete went through takes the member out; this is for when it could not
                try {
                    node.removeFromQueueGroup(m.groupName, withSelf(peers), ClusterNode.memberId(node.nodeName()));
                } catch (IOException | RuntimeException e) {
                    log.warn("quorum queue '{}' in vhost '{}': cannot take this node's member out of its group yet: {}",
                            m.queue.name(), m.queue.vhost(), e.toString());
                }
            }
        }
        leaveLeftOvers();
    }

    /**
     * Deletes the copies this node holds that are no longer any queue's member: the queue was
     * deleted while this node was down or its broker stopped (stop_app), or this node's member
     * was removed (delete_member, shrink) then (the group runs without it). Only once this run's
     * start is applied here (the metadata log is replayed to past every change made while the
     * node was down), and only copies no queue of this node is attached to. A copy whose queue
     * is no longer in the metadata goes on that word alone: a group's copies are made only for a
     * queue the metadata has (when its record is applied) or, on the node that declares it, for
     * a queue attached before its record is sent, so an unattached copy with no queue is one of a
     * deleted queue (or of a declaration that never reached the log, whose node went down before
     * it did) — even when every member was down or stopped when it was deleted. A copy whose queue
     * is kept but has a stand-in here (this node is no member) needs the group's word: a member
     * that leads answers with a configuration without this node. Blocks (the membership executor;
     * a request timeout per member asked at most).
     */
    private void leaveLeftOvers() {
        if (!node.definitions().started().isDone()) {
            return;
        }
        Set<String> attached = new java.util.HashSet<>();
        members.values().forEach(m -> attached.add(m.groupName));
        Set<String> standIns = new java.util.HashSet<>();
        nonMembers.values().forEach(nm -> standIns.add(nm.groupName));
        String self = ClusterNode.memberId(node.nodeName());
        for (Map.Entry<String, QueueGroup> e : node.queueGroups().entrySet()) {
            String name = e.getKey();
            QueueGroup g = e.getValue();
            long id = idOf(name);
            boolean queueKept = node.definitions().hasQueue(id);
            if (g.name() == null || id == 0 || attached.contains(name) || queueKept && !standIns.contains(name)) {
                continue; // a member here, one not attached yet or while stop_app, or a name unknown
            }
            boolean removed = false; // a leader's configuration lacks this node
            if (queueKept) {
                Set<String> others = new java.util.HashSet<>(g.memberIds());
                others.remove(self);
                for (String other : others) {
                    String otherNode = node.nodeNameOfId(other);
                    if (!node.running().getOrDefault(otherNode, false)) {
                        continue;
                    }
                    String conf;
                    try {
                        conf = node.askConfiguration(otherNode, name).get(5, TimeUnit.SECONDS);
                    } catch (Exception ex) {
                        continue;
                    }
                    if (conf.startsWith("1\n") && !List.of(conf.substring(2).split(",")).contains(self)) {
                        removed = true;
                        break;
                    }
                }
                if (!removed) {
                    continue; // a queue that is kept needs its leader's word: this node's member is out
                }
            }
            try {
                node.leaveQueueGroup(name);
                log.info("quorum queue group {}: this node's copy, left over ({} while the node was down or "
                        + "stopped), is deleted", name, removed ? "its member removed" : "its queue deleted");
            } catch (IOException | RuntimeException ex) {
                log.warn("cannot delete this node's left-over copy of quorum queue group {}: {}", name, ex.toString());
            }
        }
    }

    /** The queue id at the end of a queue group's name ("LEN:VHOST/NAME/ID"), or 0. */
    static long idOf(String groupName) {
        int slash = groupName.lastIndexOf('/');
        try {
            return slash < 0 ? 0 : Long.parseLong(groupName.substring(slash + 1));
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    /** The members of {@code peers} plus this node's, where a group with or without it is reached. */
    private List<Member> withSelf(List<WarrenConfig.ClusterConfig.Peer> peers) {
        List<Member> l = new ArrayList<>(peers.stream().map(ClusterNode::member).toList());
        node.nodes().stream().filter(p -> p.name().equals(node.nodeName())).findFirst()
                .map(ClusterNode::member).filter(x -> !l.contains(x)).ifPresent(l::add);
        return l;
    }

    /**
     * Whether the leader of {@code m}'s group, found by asking the queue's members to be
     * ({@code peers}), has removed this node's member from its configuration: then this node's
     * member leaves ({@link #leave}). Asked of the others, not of this member's own view: a
     * member removed may never hear of it (the leader stops sending to it), and one that led
     * may still take itself for the leader. Blocks (a request timeout per member at most).
     */
    private boolean removed(QuorumMember m, List<WarrenConfig.ClusterConfig.Peer> peers) {
        String self = ClusterNode.memberId(node.nodeName());
        for (WarrenConfig.ClusterConfig.Peer p : peers) {
            if (p.name().equals(node.nodeName()) || !node.running().getOrDefault(p.name(), false)) {
                continue;
            }
            String conf;
            try {
                conf = node.askConfiguration(p.name(), m.groupName).get(5, TimeUnit.SECONDS);
            } catch (Exception e) {
                continue;
            }
            if (conf.startsWith("1\n")) {
                if (List.of(conf.substring(2).split(",")).contains(self)) {
                    return false; // the leader has not removed this member yet
                }
                leave(m, peers, p.name());
                return true;
            }
        }
        return false;
    }

    /** A quorum queue as this node knows it: its id, declaring node, group and members (recorded or derived). */
    private record Known(long id, String declaring, String groupName, List<String> members) {}

    private Known known(MessageQueue q) {
        QuorumMember m = members.get(q);
        if (m != null) {
            return new Known(m.id, m.declaring, m.groupName, names(membersOf(m.declaring, q.arguments(), m.id)));
        }
        NonMember nm = nonMembers.get(q);
        return nm == null ? null
                : new Known(nm.id, nm.declaring, nm.groupName, names(membersOf(nm.declaring, q.arguments(), nm.id)));
    }

    /** {@link #known}, or a refusal naming a queue this node has not attached (yet). */
    private Known knownOrRefused(MessageQueue q) throws io.warren.server.management.BrokerControl.ClusterRefusal {
        Known k = known(q);
        if (k == null) {
            throw new io.warren.server.management.BrokerControl.ClusterRefusal(400, "quorum queue '" + q.name()
                    + "' in vhost '" + q.vhost() + "' is not known on this node yet");
        }
        return k;
    }

    /** The node that leads {@code q} as this node knows it, or null. */
    private String leaderName(MessageQueue q) {
        QuorumMember m = members.get(q);
        if (m != null) {
            QueueGroup g = m.group.group();
            String id = g == null ? null : g.leaderId();
            return id == null ? null : node.nodeNameOfId(id);
        }
        NonMember nm = nonMembers.get(q);
        if (nm != null && nm.leader == null) {
            nm.askSoon();
        }
        return nm == null ? null : nm.leader;
    }

    /** Quorum queue {@code q}'s members (node names, member order: recorded or derived); null when not known here. */
    public List<String> membersOf(MessageQueue q) {
        Known k = known(q);
        return k == null ? null : k.members();
    }

    /** How long add_member and delete_member wait for the group's configuration to follow. */
    public static final java.time.Duration MEMBER_CHANGE_WAIT = java.time.Duration.ofSeconds(30);

    /**
     * rabbitmq-queues add_member: node {@code target} gets a copy of quorum queue {@code q} (a
     * member of its group, which the leader catches up with the log or a snapshot). Recorded in
     * the metadata log (the queue's members from now on, on every node and across restarts),
     * then answered once the leader's configuration has the new member. Blocks; not for an event
     * loop.
     *
     * A node that is already a member is no change (as in RabbitMQ).
     *
     * @throws io.warren.server.management.BrokerControl.ClusterRefusal 400 for a target that is
     *         not running or no node of the cluster ({@code node_not_running}); 503 when the change
     *         cannot be recorded or the group did not take it within {@link #MEMBER_CHANGE_WAIT}
     */
    public void addMember(MessageQueue q, String target)
            throws io.warren.server.management.BrokerControl.ClusterRefusal {
        Known k = knownOrRefused(q);
        // as RabbitMQ's: a node not running (or not in the cluster) first, then a member already is no change
        if (!node.isMember(target) || !target.equals(node.nodeName()) && !node.running().getOrDefault(target, false)) {
            throw new io.warren.server.management.BrokerControl.ClusterRefusal(400, "node_not_running", "node "
                    + target + " is not running, or not a node of this cluster (cluster_status lists them)");
        }
        if (k.members().contains(target)) {
            return;
        }
        List<String> next = new ArrayList<>(k.members());
        next.add(target);
        change(q, k, next, target, true);
    }

    /**
     * rabbitmq-queues delete_member: node {@code target}'s copy of quorum queue {@code q} goes.
     * Recorded in the metadata log; then this node takes the member out of the group's
     * configuration (a leader on {@code target} hands the lead to another member first), and
     * answers once the leader's configuration no longer has it. The target's node deletes its
     * copy once it sees that (and takes its member out itself should this node fail to). The
     * target may be down. Blocks; not for an event loop.
     *
     * A node that is no member is no change (as in RabbitMQ).
     *
     * @throws io.warren.server.management.BrokerControl.ClusterRefusal 400 for the last member
     *         ({@code last_node}); 503 as {@link #addMember}
     */
    public void deleteMember(MessageQueue q, String target)
            throws io.warren.server.management.BrokerControl.ClusterRefusal {
        Known k = knownOrRefused(q);
        if (!k.members().contains(target)) {
            return; // as RabbitMQ's: no member there, nothing to do
        }
        if (k.members().size() == 1) {
            throw new io.warren.server.management.BrokerControl.ClusterRefusal(400, "last_node", "node " + target
                    + " holds the last member of quorum queue '" + q.name() + "' in vhost '" + q.vhost()
                    + "': delete the queue instead");
        }
        List<String> next = new ArrayList<>(k.members());
        next.remove(target);
        change(q, k, next, target, false);
    }

    private void change(MessageQueue q, Known k, List<String> next, String target, boolean in)
            throws io.warren.server.management.BrokerControl.ClusterRefusal {
        long deadline = System.nanoTime() + MEMBER_CHANGE_WAIT.toNanos();
        try {
            node.definitions().recordQueueMember(k.id(), in, target, k.members())
                    .get(MEMBER_CHANGE_WAIT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new io.warren.server.management.BrokerControl.ClusterRefusal(503, "interrupted");
        } catch (Exception e) {
            throw new io.warren.server.management.BrokerControl.ClusterRefusal(503, "cannot record the members of "
                    + "quorum queue '" + q.name() + "' in vhost '" + q.vhost() + "': " + e.getMessage());
        }
        log.info("quorum queue '{}' in vhost '{}': members set to {} (were {})", q.name(), q.vhost(), next,
                k.members());
        String targetId = ClusterNode.memberId(target);
        if (!in) {
            // The member goes from the group's configuration now (its node may be down); its node
            // deletes its copy once it sees that. A leader there hands the lead on first, so that
            // the group need not elect one.
            List<Member> reach = node.nodes().stream().filter(p -> k.members().contains(p.name()))
                    .map(ClusterNode::member).toList();
            if (target.equals(leaderName(q))) {
                for (String other : next) {
                    if ((other.equals(node.nodeName()) || node.running().getOrDefault(other, false))
                            && node.transferLeadership(k.groupName(), reach, ClusterNode.memberId(other),
                            java.time.Duration.ofMillis(ELECTION_WAIT_MS / 2))) {
                        break;
                    }
                }
            }
            try {
                node.removeFromQueueGroup(k.groupName(), reach, targetId);
            } catch (IOException | RuntimeException e) {
                log.warn("quorum queue '{}' in vhost '{}': cannot take the member on node {} out of its group yet: {}",
                        q.name(), q.vhost(), target, e.toString());
            }
        }
        while (System.nanoTime() - deadline < 0) {
            String leader = leaderName(q);
            if (leader != null) {
                String conf;
                try {
                    conf = leader.equals(node.nodeName()) ? configurationOf(k.groupName())
                            : node.askConfiguration(leader, k.groupName()).get(2, TimeUnit.SECONDS);
                } catch (Exception e) {
                    conf = "";
                }
                if (conf.startsWith("1\n") && List.of(conf.substring(2).split(",")).contains(targetId) == in) {
                    return;
                }
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        throw new io.warren.server.management.BrokerControl.ClusterRefusal(503, "timed out: the members of quorum "
                + "queue '" + q.name() + "' in vhost '" + q.vhost() + "' are recorded as " + next + ", and its group "
                + "has not " + (in ? "taken in" : "removed") + " the member on node " + target + " yet (it goes on "
                + "trying)");
    }

    /** This node's member of {@code m}'s group, removed from its configuration, goes; the queue here becomes a stand-in. */
    private void leave(QuorumMember m, List<WarrenConfig.ClusterConfig.Peer> peers, String leader) {
        MessageQueue q = m.queue;
        if (!members.remove(q, m)) {
            return;
        }
        m.deleted = true;
        try {
            q.execute(() -> q.replaceStore(null, m.id));
        } catch (java.util.concurrent.RejectedExecutionException e) {
            return; // stopping
        }
        m.store.close();
        standIn(q, m.id, m.declaring, m.groupName, peers, leader);
        try {
            node.leaveQueueGroup(m.groupName);
            log.info("quorum queue '{}' in vhost '{}': this node's copy was removed (members now {})", q.name(),
                    q.vhost(), names(peers));
        } catch (IOException | RuntimeException e) {
            log.warn("cannot remove this node's copy of quorum queue '{}' in vhost '{}'", q.name(), q.vhost(), e);
        }
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
        // the stand-ins too: start_app makes new ones (a member change must reach the live queue)
        nonMembers.clear();
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
        final long id;
        /** The node that declared the queue (where derived members start). */
        final String declaring;
        final String groupName;
        final List<WarrenConfig.ClusterConfig.Peer> peers;
        /** The leader's node as last told; null: not known (an election, no member answered). */
        volatile String leader;

        NonMember(MessageQueue queue, long id, String declaring, String groupName,
                  List<WarrenConfig.ClusterConfig.Peer> peers) {
            this.queue = queue;
            this.id = id;
            this.declaring = declaring;
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
            retrySoon();
        }

        /** Whether a {@link #retrySoon} is scheduled. */
        private final java.util.concurrent.atomic.AtomicBoolean retrying = new java.util.concurrent.atomic.AtomicBoolean();

        /**
         * No member named a leader (the group is electing its first, or a new one): asks again in
         * 250 ms rather than at the monitor's next round, so that a publish through this node
         * soon after a declare or a failover finds the leader. Until it is known, or this
         * stand-in was replaced (its members changed).
         */
        private void retrySoon() {
            if (nonMembers.get(queue) != this || !retrying.compareAndSet(false, true)) {
                return;
            }
            WATCH.schedule(() -> {
                retrying.set(false);
                if (leader == null && nonMembers.get(queue) == this) {
                    askSoon();
                }
            }, 250, TimeUnit.MILLISECONDS);
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
                retrySoon();
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
        final long id;
        /** The node that declared the queue (where derived members start). */
        final String declaring;
        final String groupName;
        final CompletableFuture<Void> elected = new CompletableFuture<>();
        /** The queue was deleted (not merely closed by stop_app), or this node's copy removed: it goes. */
        volatile boolean deleted;
        /** An operator added this member: the group's configuration may not have it yet ({@link #addSelf}). */
        volatile boolean addPending;
        /** An operator removed this node from the queue's members: it leaves ({@link #reconcile}). */
        volatile boolean leaving;
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
                     List<WarrenConfig.ClusterConfig.Peer> placing, long id, String declaring, String groupName) {
            this.queue = queue;
            this.group = group;
            this.store = store;
            this.id = id;
            this.declaring = declaring;
            this.groupName = groupName;
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
