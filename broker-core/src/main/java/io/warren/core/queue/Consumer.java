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

    /** The user the consumer's connection logged in as (a relay consumes at the holder as that user), or null. */
    default String user() {
        return null;
    }

    /** Its prefetch limit (0: none): how many deliveries a relay lets the holder send ahead. */
    default int prefetch() {
        return 0;
    }

    /** Arguments of its basic.consume that the holder must see too (x-priority, ...). */
    default java.util.Map<String, Object> arguments() {
        return java.util.Map.of();
    }

    /**
     * Cluster: the queue's holder refused the consumer (exclusive use, access refused): the
     * consumer is gone, and the client hears why as it would from a local queue. Any thread.
     */
    default void refused(MessageQueue queue, io.warren.core.BrokerException why) {
        cancelledByQueue(queue);
    }
}
