package io.warren.core.store;

import io.warren.core.exchange.Binding;
import io.warren.core.exchange.Exchange;
import io.warren.core.queue.MessageQueue;
import io.warren.core.store.DefinitionStore.BindingDef;
import io.warren.core.store.DefinitionStore.ExchangeDef;
import io.warren.core.store.DefinitionStore.QueueDef;
import io.warren.core.vhost.Durability;
import io.warren.core.vhost.VirtualHost;
import io.warren.core.vhost.VirtualHosts;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * Keeps durable topology in a {@link DefinitionStore} and gives durable queues the
 * {@link MessageStore}; {@link #recover} rebuilds both at start-up.
 *
 * <p>Definition changes are handed to the store without waiting for the disk (the caller is an
 * event loop); the broker sends declare-ok and friends from {@link #whenDurable}, so a reply
 * never promises a durability that a crash would break.
 */
public final class StoreDurability implements Durability {
    private static final Logger log = LoggerFactory.getLogger(StoreDurability.class);

    private final DefinitionStore definitions;
    private final MessageStore messages;
    private final ArgumentCodec codec;

    public StoreDurability(DefinitionStore definitions, MessageStore messages, ArgumentCodec codec) {
        this(definitions, messages, codec, null);
    }

    /**
     * Where a cluster's quorum queues keep their messages: each in its own replicated log, not in
     * this node's journal.
     */
    public interface QuorumStores {
        /**
         * Gives quorum queue {@code q} (store id {@code id}, declared on node {@code home}; null:
         * this node) its replicated store, if this node is one of its members; until this node
         * leads it, {@code q} stands in for the queue its leader holds. {@code declared}: a
         * declare through this node made it just now (its first leader is to be placed), not a
         * recovery. False: not a member.
         */
        boolean attach(String vhost, MessageQueue q, long id, String home, boolean declared);

        /** The queue is deleted: this node leaves its group (its copy of the log is removed). */
        void detach(String vhost, MessageQueue q);

        /** Calls {@code done} once every queue attached so far has a leader (or after a bound wait). */
        void whenElected(Runnable done);
    }

    private final QuorumStores quorumStores;
    /** What a quorum queue's stand-in names as its leader until its group has one. */
    public static final String ELECTING = "(electing a leader)";

    public StoreDurability(DefinitionStore definitions, MessageStore messages, ArgumentCodec codec,
                           QuorumStores quorumStores) {
        this.definitions = definitions;
        this.messages = messages;
        this.codec = codec;
        this.quorumStores = quorumStores;
    }

    @Override public void whenDurable(MessageStore.Durable done) {
        if (quorumStores == null) {
            definitions.sync(done);
        } else {
            // a declared quorum queue answers once it has a leader: a consume right after it works
            definitions.sync(failure -> quorumStores.whenElected(() -> done.done(failure)));
        }
    }

    /** Cluster: a quorum queue another node declared (or this node, in an earlier run). */
    public MessageQueue recoverQuorumQueue(VirtualHosts vhosts, QueueDef q, String home) {
        MessageQueue queue = vhost(vhosts, q.vhost()).recoverRemoteQueue(q.name(), q.autoDelete(),
                codec.decode(q.arguments()), ELECTING);
        if (queue.store() == null) {
            quorumStores.attach(q.vhost(), queue, q.id(), home, false);
        }
        return queue;
    }

    @Override public void vhostAdded(String name, String description, List<String> tags) {
        definitions.putVhost(new DefinitionStore.VhostDef(name, description, List.copyOf(tags)));
    }

    @Override public void policyAdded(String vhost, io.warren.core.policy.Policy p, boolean operator) {
        definitions.putPolicy(new DefinitionStore.PolicyDef(vhost, p.name(), operator, p.pattern(),
                p.applyTo().wireName(), p.priority(), p.definition()));
    }

    @Override public void policyRemoved(String vhost, String name, boolean operator) {
        definitions.removePolicy(vhost, name, operator);
    }

    @Override public void vhostRemoved(String name) {
        definitions.removeVhost(name);
    }

    /** Whether the store keeps a definition that is (not) durable. */
    private boolean kept(boolean durable) {
        return durable || definitions.keepsTransient();
    }

    @Override public void exchangeAdded(String vhost, Exchange x) {
        if (kept(x.durable())) {
            definitions.putExchange(new ExchangeDef(vhost, x.name(), x.type().wireName(), x.autoDelete(),
                    x.internal(), codec.encode(x.arguments()), x.durable()));
        }
    }

    @Override public void exchangeRemoved(String vhost, Exchange x) {
        if (kept(x.durable())) {
            definitions.removeExchange(vhost, x.name());
        }
    }

    @Override public void queueAdded(String vhost, MessageQueue q) {
        if (!q.durable()) {
            // A cluster's non-durable queue: its definition reaches every node, its messages stay
            // in this node's memory (no store id, no journal).
            if (definitions.keepsTransient()) {
                definitions.putQueue(new QueueDef(vhost, q.name(), 0, q.autoDelete(), codec.encode(q.arguments()),
                        false, q.exclusive()));
            }
            return;
        }
        long id = definitions.nextQueueId();
        if (q.quorum() && quorumStores != null) {
            quorumStores.attach(vhost, q, id, null, true);
        } else {
            q.attachStore(messages, id);
        }
        definitions.putQueue(new QueueDef(vhost, q.name(), id, q.autoDelete(), codec.encode(q.arguments())));
    }

    @Override public void queueRemoved(String vhost, MessageQueue q) {
        if (!kept(q.durable())) {
            return;
        }
        if (q.quorum() && quorumStores != null) {
            quorumStores.detach(vhost, q);
        }
        definitions.removeQueue(vhost, q.name());
    }

    @Override public void bindingAdded(String vhost, Binding b) {
        if (kept(durable(b))) {
            definitions.putBinding(def(vhost, b));
        }
    }

    @Override public void bindingRemoved(String vhost, Binding b) {
        if (kept(durable(b))) {
            definitions.removeBinding(def(vhost, b));
        }
    }

    private static boolean durable(Binding b) {
        boolean destDurable = b.destination() instanceof MessageQueue q ? q.durable()
                : b.destination() instanceof Exchange x && x.durable();
        return b.source().durable() && destDurable;
    }

    private BindingDef def(String vhost, Binding b) {
        return new BindingDef(vhost, b.source().name(), b.destination() instanceof MessageQueue,
                b.destination().name(), b.routingKey(), codec.encode(canonical(b.arguments())));
    }

    /**
     * Binding arguments with their keys sorted, nested tables too. Two bindings are the same
     * when their arguments are equal as maps, whatever the order (RabbitMQ 3.10 compares
     * tables sorted: an unbind naming the arguments in another order removes the binding), so
     * the stored bytes must not depend on the order either: otherwise the unbind's encoding
     * misses the stored one and the binding comes back at the next start.
     */
    static Map<String, Object> canonical(Map<String, Object> table) {
        Map<String, Object> sorted = new TreeMap<>(table);
        Map<String, Object> out = new LinkedHashMap<>();
        sorted.forEach((k, v) -> out.put(k, canonicalValue(v)));
        return out;
    }

    @SuppressWarnings("unchecked")
    private static Object canonicalValue(Object v) {
        if (v instanceof Map<?, ?> m) {
            return canonical((Map<String, Object>) m);
        }
        if (v instanceof List<?> l) {
            List<Object> out = new ArrayList<>(l.size());
            l.forEach(e -> out.add(canonicalValue(e)));
            return out;
        }
        return v;
    }

    /**
     * Start-up, before the listener opens: exchanges, then queues, then bindings, then each
     * queue's messages in their original order (content left on disk until needed).
     */
    /** Recovered messages handed to a queue's loop at a time. */
    static final int RECOVERY_CHUNK = 4096;
    /** Chunks on their way to the loops before recovery waits for them: bounds the heap it holds. */
    static final int RECOVERY_IN_FLIGHT = 16;

    private static void handOver(MessageQueue q, List<MessageStore.StoredMessage> chunk,
                                 List<io.netty.util.concurrent.Future<?>> inFlight) {
        inFlight.add(q.loop().submit(() -> q.recover(chunk)));
        if (inFlight.size() >= RECOVERY_IN_FLIGHT) {
            inFlight.forEach(io.netty.util.concurrent.Future::syncUninterruptibly);
            inFlight.clear();
        }
    }

    /**
     * The vhost of a stored definition. One without a stored vhost record comes from a data dir
     * written before vhosts were stored (only the default vhost existed then): it gets its record.
     */
    private static VirtualHost vhost(VirtualHosts vhosts, String name) {
        VirtualHost v = vhosts.get(name);
        if (v == null) {
            vhosts.create(name, VirtualHosts.Info.NONE);
            v = vhosts.get(name);
        }
        return v;
    }

    public void recover(VirtualHosts vhosts) {
        long start = System.nanoTime();
        DefinitionStore.Definitions d = definitions.load();
        for (DefinitionStore.VhostDef v : definitions.loadAccess().vhosts()) {
            vhosts.recover(v.name(), new VirtualHosts.Info(v.description(), v.tags()));
        }
        // Policies before what they apply to: each exchange and queue gets its policy as it is recovered.
        for (DefinitionStore.PolicyDef p : definitions.loadPolicies()) {
            VirtualHost v = vhosts.get(p.vhost());
            if (v == null) {
                log.warn("dropping stored policy '{}' of vhost '{}', which no longer exists", p.name(), p.vhost());
                definitions.removePolicy(p.vhost(), p.name(), p.operator());
                continue;
            }
            try {
                v.recoverPolicy(io.warren.core.policy.PolicyValidator.policy(p.vhost(), p.name(), p.pattern(),
                        p.applyTo(), p.priority(), p.definition(), p.operator()), p.operator());
            } catch (io.warren.core.policy.PolicyException e) {
                // Stored by a broker that accepted it (e.g. a key this one no longer takes): say so, keep it
                // on disk, and start without it rather than not at all.
                log.error("stored policy '{}' of vhost '{}' is not valid for this broker, not applied: {}", p.name(),
                        p.vhost(), e.getMessage().replace('\n', ' ').strip());
            }
        }
        for (ExchangeDef x : d.exchanges()) {
            vhost(vhosts, x.vhost()).recoverExchange(x.name(), x.type(), x.durable(), x.autoDelete(), x.internal(),
                    codec.decode(x.arguments()));
        }
        Map<Long, MessageQueue> byId = new HashMap<>();
        // "vhost\0name" of this node's queues of an earlier run that were not durable: gone with it.
        java.util.Set<String> over = new java.util.HashSet<>();
        for (QueueDef q : d.queues()) {
            String home = definitions.remoteHome(q.vhost(), q.name());
            if (!q.durable()) {
                // A cluster's non-durable queue: another node's is a stand-in here (its messages
                // are in that node's memory); this node's own is of an earlier run (or from before
                // a stop_app) and gone: the cluster is told (its start record did already, after a restart).
                if (home == null) {
                    over.add(q.vhost() + "\0" + q.name());
                    definitions.removeQueue(q.vhost(), q.name());
                } else {
                    vhost(vhosts, q.vhost()).recoverRemoteQueue(q.name(), false, q.exclusive(), q.autoDelete(),
                            codec.decode(q.arguments()), home);
                }
                continue;
            }
            if (quorumStores != null && io.warren.core.vhost.QueueArguments.quorum(codec.decode(q.arguments()))) {
                // its messages are in its replicated log; it leads here once its group says so
                MessageQueue queue = recoverQuorumQueue(vhosts, q, home);
                byId.put(q.id(), queue);
                continue;
            }
            if (home != null) {
                // A cluster's queue on another node: its definition only (its messages are there).
                vhost(vhosts, q.vhost()).recoverRemoteQueue(q.name(), q.autoDelete(), codec.decode(q.arguments()),
                        home);
                continue;
            }
            MessageQueue queue = vhost(vhosts, q.vhost()).recoverQueue(q.name(), q.autoDelete(),
                    codec.decode(q.arguments()), mq -> mq.attachStore(messages, q.id()));
            byId.put(q.id(), queue);
        }
        for (BindingDef b : d.bindings()) {
            if (b.toQueue() && over.contains(b.vhost() + "\0" + b.destination())) {
                definitions.removeBinding(b); // its queue is gone
                continue;
            }
            VirtualHost v = vhost(vhosts, b.vhost());
            Map<String, Object> args = codec.decode(b.arguments());
            if (!v.recoverBinding(b.source(), b.toQueue(), b.destination(), b.routingKey(), args)) {
                log.warn("dropping stored binding {} -> {} in vhost '{}': an end no longer exists", b.source(),
                        b.destination(), b.vhost());
                definitions.removeBinding(b);
                continue;
            }
            byte[] canonical = codec.encode(canonical(args));
            if (!Arrays.equals(canonical, b.arguments())) {
                // Stored before arguments were sorted: rewrite it so that an unbind can find it.
                definitions.removeBinding(b);
                definitions.putBinding(new BindingDef(b.vhost(), b.source(), b.toQueue(), b.destination(),
                        b.routingKey(), canonical));
            }
        }
        // Handed to the queues in chunks as the store reads them, so the heap never holds the
        // whole backlog: a queue keeps what fits its paging bound and spills the rest.
        Map<Long, List<MessageStore.StoredMessage>> perQueue = new HashMap<>();
        List<io.netty.util.concurrent.Future<?>> inFlight = new ArrayList<>();
        long[] counts = {0, 0}; // recovered, orphans
        // A large store takes a while: a line every 5 s says how far it got (RabbitMQ logs its
        // queue index recovery progress the same way).
        io.warren.core.log.ProgressLog progress = new io.warren.core.log.ProgressLog(log, "recovering messages",
                messages.recoverableSlots());
        messages.recover((queueId, m) -> {
            progress.advance(counts[0] + counts[1] + 1);
            MessageQueue q = byId.get(queueId);
            if (q == null) {
                messages.remove(m.ref()); // its queue was deleted before the stop
                counts[1]++;
                return;
            }
            List<MessageStore.StoredMessage> chunk = perQueue.computeIfAbsent(queueId, k -> new ArrayList<>());
            chunk.add(m);
            counts[0]++;
            if (chunk.size() == RECOVERY_CHUNK) {
                perQueue.remove(queueId);
                handOver(q, chunk, inFlight);
            }
        });
        for (Map.Entry<Long, List<MessageStore.StoredMessage>> e : perQueue.entrySet()) {
            handOver(byId.get(e.getKey()), e.getValue(), inFlight);
        }
        inFlight.forEach(io.netty.util.concurrent.Future::syncUninterruptibly);
        long count = counts[0];
        long[] orphans = {counts[1]};
        if (orphans[0] > 0) {
            // Messages of a queue whose definition never reached the disk (a crash right after a
            // nowait declare): their removal must be durable before a new queue can take that id.
            java.util.concurrent.CompletableFuture<Throwable> removed = new java.util.concurrent.CompletableFuture<>();
            messages.sync(removed::complete);
            Throwable failure = removed.join();
            if (failure != null) {
                throw new StoreException("cannot remove the messages of deleted queues: " + failure, failure);
            }
        }
        log.info("recovered {} exchanges, {} queues, {} bindings and {} messages in {} ms{}", d.exchanges().size(),
                d.queues().size(), d.bindings().size(), count,
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start),
                orphans[0] > 0 ? " (" + orphans[0] + " messages of deleted queues dropped)" : "");
    }
}
