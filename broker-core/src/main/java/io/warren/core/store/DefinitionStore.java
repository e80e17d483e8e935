package io.warren.core.store;

import java.util.List;

/**
 * Durable exchanges, queues and bindings, and access control (vhosts, users, permissions). Arguments are stored as the protocol layer's encoded
 * table bytes ({@link ArgumentCodec}), so the store needs no knowledge of field types.
 * A change is taken in order when the method returns, without waiting for the disk (callers
 * are event loops); it is durable once a later {@link #sync} calls back.
 */
public interface DefinitionStore extends AutoCloseable {
    /**
     * An exchange; {@code durable} is false only in a store that {@link #keepsTransient} (a
     * cluster's), which carries non-durable exchanges to the other nodes too.
     */
    record ExchangeDef(String vhost, String name, String type, boolean autoDelete, boolean internal, byte[] arguments,
                       boolean durable) {
        public ExchangeDef(String vhost, String name, String type, boolean autoDelete, boolean internal,
                           byte[] arguments) {
            this(vhost, name, type, autoDelete, internal, arguments, true);
        }
    }

    /**
     * {@code id} is the queue's stable id, used by the {@link MessageStore} (0 for a queue that
     * is not durable). {@code durable} is false and {@code exclusive} true only in a store that
     * {@link #keepsTransient}.
     */
    record QueueDef(String vhost, String name, long id, boolean autoDelete, byte[] arguments, boolean durable,
                    boolean exclusive) {
        public QueueDef(String vhost, String name, long id, boolean autoDelete, byte[] arguments) {
            this(vhost, name, id, autoDelete, arguments, true, false);
        }
    }

    record BindingDef(String vhost, String source, boolean toQueue, String destination, String routingKey,
                      byte[] arguments) {}

    record Definitions(List<ExchangeDef> exchanges, List<QueueDef> queues, List<BindingDef> bindings) {}

    /** A virtual host (RabbitMQ's description and tags are kept for definitions export). */
    record VhostDef(String name, String description, List<String> tags) {}

    /** A user: RabbitMQ's password hash (base64, see PasswordHashing) and its algorithm; never a plain password. */
    record UserDef(String name, String passwordHash, String hashingAlgorithm, List<String> tags) {}

    /** A user's configure / write / read regular expressions in one vhost. */
    record PermissionDef(String user, String vhost, String configure, String write, String read) {}

    /** A user's write / read regular expressions on the routing keys of one topic exchange in one vhost. */
    record TopicPermissionDef(String user, String vhost, String exchange, String write, String read) {}

    /**
     * Access control: {@code seeded} is false only for a store that never had its default vhost
     * and user created (a new data dir, or one from before access control was stored).
     */
    record AccessDefinitions(boolean seeded, List<VhostDef> vhosts, List<UserDef> users,
                             List<PermissionDef> permissions, List<TopicPermissionDef> topicPermissions) {}

    /**
     * A policy or ({@code operator}) an operator policy of a vhost; {@code definition} holds JSON
     * values (String, Long, Double, Boolean, null, List, Map).
     */
    record PolicyDef(String vhost, String name, boolean operator, String pattern, String applyTo, int priority,
                     java.util.Map<String, Object> definition) {}

    void putExchange(ExchangeDef d);

    void removeExchange(String vhost, String name);

    void putQueue(QueueDef d);

    void removeQueue(String vhost, String name);

    void putBinding(BindingDef d);

    void removeBinding(BindingDef d);

    void putVhost(VhostDef d);

    void removeVhost(String name);

    void putUser(UserDef d);

    void removeUser(String name);

    void putPermission(PermissionDef d);

    void removePermission(String user, String vhost);

    void putTopicPermission(TopicPermissionDef d);

    void removeTopicPermission(String user, String vhost, String exchange);

    /** Records that the default vhost and user were created: they are not created again at the next start. */
    void markSeeded();

    AccessDefinitions loadAccess();

    /** Sets (creates or replaces) a policy. Stores without policies refuse. */
    default void putPolicy(PolicyDef d) {
        throw new UnsupportedOperationException("this definition store keeps no policies");
    }

    default void removePolicy(String vhost, String name, boolean operator) {
        throw new UnsupportedOperationException("this definition store keeps no policies");
    }

    /** Every stored policy and operator policy. */
    default List<PolicyDef> loadPolicies() {
        return List.of();
    }

    /**
     * In a cluster: the other node that holds durable queue {@code name}, or null when this node
     * holds it (always null on a single node).
     */
    default String remoteHome(String vhost, String name) {
        return null;
    }

    /**
     * Whether non-durable exchanges and queues (exclusive ones too) and the bindings to and from
     * them are kept as well: in a cluster, where every node must see the whole topology (they
     * are not kept across the cluster's restart). A single node's store keeps the durable only.
     */
    default boolean keepsTransient() {
        return false;
    }

    /** A new queue id, never handed out before (survives restarts). */
    long nextQueueId();

    Definitions load();

    /** Calls {@code done} once every change made before is durable (or failed); any thread. */
    void sync(MessageStore.Durable done);

    @Override void close();
}
