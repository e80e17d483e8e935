package io.warren.core.store;

import io.netty.buffer.ByteBuf;

/**
 * Persistent messages of durable queues (delivery_mode 2). Implementations journal by group
 * commit: one committer thread wakes on the first pending write, writes everything pending as
 * one batch, commits once, then completes the waiting callbacks. Nothing here blocks the
 * caller: every method may be called from an event loop.
 *
 * <p>A message stored for N queues occupies N slots, one per queue; each slot is released on
 * its own ({@link #remove}) when that queue is done with the message (ack, purge, delete).
 */
public interface MessageStore extends DurableWrites, AutoCloseable {

    /** Runs on the store's thread once a write is durable ({@code failure == null}) or has failed. */
    @FunctionalInterface
    interface Durable {
        void done(Throwable failure);
    }

    /**
     * Journals a message for {@code queueIds.length} durable queues. Does not take ownership of
     * the buffers (it copies what it needs before returning). Returns the reference of the first
     * slot; queue {@code queueIds[i]} holds slot {@code ref + i}.
     */
    long append(String exchange, String routingKey, ByteBuf properties, ByteBuf body, long[] queueIds,
                Durable durable);

    /**
     * {@link #append} that also keeps when the message was published ({@code publishedAt}, epoch
     * ms) and its own TTL ({@code ttl} ms, -1: none), so that a recovered message expires when it
     * would have without the restart. A store that cannot keep them (test doubles) journals
     * without them, and its recovered messages count their TTL from the recovery.
     */
    default long append(String exchange, String routingKey, ByteBuf properties, ByteBuf body, long[] queueIds,
                        long publishedAt, long ttl, Durable durable) {
        return append(exchange, routingKey, properties, body, queueIds, durable);
    }

    /** Releases one slot; made durable by a later commit. */
    void remove(long ref);

    /** Calls {@code durable} after a commit covering every call made before this one. */
    @Override void sync(Durable durable);

    /**
     * True while the writes waiting for a commit are past the store's bound (the disk is slower
     * than the publishers): callers that append should stop taking new work, e.g. a publisher
     * stops reading its socket, until {@link #whenDrained} calls back. Appends are still
     * accepted meanwhile; this is back-pressure, not a refusal. Any thread, cheap.
     */
    @Override default boolean overloaded() {
        return false;
    }

    /**
     * Runs {@code callback} on {@code executor} (e.g. the publisher's event loop; never on the
     * store's thread) once the backlog is back under its bound, or at once when it is already.
     */
    @Override default void whenDrained(java.util.concurrent.Executor executor, Runnable callback) {
        executor.execute(callback);
    }

    /**
     * Visits every live slot; each queue's slots come in original publish order (slots of
     * different queues may interleave). Bodies are not kept in the heap: the visitor gets a
     * {@link StoredMessage} whose content it can {@link #load} later.
     */
    void recover(RecoveryVisitor visitor);

    /** How many slots {@link #recover} will visit, for its progress lines; -1 when not known beforehand. */
    default long recoverableSlots() {
        return -1;
    }

    /**
     * The message under {@code ref} went back to its queue after a delivery (reject, nack, a
     * consumer gone) for the {@code deliveryCount}-th time. A store that keeps delivery counts
     * (a quorum queue's replicated log: its next leader counts on from there, as RabbitMQ's
     * quorum queues do) records it and returns it from {@link #recover}; the others ignore it,
     * and a recovered message's count starts at 0. Never blocks; the queue's thread.
     */
    default void returned(long ref, int deliveryCount) {
    }

    /** Loads the properties and body of a stored slot; {@code sink} runs on the store's reader thread. */
    void load(long ref, LoadSink sink);

    /** Callback of {@link #load}. The buffers belong to the sink. */
    @FunctionalInterface
    interface LoadSink {
        void loaded(ByteBuf properties, ByteBuf body, Throwable failure);
    }

    /** Receives recovered slots; each queue's in publish order. */
    @FunctionalInterface
    interface RecoveryVisitor {
        void slot(long queueId, StoredMessage message);
    }

    /**
     * A recovered slot: routing info, sizes and the message priority (read from the stored
     * properties while recovery has the record in hand, so that a priority queue can order its
     * messages before their content is loaded; 0 when the store was not told how to read it);
     * the body stays on disk until loaded. {@code publishedAt} (epoch ms) and {@code ttl} (the
     * message's own, ms) are -1 when unknown or none (journals written before warren kept them).
     * {@code deliveryCount}: how often the message was returned to its queue after a delivery, as
     * far as the store keeps it (see {@link #returned}; 0 otherwise).
     */
    record StoredMessage(long ref, String exchange, String routingKey, int bodySize, int priority, long publishedAt,
                         long ttl, int deliveryCount) {
        public StoredMessage(long ref, String exchange, String routingKey, int bodySize, int priority, long publishedAt,
                             long ttl) {
            this(ref, exchange, routingKey, bodySize, priority, publishedAt, ttl, 0);
        }

        public StoredMessage(long ref, String exchange, String routingKey, int bodySize) {
            this(ref, exchange, routingKey, bodySize, 0, -1, -1);
        }
    }

    /** Flushes and closes; pending callbacks fail. */
    @Override void close();
}
