package io.warren.amqp.server;

import io.netty.util.concurrent.EventExecutor;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * The broker-wide AMQP 0-9-1 counters behind RabbitMQ's {@code rabbitmq_global_*} metrics and
 * the connection, channel and queue churn counters. Monotonic for the broker's lifetime (unlike
 * sums over live channels, they never fall when a channel closes, so Prometheus' rate() sees no
 * false reset).
 *
 * <p>The message counters are striped per event loop: each loop counts in its own
 * {@link Stripe} (plain load and opaque store, no lock, no CAS, padded so that loops never share
 * a cache line), and a reader sums the stripes. Channels count only on their connection's loop,
 * so each stripe has one writer. The churn counters (connections, channels, queues: rare) are
 * {@link LongAdder}s.
 */
public final class AmqpCounters {
    /** Message counter slots in a stripe. */
    public static final int RECEIVED = 0;
    public static final int RECEIVED_CONFIRM = 1;
    public static final int ROUTED = 2;
    public static final int UNROUTABLE_DROPPED = 3;
    public static final int UNROUTABLE_RETURNED = 4;
    public static final int CONFIRMED = 5;
    /** Per queue type (see {@link #type}) from here: {@link #byType}. */
    private static final int PER_TYPE_BASE = 6;
    public static final int CONSUME_MANUAL_ACK = 0;
    public static final int CONSUME_AUTO_ACK = 1;
    public static final int GET_MANUAL_ACK = 2;
    public static final int GET_AUTO_ACK = 3;
    public static final int GET_EMPTY = 4;
    public static final int REDELIVERED = 5;
    public static final int ACKNOWLEDGED = 6;
    private static final int PER_TYPE = 7;

    /**
     * Queue types, as RabbitMQ labels the delivery-side counters: {@code queue_type=}
     * {@code "rabbit_classic_queue"} or {@code "rabbit_quorum_queue"}.
     */
    public static final int CLASSIC = 0;
    public static final int QUORUM = 1;
    public static final String[] QUEUE_TYPE_LABELS = {"rabbit_classic_queue", "rabbit_quorum_queue"};

    private static final int SLOTS = PER_TYPE_BASE + PER_TYPE * QUEUE_TYPE_LABELS.length;
    /** Longs of padding on each side of a stripe's slots: a 64-byte line and then some. */
    private static final int PAD = 16;

    /** The slot of per-type counter {@code kind} for queue type {@code type}. */
    public static int byType(int kind, int type) {
        return PER_TYPE_BASE + type * PER_TYPE + kind;
    }

    /** The index of {@code q}'s type in the per-type counters. */
    public static int type(io.warren.core.queue.MessageQueue q) {
        return q.quorum() ? QUORUM : CLASSIC;
    }

    /** One event loop's message counters; only that loop writes them. */
    public static final class Stripe {
        private static final VarHandle SLOT = MethodHandles.arrayElementVarHandle(long[].class);
        private final long[] slots = new long[PAD + SLOTS + PAD];

        private Stripe() {
        }

        /** Adds {@code n} to {@code slot}. The owning loop only. */
        public void add(int slot, long n) {
            int i = PAD + slot;
            SLOT.setOpaque(slots, i, (long) SLOT.getOpaque(slots, i) + n);
        }

        /** Adds one to {@code slot}. The owning loop only. */
        public void increment(int slot) {
            add(slot, 1);
        }

        long get(int slot) {
            return (long) SLOT.getOpaque(slots, PAD + slot);
        }
    }

    private final Map<EventExecutor, Stripe> stripes = new ConcurrentHashMap<>();

    /** The stripe that {@code loop} counts in (made on first use; a channel looks it up once). */
    public Stripe stripe(EventExecutor loop) {
        return stripes.computeIfAbsent(loop, l -> new Stripe());
    }

    /** A message counter's total over every loop (recent values). Any thread. */
    public long sum(int slot) {
        long n = 0;
        for (Stripe s : stripes.values()) {
            n += s.get(slot);
        }
        return n;
    }

    /** Per-type counter {@code kind}'s total for queue type {@code type}. Any thread. */
    public long sum(int kind, int type) {
        return sum(byType(kind, type));
    }

    /** Per-type counter {@code kind}'s total over every queue type. Any thread. */
    public long sumAllTypes(int kind) {
        long n = 0;
        for (int t = 0; t < QUEUE_TYPE_LABELS.length; t++) {
            n += sum(kind, t);
        }
        return n;
    }

    /** All deliveries from queues of {@code type}: consume and get, with and without acks (messages_delivered_total). */
    public long delivered(int type) {
        return sum(CONSUME_MANUAL_ACK, type) + sum(CONSUME_AUTO_ACK, type) + sum(GET_MANUAL_ACK, type)
                + sum(GET_AUTO_ACK, type);
    }

    public final LongAdder connectionsOpened = new LongAdder();
    public final LongAdder connectionsClosed = new LongAdder();
    public final LongAdder channelsOpened = new LongAdder();
    public final LongAdder channelsClosed = new LongAdder();
    /** queue.declare answered declare-ok (queues_declared_total). */
    public final LongAdder queuesDeclared = new LongAdder();
}
