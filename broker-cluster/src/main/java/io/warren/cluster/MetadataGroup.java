package io.warren.cluster;

import org.apache.ratis.client.RaftClient;
import org.apache.ratis.protocol.ClientId;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
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
 * <p>The member runs on this node's {@link RaftNode}, the one Ratis server that also hosts the
 * quorum queue groups ({@link RaftNode#joinQueueGroup}); {@link #node()} reaches it, and
 * {@link #close()} stops the whole node.
 */
public final class MetadataGroup implements AutoCloseable {
    /** The metadata group's id, the same on every node (a name-based UUID, so no node has to hand it out). */
    static final RaftGroupId GROUP_ID =
            RaftGroupId.valueOf(UUID.nameUUIDFromBytes("warren-metadata".getBytes(StandardCharsets.US_ASCII)));

    private final RaftNode node;
    private final RaftClient client;
    private final RecordStateMachine stateMachine;

    MetadataGroup(RaftNode node, RaftClient client, RecordStateMachine stateMachine) {
        this.node = node;
        this.client = client;
        this.stateMachine = stateMachine;
    }

    /**
     * Starts this node's {@link RaftNode} and returns its member of the metadata group: it recovers
     * its log and latest snapshot from {@code storageDir} (or starts an empty one) and joins the
     * others; the group elects a leader once a majority of {@code members} runs. Queue groups
     * found in {@code storageDir} are recovered too ({@link RaftNode#queueGroups()}).
     *
     * @param self       this node: its id, and the address it listens on for its peers
     * @param members    every member of the group, {@code self} included, the same list on every node
     * @param secret     the cluster's shared secret: only members started with the same one talk to each other
     * @param storageDir this node's own directory (Raft logs, votes, snapshots); created if missing
     * @param state      what the applied records build; it owns the snapshot's bytes
     */
    public static MetadataGroup start(Member self, List<Member> members, ClusterSecret secret, Path storageDir,
                                      RaftSettings settings, ReplicatedState state) throws IOException {
        return RaftNode.start(self, members, secret, storageDir, settings, state).metadata();
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
        if (record.length > RaftSettings.MAX_RECORD_BYTES) {
            return CompletableFuture.failedFuture(new IllegalArgumentException("a metadata record of " + record.length
                    + " bytes is larger than a log entry may carry (" + RaftSettings.MAX_RECORD_BYTES + " bytes)"));
        }
        return client.async().send(Message.valueOf(ByteString.copyFrom(record)))
                .thenCompose(reply -> {
                    long index = reply.getLogIndex();
                    return stateMachine.whenApplied(index).thenApply(v -> index);
                })
                .orTimeout(node.settings().submitTimeout().toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Sets what this member answers when another node {@link #ask}s it a question; runs on a Ratis thread. */
    public void answer(java.util.function.Function<String, byte[]> info) {
        stateMachine.answer(question -> CompletableFuture.completedFuture(info.apply(question)));
    }

    /**
     * As {@link #answer}, for answers that take a while to gather (the asker waits up to its
     * request timeout); {@code info} runs on a Ratis thread and must not block.
     */
    public void answerLater(java.util.function.Function<String, CompletableFuture<byte[]>> info) {
        stateMachine.answer(info);
    }

    /**
     * Asks member {@code memberId} for what it {@link #answer}s (empty when it set nothing), over
     * the cluster's authenticated transport, from that member itself: no leader or log is
     * involved (a Ratis stale read: the member answers once it has committed anything at all). Fails after the request timeout when the member
     * does not answer; never retried.
     */
    public CompletableFuture<byte[]> ask(String memberId) {
        return ask(memberId, "amqp");
    }

    /**
     * Whether member {@code memberId} has applied the log up to {@code index}: it answers once it
     * has (true), or after about a second (false); fails when it cannot be asked (down, cut off,
     * not answering within the request timeout).
     */
    public CompletableFuture<Boolean> applied(String memberId, long index) {
        return ask(memberId, RecordStateMachine.APPLIED + index).thenApply(b -> b.length == 1 && b[0] == 1);
    }

    /** Asks member {@code memberId} {@code question}, as {@link #ask(String)} asks for its AMQP listener. */
    public CompletableFuture<byte[]> ask(String memberId, String question) {
        RaftClient c;
        synchronized (this) {
            org.apache.ratis.protocol.RaftPeerId asked = org.apache.ratis.protocol.RaftPeerId.valueOf(memberId);
            if (askClient == null || askGroup.getPeer(asked) == null) {
                // first, or a member that joined since the client was made: one with the group as it is now
                try {
                    org.apache.ratis.protocol.RaftGroup now = node.server().getDivision(GROUP_ID).getGroup();
                    // the old one is left to the questions still on their way over it (rare: a join)
                    askClient = node.newClient(now, ClientId.randomId(), org.apache.ratis.retry.RetryPolicies.noRetry());
                    askGroup = now;
                } catch (IOException e) {
                    return CompletableFuture.failedFuture(e);
                }
            }
            c = askClient;
        }
        // The blocking API, on a thread of its own: the async one sends a leader-bound request
        // first, which a client that must not retry sees fail whenever the asked member does not lead.
        return CompletableFuture.supplyAsync(() -> {
            try {
                RaftClientReply reply = c.io().sendStaleRead(Message.valueOf(ByteString.copyFromUtf8(question)), 1,
                        org.apache.ratis.protocol.RaftPeerId.valueOf(memberId));
                if (!reply.isSuccess()) {
                    throw new java.util.concurrent.CompletionException(reply.getException());
                }
                return reply.getMessage().getContent().toByteArray();
            } catch (IOException e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        }, ASKING).orTimeout(node.settings().requestTimeout().toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Where {@link #ask} waits for its answers: questions are rare (their answers are kept), a few at most at once. */
    private static final java.util.concurrent.ExecutorService ASKING = java.util.concurrent.Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "warren-cluster-ask");
        t.setDaemon(true);
        return t;
    });

    private RaftClient askClient;
    /** The group {@link #askClient} was made with. */
    private org.apache.ratis.protocol.RaftGroup askGroup;

    public Member self() {
        return node.self();
    }

    /** The node this member runs on, which hosts the queue groups too. */
    public RaftNode node() {
        return node;
    }

    /** Whether this member is the group's leader right now (it may learn otherwise a moment later). */
    public boolean isLeader() {
        try {
            return node.server().getDivision(GROUP_ID).getInfo().isLeader();
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * The members of the metadata group as this member's newest configuration has them: the
     * cluster's nodes (a node removed by {@link #removeMember} is not among them). Empty when it
     * cannot be read (the server stopped).
     */
    public Set<String> memberIds() {
        return node.currentMembers(GROUP_ID);
    }

    /**
     * Removes a member from the metadata group (warrenctl forget_cluster_node): see
     * {@link RaftNode#removeMember}. Blocks; not for an event loop.
     */
    public void removeMember(String memberId) throws IOException {
        node.removeMember(GROUP_ID, memberId);
    }

    /**
     * Adds this member, which started with {@code members} (itself among them), to the group's
     * configuration as its leader has it (warrenctl join_cluster): see {@link RaftNode#addSelf}.
     * Blocks.
     */
    public void addSelf(List<Member> members) throws IOException {
        node.addSelf(GROUP_ID, members);
    }

    /** The highest log index applied on this member. */
    public long appliedIndex() {
        return stateMachine.appliedIndex();
    }

    RaftClient client() {
        return client;
    }

    /**
     * Stops this node ({@link RaftNode#close}): pending submits fail; the logs and snapshots stay for
     * the next start.
     */
    @Override public void close() {
        RaftClient c;
        synchronized (this) {
            c = askClient;
            askClient = null;
        }
        if (c != null) {
            try {
                c.close();
            } catch (IOException | RuntimeException e) {
                // closing: nothing to do
            }
        }
        node.close();
    }
}
