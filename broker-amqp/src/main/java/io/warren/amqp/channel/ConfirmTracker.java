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
 * <p>Owner: the channel's loop, except {@link #committed} and {@link #failed}, which the
 * store's committer thread calls (in commit order, hence in publish order for this channel).
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

    /** Store thread: {@code seq} is durable. */
    void committed(long seq) {
        committedUpTo.accumulateAndGet(seq, Math::max);
    }

    /** Store thread: {@code seq} could not be made durable. */
    void failed(long seq) {
        failures.add(seq);
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
            if (f > sentUpTo) {
                send.accept(new BasicNack(f, false, false));
                nacked.add(f);
            }
        }
        while (!awaitingDisk.isEmpty() && awaitingDisk.peekFirst() <= done) {
            awaitingDisk.pollFirst();
        }
        long confirmable = awaitingDisk.isEmpty() ? lastPublished : awaitingDisk.peekFirst() - 1;
        while (sentUpTo < confirmable) {
            Long nack = nacked.ceiling(sentUpTo + 1);
            long upTo = nack != null && nack <= confirmable ? nack - 1 : confirmable;
            if (upTo > sentUpTo) {
                send.accept(new BasicAck(upTo, upTo - sentUpTo > 1));
            }
            sentUpTo = upTo;
            if (nack != null && nack == upTo + 1 && nack <= confirmable) {
                nacked.remove(nack);
                sentUpTo = nack;
            }
        }
    }
}
