package io.warren.core.flow;

import io.netty.util.concurrent.EventExecutor;
import io.warren.core.message.Message;
import io.warren.core.queue.MessageQueue;
import io.warren.core.store.MessageStore;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;

/**
 * Credit flow for one publisher (a connection), in the spirit of RabbitMQ's credit_flow: it
 * tells the publisher to stop taking work (stop reading its socket) while a queue on another
 * event loop, or a message store's commit backlog, has not caught up with what it was given.
 *
 * <p>Queues: a message handed to a queue on another loop is a task in that loop's unbounded
 * task queue, holding the message's buffers. Each (publisher, queue) link starts with
 * {@link #INITIAL_CREDIT} credits; handing a message over spends one; the queue's loop gives
 * {@link #MORE_CREDIT_AFTER} back each time it has processed that many of the link's enqueues
 * (one cross-thread task per batch, no allocation per message). While any link is out of
 * credit the publisher is paused, so at most about 400 messages per queue (plus what was already
 * read from the socket) wait in another loop's task queue. A queue on the publisher's own loop
 * is enqueued inline: there is nothing to pile up, so no credit is spent.
 *
 * <p>Stores: after a persistent message is appended, a store {@link MessageStore#overloaded()
 * past its backlog bound} pauses the publisher until the store says it has drained.
 *
 * <p>Owner: the publisher's loop; every method except the queue-side {@code processed} runs
 * there. The {@link Listener} is called there, on each change of {@link #paused()}.
 */
public final class PublisherFlow {
    /** RabbitMQ's default credit_flow_default_credit: {400, 200}. */
    public static final int INITIAL_CREDIT = 400;
    public static final int MORE_CREDIT_AFTER = 200;
    /**
     * Links are looked at for deleted queues when their count reaches this (then twice the count
     * left): a publisher to many short-lived queues (RPC reply queues) keeps at most about twice
     * as many links as it has live queues, at O(1) amortised cost per new link.
     */
    static final int FIRST_SWEEP = 16;

    /** Told when the publisher must stop (true) or may resume (false) reading. Publisher's loop. */
    @FunctionalInterface
    public interface Listener {
        void pausedChanged(boolean paused);
    }

    private final EventExecutor loop;
    private final Predicate<MessageQueue> live;
    private final Listener listener;
    private final Map<MessageQueue, Link> links = new IdentityHashMap<>();
    /** One-entry cache: a publisher usually sends to the same queue many times in a row. */
    private MessageQueue lastQueue;
    private Link lastLink;
    private int sweepAt = FIRST_SWEEP;
    /** Links whose credit is used up. */
    private int linksOut;
    /** Stores past their bound that this publisher wrote to and waits for. */
    private final List<io.warren.core.store.WriteBacklog> storesWaited = new ArrayList<>(1);
    private boolean closed;
    private long pauses;

    /**
     * @param loop the publisher's loop
     * @param live false for a queue that was deleted (its link can be dropped once it has credit)
     */
    public PublisherFlow(EventExecutor loop, Predicate<MessageQueue> live, Listener listener) {
        this.loop = loop;
        this.live = live;
        this.listener = listener;
    }

    /** True while some queue or store has not caught up: the publisher should not read more work. */
    public boolean paused() {
        return linksOut > 0 || !storesWaited.isEmpty();
    }

    /** True while paused because a store's backlog is past its bound. */
    public boolean waitingForStore() {
        return !storesWaited.isEmpty();
    }

    /** How many times this publisher was paused (for tests and the management API). */
    public long pauses() {
        return pauses;
    }

    /** The (publisher, queue) links held now: bounded by about twice the live queues published to. */
    public int links() {
        return links.size();
    }

    /**
     * Hands {@code msg} (the caller's reference passes to the queue) to {@code q}: inline when
     * the queue lives on this loop, otherwise as a task on the queue's loop that spends a credit.
     */
    public void enqueue(MessageQueue q, Message msg, long ref) {
        assert loop.inEventLoop();
        if (q.loop().inEventLoop()) {
            q.enqueue(msg, ref);
            return;
        }
        Link l = link(q);
        l.spend();
        q.loop().execute(() -> {
            q.enqueue(msg, ref);
            l.processed();
        });
    }

    /**
     * As {@link #enqueue(MessageQueue, Message, long)}, for a queue that may refuse the message
     * ({@link MessageQueue#mayRefuse()}): {@code admission} hears its decision on the queue's loop.
     */
    public void enqueue(MessageQueue q, Message msg, long ref, MessageQueue.Admission admission) {
        assert loop.inEventLoop();
        if (q.loop().inEventLoop()) {
            q.enqueue(msg, ref, admission);
            return;
        }
        Link l = link(q);
        l.spend();
        q.loop().execute(() -> {
            q.enqueue(msg, ref, admission);
            l.processed();
        });
    }

    /**
     * A message was handed to {@code store} (a persistent one to the journal; any one, while the
     * page-out store is behind): past its bound, pause until it drains.
     */
    public void appended(io.warren.core.store.WriteBacklog store) {
        assert loop.inEventLoop();
        if (closed || !store.overloaded() || storesWaited.contains(store)) {
            return;
        }
        boolean was = paused();
        storesWaited.add(store);
        changed(was);
        store.whenDrained(loop, () -> {
            if (closed) {
                return;
            }
            boolean before = paused();
            storesWaited.remove(store);
            changed(before);
        });
    }

    /**
     * The publisher is gone: forget every link and store wait. Enqueues still in flight run and
     * give their credit to links nobody looks at any more; a store's drain callback is ignored.
     */
    public void close() {
        assert loop.inEventLoop();
        closed = true;
        links.clear();
        lastQueue = null;
        lastLink = null;
        linksOut = 0;
        storesWaited.clear();
    }

    private Link link(MessageQueue q) {
        if (q == lastQueue) {
            return lastLink;
        }
        Link l = links.get(q);
        if (l == null) {
            if (links.size() >= sweepAt) {
                sweep();
                sweepAt = Math.max(FIRST_SWEEP, links.size() * 2);
            }
            l = new Link(this);
            links.put(q, l);
        }
        lastQueue = q;
        lastLink = l;
        return l;
    }

    /**
     * Drops the links of deleted queues. A link still out of credit stays until its last
     * enqueues have run (a deleted queue still runs them, discarding the messages, and gives the
     * credit back), so dropping never strands a paused publisher.
     */
    private void sweep() {
        for (Iterator<Map.Entry<MessageQueue, Link>> it = links.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<MessageQueue, Link> e = it.next();
            if (e.getValue().credit > 0 && !live.test(e.getKey())) {
                it.remove();
            }
        }
        lastQueue = null;
        lastLink = null;
    }

    private void changed(boolean was) {
        boolean now = paused();
        if (now != was) {
            if (now) {
                pauses++;
            }
            listener.pausedChanged(now);
        }
    }

    /** The publisher's loop: a link got {@code n} credits back. */
    private void granted(Link l, int n) {
        assert loop.inEventLoop();
        if (closed) {
            return;
        }
        boolean wasOut = l.credit <= 0;
        l.credit += n;
        if (wasOut && l.credit > 0) {
            boolean was = paused();
            linksOut--;
            changed(was);
        }
    }

    /**
     * One (publisher, queue) pair. {@code credit} belongs to the publisher's loop,
     * {@code processed} to the queue's loop; {@code granted} carries credit between them, and
     * its change from zero schedules this link (as the task) on the publisher's loop once.
     */
    private static final class Link implements Runnable {
        private final PublisherFlow owner;
        int credit = INITIAL_CREDIT;
        private int processed;
        private final AtomicInteger granted = new AtomicInteger();

        Link(PublisherFlow owner) {
            this.owner = owner;
        }

        /** Publisher's loop. Credit may go below zero by what was read before the pause took effect. */
        void spend() {
            if (--credit == 0 && !owner.closed) {
                boolean was = owner.paused();
                owner.linksOut++;
                owner.changed(was);
            }
        }

        /** The queue's loop, after an enqueue of this link ran. */
        void processed() {
            if (++processed == MORE_CREDIT_AFTER) {
                processed = 0;
                if (granted.getAndAdd(MORE_CREDIT_AFTER) == 0) {
                    try {
                        owner.loop.execute(this);
                    } catch (java.util.concurrent.RejectedExecutionException shuttingDown) {
                        // The publisher's loop is gone (broker shutdown): nobody waits for this credit.
                    }
                }
            }
        }

        /** The publisher's loop: takes every credit granted since the last run. */
        @Override public void run() {
            owner.granted(this, granted.getAndSet(0));
        }
    }
}
