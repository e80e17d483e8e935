package io.warren.core.queue;

import io.warren.core.message.QueueEntry;

/**
 * A subscription to a queue, implemented by the protocol layer. The queue calls these on its
 * own loop; the implementation hands deliveries over to its connection's loop.
 */
public interface Consumer {
    String tag();

    boolean exclusive();

    /**
     * RabbitMQ's consumer priority ({@code x-priority} at basic.consume; default 0): the queue
     * delivers to the highest-priority consumers with room, round-robin among equals, and to
     * lower ones only while all higher ones are full.
     */
    default int priority() {
        return 0;
    }

    /**
     * Reserves room for one delivery: false while the prefetch window is full or the socket
     * is not writable. Called on the queue's loop; must be thread-safe against acks.
     */
    boolean tryReserve();

    /** Delivers an entry a successful {@link #tryReserve()} made room for. Queue loop. */
    void deliver(MessageQueue queue, QueueEntry entry);

    /** The queue was deleted: the consumer is gone (basic.cancel to the client). Queue loop. */
    void cancelledByQueue(MessageQueue queue);
}
