package io.warren.core.publish;

import io.warren.core.BrokerException;
import io.warren.core.exchange.DelayedExchange;
import io.warren.core.exchange.Exchange;
import io.warren.core.exchange.RoutingResult;
import io.warren.core.message.Message;
import io.warren.core.message.QueueEntry;
import io.warren.core.queue.MessageQueue;
import io.warren.core.store.DurableWrites;
import io.warren.core.store.MessageStore;
import io.warren.core.vhost.VirtualHost;

import java.util.List;
import java.util.function.Consumer;

/**
 * The publish path every protocol shares ({@link #publish}): route through an exchange, journal
 * a persistent message once for the durable queues it reached, hand a copy to each queue's loop,
 * and say when the message is safe (what a publisher confirm promises). The AMQP channel calls it
 * for basic.publish and tx.commit, the management API for its publish endpoint; neither decides
 * persistence on its own.
 */
public final class Publisher {
    private Publisher() {
    }

    /**
     * Routes a transient {@code message} from exchange {@code exchangeName} of {@code vhost} and
     * enqueues it on every queue it reaches (on each queue's loop). Takes over the caller's
     * reference, also when it throws. Returns how many queues it reached. Any thread.
     *
     * @throws BrokerException NOT_FOUND for a missing exchange, ACCESS_REFUSED for an internal one
     */
    public static int publishTransient(VirtualHost vhost, String exchangeName, Message message) {
        if (message.persistent()) {
            message.release();
            throw new IllegalArgumentException("a persistent message needs publish() and its safe callback");
        }
        Exchange x = vhost.exchange(exchangeName);
        if (x == null || x.internal()) {
            message.release();
            throw x == null
                    ? BrokerException.notFound("no exchange '%s' in vhost '%s'", exchangeName, vhost.name())
                    : BrokerException.accessRefused("cannot publish to internal exchange '%s' in vhost '%s'",
                            exchangeName, vhost.name());
        }
        RoutingResult routing = new RoutingResult();
        publish(x, message, routing, null, DIRECT, NOT_WATCHED);
        return routing.queues().size();
    }

    private static final MessageStore.Durable NOT_WATCHED = failure -> { };

    /**
     * Routes {@code message} from {@code x} (null: the exchange is gone, no queue is reached) into
     * {@code routing} (the caller's reusable result, cleared here), shows a message that reached
     * no queue to {@code unroutable} before it is released (basic.return; null: nothing to do),
     * journals a persistent message once for the durable queues among those reached, and hands
     * a copy to each queue through {@code handover}. Counts the exchange's publish_in and
     * publish_out.
     *
     * <p>Returns the store that journals the message, or null. With a store, the message is safe
     * once {@code safe} runs (on the store's thread; {@code failure != null}: it could not be made
     * durable, a confirm becomes a nack). Without one it is as safe as it will be when this
     * returns (handed to its queues, or dropped as unroutable) and {@code safe} is never called.
     * Takes over the caller's reference to {@code message}, also when it throws. Any thread.
     */
    public static DurableWrites publish(Exchange x, Message message, RoutingResult routing, Consumer<Message> unroutable,
                                        Handover handover, MessageStore.Durable safe) {
        return publish(x, message, routing, unroutable, handover, safe, null);
    }

    /**
     * As {@link #publish(Exchange, Message, RoutingResult, Consumer, Handover, MessageStore.Durable)},
     * keeping only the queues {@code accept} takes (null: all) before anything is journaled or
     * enqueued: dead-lettering drops the queues of a dead-letter cycle this way.
     */
    public static DurableWrites publish(Exchange x, Message message, RoutingResult routing, Consumer<Message> unroutable,
                                        Handover handover, MessageStore.Durable safe,
                                        java.util.function.Predicate<MessageQueue> accept) {
        if (x instanceof DelayedExchange dx) {
            long delay;
            try {
                delay = DelayedExchange.delayOf(message);
            } catch (RuntimeException e) {
                message.release(); // headers that cannot be decoded
                throw e;
            }
            if (delay > 0) {
                return delay(dx, message, delay, routing, unroutable, safe);
            }
        }
        return route(x, null, message, routing, unroutable, handover, safe, accept);
    }

    /**
     * Cluster: a message another node routed to {@code q} (a classic queue this node holds) and
     * forwarded here: it goes to that queue alone, with no exchange routed through (the sending
     * node did that, and counted it). A queue gone meanwhile ({@code q} null) is a message that
     * reached no queue. As {@link #publish} otherwise. A stand-in here (the nodes disagree on
     * who holds the queue) is refused rather than forwarded on.
     */
    public static DurableWrites publishTo(MessageQueue q, Message message, RoutingResult routing, Handover handover,
                                          MessageStore.Durable safe) {
        if (q != null && q.remoteHome() != null) {
            message.release();
            throw q.remoteUse();
        }
        return route(null, q, message, routing, null, handover, safe, null);
    }

    /**
     * Routes a delayed message that is due now, from its {@code x-delayed-message} exchange by
     * the underlying type (the x-delay header is not looked at again). As {@link #publish}
     * otherwise; nothing is returned to a publisher (there is none any more). Any thread.
     */
    public static DurableWrites publishDue(DelayedExchange x, Message message, RoutingResult routing,
                                           MessageStore.Durable safe) {
        return route(x, null, message, routing, null, DIRECT, safe, null);
    }

    /**
     * A message with a positive x-delay goes to the delay store, not to queues. mandatory
     * ({@code unroutable != null}): the plugin cannot tell routability at publish time and
     * returns every mandatory delayed message; warren routes it by the underlying type now and
     * returns it (not scheduled) when no queue would take it now. One that would is scheduled;
     * should its queues be gone at due time, it goes to the alternate exchange or is dropped,
     * as an unroutable message without mandatory.
     */
    private static DurableWrites delay(DelayedExchange dx, Message message, long delay, RoutingResult routing,
                                       Consumer<Message> unroutable, MessageStore.Durable safe) {
        routing.clear();
        try {
            if (unroutable != null) {
                routing.start(dx);
                routing.route(dx, message);
                if (routing.queues().isEmpty()) {
                    dx.countPublish(false);
                    routing.outcome(false);
                    unroutable.accept(message);
                    return null;
                }
                routing.clear();
            }
            routing.outcome(true);
            return dx.schedule(message, delay, safe);
        } finally {
            routing.clear();
            message.release(); // the schedule keeps its own copy
        }
    }

    private static DurableWrites route(Exchange x, MessageQueue only, Message message, RoutingResult routing,
                                       Consumer<Message> unroutable, Handover handover, MessageStore.Durable safe,
                                       java.util.function.Predicate<MessageQueue> accept) {
        routing.clear();
        if (only != null) {
            routing.add(only, message);
        }
        if (x != null) {
            routing.start(x);
            try {
                routing.route(x, message);
            } catch (RuntimeException e) {
                // e.g. headers that cannot be decoded; nothing was enqueued yet
                routing.clear();
                message.release();
                throw e;
            }
        }
        List<MessageQueue> queues = routing.queues();
        if (accept != null) {
            queues.removeIf(accept.negate());
        }
        for (int i = 0, n = queues.size(); i < n; i++) {
            if (queues.get(i).remoteHome() != null && !forwards(queues.get(i))) {
                // A cluster node's stand-in for a queue another node holds, and this node cannot
                // forward there: a message must not silently miss it.
                MessageQueue remote = queues.get(i);
                routing.clear();
                message.release();
                throw remote.remoteUse();
            }
        }
        if (x != null) {
            x.countPublish(!queues.isEmpty());
        }
        routing.outcome(!queues.isEmpty());
        if (queues.isEmpty() && unroutable != null) {
            try {
                unroutable.accept(message);
            } catch (RuntimeException | Error e) {
                message.release();
                throw e;
            }
        }
        MessageStore store = null;
        long ref = QueueEntry.NOT_STORED;
        boolean persistent = message.persistent();
        if (persistent || anyReplicatedOrElsewhere(queues)) {
            // DESIGN §5: persistent messages in durable queues, and only those, are journaled;
            // a quorum queue journals every message (RabbitMQ: quorum queues persist all).
            int durable = 0;
            boolean mixed = false;
            for (int i = 0, n = queues.size(); i < n; i++) {
                if (journals(queues.get(i), persistent)) {
                    MessageStore s = storeOf(queues.get(i));
                    mixed |= store != null && s != store;
                    store = s;
                    durable++;
                }
            }
            if (mixed) {
                // A cluster's quorum queues each keep their messages in their own replicated log.
                return routeToStores(message, queues, persistent, handover, safe);
            }
            if (store != null) {
                long[] ids = new long[durable];
                int k = 0;
                for (int i = 0, n = queues.size(); i < n; i++) {
                    if (journals(queues.get(i), persistent)) {
                        ids[k++] = queues.get(i).storeId();
                    }
                }
                try {
                    ref = store.append(message.exchange(), message.routingKey(), message.properties(), message.body(),
                            ids, System.currentTimeMillis(), message.ttl(), safe);
                } catch (RuntimeException | Error e) {
                    message.release();
                    throw e;
                }
            }
        }
        enqueue(message, queues, ref, handover);
        return store;
    }

    /**
     * A cluster node's stand-in for a queue another node holds, which a publish reaches: a quorum
     * queue's goes into the queue's replicated log (its store) and the leader enqueues it; a
     * classic queue's is forwarded to its holder ({@link MessageQueue#forwardStore}). Nothing is
     * enqueued here.
     */
    private static boolean forwards(MessageQueue q) {
        return q.publishStore() != null;
    }

    /** Where queue {@code q}'s copy of a message is written: its store, or a classic stand-in's forwarder. */
    private static MessageStore storeOf(MessageQueue q) {
        return q.publishStore();
    }

    /**
     * The journaling of a message whose queues keep it in different stores: one append per
     * store, the message safe once every store made it so (the first failure is the answer).
     */
    private static DurableWrites routeToStores(Message message, List<MessageQueue> queues, boolean persistent,
                                               Handover handover, MessageStore.Durable safe) {
        int n = queues.size();
        long[] refs = new long[n];
        java.util.Arrays.fill(refs, QueueEntry.NOT_STORED);
        java.util.LinkedHashMap<MessageStore, List<Integer>> byStore = new java.util.LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            if (journals(queues.get(i), persistent)) {
                byStore.computeIfAbsent(storeOf(queues.get(i)), k -> new java.util.ArrayList<>()).add(i);
            }
        }
        java.util.concurrent.atomic.AtomicInteger left = new java.util.concurrent.atomic.AtomicInteger(byStore.size());
        java.util.concurrent.atomic.AtomicBoolean answered = new java.util.concurrent.atomic.AtomicBoolean();
        MessageStore.Durable all = failure -> {
            if (failure != null ? answered.compareAndSet(false, true)
                    : left.decrementAndGet() == 0 && answered.compareAndSet(false, true)) {
                safe.done(failure);
            }
        };
        List<DurableWrites> stores = new java.util.ArrayList<>(byStore.size());
        long now = System.currentTimeMillis();
        try {
            for (java.util.Map.Entry<MessageStore, List<Integer>> e : byStore.entrySet()) {
                long[] ids = new long[e.getValue().size()];
                for (int k = 0; k < ids.length; k++) {
                    ids[k] = queues.get(e.getValue().get(k)).storeId();
                }
                long ref = e.getKey().append(message.exchange(), message.routingKey(), message.properties(),
                        message.body(), ids, now, message.ttl(), all);
                for (int k = 0; k < ids.length; k++) {
                    refs[e.getValue().get(k)] = ref + k;
                }
                stores.add(e.getKey());
            }
        } catch (RuntimeException | Error e) {
            message.release();
            throw e;
        }
        enqueue(message, queues, refs, handover);
        return new AllWrites(stores);
    }

    /** Several stores as one: synced when all are, overloaded while any is. */
    private record AllWrites(List<DurableWrites> stores) implements DurableWrites {
        @Override public void sync(MessageStore.Durable durable) {
            java.util.concurrent.atomic.AtomicInteger left = new java.util.concurrent.atomic.AtomicInteger(stores.size());
            java.util.concurrent.atomic.AtomicBoolean answered = new java.util.concurrent.atomic.AtomicBoolean();
            for (DurableWrites w : stores) {
                w.sync(failure -> {
                    if (failure != null ? answered.compareAndSet(false, true)
                            : left.decrementAndGet() == 0 && answered.compareAndSet(false, true)) {
                        durable.done(failure);
                    }
                });
            }
        }

        @Override public boolean overloaded() {
            for (DurableWrites w : stores) {
                if (w.overloaded()) {
                    return true;
                }
            }
            return false;
        }

        @Override public void whenDrained(java.util.concurrent.Executor executor, Runnable callback) {
            drained(0, executor, callback);
        }

        private void drained(int i, java.util.concurrent.Executor executor, Runnable callback) {
            if (i == stores.size()) {
                executor.execute(callback);
            } else {
                stores.get(i).whenDrained(executor, () -> drained(i + 1, executor, callback));
            }
        }
    }

    /** Whether any of {@code queues} takes transient messages through a store too: a quorum queue, a stand-in. */
    private static boolean anyReplicatedOrElsewhere(List<MessageQueue> queues) {
        for (int i = 0, n = queues.size(); i < n; i++) {
            if (queues.get(i).quorum() || queues.get(i).remoteHome() != null) {
                return true;
            }
        }
        return false;
    }

    /**
     * Whether queue {@code q} keeps its copy of a message in a store: a persistent message in a
     * durable queue's journal, any message in a quorum queue's log, and any message routed to a
     * classic queue held elsewhere in the forwarder to its holder.
     */
    private static boolean journals(MessageQueue q, boolean persistent) {
        if (q.forwarded()) {
            return q.forwardStore() != null;
        }
        return q.store() != null && (persistent || q.quorum());
    }

    /** How one queue gets its copy: on its loop directly, or through a publisher's credit flow. */
    @FunctionalInterface
    public interface Handover {
        void enqueue(MessageQueue q, Message m, long ref);
    }

    /** Straight to the queue's loop, without credit (the management API's publishes). */
    public static final Handover DIRECT = (q, m, ref) -> q.execute(() -> q.enqueue(m, ref));

    /**
     * Hands a routed message to each of {@code queues} through {@code handover}; with none, the
     * message is released. Takes over the caller's reference: the last queue gets it, so a
     * message in one queue has one holder and can be compacted when it parks
     * (Message.compact); the others get one retain each. The message is not touched after a
     * hand-over: the queue may already own it on another thread. {@code firstRef} is the store
     * slot of the first durable queue's copy ({@link QueueEntry#NOT_STORED}: not journaled); the
     * durable queues among {@code queues} get consecutive slots from it, in list order, as the
     * store appended them.
     */
    public static void enqueue(Message message, List<MessageQueue> queues, long firstRef, Handover handover) {
        int n = queues.size();
        boolean standIns = false;
        for (int i = 0; i < n; i++) {
            standIns |= queues.get(i).remoteHome() != null;
        }
        if (!standIns) {
            // the common case, without allocating
            if (n == 0) {
                message.release();
                return;
            }
            int slot = 0;
            for (int i = 0; i < n; i++) {
                MessageQueue q = queues.get(i);
                long ref = firstRef != QueueEntry.NOT_STORED && journals(q, message.persistent()) ? firstRef + slot++
                        : QueueEntry.NOT_STORED;
                if (i < n - 1) {
                    message.retain();
                }
                handover.enqueue(q, message, ref);
            }
            return;
        }
        long[] refs = null;
        int slot = 0;
        for (int i = 0; i < n; i++) {
            MessageQueue q = queues.get(i);
            if (firstRef != QueueEntry.NOT_STORED && journals(q, message.persistent())) {
                if (refs == null) {
                    refs = new long[n];
                    java.util.Arrays.fill(refs, QueueEntry.NOT_STORED);
                }
                refs[i] = firstRef + slot++;
            }
        }
        enqueue(message, queues, refs, handover);
    }

    /**
     * As above with each queue's store slot ({@code refs} null: none journaled). A cluster's
     * stand-in for a quorum queue led elsewhere gets no copy: its log took the message.
     */
    private static void enqueue(Message message, List<MessageQueue> queues, long[] refs, Handover handover) {
        int n = queues.size();
        int last = -1;
        for (int i = 0; i < n; i++) {
            if (queues.get(i).remoteHome() == null) {
                last = i;
            }
        }
        if (last < 0) {
            message.release();
            return;
        }
        for (int i = 0; i <= last; i++) {
            MessageQueue q = queues.get(i);
            if (q.remoteHome() != null) {
                continue;
            }
            if (i < last) {
                message.retain();
            }
            handover.enqueue(q, message, refs == null ? QueueEntry.NOT_STORED : refs[i]);
        }
    }
}
