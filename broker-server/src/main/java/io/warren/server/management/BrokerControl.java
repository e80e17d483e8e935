package io.warren.server.management;

import io.warren.server.flow.Watermark;

/**
 * What the management API asks of the broker for rabbitmqctl's node commands, which RabbitMQ
 * runs over Erlang distribution: {@code stop_app}, {@code start_app}, {@code stop} and
 * {@code set_disk_free_limit}. {@link io.warren.server.Broker} implements it. The API calls
 * the blocking methods on its worker thread, never on the HTTP event loop.
 */
public interface BrokerControl {
    /**
     * rabbitmqctl stop_app: closes the AMQP listeners and every client connection (320
     * CONNECTION_FORCED), the queues and the stores; the process, the management API, the data
     * dir lock and the resource monitor stay. A no-op when already stopped. Blocks.
     */
    void stopApp();

    /**
     * rabbitmqctl start_app: reopens the stores, recovers as a start does and listens again on
     * the same ports. A no-op when running. Blocks.
     */
    void startApp() throws Exception;

    /** rabbitmqctl stop: stops the whole broker (and its process) as bin/warren stop does. Returns at once. */
    void stopNode();

    /** rabbitmqctl set_disk_free_limit: in force at once (alarm set or cleared). */
    void setDiskFreeLimit(Watermark limit);

    /**
     * The cluster's nodes in the order the config lists them, each with whether it runs (up
     * at the last check); null for a single node.
     */
    default java.util.Map<String, Boolean> clusterNodes() {
        return null;
    }

    /**
     * Cluster: the counts of the queues the other running nodes hold, by {@link HeldCounts#key},
     * for this node's listings of its stand-ins; empty for a single node. Never fails: a node
     * that cannot be asked gives none (its queues then show this node's figures).
     */
    default java.util.concurrent.CompletableFuture<java.util.Map<String, HeldCounts.Counts>> heldElsewhere() {
        return java.util.concurrent.CompletableFuture.completedFuture(java.util.Map.of());
    }

    /**
     * Cluster: the answers of the other running nodes to a management API question
     * ({@link ClusterViews}); empty for a single node. Never fails: a node that cannot be asked
     * gives no answer.
     */
    default java.util.concurrent.CompletableFuture<java.util.List<byte[]>> askOthers(String question) {
        return java.util.concurrent.CompletableFuture.completedFuture(java.util.List.of());
    }

    /**
     * Cluster: running node {@code node}'s answer to a management API question
     * ({@link ClusterViews}); fails when there is no cluster or the node cannot be asked.
     */
    default java.util.concurrent.CompletableFuture<byte[]> askNode(String node, String question) {
        return java.util.concurrent.CompletableFuture.failedFuture(new IllegalStateException("not a cluster node"));
    }

    /**
     * rabbitmqctl forget_cluster_node: removes a stopped node from the cluster. Blocks until the
     * change is committed.
     *
     * @throws ClusterRefusal the HTTP status and reason of a refusal (not clustered, unknown node,
     *                        this node, a running node, no majority)
     */
    default void forgetClusterNode(String node) throws ClusterRefusal {
        throw new ClusterRefusal(400, "node is not part of a cluster (no cluster_formation in its config)");
    }

    /**
     * rabbitmqctl join_cluster: this node, its application stopped, leaves what it had (as
     * RabbitMQ resets a node that joins) and becomes a member of the cluster node {@code node}
     * ({@code NAME@HOST:PORT}, its inter-node port) is in. Blocks until it is.
     *
     * @throws ClusterRefusal not clustered, a bad node, this node, the application running (409),
     *                        already a member (409), the node unreachable or no majority (503)
     */
    default void joinCluster(String node) throws ClusterRefusal {
        throw new ClusterRefusal(400, "node is not part of a cluster (no cluster_formation in its config): give it "
                + "the cluster_formation keys, node.name, cluster.listener.port and cluster.secret_file first");
    }

    /**
     * The quorum queues with a member on this node that would lose their quorum were it stopped
     * (check_if_node_is_quorum_critical); null when this broker is no cluster node.
     */
    default java.util.List<io.warren.core.queue.MessageQueue> quorumCriticalQueues() {
        return null;
    }

    /**
     * rabbitmq-queues rebalance: moves the leaders of the quorum queues {@code which} accepts
     * over the cluster's running nodes; blocks until done. Null when this broker is no cluster
     * node (its quorum queues all live here: nothing to move).
     *
     * @throws ClusterRefusal 409 while another rebalance runs on this node
     */
    default java.util.List<io.warren.server.cluster.QueueRebalance.NodeCount> rebalanceQuorumQueues(
            java.util.function.Predicate<io.warren.core.queue.MessageQueue> which) throws ClusterRefusal {
        return null;
    }

    /**
     * rabbitmq-queues add_member ({@code add}: node {@code node} gets a copy of quorum queue
     * {@code q}) or delete_member (its copy goes); blocks until the group has made the change
     * (see QuorumQueues#addMember, #deleteMember). Only where {@link #quorumMembers} is not null
     * (a cluster node).
     */
    default void changeQuorumMember(io.warren.core.queue.MessageQueue q, String node, boolean add)
            throws ClusterRefusal {
        throw new ClusterRefusal(400, "node is not part of a cluster (no cluster_formation in its config)");
    }

    /** Whether node {@code node} is a node of this cluster that runs (this one: always); false when no cluster node. */
    default boolean nodeRunning(String node) {
        return false;
    }

    /** Quorum queue {@code q}'s members (node names); null when this broker is no cluster node. */
    default java.util.List<String> quorumMembers(io.warren.core.queue.MessageQueue q) {
        return null;
    }

    /** A cluster command refused: the management API's status and the one-line reason. */
    final class ClusterRefusal extends Exception {
        private final int status;
        private final String error;

        public ClusterRefusal(int status, String message) {
            this(status, null, message);
        }

        /** With {@code error}, the API's error field (RabbitMQ's error term, which warrenctl prints as rabbitmq-queues does). */
        public ClusterRefusal(int status, String error, String message) {
            super(message);
            this.status = status;
            this.error = error;
        }

        public int status() {
            return status;
        }

        /** The API's error field for this refusal, or null for the status's own. */
        public String error() {
            return error;
        }
    }
}
