package io.warren.amqp.channel;

import io.warren.amqp.server.AmqpCounters;
import io.warren.core.queue.MessageQueue;

/**
 * One channel's message counts (RabbitMQ's per-channel rabbitmq_channel_messages_*_total), and
 * the broker-wide counts they add to. Owner: the channel's connection loop, the only writer;
 * other threads see them through {@link ChannelInfo} snapshots taken on that loop. Plain fields:
 * counting costs a field increment and one {@link java.util.concurrent.atomic.LongAdder} add.
 */
public final class ChannelStats {
    private final AmqpCounters global;
    long published;
    long confirmed;
    long unroutableDropped;
    long unroutableReturned;
    long deliveredAck;
    long deliveredNoAck;
    long getAck;
    long getNoAck;
    long getEmpty;
    long redelivered;
    long acked;

    ChannelStats(AmqpCounters global) {
        this.global = global;
    }

    /** A basic.publish arrived in full ({@code confirm}: on a channel in confirm mode). */
    void received(boolean confirm) {
        published++;
        global.received.increment();
        if (confirm) {
            global.receivedConfirm.increment();
        }
    }

    /** Where a published message went: a queue, or nowhere (returned when mandatory, else dropped). */
    void routed(boolean reached, boolean mandatory) {
        if (reached) {
            global.routed.increment();
        } else if (mandatory) {
            unroutableReturned++;
            global.unroutableReturned.increment();
        } else {
            unroutableDropped++;
            global.unroutableDropped.increment();
        }
    }

    /** {@code n} publishes confirmed with basic.ack. */
    void confirmed(long n) {
        confirmed += n;
        global.confirmed.add(n);
    }

    /** A basic.deliver to a consumer from {@code q}. */
    void delivered(MessageQueue q, boolean noAck, boolean redelivery) {
        int type = AmqpCounters.type(q);
        if (noAck) {
            deliveredNoAck++;
            global.deliveredConsumeAutoAck[type].increment();
        } else {
            deliveredAck++;
            global.deliveredConsumeManualAck[type].increment();
        }
        redelivery(type, redelivery);
    }

    /** A basic.get-ok from {@code q}. */
    void got(MessageQueue q, boolean noAck, boolean redelivery) {
        int type = AmqpCounters.type(q);
        if (noAck) {
            getNoAck++;
            global.deliveredGetAutoAck[type].increment();
        } else {
            getAck++;
            global.deliveredGetManualAck[type].increment();
        }
        redelivery(type, redelivery);
    }

    /** A basic.get on {@code q} found it empty. */
    void gotEmpty(MessageQueue q) {
        getEmpty++;
        global.getEmpty[AmqpCounters.type(q)].increment();
    }

    private void redelivery(int type, boolean redelivery) {
        if (redelivery) {
            redelivered++;
            global.redelivered[type].increment();
        }
    }

    /** A delivery from {@code q} acknowledged by the client (basic.ack, single or part of a multiple). */
    void acked(MessageQueue q) {
        acked++;
        global.acknowledged[AmqpCounters.type(q)].increment();
    }

    /** A copy for other threads (taken on the owner's loop), with the publishes awaiting confirms. */
    Counts counts(long unconfirmed) {
        return new Counts(published, confirmed, unroutableDropped, unroutableReturned, deliveredAck, deliveredNoAck,
                getAck, getNoAck, getEmpty, redelivered, acked, unconfirmed);
    }

    /** One channel's counts at one moment, and its publishes not confirmed yet (a gauge). */
    public record Counts(long published, long confirmed, long unroutableDropped, long unroutableReturned,
                         long deliveredAck, long deliveredNoAck, long getAck, long getNoAck, long getEmpty,
                         long redelivered, long acked, long unconfirmed) {
    }
}
