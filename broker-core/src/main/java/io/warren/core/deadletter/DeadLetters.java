package io.warren.core.deadletter;

import io.netty.buffer.ByteBuf;
import io.warren.core.exchange.Exchange;
import io.warren.core.exchange.RoutingResult;
import io.warren.core.message.Message;
import io.warren.core.message.TableValue;
import io.warren.core.publish.Publisher;
import io.warren.core.queue.MessageQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Republishes dead-lettered messages to their queue's dead-letter exchange (RabbitMQ 3.10's
 * "Dead Letter Exchanges" page, rabbit_dead_letter). One per vhost; stateless apart from the
 * injected codec, so any queue loop may call it. Runs on the dead-lettering queue's loop; the
 * copies reach their queues through those queues' loops (never inline: a queue dead-lettering
 * into a queue of the same loop must not re-enter it while it walks its ready list).
 *
 * <p>At most once, as RabbitMQ's classic queues: the copy is handed on (and, when persistent
 * and routed to durable queues, appended to the journal) before the original's store slot is
 * removed, so the journal sees the append first; a copy that reaches no queue (no DLX, no
 * binding, cycle) is dropped, as RabbitMQ drops it.
 *
 * <p>At least once ({@link #publishSafely}, quorum queues with x-dead-letter-strategy
 * at-least-once): as RabbitMQ 3.10's dead-letter worker, the copy is published with what a
 * publisher confirm waits for, and the source queue learns once whether every target took its
 * copy safely (journaled for a durable target, enqueued for a transient one); until then the
 * source keeps the original.
 */
public final class DeadLetters {
    private static final Logger LOG = LoggerFactory.getLogger(DeadLetters.class);

    private final Function<String, Exchange> exchanges;
    private volatile DeadLetterCodec codec;

    public DeadLetters(Function<String, Exchange> exchanges) {
        this.exchanges = exchanges;
    }

    /** Queues with an at-least-once dead-lettered backlog (most often none). */
    private final java.util.Set<MessageQueue> backlogs = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /** A queue's at-least-once backlog is no longer empty ({@code true}), or is empty again. Any thread. */
    public void backlog(MessageQueue q, boolean waiting) {
        if (waiting) {
            backlogs.add(q);
        } else {
            backlogs.remove(q);
        }
    }

    /** The vhost's topology grew: the queues with a backlog retry it now. Any thread (they retry on their loops). */
    public void topologyGrew() {
        if (!backlogs.isEmpty()) {
            for (MessageQueue q : backlogs) {
                q.retryDeadLettersNow();
            }
        }
    }

    /** Installs the protocol's codec (the server does, before any queue exists or is recovered). */
    public void codec(DeadLetterCodec c) {
        codec = c;
    }

    /** Never inline: each copy is a task on its queue's loop (see the class comment). */
    private static final Publisher.Handover QUEUED = (q, m, ref) -> q.loop().execute(() -> q.enqueue(m, ref));

    /**
     * Republishes {@code m} (still held by the caller, which releases it afterwards) from
     * {@code queue} to exchange {@code dlx}, with {@code dlrk} (null: the original routing keys).
     * Returns how many queues got a copy. Queue's loop.
     */
    public int publish(MessageQueue queue, Message m, String reason, String dlx, String dlrk) {
        DeadLetterCodec c = codec;
        Exchange x = exchanges.apply(dlx);
        if (c == null || x == null) {
            return 0; // a missing DLX drops the message silently, as RabbitMQ
        }
        Message copy = copy(c, queue, m, reason, dlx, dlrk);
        RoutingResult routing = new RoutingResult();
        boolean rejected = "rejected".equals(reason);
        Publisher.publish(x, copy, routing, null, QUEUED, failure -> {
            if (failure != null) {
                LOG.warn("a message dead-lettered from {} could not be journaled: {}", queue, failure.toString());
            }
        }, rejected ? null : target -> !cycle(target, copy, queue));
        return routing.queues().size();
    }

    /** The dead-lettered copy of {@code m}: x-death added, routed by {@code dlrk} or m's own keys (CC included). */
    private static Message copy(DeadLetterCodec c, MessageQueue queue, Message m, String reason, String dlx,
                                String dlrk) {
        String[] cc = null;
        if (dlrk == null) {
            cc = m.ccRoutes();
            if (cc == null) {
                // paged-out and recovered messages do not carry their CC keys: read them back
                cc = ccRoutes(c.headers(m.properties()));
            }
        }
        // last before the copy takes it over: nothing that can throw may leave it unreleased
        ByteBuf props = c.rewrite(m.properties(), reason, queue.name(), m.exchange(), m.routingKey(),
                System.currentTimeMillis() / 1000, dlrk != null);
        return m.deadLettered(dlx, dlrk != null ? dlrk : m.routingKey(), cc, props, c::headers);
    }

    /** How an at-least-once attempt ended ({@link #publishSafely}). */
    public enum Outcome {
        /** Every target took its copy safely (or every route was a dead-letter cycle: dropped, as RabbitMQ). */
        SAFE,
        /** The dead-letter exchange does not exist. */
        NO_EXCHANGE,
        /** The exchange routed the copy to no queue. */
        NO_ROUTE,
        /** A target refused its copy (its own reject-publish limit); the others may have taken theirs. */
        REFUSED,
        /** The copy could not be journaled, or could not be made. */
        FAILED
    }

    /**
     * At-least-once dead-lettering: republishes {@code m} (still held by the caller) as
     * {@link #publish} does, and tells {@code done} once (on any thread: a store's, a target
     * queue's loop, or this one) whether every target took its copy safely: a durable target's
     * copy is in the journal (the fsync a publisher confirm waits for), a transient target's is
     * enqueued, and no target refused it. A copy whose every route is a dead-letter cycle counts
     * as safe: it is dropped, as RabbitMQ's worker drops it. The caller retries on anything else;
     * a target that took a copy before another refused may get a duplicate then, which
     * at-least-once allows. Queue's loop.
     */
    public void publishSafely(MessageQueue queue, Message m, String reason, String dlx, String dlrk,
                              java.util.function.Consumer<Outcome> done) {
        DeadLetterCodec c = codec;
        Exchange x = exchanges.apply(dlx);
        if (c == null || x == null) {
            done.accept(Outcome.NO_EXCHANGE);
            return;
        }
        Message copy = copy(c, queue, m, reason, dlx, dlrk);
        Tally tally = new Tally(done);
        RoutingResult routing = new RoutingResult();
        boolean rejected = "rejected".equals(reason);
        int[] cycles = {0};
        Publisher.Handover handover = (q, copied, ref) -> {
            tally.pending.incrementAndGet();
            q.loop().execute(() -> q.enqueue(copied, ref, tally));
        };
        io.warren.core.store.DurableWrites store;
        try {
            store = Publisher.publish(x, copy, routing, null, handover, tally::journaled, rejected ? null : target -> {
                if (cycle(target, copy, queue)) {
                    cycles[0]++;
                    return false;
                }
                return true;
            });
        } catch (RuntimeException | Error e) {
            // Nothing was journaled or handed over (Publisher releases the copy): retry later.
            LOG.warn("could not dead-letter a message of {}: {}", queue, e.toString());
            tally.failed = true;
            tally.down(); // the journal's count: it will not call back
            tally.down(); // the caller's
            return;
        }
        if (store == null) {
            if (routing.queues().isEmpty()) {
                // No copy anywhere. Every route a cycle: dropped as RabbitMQ drops it; else retried.
                tally.noRoute = cycles[0] == 0;
            }
            tally.down(); // nothing journaled: no durable callback will come
        }
        tally.down();
    }

    /**
     * Counts what an at-least-once copy waits for: the caller's hand-over, the journal, and each
     * target's admission; whoever brings it to zero tells the source queue. Thread-safe (the
     * volatile flags are written before the decrements that publish them).
     */
    private static final class Tally implements MessageQueue.Admission {
        /** The caller's count and the journal's; each target adds one. */
        final java.util.concurrent.atomic.AtomicInteger pending = new java.util.concurrent.atomic.AtomicInteger(2);
        final java.util.function.Consumer<Outcome> done;
        volatile boolean refused;
        volatile boolean failed;
        volatile boolean noRoute;

        Tally(java.util.function.Consumer<Outcome> done) {
            this.done = done;
        }

        void journaled(Throwable failure) {
            if (failure != null) {
                failed = true;
            }
            down();
        }

        @Override public void accepted() {
            down();
        }

        @Override public void refused() {
            refused = true;
            down();
        }

        void down() {
            if (pending.decrementAndGet() == 0) {
                done.accept(failed ? Outcome.FAILED : refused ? Outcome.REFUSED : noRoute ? Outcome.NO_ROUTE
                        : Outcome.SAFE);
            }
        }
    }

    /**
     * RabbitMQ's rabbit_dead_letter:is_cycle: {@code target} already appears in the copy's
     * x-death list (most recent first) and no death up to and including that one was a
     * rejection (a fully automatic cycle: the copy would circle forever). Logged once per queue.
     */
    private static boolean cycle(MessageQueue target, Message copy, MessageQueue from) {
        Map<String, Object> headers = copy.headers();
        if (headers == null || !(headers.get("x-death") instanceof List<?> deaths)) {
            return false;
        }
        for (Object d : deaths) {
            if (!(d instanceof Map<?, ?> death)) {
                return false; // something a client put there: not fully automatic
            }
            if (!"rejected".equals(string(death.get("reason")))) {
                if (target.name().equals(string(death.get("queue")))) {
                    LOG.debug("dead-letter cycle from {} to {}: message dropped", from, target);
                    return true;
                }
                continue;
            }
            return false;
        }
        return false;
    }

    /** The keys of the CC and BCC headers (RabbitMQ's rabbit_basic:header_routes), or null. */
    private static String[] ccRoutes(Map<String, Object> headers) {
        if (headers == null) {
            return null;
        }
        List<String> keys = new java.util.ArrayList<>();
        for (String h : new String[] {"CC", "BCC"}) {
            if (headers.get(h) instanceof List<?> list) {
                for (Object k : list) {
                    String s = string(k);
                    if (s != null) {
                        keys.add(s);
                    }
                }
            }
        }
        return keys.isEmpty() ? null : keys.toArray(new String[0]);
    }

    private static String string(Object v) {
        if (v instanceof TableValue t && t.comparable() instanceof String s) {
            return s;
        }
        return v instanceof CharSequence s ? s.toString() : null;
    }
}
