package io.warren.cluster;

import org.apache.ratis.RaftConfigKeys;
import org.apache.ratis.client.RaftClient;
import org.apache.ratis.conf.Parameters;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.grpc.GrpcConfigKeys;
import org.apache.ratis.grpc.GrpcTlsConfig;
import org.apache.ratis.protocol.ClientId;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftGroup;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.retry.RetryPolicies;
import org.apache.ratis.rpc.SupportedRpcType;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.RaftServerConfigKeys;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * This node's member of the metadata group: one Raft group over every node of the cluster whose
 * log holds the metadata changes (later: broker-store's definition change records), applied in
 * the same order on every member, like RabbitMQ's Khepri.
 *
 * <p>{@link #submit} is the promise the broker's replies will rest on: its future completes once
 * the record is committed (on a majority's disks) and applied on this member, so a declare-ok
 * sent from it is visible on the node that sent it and cannot be lost while a majority lives.
 * Any member may submit: its Ratis client sends the record to the leader (following redirects
 * and retrying through elections), and the record is applied on every member in log order.
 *
 * <p>All traffic of the member, to and from its peers (appends, votes, snapshots) and from its
 * client (submits, admin requests), is mutual TLS keyed by the cluster's secret
 * ({@link ClusterTls}): a node without the same secret can neither join nor talk to the others,
 * and nothing is served to whoever merely reaches the port.
 *
 * <p>Not wired into the broker yet (issue 15): no configuration key starts it.
 */
public final class MetadataGroup implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(MetadataGroup.class);

    /** The metadata group's id, the same on every node (a name-based UUID, so no node has to hand it out). */
    static final RaftGroupId GROUP_ID =
            RaftGroupId.valueOf(UUID.nameUUIDFromBytes("warren-metadata".getBytes(StandardCharsets.US_ASCII)));

    private final Member self;
    private final RaftSettings settings;
    private final RaftServer server;
    private final RaftClient client;
    private final RecordStateMachine stateMachine;

    private MetadataGroup(Member self, RaftSettings settings, RaftServer server, RaftClient client,
                          RecordStateMachine stateMachine) {
        this.self = self;
        this.settings = settings;
        this.server = server;
        this.client = client;
        this.stateMachine = stateMachine;
    }

    /**
     * Starts this node's member: it recovers its log and latest snapshot from {@code storageDir}
     * (or starts an empty one) and joins the others; the group elects a leader once a majority
     * of {@code members} runs.
     *
     * @param self       this node: its id, and the address it listens on for its peers
     * @param members    every member of the group, {@code self} included, the same list on every node
     * @param secret     the cluster's shared secret: only members started with the same one talk to each other
     * @param storageDir this member's own directory (Raft log, vote, snapshots); created if missing
     * @param state      what the applied records build; it owns the snapshot's bytes
     */
    public static MetadataGroup start(Member self, List<Member> members, ClusterSecret secret, Path storageDir,
                                      RaftSettings settings, ReplicatedState state) throws IOException {
        Objects.requireNonNull(secret, "secret");
        Objects.requireNonNull(state, "state");
        RaftGroup group = group(self, members);
        Files.createDirectories(storageDir);

        RaftProperties properties = new RaftProperties();
        RaftConfigKeys.Rpc.setType(properties, SupportedRpcType.GRPC);
        GrpcConfigKeys.Server.setHost(properties, self.host());
        GrpcConfigKeys.Server.setPort(properties, self.port());
        RaftServerConfigKeys.setStorageDir(properties, List.of(storageDir.toFile()));
        // Ratis' default is a shared folder under /tmp; keep everything of this member in its own dir.
        RaftServerConfigKeys.setRemovedGroupsDir(properties, storageDir.resolve("removed-groups").toFile());
        settings.applyTo(properties);
        Parameters parameters = tls(ClusterTls.create(secret).grpcTlsConfig());

        RecordStateMachine stateMachine = new RecordStateMachine(state);
        RaftPeerId id = RaftPeerId.valueOf(self.id());
        RaftServer server = RaftServer.newBuilder()
                .setServerId(id)
                .setGroup(group)
                .setStateMachine(stateMachine)
                .setProperties(properties)
                .setParameters(parameters)
                // RECOVER formats an empty storage dir and recovers a used one; FORMAT (Ratis'
                // default) would refuse to start on the dir this member used before.
                .setOption(RaftStorage.StartupOption.RECOVER)
                .build();
        RaftClient client = null;
        try {
            server.start();
            client = RaftClient.newBuilder()
                    .setProperties(properties)
                    .setParameters(parameters)
                    .setRaftGroup(group)
                    .setClientId(ClientId.randomId())
                    .setLeaderId(id)
                    .setRetryPolicy(RetryPolicies.retryForeverWithSleep(RaftSettings.ratis(settings.retryInterval())))
                    .build();
        } catch (IOException | RuntimeException e) {
            closeQuietly(client, server);
            throw e;
        }
        log.info("metadata group member {} started at {} ({} members, storage {})", self.id(), self.address(),
                members.size(), storageDir);
        return new MetadataGroup(self, settings, server, client, stateMachine);
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

    private static RaftGroup group(Member self, List<Member> members) {
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
        return RaftGroup.valueOf(GROUP_ID, members.stream()
                .map(m -> RaftPeer.newBuilder().setId(m.id()).setAddress(m.address()).build())
                .toList());
    }

    /**
     * Appends {@code record} to the group's log. The future completes with the record's log index
     * once a majority has it and this member has applied it; it fails with a
     * {@link java.util.concurrent.TimeoutException} after {@link RaftSettings#submitTimeout} (no
     * majority, no leader), and then the outcome is unknown: the record may still be committed
     * later, and the client keeps retrying it until it is or this member stops (Ratis' retry
     * cache keeps a retried record from being applied twice).
     *
     * <p>Records submitted on one member are committed in the order they were submitted. The
     * future completes on the apply thread: hand work off rather than block there. A member keeps
     * at most 100 submits in flight (Ratis' client window); past that, this call blocks the caller
     * until one completes — the broker must not call it from an event loop without a bound of its own.
     */
    public CompletableFuture<Long> submit(byte[] record) {
        return client.async().send(Message.valueOf(ByteString.copyFrom(record)))
                .thenCompose(reply -> {
                    long index = reply.getLogIndex();
                    return stateMachine.whenApplied(index).thenApply(v -> index);
                })
                .orTimeout(settings.submitTimeout().toMillis(), TimeUnit.MILLISECONDS);
    }

    public Member self() {
        return self;
    }

    /** Whether this member is the group's leader right now (it may learn otherwise a moment later). */
    public boolean isLeader() {
        try {
            return server.getDivision(GROUP_ID).getInfo().isLeader();
        } catch (IOException e) {
            return false;
        }
    }

    /** The highest log index applied on this member. */
    public long appliedIndex() {
        return stateMachine.appliedIndex();
    }

    /** Stops this member: pending submits fail; its log and snapshots stay for the next start. */
    @Override public void close() {
        closeQuietly(client, server);
        log.info("metadata group member {} stopped", self.id());
    }

    private static void closeQuietly(RaftClient client, RaftServer server) {
        if (client != null) {
            try {
                client.close();
            } catch (IOException | RuntimeException e) {
                log.warn("closing the metadata group's client failed", e);
            }
        }
        try {
            server.close();
        } catch (IOException | RuntimeException e) {
            log.warn("closing the metadata group's server failed", e);
        }
    }
}
