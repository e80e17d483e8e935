package io.warren.server.cluster;

import io.warren.amqp.connection.AmqpConnection;
import io.warren.amqp.server.BrokerContext;
import io.warren.core.auth.AccessControl;
import io.warren.core.policy.PolicyValidator;
import io.warren.core.store.ArgumentCodec;
import io.warren.core.store.DefinitionStore.BindingDef;
import io.warren.core.store.DefinitionStore.ExchangeDef;
import io.warren.core.store.DefinitionStore.PermissionDef;
import io.warren.core.store.DefinitionStore.PolicyDef;
import io.warren.core.store.DefinitionStore.TopicPermissionDef;
import io.warren.core.store.DefinitionStore.UserDef;
import io.warren.core.store.DefinitionStore.VhostDef;
import io.warren.core.store.MessageStore;
import io.warren.core.vhost.VirtualHost;
import io.warren.core.vhost.VirtualHosts;
import io.warren.store.definitions.ReplicatedDefinitionStore;
import io.warren.store.definitions.ReplicatedDefinitionStore.HomedQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies another node's definition changes to this node's running broker, as they come out
 * of the cluster's log: a declare on any node shows here too. Runs on the log's apply thread;
 * the calls it makes into vhosts and access control report the change back to the store, which
 * ignores them there (the log has it already).
 *
 * <p>A queue another node holds (durable or not, exclusive or not) becomes a stand-in here
 * ({@link VirtualHost#recoverRemoteQueue}); one this node holds (declared by an earlier run of
 * this node and committed after it stopped) gets its message store as at start-up.
 */
public final class ClusterChanges implements ReplicatedDefinitionStore.Changes {
    private static final Logger log = LoggerFactory.getLogger(ClusterChanges.class);

    private final String node;
    private final VirtualHosts vhosts;
    private final java.util.function.Supplier<AccessControl> access;
    /** The running broker's connections (closed when their vhost goes); null until it runs. */
    private final java.util.function.Supplier<BrokerContext> broker;
    private final ArgumentCodec codec;
    private final MessageStore messages;
    /** Makes the quorum queues another node declares, on this node too when it is a member. */
    private final io.warren.core.store.StoreDurability quorum;

    public ClusterChanges(String node, VirtualHosts vhosts, java.util.function.Supplier<AccessControl> access,
                          java.util.function.Supplier<BrokerContext> broker, ArgumentCodec codec,
                          MessageStore messages, io.warren.core.store.StoreDurability quorum) {
        this.quorum = quorum;
        this.node = node;
        this.vhosts = vhosts;
        this.access = access;
        this.broker = broker;
        this.codec = codec;
        this.messages = messages;
    }

    private VirtualHosts vhosts() {
        return vhosts;
    }

    private AccessControl access() {
        return access.get();
    }

    /** The vhost of a change; null (and a line in the log) when this node does not have it. */
    private VirtualHost vhost(String name, Object change) {
        VirtualHost v = vhosts().get(name);
        if (v == null) {
            log.warn("definition change for vhost '{}', which this node does not have: {}", name, change);
        }
        return v;
    }

    @Override public void put(Object d) {
        if (d instanceof VhostDef v) {
            vhosts().create(v.name(), new VirtualHosts.Info(v.description(), v.tags()));
        } else if (d instanceof UserDef u) {
            access().putUserWithHash(u.name(), u.passwordHash(), u.hashingAlgorithm(), u.tags());
        } else if (d instanceof PermissionDef p) {
            access().setPermissions(p.user(), p.vhost(), p.configure(), p.write(), p.read());
        } else if (d instanceof TopicPermissionDef t) {
            access().setTopicPermissions(t.user(), t.vhost(), t.exchange(), t.write(), t.read());
        } else if (d instanceof PolicyDef p) {
            VirtualHost v = vhost(p.vhost(), d);
            if (v != null) {
                v.putPolicy(PolicyValidator.policy(p.vhost(), p.name(), p.pattern(), p.applyTo(), p.priority(),
                        p.definition(), p.operator()), p.operator());
            }
        } else if (d == ReplicatedDefinitionStore.SEEDED) {
            access().markSeeded();
        } else if (d instanceof ExchangeDef x) {
            VirtualHost v = vhost(x.vhost(), d);
            if (v != null) {
                v.recoverExchange(x.name(), x.type(), x.durable(), x.autoDelete(), x.internal(),
                        codec.decode(x.arguments()));
            }
        } else if (d instanceof HomedQueue h) {
            VirtualHost v = vhost(h.queue().vhost(), d);
            if (v == null || v.queue(h.queue().name()) != null) {
                return;
            }
            if (quorum != null && io.warren.core.vhost.QueueArguments.quorum(codec.decode(h.queue().arguments()))) {
                quorum.recoverQuorumQueue(vhosts, h.queue(), h.home().equals(node) ? null : h.home());
            } else if (h.home().equals(node)) {
                if (h.queue().durable()) {
                    v.recoverQueue(h.queue().name(), h.queue().autoDelete(), codec.decode(h.queue().arguments()),
                            q -> q.attachStore(messages, h.queue().id()));
                } // else: a queue of an earlier run of this node, gone with it (its messages were in memory)
            } else {
                v.recoverRemoteQueue(h.queue().name(), h.queue().durable(), h.queue().exclusive(),
                        h.queue().autoDelete(), codec.decode(h.queue().arguments()), h.home());
            }
        } else if (d instanceof BindingDef b) {
            VirtualHost v = vhost(b.vhost(), d);
            if (v != null && !v.recoverBinding(b.source(), b.toQueue(), b.destination(), b.routingKey(),
                    codec.decode(b.arguments()))) {
                log.warn("binding {} -> {} in vhost '{}' from another node: an end is missing here", b.source(),
                        b.destination(), b.vhost());
            }
        }
    }

    @Override public void removed(Object d) {
        if (d instanceof VhostDef v) {
            VirtualHost gone = vhosts().delete(v.name());
            access().vhostDeleted(v.name());
            BrokerContext ctx = broker.get();
            if (gone != null && ctx != null) {
                for (AmqpConnection c : ctx.connections()) {
                    if (c.vhost() == gone) {
                        c.closeByOperator("vhost '" + v.name() + "' is deleted");
                    }
                }
            }
        } else if (d instanceof UserDef u) {
            access().deleteUser(u.name());
        } else if (d instanceof PermissionDef p) {
            access().clearPermissions(p.user(), p.vhost());
        } else if (d instanceof TopicPermissionDef t) {
            access().clearTopicPermissions(t.user(), t.vhost(), t.exchange());
        } else if (d instanceof PolicyDef p) {
            VirtualHost v = vhosts().get(p.vhost());
            if (v != null) {
                v.deletePolicy(p.name(), p.operator());
            }
        } else if (d instanceof ExchangeDef x) {
            VirtualHost v = vhosts().get(x.vhost());
            if (v != null && v.exchange(x.name()) != null) {
                v.deleteExchange(x.name(), false);
            }
        } else if (d instanceof HomedQueue h) {
            VirtualHost v = vhosts().get(h.queue().vhost());
            io.warren.core.queue.MessageQueue q = v == null ? null : v.queue(h.queue().name());
            if (q == null) {
                return;
            }
            // A non-durable queue goes where it is that queue: its holder, or a stand-in for it
            // (not a queue of the same name another node declared at the same instant).
            if (!h.queue().durable() && !(h.home().equals(node) ? q.remoteHome() == null
                    : h.home().equals(q.remoteHome()))) {
                return;
            }
            v.dropQueue(h.queue().name());
        } else if (d instanceof BindingDef b) {
            VirtualHost v = vhosts().get(b.vhost());
            if (v == null) {
                return;
            }
            if (b.toQueue()) {
                if (v.queue(b.destination()) != null) {
                    v.unbindQueue(b.destination(), b.source(), b.routingKey(), codec.decode(b.arguments()), null);
                }
            } else if (v.exchange(b.destination()) != null) {
                v.unbindExchange(b.destination(), b.source(), b.routingKey(), codec.decode(b.arguments()));
            }
        }
    }
}
