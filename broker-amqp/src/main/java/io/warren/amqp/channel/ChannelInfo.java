package io.warren.amqp.channel;

import io.warren.core.queue.MessageQueue;

import java.util.List;
import java.util.Map;

/**
 * A copy of one channel's state for the management API, taken on its connection's loop.
 *
 * @param unackedByQueue deliveries awaiting ack, per queue (identity keys)
 * @param counts its message counts since it opened
 */
public record ChannelInfo(int number, String state, int prefetchCount, int globalPrefetchCount, boolean confirm,
                          boolean transactional, int unacked, Map<MessageQueue, Integer> unackedByQueue,
                          List<ConsumerInfo> consumers, ChannelStats.Counts counts) {

    /** One basic.consume subscription. */
    public record ConsumerInfo(String tag, MessageQueue queue, boolean ackRequired, boolean exclusive,
                               int prefetchCount, io.warren.core.queue.Consumer consumer) {
        /** False for a consumer waiting its turn on a single-active-consumer queue. Any thread. */
        public boolean active() {
            return queue.isActive(consumer);
        }
    }
}
