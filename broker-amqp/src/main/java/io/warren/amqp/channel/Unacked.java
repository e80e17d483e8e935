package io.warren.amqp.channel;

import io.warren.core.message.QueueEntry;
import io.warren.core.queue.MessageQueue;

/** A delivery awaiting ack: the entry, its queue, and the consumer (null for basic.get). */
record Unacked(long tag, QueueEntry entry, MessageQueue queue, ChannelConsumer consumer) {}
