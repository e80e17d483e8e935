package io.warren.amqp.channel;

import io.warren.amqp.connection.AmqpConnection;
import io.warren.amqp.protocol.ReplyCode;
import io.warren.core.queue.MessageQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The delivery acknowledgement timeout of one {@link AmqpChannel} (RabbitMQ's consumer_timeout
 * and x-consumer-timeout): at most one scheduled check of the age of the oldest delivery awaiting
 * ack, armed by {@link ChannelConsumers} after each delivery or get-ok that awaits an ack. Holds
 * only that pending check; reads the channel's {@link UnackedDeliveries}.
 *
 * <p>Owner: the channel's connection loop; the check runs there too.
 */
final class ConsumerTimeout {
    /** The channel's logger: these lines keep the logger name they always had. */
    private static final Logger log = LoggerFactory.getLogger(AmqpChannel.class);

    private final AmqpChannel channel;
    private final AmqpConnection connection;
    private final int id;
    private final UnackedDeliveries unacked;

    /** The pending check of the oldest unacked delivery's age; null when none is scheduled. Channel loop. */
    private io.netty.util.concurrent.ScheduledFuture<?> timeoutCheck;

    ConsumerTimeout(AmqpChannel channel, AmqpConnection connection, int id, UnackedDeliveries unacked) {
        this.channel = channel;
        this.connection = connection;
        this.id = id;
        this.unacked = unacked;
    }

    /** A queue's delivery acknowledgement timeout in ms: its x-consumer-timeout, else consumer_timeout; 0 none. */
    private long consumerTimeout(MessageQueue q) {
        long t = q.consumerTimeoutMs();
        return t > 0 ? t : connection.broker().settings().consumerTimeoutMs();
    }

    /** After a delivery that awaits an ack: schedule the timeout check if it applies and none is pending. */
    void arm(MessageQueue q) {
        if (timeoutCheck == null) {
            long t = consumerTimeout(q);
            if (t > 0) {
                timeoutCheck = connection.ctx().executor().schedule(this::check, t,
                        java.util.concurrent.TimeUnit.MILLISECONDS);
            }
        }
    }

    /**
     * RabbitMQ's check (rabbit_channel evaluate_consumer_timeout): the oldest delivery awaiting
     * ack, against its queue's timeout; past it the channel closes with 406 and RabbitMQ's text
     * (its deliveries go back to their queues). Otherwise checked again when the oldest one would
     * time out, while anything awaits an ack. Costs nothing while no timeout applies.
     */
    private void check() {
        timeoutCheck = null;
        if (!channel.open()) {
            return;
        }
        Unacked head = unacked.oldest();
        if (head == null) {
            return;
        }
        long t = consumerTimeout(head.queue());
        long ageMs = java.util.concurrent.TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - head.deliveredAt());
        if (t > 0 && ageMs >= t) {
            log.warn("consumer '{}' on channel {} of connection from {} timed out waiting for the ack of delivery tag "
                    + "{} from {} ({} ms)", head.consumer() == null ? "basic.get" : head.consumer().tag, id,
                    connection.ctx().channel().remoteAddress(), head.tag(), head.queue(), t);
            channel.closeWithError(ReplyCode.PRECONDITION_FAILED, "PRECONDITION_FAILED - delivery acknowledgement on "
                    + "channel " + id + " timed out. Timeout value used: " + t + " ms. This timeout value can be "
                    + "configured, see consumers doc guide to learn more");
            return;
        }
        long next = t > 0 ? t - ageMs : 1000;
        timeoutCheck = connection.ctx().executor().schedule(this::check, Math.max(1, next),
                java.util.concurrent.TimeUnit.MILLISECONDS);
    }
}
