package io.warren.core.store;

import io.warren.core.message.Message;

import java.util.Map;

/**
 * Where messages published to an {@code x-delayed-message} exchange wait for their due time:
 * on disk, not on the heap, so millions can wait in bounded memory. Implementations keep only
 * the messages due soon in memory, run one timer for the whole node (never one per message),
 * do their file I/O on their own thread (no method blocks its caller) and route each message
 * through {@link Router} at its due time, never before.
 *
 * <p>Durability: a message scheduled {@code durable} (a persistent message on a durable
 * exchange) is on disk (forced) before {@code done} runs, so a publisher confirm sent then is
 * kept across a restart or a kill -9. Other messages are written too (memory stays bounded)
 * but are not forced and do not come back after a restart.
 */
public interface DelayStore extends DurableWrites, AutoCloseable {

    /**
     * Schedules a copy of {@code message} (the caller keeps its reference) to be routed from
     * exchange {@code exchange} of {@code vhost} at {@code dueAt} (epoch ms). {@code done} runs on
     * the store's thread once it is written (and forced when {@code durable}), or with the failure.
     */
    void schedule(String vhost, String exchange, Message message, long dueAt, boolean durable,
                  MessageStore.Durable done);

    /** How many messages wait for exchange {@code exchange} of {@code vhost}. Any thread. */
    long waiting(String vhost, String exchange);

    /** Messages waiting, per vhost, per exchange (only exchanges with some). Any thread. */
    Map<String, Map<String, Long>> waiting();

    /** The exchange is gone: its waiting messages are dropped (also when one of that name comes back). */
    void exchangeDeleted(String vhost, String exchange);

    /**
     * Recovers what waited before the last stop (only durable messages of exchanges that still
     * exist: {@link Router#exists}) and starts the timer. Called once, after the definitions
     * are recovered; blocks while it reads the files (start-up only).
     */
    void start(Router router);

    /** Routes due messages: the node's exchanges and queues. */
    interface Router {
        /** Whether a delayed exchange of that name exists now. */
        boolean exists(String vhost, String exchange);

        /**
         * Routes a due {@code message} (ownership passes) by the exchange's underlying type;
         * {@code safe} runs once its routed copies are as safe as they will be (journaled for
         * persistent messages in durable queues; at once otherwise, or when the exchange is gone).
         */
        void route(String vhost, String exchange, Message message, MessageStore.Durable safe);
    }

    /** Stops the timer, forces and closes the files; what waits stays on disk. */
    @Override void close();
}
