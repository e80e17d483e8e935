package io.warren.amqp.server;

import java.util.concurrent.atomic.LongAdder;

/**
 * The broker-wide AMQP 0-9-1 counters behind RabbitMQ's {@code rabbitmq_global_*} metrics and
 * the connection, channel and queue churn counters. Monotonic for the broker's lifetime (unlike
 * sums over live channels, they never fall when a channel closes, so Prometheus' rate() sees no
 * false reset). Each is a {@link LongAdder}: lock-free, striped per thread once contended, no
 * allocation per count, so the event loops add to them on the hot path without meeting each other.
 */
public final class AmqpCounters {
    /** basic.publish received in full (RabbitMQ: messages_received_total). */
    public final LongAdder received = new LongAdder();
    /** ... of them on channels in confirm mode (messages_received_confirm_total). */
    public final LongAdder receivedConfirm = new LongAdder();
    /** Published messages that reached at least one queue (messages_routed_total). */
    public final LongAdder routed = new LongAdder();
    /** Unroutable, not mandatory: dropped (messages_unroutable_dropped_total). */
    public final LongAdder unroutableDropped = new LongAdder();
    /** Unroutable and mandatory: returned (messages_unroutable_returned_total). */
    public final LongAdder unroutableReturned = new LongAdder();
    /** Publisher confirms sent: basic.ack'ed messages, a multiple ack counting each (messages_confirmed_total). */
    public final LongAdder confirmed = new LongAdder();
    /**
     * The delivery-side counters are kept per queue type, as RabbitMQ labels them
     * ({@code queue_type="rabbit_classic_queue"} or {@code "rabbit_quorum_queue"}): index
     * {@link #CLASSIC} or {@link #QUORUM}, see {@link #type}.
     */
    public static final int CLASSIC = 0;
    public static final int QUORUM = 1;
    public static final String[] QUEUE_TYPE_LABELS = {"rabbit_classic_queue", "rabbit_quorum_queue"};

    public final LongAdder[] deliveredConsumeManualAck = adders();
    public final LongAdder[] deliveredConsumeAutoAck = adders();
    public final LongAdder[] deliveredGetManualAck = adders();
    public final LongAdder[] deliveredGetAutoAck = adders();
    /** basic.get answered get-empty (messages_get_empty_total). */
    public final LongAdder[] getEmpty = adders();
    /** Deliveries (consume or get) marked redelivered (messages_redelivered_total). */
    public final LongAdder[] redelivered = adders();
    /** Deliveries acknowledged by clients (messages_acknowledged_total). */
    public final LongAdder[] acknowledged = adders();

    public final LongAdder connectionsOpened = new LongAdder();
    public final LongAdder connectionsClosed = new LongAdder();
    public final LongAdder channelsOpened = new LongAdder();
    public final LongAdder channelsClosed = new LongAdder();
    /** queue.declare answered declare-ok (queues_declared_total). */
    public final LongAdder queuesDeclared = new LongAdder();
    /** queue.declare that made a new queue (queues_created_total). */
    public final LongAdder queuesCreated = new LongAdder();
    /** queue.delete that deleted a queue (queues_deleted_total). */
    public final LongAdder queuesDeleted = new LongAdder();

    /** All deliveries from queues of {@code type}: consume and get, with and without acks (messages_delivered_total). */
    public long delivered(int type) {
        return deliveredConsumeManualAck[type].sum() + deliveredConsumeAutoAck[type].sum()
                + deliveredGetManualAck[type].sum() + deliveredGetAutoAck[type].sum();
    }

    /** The index of {@code q}'s type in the per-type counters. */
    public static int type(io.warren.core.queue.MessageQueue q) {
        return q.quorum() ? QUORUM : CLASSIC;
    }

    private static LongAdder[] adders() {
        return new LongAdder[] {new LongAdder(), new LongAdder()};
    }
}
