package io.warren.cluster;

import org.apache.ratis.RaftConfigKeys;
import org.apache.ratis.client.RaftClient;
import org.apache.ratis.conf.Parameters;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.grpc.GrpcConfigKeys;
import org.apache.ratis.grpc.GrpcTlsConfig;
import org.apache.ratis.protocol.ClientId;
import org.apache.ratis.protocol.GroupManagementRequest;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftGroup;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.retry.RetryPolicies;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.RaftServerConfigKeys;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.statemachine.StateMachine;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * This node's one Ratis server and the Raft groups it hosts: the metadata group ({@link #metadata()},
 * over every node) and any number of quorum queue groups ({@link QueueGroup}, each over the few
 * nodes that hold the queue). All groups share the server's port, its mutual TLS ({@link ClusterTls})
 * and its storage dir: each group keeps its log, vote and snapshots in the sub-directory named
 * by its group id, and at start the server reloads every group it finds there, so queue groups
 * come back without being joined again ({@link #queueGroups()}).
 *
 * <p>Threads: {@link #joinQueueGroup} and {@link #leaveQueueGroup} block on disk I/O and on Ratis'
 * group management (a few milliseconds to a second): call them off the event loops. The other
 * methods do not block.
 */
public final class RaftNode implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RaftNode.class);
    /** What a queue group's name is prefixed with before it becomes the group id's UUID: never "warren-metadata". */
    private static final String QUEUE_GROUP_PREFIX = "warren-queue-group:";

    private final Member self;
    private final RaftSettings settings;
    private final RaftProperties properties;
    private final Parameters parameters;
    private final RecordStateMachine metadataMachine;
    /** Every queue group hosted here, by group id: joined, or recovered at start. */
    private final Map<RaftGroupId, QueueGroup> queueGroups = new ConcurrentHashMap<>();
    /** Groups whose member is being opened again (see {@link #reopen}), for the state-machine registry. */
    private final Map<RaftGroupId, QueueGroup> reopening = new ConcurrentHashMap<>();
    /** How many times a member of a queue group was opened again here after Ratis closed it (tests, logs). */
    private final AtomicLong reopened = new AtomicLong();
    /** The names of groups being joined, for the state-machine registry, which Ratis calls with the id only. */
    private final Map<RaftGroupId, String> joining = new ConcurrentHashMap<>();
    /** Serialises joins and leaves (each is one Ratis group-management call). */
    private final Object membership = new Object();
    private final AtomicLong callIds = new AtomicLong();
    private final ClientId adminClientId = ClientId.randomId();
    private final RaftServer server;
    private final AppendChainGuard appendChainGuard;
    private volatile MetadataGroup metadata;
    private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();

    private RaftNode(Member self, int listenPort, List<Member> members, ClusterSecret secret, Path storageDir,
                     RaftSettings settings, ReplicatedState metadataState, boolean joining) throws IOException {
        this.self = self;
        this.settings = settings;
        RaftGroup group = group(MetadataGroup.GROUP_ID, self, members);
        Files.createDirectories(storageDir);
        properties = new RaftProperties();
        RaftConfigKeys.Rpc.setType(properties, new WarrenRpcType()); // gRPC, and a fix of its leader's sender
        GrpcConfigKeys.Server.setHost(properties, self.host());
        GrpcConfigKeys.Server.setPort(properties, listenPort);
        RaftServerConfigKeys.setStorageDir(properties, List.of(storageDir.toFile()));
        // Ratis' default is a shared folder under /tmp; keep everything of this member in its own dir.
        RaftServerConfigKeys.setRemovedGroupsDir(properties, storageDir.resolve("removed-groups").toFile());
        settings.applyTo(properties);
        parameters = tls(ClusterTls.create(secret).grpcTlsConfig());
        metadataMachine = new RecordStateMachine(metadataState);
        RaftServer.Builder builder = RaftServer.newBuilder();
        if (!joining) {
            builder.setGroup(group); // a joining node adds it once started: see startJoining
        }
        server = builder
                .setServerId(RaftPeerId.valueOf(self.id()))
                // Called (on a Ratis thread) for the metadata group, for each group dir found at
                // start, and for each group joined later.
                .setStateMachineRegistry(this::stateMachine)
                .setProperties(properties)
                .setParameters(parameters)
                // RECOVER formats an empty storage dir and recovers a used one; FORMAT (Ratis'
                // default) would refuse to start on the dir this member used before.
                .setOption(RaftStorage.StartupOption.RECOVER)
                .build();
        appendChainGuard = new AppendChainGuard(server, self.id(), this::reopen);
    }

    /**
     * Starts this node's Ratis server with its member of the metadata group and every queue group
     * found in {@code storageDir}. The metadata group elects a leader once a majority of
     * {@code members} runs; each queue group once a majority of its own members runs.
     *
     * @param self          this node: its id, and the address it listens on for its peers
     * @param members       every member of the metadata group, {@code self} included, the same list on every node
     * @param secret        the cluster's shared secret: only members started with the same one talk to each other
     * @param storageDir    this node's own directory (one sub-directory per group); created if missing
     * @param metadataState what the metadata group's records build; it owns that group's snapshot bytes
     */
    public static RaftNode start(Member self, List<Member> members, ClusterSecret secret, Path storageDir,
                                 RaftSettings settings, ReplicatedState metadataState) throws IOException {
        return start(self, self.port(), members, secret, storageDir, settings, metadataState);
    }

    /**
     * As above, listening on {@code listenPort} of {@code self}'s host while the others reach it at
     * {@code self}'s address (a port forward or a proxy between them).
     */
    public static RaftNode start(Member self, int listenPort, List<Member> members, ClusterSecret secret,
                                 Path storageDir, RaftSettings settings, ReplicatedState metadataState)
            throws IOException {
        return start(self, listenPort, members, secret, storageDir, settings, metadataState, false);
    }

    /**
     * As {@link #start(Member, int, List, ClusterSecret, Path, RaftSettings, ReplicatedState)}
     * for a node joining a running cluster (warrenctl join_cluster; its storage is empty): its
     * member of the metadata group starts knowing only the others ({@code members} without
     * {@code self}), so that it waits, without standing for election, until the group's leader
     * has taken it in ({@link MetadataGroup#addSelf}). Started with itself in the configuration,
     * its election timer could run before the leader knew of it, and a Ratis leader answers a
     * vote request of a stranger with an empty log by shutting it down. (Ratis builds no server
     * whose first group lacks itself: the server starts with no group and adds this one.)
     */
    public static RaftNode startJoining(Member self, int listenPort, List<Member> members, ClusterSecret secret,
                                        Path storageDir, RaftSettings settings, ReplicatedState metadataState)
            throws IOException {
        return start(self, listenPort, members, secret, storageDir, settings, metadataState, true);
    }

    private static RaftNode start(Member self, int listenPort, List<Member> members, ClusterSecret secret,
                                  Path storageDir, RaftSettings settings, ReplicatedState metadataState,
                                  boolean joining) throws IOException {
        Objects.requireNonNull(secret, "secret");
        Objects.requireNonNull(metadataState, "metadataState");
        RaftNode node = new RaftNode(self, listenPort, members, secret, storageDir, settings, metadataState, joining);
        RaftClient client = null;
        try {
            try {
                node.server.start();
            } catch (IOException | RuntimeException e) {
                RuntimeException clear = tooLargeEntry(e, storageDir);
                if (clear != null) {
                    throw clear;
                }
                throw e;
            }
            RaftGroup all = group(MetadataGroup.GROUP_ID, self, members);
            if (joining) {
                RaftGroup others = RaftGroup.valueOf(MetadataGroup.GROUP_ID, all.getPeers().stream()
                        .filter(p -> !p.getId().toString().equals(self.id())).toList());
                RaftClientReply reply = node.server.groupManagement(GroupManagementRequest.newAdd(node.adminClientId,
                        node.server.getId(), node.callIds.incrementAndGet(), others, false));
                if (!reply.isSuccess()) {
                    throw new IOException("cannot start a member of the cluster's metadata group: "
                            + reply.getException(), reply.getException());
                }
            }
            // a joining member's division knows the others only: its client knows every member
            client = node.newClient(joining ? all
                    : node.server.getDivision(MetadataGroup.GROUP_ID).getGroup(), ClientId.randomId());
        } catch (IOException | RuntimeException e) {
            node.closeQuietly(client);
            throw e;
        }
        node.metadata = new MetadataGroup(node, client, node.metadataMachine);
        log.info("raft node {} started at {} ({} metadata members, {} queue groups recovered, storage {})", self.id(),
                self.address(), members.size(), node.queueGroups.size(), storageDir);
        return node;
    }

    private static final java.util.regex.Pattern ENTRY_SIZE =
            java.util.regex.Pattern.compile("Entry has size (\\d+), but MAX_OP_SIZE = (\\d+)");

    /**
     * When Ratis could not read a log because an entry is larger than it reads
     * ({@link RaftSettings#MAX_ENTRY_BYTES}), the operator's one line on it: such entries were
     * written by builds before 2026-12-04 22:00 UTC, whose entries went up to 4 MiB (a quorum
     * queue's message of about 1-4 MiB in one entry). Checked 2026-12-05: a log of build
     * b944092 with 2.5 MB messages stopped this build's node at start with Ratis' own
     * "Entry has size 2500078, but MAX_OP_SIZE = 1114112" and no word of what to do. Else null.
     */
    static RuntimeException tooLargeEntry(Exception e, Path storageDir) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            java.util.regex.Matcher m = ENTRY_SIZE.matcher(String.valueOf(t.getMessage()));
            if (m.find()) {
                return new io.warren.core.store.StoreException("a Raft log in " + storageDir + " holds an entry of "
                        + m.group(1) + " bytes, more than this build reads (" + m.group(2) + "): a build before "
                        + "2026-12-04 22:00 UTC wrote it (a quorum queue message of more than about 1 MiB); start "
                        + "that build, consume or purge such messages, then this one", e);
            }
        }
        return null;
    }

    /** Ratis' state-machine registry: the metadata group's machine, or a new queue group's. */
    private StateMachine stateMachine(RaftGroupId id) {
        if (id.equals(MetadataGroup.GROUP_ID)) {
            return metadataMachine;
        }
        QueueGroup again = reopening.get(id);
        if (again != null) {
            return again.reopenMachine();
        }
        // A name is known for a group being joined; a group recovered at start reads it from its dir.
        QueueGroup group = new QueueGroup(this, id, joining.get(id));
        QueueGroup old = queueGroups.put(id, group);
        if (old != null) {
            old.closeClient();
        }
        return group.machine();
    }

    /** The group id of the queue group {@code name}: a name-based UUID, the same on every node. */
    static RaftGroupId queueGroupId(String name) {
        return RaftGroupId.valueOf(UUID.nameUUIDFromBytes((QUEUE_GROUP_PREFIX + name).getBytes(StandardCharsets.UTF_8)));
    }

    /**
     * Adds this node's member of the queue group {@code name} over {@code members} (this node
     * among them; the same list on every member) and returns it, or returns the one already here
     * (joined before, or recovered at start; {@code members} is then not compared). The group
     * elects a leader once a majority of {@code members} joined. A new member starts empty.
     * Blocks on disk I/O and Ratis' group management: not for an event loop.
     *
     * @throws IOException when Ratis refuses the group (its storage cannot be made, ...)
     */
    public QueueGroup joinQueueGroup(String name, List<Member> members) throws IOException {
        return joinQueueGroup(name, members, false);
    }

    /**
     * As {@link #joinQueueGroup(String, List)}; with {@code added}, this node's member joins a
     * group that runs without it (add_member): it starts knowing the others only, so that it
     * waits, without standing for election, until the leader has taken it into the configuration
     * ({@link QueueGroup#addSelf}). Started with itself in the configuration, its election timer
     * would run before the leader knew of it, and the leader answers a vote request of a
     * stranger with an empty log by shutting it down.
     */
    public QueueGroup joinQueueGroup(String name, List<Member> members, boolean added) throws IOException {
        Objects.requireNonNull(name, "name");
        RaftGroupId id = queueGroupId(name);
        synchronized (membership) {
            QueueGroup existing = queueGroups.get(id);
            if (existing != null) {
                return existing;
            }
            RaftGroup all = group(id, self, members);
            RaftGroup group = !added ? all : RaftGroup.valueOf(id, all.getPeers().stream()
                    .filter(p -> !p.getId().toString().equals(self.id())).toList());
            joining.put(id, name);
            try {
                // format=false: RECOVER, which formats the new (absent) dir.
                RaftClientReply reply = server.groupManagement(GroupManagementRequest.newAdd(adminClientId,
                        server.getId(), callIds.incrementAndGet(), group, false));
                if (!reply.isSuccess()) {
                    queueGroups.remove(id);
                    throw new IOException("cannot join queue group " + name + ": " + reply.getException(),
                            reply.getException());
                }
            } finally {
                joining.remove(id);
            }
            QueueGroup joined = queueGroups.get(id);
            if (joined == null) {
                throw new IllegalStateException("Ratis added queue group " + name + " without asking for its state machine");
            }
            log.info("{} joined queue group {} ({}) of {}", self.id(), name, id, members.stream().map(Member::id).toList());
            return joined;
        }
    }

    /**
     * Opens this node's member of queue group {@code id} again once Ratis closed it while the node
     * runs: Ratis 3.2.2 closes a division whose log worker fails (an I/O error, or an assertion
     * such as "lastWrittenIndex == 4497, entry == ... index: 4462", seen once on 2026-12-05 under
     * bench/quorum.sh), and a closed division stays closed until the server restarts: the queue
     * ran on its other members alone, with no redundancy left, and nothing said so but that
     * error. Called by the guard's thread twice a second while such a division is found; the
     * group is removed from the server with its storage kept and added again as at a start (its
     * snapshot and log read back, what it misses sent by the leader), with the same
     * {@link QueueGroup} (a new state machine in it: {@link QueueGroup#reopenMachine}), so the
     * broker's hold on it stays good. The metadata group's member is not reopened (logged only):
     * its state machine belongs to the broker. Never for a group being left or a node stopping.
     */
    void reopen(RaftGroupId id) {
        if (closed.get()) {
            return;
        }
        if (id.equals(MetadataGroup.GROUP_ID)) {
            if (reopenedMetadataWarned.compareAndSet(false, true)) {
                log.error("{}: Ratis closed this node's member of the metadata group after a failure (see the error "
                        + "before); restart the node to bring it back", self.id());
            }
            return;
        }
        synchronized (membership) {
            QueueGroup g = queueGroups.get(id);
            if (closed.get() || g == null || g.stopped() || !g.divisionDown()) {
                return;
            }
            RaftGroup group;
            boolean inConf;
            try {
                RaftServer.Division d = server.getDivision(id);
                group = d.getGroup();
                inConf = d.getRaftConf().getCurrentPeers().stream().anyMatch(p -> p.getId().equals(server.getId()));
            } catch (IOException e) {
                return;
            }
            if (!inConf) {
                return; // Ratis closes a member the configuration dropped: as it should (the broker deletes it)
            }
            // A failure that comes back at every start (an entry whose apply throws, a member told
            // to shut down at each election) is not reopened for ever: 3 times in 10 minutes.
            long now = System.nanoTime();
            java.util.ArrayDeque<Long> times = reopenTimes.computeIfAbsent(id, k -> new java.util.ArrayDeque<>());
            while (!times.isEmpty() && now - times.peekFirst() > REOPEN_WINDOW_NANOS) {
                times.pollFirst();
            }
            if (times.size() >= MAX_REOPENS) {
                if (times.size() == MAX_REOPENS) {
                    times.addLast(now); // logged once a window
                    log.error("{}: Ratis closed this node's member of queue group {} again, the {}th time in 10 "
                            + "minutes; left closed until the node restarts", self.id(), g.name(), MAX_REOPENS + 1);
                }
                return;
            }
            times.addLast(now);
            log.error("{}: Ratis closed this node's member of queue group {} after a failure (see the error before); "
                    + "opening it again from its storage", self.id(), g.name());
            reopening.put(id, g);
            boolean removedOk = false;
            try {
                RaftClientReply removed = server.groupManagement(GroupManagementRequest.newRemove(adminClientId,
                        server.getId(), callIds.incrementAndGet(), id, false, false));
                if (!removed.isSuccess()) {
                    throw new IOException("remove: " + removed.getException(), removed.getException());
                }
                removedOk = true;
                RaftClientReply added = server.groupManagement(GroupManagementRequest.newAdd(adminClientId,
                        server.getId(), callIds.incrementAndGet(), group, false));
                if (!added.isSuccess()) {
                    throw new IOException("add: " + added.getException(), added.getException());
                }
                reopened.incrementAndGet();
                log.info("{}: member of queue group {} open again", self.id(), g.name());
            } catch (IOException | RuntimeException e) {
                log.error("{}: opening the member of queue group {} again failed ({}): {}", self.id(), g.name(),
                        removedOk ? "it is off this node until the node restarts; its storage is kept"
                                : "tried again in a moment", e.toString());
            } finally {
                reopening.remove(id);
            }
        }
    }

    /** At most this many reopens of one group's member within {@link #REOPEN_WINDOW_NANOS}. */
    static final int MAX_REOPENS = 3;
    static final long REOPEN_WINDOW_NANOS = java.util.concurrent.TimeUnit.MINUTES.toNanos(10);
    /** When each group's member was reopened lately. Guarded by membership. */
    private final Map<RaftGroupId, java.util.ArrayDeque<Long>> reopenTimes = new java.util.HashMap<>();

    private final java.util.concurrent.atomic.AtomicBoolean reopenedMetadataWarned =
            new java.util.concurrent.atomic.AtomicBoolean();

    /** See {@link #reopened}. */
    long reopened() {
        return reopened.get();
    }

    /**
     * Removes this node's member of the queue group {@code name} and deletes its storage (log,
     * snapshots). Its pending puts and removes fail; its listener, if this member led, hears
     * {@code leaderLost(null)}. The other members are not told: each leaves on its own (until then
     * they count this member as one that is down). Nothing happens if this node is not a member.
     * Blocks on disk I/O: not for an event loop.
     */
    public void leaveQueueGroup(String name) throws IOException {
        RaftGroupId id = queueGroupId(name);
        synchronized (membership) {
            QueueGroup group = queueGroups.get(id);
            if (group == null) {
                return;
            }
            group.closeClient();
            RaftClientReply reply = server.groupManagement(GroupManagementRequest.newRemove(adminClientId,
                    server.getId(), callIds.incrementAndGet(), id, true, false));
            queueGroups.remove(id, group);
            if (!reply.isSuccess()) {
                throw new IOException("cannot leave queue group " + name + ": " + reply.getException(),
                        reply.getException());
            }
            log.info("{} left queue group {} ({})", self.id(), name, id);
        }
    }

    /**
     * Every queue group this node is a member of, by name: those joined, and those recovered from
     * the storage dir at start. A group recovered without its name (a crash between Ratis making
     * its dir and this node writing the name there) is listed under its group id's UUID.
     */
    public Map<String, QueueGroup> queueGroups() {
        Map<String, QueueGroup> byName = new TreeMap<>();
        for (QueueGroup g : queueGroups.values()) {
            byName.put(g.name() != null ? g.name() : g.groupId().getUuid().toString(), g);
        }
        return Collections.unmodifiableMap(byName);
    }

    /**
     * The member ids of group {@code id}'s current configuration as this member knows it (the
     * newest configuration in its log, committed or not); empty when this node hosts no such group.
     */
    Set<String> currentMembers(RaftGroupId id) {
        try {
            Set<String> ids = new java.util.LinkedHashSet<>();
            for (RaftPeer p : server.getDivision(id).getRaftConf().getCurrentPeers()) {
                ids.add(p.getId().toString());
            }
            return ids;
        } catch (IOException e) {
            return Set.of();
        }
    }

    /**
     * Removes member {@code memberId} from group {@code id}: a configuration change through the
     * group's leader, committed by a majority of the old members and of the new ones (Raft's joint
     * consensus), so it needs those majorities up. A member not in the configuration is a no-op.
     * Blocks until the change is committed or has failed (a few retries through an election);
     * not for an event loop.
     *
     * @throws IOException when the change could not be made (no leader, no majority, ...)
     */
    void removeMember(RaftGroupId id, String memberId) throws IOException {
        RaftServer.Division d = server.getDivision(id);
        java.util.Collection<RaftPeer> peers = d.getRaftConf().getCurrentPeers();
        List<RaftPeer> keep = peers.stream().filter(p -> !p.getId().toString().equals(memberId)).toList();
        if (keep.size() == peers.size()) {
            return;
        }
        if (keep.isEmpty()) {
            throw new IOException("cannot remove the last member " + memberId + " of group " + id);
        }
        // Retried for three election timeouts: the member removed may have led until just now
        // (its stop is what made it removable), and the others elect a new leader first.
        int attempts = (int) Math.max(10, 3 * settings.electionTimeoutMax().toMillis()
                / Math.max(1, settings.retryInterval().toMillis()));
        try (RaftClient c = newClient(d.getGroup(), ClientId.randomId(), RetryPolicies.retryUpToMaximumCountWithFixedSleep(
                attempts, RaftSettings.ratis(settings.retryInterval())))) {
            RaftClientReply reply = c.admin().setConfiguration(keep);
            if (!reply.isSuccess()) {
                throw new IOException("group " + id + " refused to remove member " + memberId + ": "
                        + reply.getException(), reply.getException());
            }
        }
        log.info("{} removed member {} from group {}", self.id(), memberId, id);
    }

    /**
     * The members of the metadata group as the node at {@code target} has its configuration now
     * (join_cluster asks the node it joins, before it starts a member of its own). Blocks for at
     * most the request timeout.
     *
     * @throws IOException when the node does not answer, or answers as no member of a cluster
     *                     with the same secret
     */
    public static List<Member> metadataMembersAt(Member target, ClusterSecret secret, RaftSettings settings)
            throws IOException {
        RaftProperties p = new RaftProperties();
        RaftConfigKeys.Rpc.setType(p, new WarrenRpcType());
        settings.applyTo(p);
        RaftPeer peer = RaftPeer.newBuilder().setId(target.id()).setAddress(target.address()).build();
        try (RaftClient c = RaftClient.newBuilder().setProperties(p)
                .setParameters(tls(ClusterTls.create(secret).grpcTlsConfig()))
                .setRaftGroup(RaftGroup.valueOf(MetadataGroup.GROUP_ID, peer))
                .setClientId(ClientId.randomId())
                .setRetryPolicy(RetryPolicies.noRetry()).build()) {
            org.apache.ratis.protocol.GroupInfoReply info = c.getGroupManagementApi(peer.getId())
                    .info(MetadataGroup.GROUP_ID);
            if (!info.isSuccess()) {
                throw new IOException("node " + target.id() + " at " + target.address() + " did not answer: "
                        + info.getException(), info.getException());
            }
            List<Member> members = new java.util.ArrayList<>();
            for (RaftPeer m : info.getGroup().getPeers()) {
                members.add(new Member(m.getId().toString(), m.getAddress()));
            }
            return members;
        }
    }

    /**
     * Adds this node's member (already running, see {@link #joinQueueGroup(String, List, boolean)}
     * for a queue group) to group {@code id}'s configuration as it is now at its leader (Ratis' ADD mode: no other
     * member is dropped, whatever this node's view of the members), {@code members} naming where
     * the group is reached: the leader catches it up (log entries or a snapshot), then commits
     * the configuration with it. A member already in it is no change. Retried for three election
     * timeouts. Blocks.
     */
    void addSelf(RaftGroupId id, List<Member> members) throws IOException {
        int attempts = (int) Math.max(10, 3 * settings.electionTimeoutMax().toMillis()
                / Math.max(1, settings.retryInterval().toMillis()));
        RaftGroup group = group(id, self, members);
        try (RaftClient c = newClient(group, ClientId.randomId(), RetryPolicies.retryUpToMaximumCountWithFixedSleep(
                attempts, RaftSettings.ratis(settings.retryInterval())))) {
            RaftClientReply reply = c.admin().setConfiguration(org.apache.ratis.protocol.SetConfigurationRequest
                    .Arguments.newBuilder().setServersInNewConf(List.of(group.getPeer(RaftPeerId.valueOf(self.id()))))
                    .setMode(org.apache.ratis.protocol.SetConfigurationRequest.Mode.ADD).build());
            if (!reply.isSuccess()) {
                throw new IOException("group " + id + " refused to add member " + self.id() + ": "
                        + reply.getException(), reply.getException());
            }
        }
        log.info("{} joined group {}", self.id(), id);
    }

    /**
     * Removes member {@code memberId} from queue group {@code name}, reached through
     * {@code members} (this node need not be one): the leader's configuration is read, and the
     * same without the member is set only if it is still that one (Ratis' COMPARE_AND_SET), so a
     * change made meanwhile (another member added) is never undone; tried again a few times when
     * it was. A member not in the configuration is no change. A leader removed steps down once
     * the change is committed (move the lead first to spare the group an election). Blocks.
     *
     * @throws IOException when no leader answered or the change kept failing
     */
    public void removeFromQueueGroup(String name, List<Member> members, String memberId) throws IOException {
        RaftGroupId id = queueGroupId(name);
        RaftGroup group = RaftGroup.valueOf(id, members.stream()
                .map(m -> RaftPeer.newBuilder().setId(m.id()).setAddress(m.address()).build()).toList());
        IOException last = null;
        try (RaftClient c = newClient(group, ClientId.randomId(), RetryPolicies.retryUpToMaximumCountWithFixedSleep(
                5, RaftSettings.ratis(settings.retryInterval())))) {
            for (int attempt = 0; attempt < 5; attempt++) {
                List<RaftPeer> current = leaderConfiguration(c, group);
                if (current == null) {
                    last = new IOException("no member of group " + id + " answered as its leader");
                } else if (current.stream().noneMatch(p -> p.getId().toString().equals(memberId))) {
                    return;
                } else if (current.size() == 1) {
                    throw new IOException("cannot remove the last member " + memberId + " of group " + id);
                } else {
                    List<RaftPeer> keep = current.stream().filter(p -> !p.getId().toString().equals(memberId)).toList();
                    RaftClientReply reply = c.admin().setConfiguration(org.apache.ratis.protocol.SetConfigurationRequest
                            .Arguments.newBuilder().setServersInCurrentConf(current).setServersInNewConf(keep)
                            .setMode(org.apache.ratis.protocol.SetConfigurationRequest.Mode.COMPARE_AND_SET).build());
                    if (reply.isSuccess()) {
                        log.info("{} removed member {} from group {}", self.id(), memberId, id);
                        return;
                    }
                    last = new IOException("group " + id + " refused to remove member " + memberId + ": "
                            + reply.getException(), reply.getException());
                }
                try {
                    Thread.sleep(settings.retryInterval().toMillis() * (attempt + 1));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted", e);
                }
            }
        }
        throw last;
    }

    /**
     * The voting members of group {@code group}'s configuration as the member that answers as its
     * leader has it (those of the old and of the new configuration during a change: what Ratis'
     * COMPARE_AND_SET compares with); null when none does.
     */
    private static List<RaftPeer> leaderConfiguration(RaftClient c, RaftGroup group) {
        for (RaftPeer p : group.getPeers()) {
            try {
                org.apache.ratis.protocol.GroupInfoReply info = c.getGroupManagementApi(p.getId())
                        .info(group.getGroupId());
                if (info.isSuccess() && info.getRoleInfoProto().getRole()
                        == org.apache.ratis.proto.RaftProtos.RaftPeerRole.LEADER) {
                    return info.getGroup().getPeers().stream()
                            .filter(x -> x.getStartupRole() != org.apache.ratis.proto.RaftProtos.RaftPeerRole.LISTENER)
                            .toList();
                }
            } catch (IOException | RuntimeException e) {
                // the next member
            }
        }
        return null;
    }

    /** This node's member of the metadata group. */
    public MetadataGroup metadata() {
        return metadata;
    }

    public Member self() {
        return self;
    }

    RaftServer server() {
        return server;
    }

    RaftSettings settings() {
        return settings;
    }

    AppendChainGuard appendChainGuard() {
        return appendChainGuard;
    }

    /** A client for {@code group}: TLS, retries every {@link RaftSettings#retryInterval} through elections. */
    /**
     * The thread that hands the queue groups' records to their Ratis clients: callers (event
     * loops) only queue them, and nothing of Ratis runs under a queue group's lock.
     */
    private final java.util.concurrent.ExecutorService sender = java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "warren-raft-sender");
        t.setDaemon(true);
        return t;
    });

    java.util.concurrent.Executor sender() {
        return sender;
    }

    /**
     * Has the member {@code memberId} of queue group {@code name} (over {@code members}, as it
     * was joined; this node need not be one of them) take the lead: true once it leads, false
     * when the leader refused or the transfer did not finish within {@code timeout}. Blocks for
     * about that long at most; not for an event loop.
     */
    public boolean transferLeadership(String name, List<Member> members, String memberId,
                                      java.time.Duration timeout) {
        return transferLeadership(RaftGroup.valueOf(queueGroupId(name), members.stream()
                .map(m -> RaftPeer.newBuilder().setId(m.id()).setAddress(m.address()).build()).toList()),
                memberId, timeout);
    }

    boolean transferLeadership(RaftGroup group, String memberId, java.time.Duration timeout) {
        // Few retries: a leader that is not known yet, or changes during the call, is asked again.
        try (RaftClient c = newClient(group, ClientId.randomId(),
                RetryPolicies.retryUpToMaximumCountWithFixedSleep(5, RaftSettings.ratis(settings.retryInterval())))) {
            RaftClientReply reply = c.admin().transferLeadership(RaftPeerId.valueOf(memberId), timeout.toMillis());
            return reply.isSuccess();
        } catch (IOException | RuntimeException e) {
            log.debug("queue group {}: leadership transfer to {} failed: {}", group.getGroupId(), memberId,
                    e.toString());
            return false;
        }
    }

    RaftClient newClient(RaftGroup group, ClientId clientId) {
        return newClient(group, clientId,
                RetryPolicies.retryForeverWithSleep(RaftSettings.ratis(settings.retryInterval())));
    }

    RaftClient newClient(RaftGroup group, ClientId clientId, org.apache.ratis.retry.RetryPolicy retry) {
        return RaftClient.newBuilder()
                .setProperties(properties)
                .setParameters(parameters)
                .setRaftGroup(group)
                .setClientId(clientId)
                // the first guess: this node when it is a member, else the first member
                .setLeaderId(group.getPeer(RaftPeerId.valueOf(self.id())) != null || group.getPeers().isEmpty()
                        ? RaftPeerId.valueOf(self.id()) : group.getPeers().iterator().next().getId())
                .setRetryPolicy(retry)
                .build();
    }

    /**
     * The same TLS settings for each of Ratis' gRPC services: the server's (its peers' appends,
     * votes and snapshots, served and sent), the client's and the admin's. The general key alone
     * would cover all three today; setting each keeps a service from falling back to plain text
     * should a Ratis version stop reading the general one for it.
     */
    private static Parameters tls(GrpcTlsConfig tls) {
        Parameters parameters = new Parameters();
        GrpcConfigKeys.TLS.setConf(parameters, tls);
        GrpcConfigKeys.Server.setTlsConf(parameters, tls);
        GrpcConfigKeys.Client.setTlsConf(parameters, tls);
        GrpcConfigKeys.Admin.setTlsConf(parameters, tls);
        return parameters;
    }

    static RaftGroup group(RaftGroupId id, Member self, List<Member> members) {
        Set<String> ids = new HashSet<>();
        Set<String> addresses = new HashSet<>();
        for (Member m : members) {
            if (!ids.add(m.id())) {
                throw new IllegalArgumentException("member id " + m.id() + " appears twice");
            }
            if (!addresses.add(m.address())) {
                throw new IllegalArgumentException("address " + m.address() + " appears twice");
            }
        }
        if (!members.contains(self)) {
            throw new IllegalArgumentException("this member " + self + " is not in the member list " + members);
        }
        return RaftGroup.valueOf(id, members.stream()
                .map(m -> RaftPeer.newBuilder().setId(m.id()).setAddress(m.address()).build())
                .toList());
    }

    /**
     * Stops the server and every group on it: pending submits, puts and removes fail; the logs and
     * snapshots stay for the next start.
     */
    @Override public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        MetadataGroup m = metadata;
        closeQuietly(m == null ? null : m.client());
        sender.shutdown();
        log.info("raft node {} stopped", self.id());
    }

    private void closeQuietly(RaftClient client) {
        for (QueueGroup g : queueGroups.values()) {
            g.closeClient();
        }
        if (client != null) {
            try {
                client.close();
            } catch (IOException | RuntimeException e) {
                log.warn("closing the metadata group's client failed", e);
            }
        }
        appendChainGuard.close();
        try {
            server.close();
        } catch (IOException | RuntimeException e) {
            log.warn("closing the raft server failed", e);
        }
    }
}
