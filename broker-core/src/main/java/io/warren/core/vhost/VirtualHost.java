package io.warren.core.vhost;

import io.netty.util.concurrent.EventExecutor;
import io.warren.core.BrokerException;
import io.warren.core.exchange.Binding;
import io.warren.core.exchange.DefaultExchange;
import io.warren.core.exchange.Destination;
import io.warren.core.exchange.Exchange;
import io.warren.core.exchange.ExchangeType;
import io.warren.core.policy.Applied;
import io.warren.core.policy.Policy;
import io.warren.core.queue.MessageQueue;

import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A virtual host: its exchanges, queues and bindings. Lookups (every publish) read concurrent
 * maps without locking; topology changes (declare, delete, bind, unbind) are rare and take
 * {@link #topologyLock}, so each sees and leaves a consistent graph.
 */
public final class VirtualHost {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(VirtualHost.class);
    private static final SecureRandom RANDOM = new SecureRandom();

    private final String name;
    private final EventExecutor[] loops;
    private final Object topologyLock = new Object();
    private final Map<String, Exchange> exchanges = new ConcurrentHashMap<>();
    private final Map<String, MessageQueue> queues = new ConcurrentHashMap<>();
    private final DefaultExchange defaultExchange;
    private final Durability durability;

    private final io.warren.core.queue.Paging paging;
    /** Where x-delayed-message exchanges keep their messages; null: the type is not available. */
    private volatile io.warren.core.store.DelayStore delays;
    /** Where queue creations and deletions are counted: the broker's (VirtualHosts sets it), or this vhost's own. */
    private volatile QueueChurn churn = new QueueChurn();

    // ---- policies: written under topologyLock, read by lookups and listings from any thread ----
    private final Map<String, Policy> policies = new ConcurrentHashMap<>();
    private final Map<String, Policy> operatorPolicies = new ConcurrentHashMap<>();
    /** What applies to each queue and exchange now (absent: nothing), as last handed to it. */
    private final Map<String, Applied> queuePolicies = new ConcurrentHashMap<>();
    private final Map<String, Applied> exchangePolicies = new ConcurrentHashMap<>();
    /** Republishes the queues' dead letters to their dead-letter exchanges in this vhost. */
    private final io.warren.core.deadletter.DeadLetters deadLetters =
            new io.warren.core.deadletter.DeadLetters(exchanges::get);

    public VirtualHost(String name, EventExecutor[] loops) {
        this(name, loops, Durability.NONE);
    }

    /** Counts this vhost's queue creations and deletions in {@code c} (the broker-wide counts). */
    void churn(QueueChurn c) {
        churn = c;
    }

    public VirtualHost(String name, EventExecutor[] loops, Durability durability) {
        this(name, loops, durability, io.warren.core.queue.Paging.OFF);
    }

    public VirtualHost(String name, EventExecutor[] loops, Durability durability, io.warren.core.queue.Paging paging) {
        this.paging = paging;
        this.name = name;
        this.loops = loops;
        this.durability = durability;
        this.defaultExchange = new DefaultExchange(queues::get);
        exchanges.put("", defaultExchange);
        for (ExchangeType t : ExchangeType.values()) {
            if (!t.standard()) {
                continue;
            }
            String n = "amq." + t.wireName();
            exchanges.put(n, Exchange.create(n, t, true, false, false, Map.of()));
        }
        exchanges.put("amq.match", Exchange.create("amq.match", ExchangeType.HEADERS, true, false, false, Map.of()));
    }

    /** Cluster: how stand-ins reach the queues other nodes hold (null: not clustered). */
    private volatile io.warren.core.queue.RemoteQueues remotes;

    /** Cluster: lets this node's clients use queues that other nodes hold ({@link MessageQueue#remotes}). */
    public void remotes(io.warren.core.queue.RemoteQueues r) {
        synchronized (topologyLock) {
            remotes = r;
            queues.values().forEach(q -> q.remotes(r));
        }
    }

    /** Makes x-delayed-message available, its messages kept in {@code store}. */
    public void delays(io.warren.core.store.DelayStore store) {
        this.delays = store;
        for (Exchange x : exchanges.values()) {
            if (x instanceof io.warren.core.exchange.DelayedExchange dx) {
                dx.attachStore(store, name);
            }
        }
    }

    /** Connects a new exchange to its vhost: its siblings (alternate exchange), the delay store. */
    private void attach(Exchange x) {
        x.attach(exchanges::get);
        if (x instanceof io.warren.core.exchange.DelayedExchange dx) {
            dx.attachStore(delays, name);
        }
    }

    /** x-delayed-message needs the node's delay store: without one it is RabbitMQ's type whose plugin is off. */
    private void checkTypeAvailable(ExchangeType type) {
        if (type == ExchangeType.DELAYED && delays == null) {
            throw BrokerException.commandInvalid("invalid exchange type '%s'", type.wireName());
        }
    }

    public String name() {
        return name;
    }

    /** The dead-lettering of this vhost's queues (the server installs its codec). */
    public io.warren.core.deadletter.DeadLetters deadLetters() {
        return deadLetters;
    }

    // ---- lookups ------------------------------------------------------------------------

    public Exchange exchange(String exchangeName) {
        return exchanges.get(exchangeName);
    }

    public MessageQueue queue(String queueName) {
        return queues.get(queueName);
    }

    public List<MessageQueue> queues() {
        return new ArrayList<>(queues.values());
    }

    public List<Exchange> exchanges() {
        return new ArrayList<>(exchanges.values());
    }

    /** The exchange, or NOT_FOUND. */
    public Exchange existingExchange(String exchangeName) {
        Exchange x = exchanges.get(exchangeName);
        if (x == null) {
            throw BrokerException.notFound("no exchange '%s' in vhost '%s'", exchangeName, name);
        }
        return x;
    }

    /**
     * A queue a client consumes, gets from or purges: as {@link #existingQueue}, but a queue
     * another node holds is returned too (its stand-in reaches the holder) when this node can
     * forward, unless {@code relayed}: a use that another node relayed here is never relayed on
     * (two nodes that disagree for a moment on who holds a queue would pass it back and forth).
     */
    public MessageQueue queueForClient(String queueName, Object connection, boolean relayed) {
        MessageQueue q = queues.get(queueName);
        if (q != null && q.remoteHome() != null && q.remotes() != null && !relayed) {
            checkExclusiveAccess(q, connection);
            return q;
        }
        return existingQueue(queueName, connection);
    }

    /** The queue, or NOT_FOUND; RESOURCE_LOCKED when another connection owns it exclusively. */
    public MessageQueue existingQueue(String queueName, Object connection) {
        MessageQueue q = queues.get(queueName);
        if (q == null) {
            throw BrokerException.notFound("no queue '%s' in vhost '%s'", queueName, name);
        }
        if (q.remoteHome() != null) {
            throw q.remoteUse();
        }
        checkExclusiveAccess(q, connection);
        return q;
    }

    /** The owner of another node's exclusive queue here: a connection to that node, never one of this node's. */
    private static final Object ELSEWHERE = new Object() {
        @Override public String toString() {
            return "a connection to another node";
        }
    };

    /** RESOURCE_LOCKED unless {@code connection} may use {@code q} (it is not exclusive, or this connection owns it). */
    public void checkExclusiveAccess(MessageQueue q, Object connection) {
        if (q.exclusive() && q.exclusiveOwner() != connection) {
            throw locked(q);
        }
    }

    private BrokerException locked(MessageQueue q) {
        return BrokerException.resourceLocked("cannot obtain exclusive access to locked queue '%s' in vhost '%s'."
                + " It could be originally declared on another connection or the exclusive property value does"
                + " not match that of the original declaration.", q.name(), name);
    }

    // ---- exchanges -----------------------------------------------------------------------

    public Exchange declareExchange(String exchangeName, String typeName, boolean passive, boolean durable,
                                    boolean autoDelete, boolean internal, Map<String, Object> args) {
        if (passive) {
            checkNotDefault(exchangeName);
            return existingExchange(exchangeName);
        }
        ExchangeType type = ExchangeType.of(typeName);
        checkTypeAvailable(type);
        checkNotDefault(exchangeName);
        synchronized (topologyLock) {
            Exchange x = exchanges.get(exchangeName);
            if (x == null) {
                checkName("exchange", exchangeName);
                Exchange.checkArguments(exchangeName, name, type, args);
                x = Exchange.create(exchangeName, type, durable, autoDelete, internal, args);
                durability.exchangeAdded(name, x); // it keeps what it needs (durable ones; every one in a cluster)
                attach(x);
                applyPolicies(x);
                exchanges.put(exchangeName, x);
                topologyGrew();
                return x;
            }
            checkExchangeEquivalent(x, typeName, durable, autoDelete, internal, args);
            return x;
        }
    }

    private void checkExchangeEquivalent(Exchange x, String typeName, boolean durable, boolean autoDelete,
                                         boolean internal, Map<String, Object> args) {
        String exchangeName = x.name();
        checkEquivalent("exchange", exchangeName, "type", typeName, x.type().wireName());
        checkEquivalent("exchange", exchangeName, "durable", durable, x.durable());
        checkEquivalent("exchange", exchangeName, "auto_delete", autoDelete, x.autoDelete());
        checkEquivalent("exchange", exchangeName, "internal", internal, x.internal());
        // RabbitMQ compares no other exchange argument on redeclare.
        ArgumentEquivalence.check("exchange '" + exchangeName + "' in vhost '" + name + "'", "alternate-exchange",
                args == null ? null : args.get("alternate-exchange"), x.arguments().get("alternate-exchange"));
    }

    // ---- dry runs: a definitions import checks a whole document before it changes anything ----

    /**
     * Throws what {@link #declareExchange} (not passive) would throw now, without declaring
     * anything: an unknown type, the default or an amq.* name, an inequivalent redeclare.
     */
    public void checkExchangeDeclaration(String exchangeName, String typeName, boolean durable, boolean autoDelete,
                                         boolean internal, Map<String, Object> args) {
        ExchangeType type = ExchangeType.of(typeName);
        checkTypeAvailable(type);
        checkNotDefault(exchangeName);
        synchronized (topologyLock) {
            Exchange x = exchanges.get(exchangeName);
            if (x == null) {
                checkName("exchange", exchangeName);
                Exchange.checkArguments(exchangeName, name, type, args);
            } else {
                checkExchangeEquivalent(x, typeName, durable, autoDelete, internal, args);
            }
        }
    }

    /**
     * Throws what {@link #declareQueue} of a shared (not exclusive) queue would throw now, without
     * declaring anything: an amq.* name, invalid x-arguments, an inequivalent redeclare, an
     * existing exclusive queue.
     */
    public void checkQueueDeclaration(String queueName, boolean durable, boolean autoDelete, Map<String, Object> args) {
        checkName("queue", queueName);
        synchronized (topologyLock) {
            MessageQueue q = queues.get(queueName);
            if (q == null) {
                QueueArguments.validate(queueName, name, args, durable, autoDelete, false);
                return;
            }
            if (q.exclusiveOwner() != null) {
                throw locked(q);
            }
            checkEquivalent("queue", queueName, "durable", durable, q.durable());
            checkEquivalent("queue", queueName, "auto_delete", autoDelete, q.autoDelete());
            QueueArguments.checkEquivalent(queueName, name, args, q.arguments());
        }
    }

    /** Throws what declaring a new queue with {@code args} in vhost {@code vhost} would throw (invalid x-arguments). */
    public static void checkQueueArguments(String queueName, String vhost, boolean durable, boolean autoDelete,
                                           Map<String, Object> args) {
        QueueArguments.validate(queueName, vhost, args, durable, autoDelete, false);
    }

    /** The type of the amq.* exchange every vhost is created with under that name, or null. */
    public static ExchangeType builtInExchangeType(String exchangeName) {
        if (exchangeName.equals("amq.match")) {
            return ExchangeType.HEADERS;
        }
        for (ExchangeType t : ExchangeType.values()) {
            if (t.standard() && exchangeName.equals("amq." + t.wireName())) {
                return t;
            }
        }
        return null;
    }

    /** Throws what binding from an exchange of type {@code sourceType} with {@code args} would throw (headers' x-match). */
    public static void checkBindingArguments(String sourceType, String key, Map<String, Object> args) {
        ExchangeType type = ExchangeType.of(sourceType);
        if (type == ExchangeType.DELAYED) {
            return; // its bindings are checked by the underlying type, which the source's arguments name
        }
        Exchange probe = Exchange.create("probe", type, false, false, false, Map.of());
        probe.validateBinding(new Binding(probe, probe, key, args));
    }

    public void deleteExchange(String exchangeName, boolean ifUnused) {
        checkNotDefault(exchangeName);
        if (exchangeName.startsWith("amq.")) {
            throw BrokerException.accessRefused("deletion of system exchange '%s' in vhost '%s' not allowed",
                    exchangeName, name);
        }
        synchronized (topologyLock) {
            Exchange x = exchanges.get(exchangeName);
            if (x == null) {
                return; // RabbitMQ 3.10: deleting a missing exchange succeeds
            }
            if (ifUnused && x.hasBindings()) {
                throw BrokerException.preconditionFailed("exchange '%s' in vhost '%s' in use", exchangeName, name);
            }
            removeExchange(x);
        }
    }

    private void removeExchange(Exchange x) {
        exchanges.remove(x.name());
        exchangePolicies.remove(x.name());
        io.warren.core.store.DelayStore d = delays;
        if (x instanceof io.warren.core.exchange.DelayedExchange && d != null) {
            d.exchangeDeleted(name, x.name()); // as the plugin: its waiting messages go with it
        }
        for (Binding b : x.bindings()) {
            x.removeBinding(b);
            durability.bindingRemoved(name, b);
        }
        durability.exchangeRemoved(name, x);
        for (Exchange other : exchanges.values()) {
            if (other != defaultExchange) {
                unbindAll(other, x);
            }
        }
    }

    private void checkNotDefault(String exchangeName) {
        if (exchangeName.isEmpty()) {
            throw BrokerException.accessRefused("operation not permitted on the default exchange");
        }
    }

    private static void checkName(String kind, String n) {
        if (n.startsWith("amq.")) {
            throw BrokerException.accessRefused("%s name '%s' contains reserved prefix 'amq.*'", kind, n);
        }
    }

    private void checkEquivalent(String kind, String n, String arg, Object received, Object current) {
        if (!Objects.equals(received, current)) {
            throw BrokerException.preconditionFailed(
                    "inequivalent arg '%s' for %s '%s' in vhost '%s': received '%s' but current is '%s'",
                    arg, kind, n, name, received, current);
        }
    }

    // ---- queues ------------------------------------------------------------------------

    /** Result of a queue declaration. */
    public record Declared(MessageQueue queue, boolean created) {}

    public Declared declareQueue(String queueName, boolean passive, boolean durable, boolean exclusive,
                                 boolean autoDelete, Map<String, Object> args, Object connection) {
        return declareQueue(queueName, passive, durable, exclusive, autoDelete, args, connection, n -> { });
    }

    /**
     * As above; {@code authorize} is called with the queue's actual name (a server-generated
     * one too) before anything is looked up or created, as RabbitMQ checks configure access.
     */
    public Declared declareQueue(String queueName, boolean passive, boolean durable, boolean exclusive,
                                 boolean autoDelete, Map<String, Object> args, Object connection,
                                 java.util.function.Consumer<String> authorize) {
        if (passive) {
            MessageQueue standIn = queues.get(queueName);
            if (standIn != null && standIn.remoteHome() != null && (standIn.quorum() || standIn.remotes() != null)) {
                // A quorum queue is declared through any node; a classic queue held elsewhere
                // when this node can ask its holder for the counts (RemoteQueues#counts).
                checkExclusiveAccess(standIn, connection);
                return new Declared(standIn, false);
            }
            MessageQueue existing = existingQueue(queueName, connection);
            existing.markUsed(); // a declare, passive too, renews an x-expires lease (RabbitMQ)
            return new Declared(existing, false);
        }
        String n = queueName.isEmpty() ? generatedName() : queueName;
        if (!queueName.isEmpty()) {
            // RabbitMQ checks the reserved prefix before looking the queue up: not even a
            // server-named queue can be redeclared by its name (passive declares can).
            checkName("queue", n);
        }
        authorize.accept(n);
        // RabbitMQ 3.10: "Durable = DurableDeclare andalso not ExclusiveDeclare" - an exclusive
        // queue dies with its connection, so it is never durable, whatever the flag says.
        boolean isDurable = durable && !exclusive;
        Object owner = exclusive ? connection : null;
        synchronized (topologyLock) {
            MessageQueue q = queues.get(n);
            if (q != null) {
                if (q.remoteHome() != null && !q.quorum() && q.remotes() == null) {
                    throw q.remoteUse(); // the definition is here, the holder cannot be asked for counts
                }
                // Exclusivity is checked first and strictly (rabbit_amqqueue:assert_equivalence): an
                // exclusive declare must come from the owner, a shared one must find a shared queue.
                if (q.exclusiveOwner() != owner) {
                    throw locked(q);
                }
                checkEquivalent("queue", n, "durable", isDurable, q.durable());
                checkEquivalent("queue", n, "auto_delete", autoDelete, q.autoDelete());
                QueueArguments.checkEquivalent(n, name, args, q.arguments());
                q.markUsed();
                return new Declared(q, false);
            }
            // Arguments are validated only for a new queue; a redeclare compares them instead.
            QueueArguments.validate(n, name, args, durable, autoDelete, exclusive);
            q = new MessageQueue(n, name, isDurable, autoDelete, owner, args, loopFor(n),
                    this::autoDeleteQueue);
            q.attachPaging(paging);
            q.attachDeadLetters(deadLetters);
            q.remotes(remotes);
            durability.queueAdded(name, q); // it keeps what it needs (durable ones; every one in a cluster)
            queuePolicies.remove(n);
            applyPolicies(q);
            queues.put(n, q);
            churn.created.increment();
            topologyGrew(); // the default exchange now routes to it
            return new Declared(q, true);
        }
    }

    /**
     * An exchange, a queue or a binding was added: quorum queues whose at-least-once
     * dead-lettered backlog waits for a route retry it now instead of at their next retry (as
     * RabbitMQ's dead-letter worker does on a topology change). Only the queues with a stuck
     * backlog are visited (most often none), so declares stay O(1) however many queues exist.
     */
    private void topologyGrew() {
        deadLetters.topologyGrew();
    }

    private void autoDeleteQueue(MessageQueue q) {
        synchronized (topologyLock) {
            if (queues.get(q.name()) == q) {
                removeQueue(q);
            }
        }
    }

    /** How a queue deletion ended: the ready message count it had, or the reason it was refused. */
    public interface DeleteCallback {
        void done(int messageCount, BrokerException refused);
    }

    /** Calls {@code done} once the durable topology changes made so far are on disk (see {@link Durability#whenDurable}). */
    public void whenDurable(io.warren.core.store.MessageStore.Durable done) {
        durability.whenDurable(done);
    }

    /**
     * Deletes a queue. The if-unused/if-empty checks and the count run on the queue's loop, after
     * every enqueue, consume and cancel handed to it before (a publish just before the delete
     * counts; a cancel just before frees it). {@code done} runs on that loop, or at once when
     * the queue does not exist (RabbitMQ 3.10: deleting a missing queue succeeds with count 0).
     * Throws at once when another connection owns the queue.
     */
    public void deleteQueue(String queueName, boolean ifUnused, boolean ifEmpty, Object connection,
                            DeleteCallback done) {
        MessageQueue q = queues.get(queueName);
        if (q == null) {
            done.done(0, null);
            return;
        }
        if (q.remoteHome() != null && !q.quorum()) {
            throw q.remoteUse(); // a quorum queue is deleted from any node: every node holds part of it
        }
        checkExclusiveAccess(q, connection);
        q.execute(() -> {
            int count;
            synchronized (topologyLock) {
                if (queues.get(queueName) != q) {
                    count = 0; // deleted meanwhile
                } else if (ifUnused && q.consumerCount() > 0) {
                    done.done(0, BrokerException.preconditionFailed("queue '%s' in vhost '%s' in use", queueName,
                            name));
                    return;
                } else if (ifEmpty && q.messageCount() > 0) {
                    // RabbitMQ's wording: "... not empty".
                    done.done(0, BrokerException.preconditionFailed("queue '%s' in vhost '%s' not empty", queueName,
                            name));
                    return;
                } else {
                    count = q.messageCount();
                    removeQueue(q);
                }
            }
            done.done(count, null);
        });
    }

    private void removeQueue(MessageQueue q) {
        if (queues.remove(q.name()) == q) {
            churn.deleted.increment();
        }
        queuePolicies.remove(q.name());
        durability.queueRemoved(name, q);
        for (Exchange x : exchanges.values()) {
            if (x != defaultExchange) {
                unbindAll(x, q);
            }
        }
        q.execute(q::delete);
    }

    /** Deletes the exclusive queues of a closed connection. */
    public void connectionClosed(Object connection) {
        synchronized (topologyLock) {
            for (MessageQueue q : new ArrayList<>(queues.values())) {
                if (q.exclusiveOwner() == connection) {
                    removeQueue(q);
                }
            }
        }
    }

    private void unbindAll(Exchange x, Destination d) {
        List<Binding> removed = x.removeBindingsTo(d);
        if (!removed.isEmpty()) {
            removed.forEach(b -> durability.bindingRemoved(name, b));
            maybeAutoDelete(x);
        }
    }

    private void maybeAutoDelete(Exchange x) {
        if (x.autoDelete() && !x.hasBindings() && exchanges.get(x.name()) == x) {
            removeExchange(x);
        }
    }

    private String generatedName() {
        byte[] b = new byte[16];
        RANDOM.nextBytes(b);
        return "amq.gen-" + Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }

    private EventExecutor loopFor(String queueName) {
        return loops[Math.floorMod(queueName.hashCode(), loops.length)];
    }

    // ---- bindings -------------------------------------------------------------------------

    /**
     * Every explicit binding in this vhost (not the default exchange's implicit ones), copied
     * under the topology lock so the list is consistent. For the management API.
     */
    public List<Binding> bindings() {
        synchronized (topologyLock) {
            List<Binding> all = new ArrayList<>();
            for (Exchange x : exchanges.values()) {
                if (x != defaultExchange) {
                    all.addAll(x.bindings());
                }
            }
            return all;
        }
    }

    // RabbitMQ's order (rabbit_channel:binding_action, rabbit_binding:add/remove): the default
    // exchange is refused first; then the source exchange and the destination are looked up, in
    // that order; then the exchange type validates the binding; exclusivity is checked last.
    // Unbinding something that is not bound succeeds without any of those checks, even when
    // the exchange or the queue does not exist.

    public void bindQueue(String queueName, String exchangeName, String key, Map<String, Object> args,
                          Object connection) {
        checkNotDefault(exchangeName);
        synchronized (topologyLock) {
            Exchange x = existingExchange(exchangeName);
            MessageQueue q = queues.get(queueName);
            if (q == null) {
                throw BrokerException.notFound("no queue '%s' in vhost '%s'", queueName, name);
            }
            Binding b = new Binding(x, q, key, args);
            x.validateBinding(b);
            checkExclusiveAccess(q, connection);
            if (x.addBinding(b)) {
                durability.bindingAdded(name, b);
                topologyGrew();
            }
        }
    }

    public void unbindQueue(String queueName, String exchangeName, String key, Map<String, Object> args,
                            Object connection) {
        checkNotDefault(exchangeName);
        synchronized (topologyLock) {
            Exchange x = exchanges.get(exchangeName);
            MessageQueue q = queues.get(queueName);
            if (x == null || q == null) {
                return;
            }
            Binding b = new Binding(x, q, key, args);
            if (!x.hasBinding(b)) {
                return;
            }
            checkExclusiveAccess(q, connection);
            x.removeBinding(b);
            durability.bindingRemoved(name, b);
            maybeAutoDelete(x);
        }
    }

    public void bindExchange(String destination, String source, String key, Map<String, Object> args) {
        checkNotDefault(destination);
        checkNotDefault(source);
        synchronized (topologyLock) {
            Exchange s = existingExchange(source);
            Exchange d = existingExchange(destination);
            Binding b = new Binding(s, d, key, args);
            s.validateBinding(b);
            if (s.addBinding(b)) {
                durability.bindingAdded(name, b);
                topologyGrew();
            }
        }
    }

    public void unbindExchange(String destination, String source, String key, Map<String, Object> args) {
        checkNotDefault(destination);
        checkNotDefault(source);
        synchronized (topologyLock) {
            Exchange s = exchanges.get(source);
            Exchange d = exchanges.get(destination);
            if (s == null || d == null) {
                return;
            }
            Binding b = new Binding(s, d, key, args);
            if (s.removeBinding(b)) {
                durability.bindingRemoved(name, b);
                maybeAutoDelete(s);
            }
        }
    }

    /**
     * The vhost is being deleted: every queue (with its messages), every exchange and every
     * binding goes, from memory and from the store. Queues are deleted on their loops.
     */
    public void deleteAll() {
        synchronized (topologyLock) {
            for (Policy p : policies.values()) {
                durability.policyRemoved(name, p.name(), false);
            }
            for (Policy p : operatorPolicies.values()) {
                durability.policyRemoved(name, p.name(), true);
            }
            policies.clear();
            operatorPolicies.clear();
            for (MessageQueue q : new ArrayList<>(queues.values())) {
                removeQueue(q);
            }
            for (Exchange x : new ArrayList<>(exchanges.values())) {
                if (x == defaultExchange) {
                    continue;
                }
                if (x.name().startsWith("amq.")) {
                    for (Binding b : x.bindings()) {
                        x.removeBinding(b);
                        durability.bindingRemoved(name, b);
                    }
                } else if (exchanges.containsKey(x.name())) {
                    removeExchange(x);
                }
            }
        }
    }

    // ---- policies --------------------------------------------------------------------------------

    private Map<String, Policy> policyMap(boolean operator) {
        return operator ? operatorPolicies : policies;
    }

    /** The policies ({@code operator}: operator policies), by name. */
    public List<Policy> policies(boolean operator) {
        List<Policy> l = new ArrayList<>(policyMap(operator).values());
        l.sort(java.util.Comparator.comparing(Policy::name));
        return l;
    }

    public Policy policy(String policyName, boolean operator) {
        return policyMap(operator).get(policyName);
    }

    /**
     * Sets a policy (validated: {@link io.warren.core.policy.PolicyValidator}), stored, and applies
     * the result to every queue and exchange at once. Returns true when it is new.
     */
    public boolean putPolicy(Policy p, boolean operator) {
        synchronized (topologyLock) {
            boolean created = policyMap(operator).put(p.name(), p) == null;
            durability.policyAdded(name, p, operator);
            reapplyPolicies();
            // RabbitMQ 3.10's line (rabbit_policy), at info.
            log.atInfo().addKeyValue("vhost", name).addKeyValue("policy", p.name())
                    .log("Successfully set {}policy '{}' matching {} names in virtual host '{}' using pattern '{}'",
                            operator ? "operator " : "", p.name(), p.applyTo().wireName(), name, p.pattern());
            return created;
        }
    }

    /** Clears a policy; false when there was none. */
    public boolean deletePolicy(String policyName, boolean operator) {
        synchronized (topologyLock) {
            if (policyMap(operator).remove(policyName) == null) {
                return false;
            }
            durability.policyRemoved(name, policyName, operator);
            reapplyPolicies();
            // RabbitMQ 3.10 logs nothing here; the operator wants the change on record too.
            log.atInfo().addKeyValue("vhost", name).addKeyValue("policy", policyName)
                    .log("Successfully cleared {}policy '{}' in virtual host '{}'", operator ? "operator " : "",
                            policyName, name);
            return true;
        }
    }

    /** Start-up: a stored policy, before the exchanges and queues it applies to are recovered. */
    public void recoverPolicy(Policy p, boolean operator) {
        synchronized (topologyLock) {
            policyMap(operator).put(p.name(), p);
        }
    }

    /** What applies to a queue now (policy and operator policy names, effective definition). */
    public Applied appliedTo(MessageQueue q) {
        return queuePolicies.getOrDefault(q.name(), Applied.NONE);
    }

    public Applied appliedTo(Exchange x) {
        return exchangePolicies.getOrDefault(x.name(), Applied.NONE);
    }

    private void reapplyPolicies() {
        for (MessageQueue q : queues.values()) {
            applyPolicies(q);
        }
        for (Exchange x : exchanges.values()) {
            applyPolicies(x);
        }
    }

    /**
     * Computes what applies to {@code q} and, when its effective definition changed, hands it to
     * the queue on its loop. Under the topology lock, so the queue sees the changes in order.
     */
    private void applyPolicies(MessageQueue q) {
        Applied a = Applied.of(policies.values(), operatorPolicies.values(), q.name(), true);
        Applied before = a == Applied.NONE ? queuePolicies.remove(q.name()) : queuePolicies.put(q.name(), a);
        Map<String, Object> old = before == null ? Map.of() : before.definition();
        if (!old.equals(a.definition())) {
            q.execute(() -> q.applyPolicy(a.definition()));
        }
    }

    private void applyPolicies(Exchange x) {
        if (x == defaultExchange) {
            return; // as RabbitMQ: the default exchange takes no policy
        }
        Applied a = Applied.of(policies.values(), operatorPolicies.values(), x.name(), false);
        if (a == Applied.NONE) {
            exchangePolicies.remove(x.name());
        } else {
            exchangePolicies.put(x.name(), a);
        }
        x.applyPolicy(a.definition());
    }

    // ---- recovery ---------------------------------------------------------------------------

    /** Start-up: re-creates a stored exchange (before any client connects). */
    public Exchange recoverExchange(String exchangeName, String typeName, boolean autoDelete, boolean internal,
                                    Map<String, Object> args) {
        return recoverExchange(exchangeName, typeName, true, autoDelete, internal, args);
    }

    /** As above; a cluster's non-durable exchange too (another node declared it, or this node's start found it). */
    public Exchange recoverExchange(String exchangeName, String typeName, boolean durable, boolean autoDelete,
                                    boolean internal, Map<String, Object> args) {
        synchronized (topologyLock) {
            Exchange x = exchanges.get(exchangeName);
            if (x == null) {
                x = Exchange.create(exchangeName, ExchangeType.of(typeName), durable, autoDelete, internal, args);
                attach(x);
                applyPolicies(x);
                exchanges.put(exchangeName, x);
            }
            return x;
        }
    }

    /** Start-up: re-creates a stored durable queue; {@code attach} gives it its store. */
    public MessageQueue recoverQueue(String queueName, boolean autoDelete, Map<String, Object> args,
                                     java.util.function.Consumer<MessageQueue> attach) {
        synchronized (topologyLock) {
            MessageQueue q = new MessageQueue(queueName, name, true, autoDelete, null, args, loopFor(queueName),
                    this::autoDeleteQueue);
            q.attachPaging(paging);
            q.attachDeadLetters(deadLetters);
            q.remotes(remotes);
            attach.accept(q);
            applyPolicies(q);
            queues.put(queueName, q);
            return q;
        }
    }

    /**
     * Cluster: the definition of a durable queue that node {@code home} holds; it takes part
     * in bindings and listings here, and refuses any use ({@link MessageQueue#remoteUse}). A no-op
     * when the vhost already has a queue of that name.
     */
    public MessageQueue recoverRemoteQueue(String queueName, boolean autoDelete, Map<String, Object> args,
                                           String home) {
        return recoverRemoteQueue(queueName, true, false, autoDelete, args, home);
    }

    /**
     * As above, for a queue of any kind: a non-durable one, and an exclusive one, whose owner is
     * a connection to node {@code home}: every connection here is refused its use
     * (RESOURCE_LOCKED), as any other connection than the owner is.
     */
    public MessageQueue recoverRemoteQueue(String queueName, boolean durable, boolean exclusive, boolean autoDelete,
                                           Map<String, Object> args, String home) {
        synchronized (topologyLock) {
            MessageQueue q = queues.get(queueName);
            if (q != null) {
                return q;
            }
            q = new MessageQueue(queueName, name, durable, autoDelete, exclusive ? ELSEWHERE : null, args,
                    loopFor(queueName), this::autoDeleteQueue);
            q.remoteHome(home);
            // a quorum queue's stand-in becomes the live queue when this node comes to lead it
            q.attachPaging(paging);
            q.attachDeadLetters(deadLetters);
            q.remotes(remotes);
            applyPolicies(q);
            queues.put(queueName, q);
            return q;
        }
    }

    /** Cluster: another node deleted a queue (or its stand-in here): removes it and its bindings. */
    public boolean dropQueue(String queueName) {
        synchronized (topologyLock) {
            MessageQueue q = queues.get(queueName);
            if (q == null) {
                return false;
            }
            removeQueue(q);
            return true;
        }
    }

    /** Start-up: re-creates a stored binding; false when an end is missing (it is then dropped). */
    public boolean recoverBinding(String source, boolean toQueue, String destination, String key,
                                  Map<String, Object> args) {
        synchronized (topologyLock) {
            Exchange s = exchanges.get(source);
            Destination d = toQueue ? queues.get(destination) : exchanges.get(destination);
            if (s == null || d == null || s == defaultExchange) {
                return false;
            }
            s.addBinding(new Binding(s, d, key, args));
            return true;
        }
    }
}
