package io.warren.amqp.channel;

import io.warren.core.message.QueueEntry;
import io.warren.core.queue.MessageQueue;

/**
 * A delivery awaiting ack: the entry, its queue, the consumer (null for basic.get), and when it
 * was delivered ({@link System#nanoTime}, for the consumer timeout).
 */
record Unacked(long tag, QueueEntry entry, MessageQueue queue, ChannelConsumer consumer, long deliveredAt) {
    Unacked(long tag, QueueEntry entry, MessageQueue queue, ChannelConsumer consumer) {
        this(tag, entry, queue, consumer, System.nanoTime());
    }
}
