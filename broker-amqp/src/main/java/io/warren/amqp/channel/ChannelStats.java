package io.warren.amqp.channel;

import io.warren.amqp.server.AmqpCounters;
import io.warren.core.queue.MessageQueue;

/**
 * One channel's message counts (RabbitMQ's per-channel rabbitmq_channel_messages_*_total), and
 * the broker-wide counts they add to. Owner: the channel's connection loop, the only writer;
 * other threads see them through {@link ChannelInfo} snapshots taken on that loop. Plain fields:
 * counting costs a field increment here and one in the loop's stripe of {@link AmqpCounters}.
 */
public final class ChannelStats {
    private final AmqpCounters.Stripe global;
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

    /** {@code global}: the broker-wide counters' stripe of this channel's loop. */
    ChannelStats(AmqpCounters.Stripe global) {
        this.global = global;
    }

    /** A basic.publish arrived in full ({@code confirm}: on a channel in confirm mode). */
    void received(boolean confirm) {
        published++;
        global.increment(AmqpCounters.RECEIVED);
        if (confirm) {
            global.increment(AmqpCounters.RECEIVED_CONFIRM);
        }
    }

    /** Where a published message went: a queue, or nowhere (returned when mandatory, else dropped). */
    void routed(boolean reached, boolean mandatory) {
        if (reached) {
            global.increment(AmqpCounters.ROUTED);
        } else if (mandatory) {
            unroutableReturned++;
            global.increment(AmqpCounters.UNROUTABLE_RETURNED);
        } else {
            unroutableDropped++;
            global.increment(AmqpCounters.UNROUTABLE_DROPPED);
        }
    }

    /** {@code n} publishes confirmed with basic.ack. */
    void confirmed(long n) {
        confirmed += n;
        global.add(AmqpCounters.CONFIRMED, n);
    }

    /** A basic.deliver to a consumer from {@code q}. */
    void delivered(MessageQueue q, boolean noAck, boolean redelivery) {
        int type = AmqpCounters.type(q);
        if (noAck) {
            deliveredNoAck++;
            global.increment(AmqpCounters.byType(AmqpCounters.CONSUME_AUTO_ACK, type));
        } else {
            deliveredAck++;
            global.increment(AmqpCounters.byType(AmqpCounters.CONSUME_MANUAL_ACK, type));
        }
        redelivery(type, redelivery);
    }

    /** A basic.get-ok from {@code q}. */
    void got(MessageQueue q, boolean noAck, boolean redelivery) {
        int type = AmqpCounters.type(q);
        if (noAck) {
            getNoAck++;
            global.increment(AmqpCounters.byType(AmqpCounters.GET_AUTO_ACK, type));
        } else {
            getAck++;
            global.increment(AmqpCounters.byType(AmqpCounters.GET_MANUAL_ACK, type));
        }
        redelivery(type, redelivery);
    }

    /** A basic.get on {@code q} found it empty. */
    void gotEmpty(MessageQueue q) {
        getEmpty++;
        global.increment(AmqpCounters.byType(AmqpCounters.GET_EMPTY, AmqpCounters.type(q)));
    }

    private void redelivery(int type, boolean redelivery) {
        if (redelivery) {
            redelivered++;
            global.increment(AmqpCounters.byType(AmqpCounters.REDELIVERED, type));
        }
    }

    /** A delivery from {@code q} acknowledged by the client (basic.ack, single or part of a multiple). */
    void acked(MessageQueue q) {
        acked++;
        global.increment(AmqpCounters.byType(AmqpCounters.ACKNOWLEDGED, AmqpCounters.type(q)));
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
