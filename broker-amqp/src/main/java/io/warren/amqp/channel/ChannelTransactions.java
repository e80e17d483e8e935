package io.warren.amqp.channel;

import io.warren.amqp.codec.ConnectionException;
import io.warren.amqp.connection.AmqpConnection;
import io.warren.amqp.protocol.ReplyCode;
import io.warren.amqp.protocol.TxCommit;
import io.warren.amqp.protocol.TxCommitOk;
import io.warren.amqp.protocol.TxRollback;
import io.warren.amqp.protocol.TxRollbackOk;
import io.warren.amqp.protocol.TxSelect;
import io.warren.amqp.protocol.TxSelectOk;
import io.warren.core.message.Message;
import io.warren.core.message.QueueEntry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;

/**
 * The transaction buffer of one {@link AmqpChannel} (the tx class: select, commit, rollback).
 * After tx.select, complete publishes ({@link ChannelPublisher}) and acks, nacks and rejects
 * ({@link ChannelConsumers}) are held here, in order; tx.commit routes the publishes and settles
 * the acks through those two parts, and answers commit-ok once their writes are durable;
 * tx.rollback drops the publishes and leaves the acked deliveries awaiting ack again.
 *
 * <p>Holds the {@link Transaction} (null until tx.select). Owner: the channel's connection
 * loop; the store threads only report a commit's durability, handed back to that loop
 * ({@link #txCommitted}).
 */
final class ChannelTransactions {
    /** The channel's logger: these lines keep the logger name they always had. */
    private static final Logger log = LoggerFactory.getLogger(AmqpChannel.class);

    private final AmqpChannel channel;
    private final AmqpConnection connection;
    private final int id;
    /** What the transaction holds until tx.commit; null until tx.select. */
    private Transaction tx;

    ChannelTransactions(AmqpChannel channel, AmqpConnection connection, int id) {
        this.channel = channel;
        this.connection = connection;
        this.id = id;
    }

    /** The channel is transactional (tx.select). */
    boolean active() {
        return tx != null;
    }

    /**
     * A complete publish: held until tx.commit when the channel is transactional (true, the
     * transaction owns {@code msg} now), else false and the caller routes it.
     */
    boolean hold(Message msg, boolean mandatory) {
        if (tx != null) {
            tx.publishes.add(new Transaction.Publish(msg, mandatory));
            return true;
        }
        return false;
    }

    /**
     * The deliveries an ack, nack or reject took: held until tx.commit when the channel is
     * transactional (true), else false and the caller settles them.
     */
    boolean hold(List<Unacked> settled, boolean reject, boolean requeue) {
        if (tx != null) {
            tx.acks.add(new Transaction.Settle(settled, reject, requeue));
            return true;
        }
        return false;
    }

    void onTxSelect(TxSelect m) {
        if (channel.publisher.confirmsEnabled()) {
            throw new ChannelException(ReplyCode.PRECONDITION_FAILED,
                    "PRECONDITION_FAILED - cannot switch from confirm to tx mode");
        }
        if (tx == null) {
            tx = new Transaction();
        }
        channel.send(new TxSelectOk());
    }

    void onTxCommit(TxCommit m) {
        if (tx == null) {
            throw new ChannelException(ReplyCode.PRECONDITION_FAILED, "PRECONDITION_FAILED - channel is not transactional");
        }
        ChannelPublisher publisher = channel.publisher;
        ChannelConsumers consumers = channel.consumers;
        io.warren.core.store.DurableWrites store = null;
        // Delayed publishes are in the delay store, the others in the journal: both must be safe.
        io.warren.core.store.DurableWrites delayed = null;
        int routed = 0;
        try {
            for (Transaction.Publish p : tx.publishes) {
                routed++; // route() owns the message from here, even when it throws
                io.warren.core.store.DurableWrites used = publisher.route(p.message(), p.mandatory(), 0);
                if (used instanceof io.warren.core.store.DelayStore) {
                    delayed = used;
                } else if (used != null) {
                    store = used;
                }
            }
        } finally {
            // What is left (after a failure) is released with the channel, once.
            tx.publishes.subList(0, routed).clear();
        }
        for (Transaction.Settle s : tx.acks) {
            for (Unacked u : s.deliveries()) {
                if (u.entry().ref() != QueueEntry.NOT_STORED) {
                    store = u.queue().store();
                }
            }
            consumers.settle(s.deliveries(), s.reject(), s.requeue());
        }
        tx.acks.clear();
        if (store == null && delayed == null) {
            channel.send(new TxCommitOk());
            return;
        }
        io.warren.core.store.DurableWrites journal = store;
        io.warren.core.store.DurableWrites first = delayed != null ? delayed : store;
        // The transaction's persistent publishes and acks are durable together before commit-ok.
        first.sync(failed -> {
            if (failed != null || first == journal || journal == null) {
                txCommitted(failed);
            } else {
                journal.sync(this::txCommitted);
            }
        });
    }

    /** Store thread: the transaction's writes are safe ({@code failure == null}) or not. */
    private void txCommitted(Throwable failure) {
        connection.execute(() -> {
            if (failure == null) {
                channel.sendIfOpen(new TxCommitOk());
            } else {
                log.error("tx.commit on channel {} could not be made durable", id, failure);
                connection.closeWithError(new ConnectionException(ReplyCode.INTERNAL_ERROR,
                        "tx.commit could not be written to disk: " + failure.getMessage(), 90, 20));
            }
        });
    }

    void onTxRollback(TxRollback m) {
        if (tx == null) {
            throw new ChannelException(ReplyCode.PRECONDITION_FAILED, "PRECONDITION_FAILED - channel is not transactional");
        }
        tx.publishes.forEach(p -> p.message().release());
        tx.publishes.clear();
        // Rolled-back acks leave their deliveries unacknowledged, as before the ack.
        for (Transaction.Settle s : tx.acks) {
            channel.consumers.restoreUnacked(s.deliveries());
        }
        tx.acks.clear();
        channel.send(new TxRollbackOk());
    }

    /**
     * The channel closes: releases the uncommitted publishes, and adds the deliveries of the
     * held acks to {@code unacked} (they go back to their queues with the others).
     */
    void release(List<Unacked> unacked) {
        if (tx != null) {
            tx.publishes.forEach(p -> p.message().release());
            tx.publishes.clear();
            tx.acks.forEach(s -> unacked.addAll(s.deliveries()));
            tx.acks.clear();
        }
    }
}
