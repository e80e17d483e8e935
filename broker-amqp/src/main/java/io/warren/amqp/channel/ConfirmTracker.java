package io.warren.amqp.channel;

import io.warren.amqp.protocol.AmqpMethod;
import io.warren.amqp.protocol.BasicAck;
import io.warren.amqp.protocol.BasicNack;

import java.util.ArrayDeque;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Publisher confirms of one channel. A message is confirmed once it is routed and, when it is
 * persistent and reached a durable queue, once the store has committed it. Confirms go out in
 * publish order and coalesced: one basic.ack with {@code multiple = true} covers everything
 * confirmable since the last one, so a transient message published after a persistent one
 * waits for that one's commit (one group commit, a few milliseconds).
 *
 * <p>A publish that reached a queue that may refuse it (x-overflow reject-publish) also waits
 * for that queue's decision ({@link #awaitQueues}, {@link #decided}): accepted, it is confirmed
 * as usual; refused by any queue, it is nacked (RabbitMQ's behaviour).
 *
 * <p>Owner: the channel's loop, except {@link #committed} and {@link #failed}, which the
 * store's committer thread calls (in commit order, hence in publish order for this channel),
 * and {@link #decided}, which a queue's loop calls.
 */
final class ConfirmTracker {
    private boolean enabled;
    private long nextSeq = 1;
    /** Highest sequence number routed so far. */
    private long lastPublished;
    /** Persistent messages waiting for their commit, in publish order. */
    private final ArrayDeque<Long> awaitingDisk = new ArrayDeque<>();
    /** Sequence numbers already nacked, not to be covered by a multiple ack. */
    private final TreeSet<Long> nacked = new TreeSet<>();
    private long sentUpTo;
    private final AtomicLong committedUpTo = new AtomicLong();
    private final ConcurrentLinkedQueue<Long> failures = new ConcurrentLinkedQueue<>();
    /** Publishes waiting for the decision of a queue that may refuse them, in publish order. */
    private final ArrayDeque<Long> awaitingQueues = new ArrayDeque<>();
    /** Decisions reported by queues: seq when accepted, -seq when refused. */
    private final ConcurrentLinkedQueue<Long> decisions = new ConcurrentLinkedQueue<>();

    boolean enabled() {
        return enabled;
    }

    void enable() {
        enabled = true;
    }

    long nextSeq() {
        return nextSeq++;
    }

    /** A message was routed and needs nothing more. */
    void routed(long seq) {
        lastPublished = seq;
    }

    /** A message was routed and waits for the store's commit. */
    void awaitCommit(long seq) {
        awaitingDisk.addLast(seq);
        lastPublished = seq;
    }

    /** A routed message also waits for the decision of queues that may refuse it. */
    void awaitQueues(long seq) {
        awaitingQueues.addLast(seq);
    }

    /** Any thread (a queue's loop): the queues decided about {@code seq}. */
    void decided(long seq, boolean refused) {
        decisions.add(refused ? -seq : seq);
    }

    /** Store thread: {@code seq} is durable. */
    void committed(long seq) {
        committedUpTo.accumulateAndGet(seq, Math::max);
    }

    /** Store thread: {@code seq} could not be made durable. */
    void failed(long seq) {
        failures.add(seq);
    }

    /** Nacks {@code seq} once (a store failure and a refusal may both report it). */
    private void nack(long seq, Consumer<AmqpMethod> send) {
        if (seq > sentUpTo && nacked.add(seq)) {
            send.accept(new BasicNack(seq, false, false));
        }
    }

    /** Publishes confirmed with basic.ack and not yet counted (see {@link #takeAcked}). Channel loop. */
    private long acked;

    /** Publishes not yet confirmed (acked or nacked). Channel loop. */
    long unconfirmed() {
        return Math.max(0, lastPublished - sentUpTo);
    }

    /** How many publishes the acks sent since the last call confirmed. Channel loop. */
    long takeAcked() {
        long n = acked;
        acked = 0;
        return n;
    }

    /** Sends the nacks and the coalesced ack that are due. Channel loop. */
    void flush(Consumer<AmqpMethod> send) {
        // Read the commit mark before draining the failures: the store thread reports a failed
        // batch before it marks any later one committed, so every failure below `done` is in
        // the queue by now. Read after the drain, a failure reported in between would be
        // covered by the multiple ack of a later commit.
        long done = committedUpTo.get();
        Long f;
        while ((f = failures.poll()) != null) {
            awaitingDisk.remove(f);
            awaitingQueues.remove(f);
            nack(f, send);
        }
        Long d;
        while ((d = decisions.poll()) != null) {
            long seq = Math.abs(d);
            awaitingQueues.remove(seq);
            if (d < 0) {
                // Refused by a queue: the store's commit no longer matters.
                awaitingDisk.remove(seq);
                nack(seq, send);
            }
        }
        while (!awaitingDisk.isEmpty() && awaitingDisk.peekFirst() <= done) {
            awaitingDisk.pollFirst();
        }
        long confirmable = awaitingDisk.isEmpty() ? lastPublished : awaitingDisk.peekFirst() - 1;
        if (!awaitingQueues.isEmpty()) {
            confirmable = Math.min(confirmable, awaitingQueues.peekFirst() - 1);
        }
        while (sentUpTo < confirmable) {
            Long nack = nacked.ceiling(sentUpTo + 1);
            long upTo = nack != null && nack <= confirmable ? nack - 1 : confirmable;
            if (upTo > sentUpTo) {
                send.accept(new BasicAck(upTo, upTo - sentUpTo > 1));
                acked += upTo - sentUpTo;
            }
            sentUpTo = upTo;
            if (nack != null && nack == upTo + 1 && nack <= confirmable) {
                nacked.remove(nack);
                sentUpTo = nack;
            }
        }
    }
}
