package io.warren.core.vhost;

import io.netty.util.concurrent.EventExecutor;
import io.warren.core.BrokerException;
import io.warren.core.queue.Paging;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The broker's virtual hosts by name, with their description and tags (RabbitMQ's vhost
 * metadata). Creating and deleting vhosts is an operator's action, serialized on this object;
 * lookups (every connection.open) read a concurrent map.
 */
public final class VirtualHosts {
    /** A vhost's metadata. */
    public record Info(String description, List<String> tags) {
        public static final Info NONE = new Info("", List.of());
    }

    private final Map<String, VirtualHost> vhosts = new ConcurrentHashMap<>();
    private final Map<String, Info> info = new ConcurrentHashMap<>();
    private final EventExecutor[] loops;
    private final Durability durability;
    private final Paging paging;
    /** Queues created and deleted in every vhost since start (Prometheus' queues_created/deleted_total). */
    private final QueueChurn churn = new QueueChurn();
    /** The node's delayed-message store; null: x-delayed-message is not available. */
    private volatile io.warren.core.store.DelayStore delays;

    public VirtualHosts(EventExecutor[] loops, String defaultVhost) {
        this(loops, defaultVhost, Durability.NONE);
    }

    public VirtualHosts(EventExecutor[] loops, String defaultVhost, Durability durability) {
        this(loops, defaultVhost, durability, Paging.OFF);
    }

    /** With {@code paging}: how every queue bounds the message content it keeps in memory. */
    public VirtualHosts(EventExecutor[] loops, String defaultVhost, Durability durability, Paging paging) {
        this(loops, durability, paging);
        add(defaultVhost);
    }

    /** Without any vhost yet: the broker recovers the stored ones ({@link #recover}) or creates the default. */
    public VirtualHosts(EventExecutor[] loops, Durability durability, Paging paging) {
        this.loops = loops;
        this.durability = durability;
        this.paging = paging;
    }

    /** The protocol's dead-letter codec, given to every vhost (null: dead letters are dropped). */
    private volatile io.warren.core.deadletter.DeadLetterCodec deadLetterCodec;

    /** Installs the dead-letter codec (the server does, before recovery); existing vhosts get it too. */
    public void deadLetterCodec(io.warren.core.deadletter.DeadLetterCodec c) {
        deadLetterCodec = c;
        vhosts.values().forEach(v -> v.deadLetters().codec(c));
    }

    /** The vhost, created in memory when missing (not stored: see {@link #create}). */
    /** Queues created and deleted in all vhosts since the broker started. */
    public QueueChurn churn() {
        return churn;
    }

    public VirtualHost add(String name) {
        return vhosts.computeIfAbsent(name, n -> {
            VirtualHost v = new VirtualHost(n, loops, durability, paging);
            v.churn(churn);
            if (delays != null) {
                v.delays(delays);
            }
            v.deadLetters().codec(deadLetterCodec);
            v.remotes(remotes);
            return v;
        });
    }

    private volatile io.warren.core.queue.RemoteQueues remotes;

    /** What lets clients use queues other nodes hold; null on a single broker. */
    public io.warren.core.queue.RemoteQueues remotes() {
        return remotes;
    }

    /** Cluster: lets clients use queues other nodes hold, in every vhost ({@link VirtualHost#remotes}). */
    public synchronized void remotes(io.warren.core.queue.RemoteQueues r) {
        this.remotes = r;
        for (VirtualHost v : vhosts.values()) {
            v.remotes(r);
        }
    }

    /** Makes the x-delayed-message exchange type available in every vhost, its messages kept in {@code store}. */
    public synchronized void delays(io.warren.core.store.DelayStore store) {
        this.delays = store;
        for (VirtualHost v : vhosts.values()) {
            v.delays(store);
        }
    }

    /** The node's delayed-message store, or null. */
    public io.warren.core.store.DelayStore delays() {
        return delays;
    }

    /** Start-up: a stored vhost. */
    public VirtualHost recover(String name, Info i) {
        info.put(name, i);
        return add(name);
    }

    /**
     * Creates a vhost, stored (durable; see {@link Durability#whenDurable}); an existing one
     * keeps its contents and gets the new metadata. Returns true when it was created.
     */
    public synchronized boolean create(String name, Info i) {
        if (name == null || name.isEmpty()) {
            throw BrokerException.preconditionFailed("vhost name must not be empty");
        }
        boolean created = !vhosts.containsKey(name);
        info.put(name, i);
        durability.vhostAdded(name, i.description(), i.tags());
        add(name);
        return created;
    }

    /**
     * Deletes a vhost: removed from the map first (no new connection gets in), then its queues,
     * exchanges and bindings, then its record. The caller closes its connections. Returns the
     * deleted vhost, or null when there was none.
     */
    public synchronized VirtualHost delete(String name) {
        VirtualHost v = vhosts.remove(name);
        if (v == null) {
            return null;
        }
        v.deleteAll();
        info.remove(name);
        durability.vhostRemoved(name);
        return v;
    }

    public Info info(String name) {
        return info.getOrDefault(name, Info.NONE);
    }

    /** Calls {@code done} once vhost changes made so far are on disk (or failed). */
    public void whenDurable(io.warren.core.store.MessageStore.Durable done) {
        durability.whenDurable(done);
    }

    public Paging paging() {
        return paging;
    }

    public VirtualHost get(String name) {
        return vhosts.get(name);
    }

    public List<VirtualHost> all() {
        return List.copyOf(vhosts.values());
    }
}
