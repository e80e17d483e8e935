package io.warren.amqp.channel;

import io.warren.core.message.Message;

import java.util.ArrayList;
import java.util.List;

/** What a tx.select channel holds until tx.commit: publishes and settlements, in order (see ChannelTransactions). */
final class Transaction {
    record Publish(Message message, boolean mandatory) {}

    record Settle(List<Unacked> deliveries, boolean reject, boolean requeue) {}

    final List<Publish> publishes = new ArrayList<>();
    final List<Settle> acks = new ArrayList<>();
}
