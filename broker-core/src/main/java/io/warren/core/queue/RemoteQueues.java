package io.warren.core.queue;

import io.warren.core.BrokerException;
import io.warren.core.message.QueueEntry;

import java.util.function.BiConsumer;
import java.util.function.IntConsumer;

/**
 * Cluster: how a client of this node uses a queue that another node holds (a quorum queue led
 * elsewhere, a classic queue declared elsewhere). The local {@link MessageQueue} is a stand-in
 * ({@link MessageQueue#remoteHome}); it hands consumers, gets and purges to this, which reaches
 * the holder ({@link MessageQueue#holder}) and follows it when it moves. Deliveries come back as
 * entries whose {@link QueueEntry#remote} settles them at the holder. A classic queue's publishes,
 * redeclares and deletes go to its holder too ({@link #forwarder}, {@link #counts}, {@link #delete});
 * a quorum queue's publishes go through its replicated log instead.
 */
public interface RemoteQueues {
    /** Connections open now to other nodes for this node's clients' use of their queues (a metric). */
    default int openLinks() {
        return 0;
    }

    /**
     * Starts consuming at the holder on behalf of {@code c}, a consumer of stand-in {@code q}
     * (q's loop). The relay hands deliveries to {@code c} on q's loop ({@link Consumer#tryReserve},
     * {@link Consumer#deliver}); a refusal by the holder (exclusive use, no permission) reaches
     * {@link Consumer#refused}.
     */
    Relay consume(MessageQueue q, Consumer c);

    /**
     * Completes once a use of stand-in {@code q} has somewhere to go: another node is known to
     * hold it, or it is no longer a stand-in (this node now leads it: the use runs here). While a
     * quorum queue elects a leader, or this node was just named leader and has not taken the queue
     * over yet, that waits a few election timeouts, then completes anyway (the use then fails as
     * it would have: 404, no holder). Never fails; completes on any thread.
     */
    default java.util.concurrent.CompletableFuture<Void> whenHolderKnown(MessageQueue q) {
        return java.util.concurrent.CompletableFuture.completedFuture(null);
    }

    /**
     * Runs {@code use} (a get, a purge) once {@code q} has somewhere to go: at once for this
     * node's queue or a stand-in whose holder is known, else on {@code executor} after
     * {@link #whenHolderKnown}'s wait. {@code use} looks at {@link MessageQueue#remoteHome} again.
     */
    static void whenUsable(MessageQueue q, java.util.concurrent.Executor executor, Runnable use) {
        if (q.remoteHome() != null) {
            java.util.concurrent.CompletableFuture<Void> known = q.remotes().whenHolderKnown(q);
            if (!known.isDone()) {
                known.thenRun(() -> executor.execute(use));
                return;
            }
        }
        use.run();
    }

    /**
     * basic.get at the holder as {@code user}: {@code sink} gets the entry (null: empty) and the
     * messages left, or {@code failed} the holder's refusal. Any thread; the callbacks on any thread.
     */
    void get(MessageQueue q, String user, BiConsumer<QueueEntry, Integer> sink,
             java.util.function.Consumer<BrokerException> failed);

    /** queue.purge at the holder as {@code user}; as {@link #get}. */
    void purge(MessageQueue q, String user, IntConsumer sink, java.util.function.Consumer<BrokerException> failed);

    /**
     * Where publishes routed to stand-in {@code q} (a classic queue another node holds) go: a
     * store whose append publishes the message at the holder, safe once the holder confirmed it
     * (a failure there, or a link that went first, is a nack). Null: this node cannot forward.
     * Called once per stand-in (it keeps the answer). Any thread.
     */
    default io.warren.core.store.MessageStore forwarder(MessageQueue q) {
        return null;
    }

    /**
     * A passive queue.declare at the holder as {@code user}: {@code sink} gets the queue's
     * message and consumer counts there, or {@code failed} the holder's refusal. As {@link #get}.
     */
    default void counts(MessageQueue q, String user, BiConsumer<Integer, Integer> sink,
                        java.util.function.Consumer<BrokerException> failed) {
        failed.accept(q.remoteUse());
    }

    /**
     * queue.delete at the holder as {@code user} (which removes the queue's definition on every
     * node): {@code sink} gets the count of messages deleted, or {@code failed} the refusal
     * (if-unused, if-empty, no permission). As {@link #get}.
     */
    default void delete(MessageQueue q, String user, boolean ifUnused, boolean ifEmpty, IntConsumer sink,
                        java.util.function.Consumer<BrokerException> failed) {
        failed.accept(q.remoteUse());
    }

    /** One local consumer's subscription at the holder. Its methods run on the stand-in's loop. */
    interface Relay {
        /**
         * Completes once the holder took the consume (basic.consume-ok then goes to the client), or
         * fails with the holder's refusal (403 exclusive use...), which the client then gets in
         * place of consume-ok. A holder that cannot be reached yet does not hold the client up for
         * long: after a few seconds this completes and the relay keeps trying.
         */
        java.util.concurrent.CompletableFuture<Void> started();

        /** Hands what the holder sent to the consumer while it has room. */
        void pump();

        /**
         * The consumer is gone (basic.cancel, channel closed, queue deleted or now held here):
         * stop consuming at the holder. Deliveries the client still holds settle there as before.
         */
        void cancel();
    }
}
