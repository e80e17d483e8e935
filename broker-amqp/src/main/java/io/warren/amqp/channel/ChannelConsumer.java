package io.warren.amqp.channel;

import io.warren.core.message.QueueEntry;
import io.warren.core.queue.Consumer;
import io.warren.core.queue.MessageQueue;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * A basic.consume subscription. The queue's loop reserves credit and hands over entries;
 * the channel's loop writes them and returns credit on ack. The credit counters are the only
 * state both loops touch, hence atomics.
 */
final class ChannelConsumer implements Consumer {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ChannelConsumer.class);
    /** The consuming side of its channel, which writes the deliveries and holds the channel-wide credit. */
    final ChannelConsumers consumers;
    final String tag;
    final MessageQueue queue;
    final boolean noAck;
    final boolean exclusive;
    /** Per-consumer prefetch (basic.qos global=false at consume time); 0 = unlimited. */
    final int prefetch;
    final AtomicInteger unacked = new AtomicInteger();
    /** In the channel's queue of consumers waiting for its global prefetch (see ChannelConsumers.passGlobalCredit). */
    final java.util.concurrent.atomic.AtomicBoolean waitingForCredit = new java.util.concurrent.atomic.AtomicBoolean();
    /** Set on the channel loop when the consumer is cancelled; later deliveries are requeued. */
    volatile boolean cancelled;
    /** After a delivery could not be written: no new deliveries before this System.nanoTime(). */
    private volatile long pausedUntil;
    private volatile boolean paused;

    /**
     * How long a consumer rests after a delivery could not be encoded (out of memory): long
     * enough that a queue does not spin handing it messages that fail again, short enough
     * that a passing shortage costs little.
     */
    static final long FAILED_DELIVERY_PAUSE_MS = 50;

    /** x-priority of basic.consume. */
    final int priority;

    ChannelConsumer(ChannelConsumers consumers, String tag, MessageQueue queue, boolean noAck, boolean exclusive,
                    int prefetch, int priority) {
        this.priority = priority;
        this.consumers = consumers;
        this.tag = tag;
        this.queue = queue;
        this.noAck = noAck;
        this.exclusive = exclusive;
        this.prefetch = prefetch;
    }

    @Override public String tag() {
        return tag;
    }

    @Override public int priority() {
        return priority;
    }

    @Override public boolean exclusive() {
        return exclusive;
    }

    @Override public String user() {
        return consumers.connection().user();
    }

    @Override public int prefetch() {
        return prefetch;
    }

    @Override public java.util.Map<String, Object> arguments() {
        return priority == 0 ? java.util.Map.of() : java.util.Map.of("x-priority", priority);
    }

    /** The queue, or a stand-in's holder, refused the consumer: the channel closes with its reply. */
    @Override public void refused(MessageQueue q, io.warren.core.BrokerException why) {
        consumers.connection().execute(() -> consumers.consumerRefused(this, why));
    }

    @Override public boolean tryReserve() {
        if (cancelled || !consumers.connection().acceptsDeliveries()) {
            return false;
        }
        if (paused) {
            if (System.nanoTime() - pausedUntil < 0) {
                return false;
            }
            paused = false;
        }
        if (noAck) {
            // RabbitMQ 3.x (rabbit_limiter can_send): while the channel's global prefetch is used
            // up it sends nothing, not even to no-ack consumers, whose deliveries do not count.
            if (globalLimitReached()) {
                consumers.waitForGlobalCredit(this);
                // Registered before checking again: an ack in between either sees this consumer
                // waiting or left room that this check sees, so no credit is missed.
                return !globalLimitReached();
            }
            return true;
        }
        if (!acquire(unacked, prefetch)) {
            return false;
        }
        if (!acquire(consumers.globalUnacked, consumers.globalPrefetch)) {
            consumers.waitForGlobalCredit(this);
            if (acquire(consumers.globalUnacked, consumers.globalPrefetch)) { // as above
                return true;
            }
            unacked.decrementAndGet();
            return false;
        }
        return true;
    }

    private boolean globalLimitReached() {
        int limit = consumers.globalPrefetch;
        return limit > 0 && consumers.globalUnacked.get() >= limit;
    }

    private static boolean acquire(AtomicInteger counter, int limit) {
        if (limit <= 0) {
            counter.incrementAndGet();
            return true;
        }
        while (true) {
            int c = counter.get();
            if (c >= limit) {
                return false;
            }
            if (counter.compareAndSet(c, c + 1)) {
                return true;
            }
        }
    }

    /** Gives back the credit of {@code n} settled deliveries. */
    void release(int n) {
        if (!noAck) {
            unacked.addAndGet(-n);
            consumers.globalUnacked.addAndGet(-n);
        }
    }

    /** Channel loop: a delivery failed; rest, then ask the queue to dispatch again. */
    void pauseAfterFailedDelivery(Throwable failure) {
        pausedUntil = System.nanoTime() + java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(FAILED_DELIVERY_PAUSE_MS);
        paused = true;
        LOG.warn("consumer '{}' on {}: delivery could not be encoded ({}); message requeued, retrying in {} ms",
                tag, queue, failure.toString(), FAILED_DELIVERY_PAUSE_MS);
        consumers.connection().loop().schedule(queue::scheduleDispatch, FAILED_DELIVERY_PAUSE_MS,
                java.util.concurrent.TimeUnit.MILLISECONDS);
    }

    @Override public void deliver(MessageQueue q, QueueEntry entry) {
        var connection = consumers.connection();
        if (connection.loop().inEventLoop()) {
            // Same loop: written at once, nothing in flight.
            consumers.deliver(this, entry);
            return;
        }
        long bytes = inFlightBytes(entry);
        connection.deliveryHandedOver(bytes);
        connection.execute(() -> {
            try {
                consumers.deliver(this, entry);
            } finally {
                // After the write: reopening the window may dispatch more at once, and those
                // must not overtake this delivery.
                connection.deliveryTaken(bytes);
            }
        });
    }

    /** What a delivery weighs while on its way to the connection: its body and frame overhead. */
    private static long inFlightBytes(QueueEntry e) {
        return e.message().bodySize() + 128L;
    }

    @Override public void cancelledByQueue(MessageQueue q) {
        consumers.connection().execute(() -> consumers.consumerCancelledByQueue(this));
    }
}
