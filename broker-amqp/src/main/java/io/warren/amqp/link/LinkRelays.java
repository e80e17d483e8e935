package io.warren.amqp.link;

import io.netty.buffer.ByteBuf;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.warren.amqp.channel.MessageHeaders;
import io.warren.amqp.server.LinkAuth;
import io.warren.core.BrokerException;
import io.warren.core.message.Message;
import io.warren.core.message.QueueEntry;
import io.warren.core.queue.Consumer;
import io.warren.core.queue.MessageQueue;
import io.warren.core.queue.RemoteQueues;
import io.warren.core.store.StoreDurability;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetSocketAddress;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiConsumer;
import java.util.function.IntConsumer;

/**
 * Cluster: a client of this node uses a queue another node holds through {@link AmqpLink}s to
 * the holder's AMQP listener, logged in (WARREN-LINK) as the client's user, so the holder checks
 * the same permissions. The local consumers of one queue by one user share a link to its holder
 * ({@link Pipe}), each a consumer of its own there with its own prefetch, which bounds what the
 * holder sends it ahead (an exclusive consumer has a link of its own). The relay follows the queue:
 * when the holder cancels the consumer (a quorum queue's leader moved, the queue was deleted),
 * when the link drops, or when the queue's group names another leader, it consumes again at the
 * queue's holder as this node then knows it. The client sees no cancel: what it still holds
 * settles over the old link while that lives (a demoted leader settles acks through the
 * queue's log); what the old holder requeued, the new one redelivers.
 *
 * <p>basic.get, queue.purge and the holder's counts and deletes run on a link of their own per
 * operation, taken from a few idle links kept per holder, vhost and user ({@value #MAX_IDLE_LINKS},
 * each closed after {@value #IDLE_LINK_MS} ms unused), so a client polling with basic.get through
 * a node that does not hold its queue costs one round trip per get, not a connection and a login.
 * A got message is settled over the link it came by, which is kept until every message got on it
 * is settled; the next get of the same queue by the same user goes on that link too (the
 * holder's channel keeps any number unacknowledged, as RabbitMQ's does), so a client that gets
 * many messages before it acks them holds one link per queue, not one per message.
 */
public final class LinkRelays implements RemoteQueues {
    private static final Logger log = LoggerFactory.getLogger(LinkRelays.class);

    /** Where the other nodes' AMQP listeners are. */
    public interface Directory {
        /** The plain AMQP listener of node {@code node}; fails when it cannot be learnt (node down, no listener). */
        CompletableFuture<InetSocketAddress> amqpAddress(String node);

        /** A link to {@code node} failed: ask the node again next time. */
        default void forget(String node) { }
    }

    /** A link's heartbeat: a holder that stops answering (SIGSTOP, a cut cable) is left after two. */
    static final int HEARTBEAT_SECONDS = 5;
    static final long RETRY_MIN_MS = 250;
    static final long RETRY_MAX_MS = 2000;
    /** How often a relay asks whether its queue's holder moved. */
    static final long WATCH_MS = 500;
    /** How long a client's basic.consume waits for an unreachable holder before consume-ok (the relay goes on trying). */
    static final long START_WAIT_MS = 5000;
    /**
     * How long a get or purge through this node waits for a quorum queue's leader to be known (or
     * for this node, just elected, to take the queue over) before it fails: five of the default
     * election timeout's 2 s top, so an election after a leader's death fits with room to spare.
     */
    static final long HOLDER_WAIT_MS = 10_000;
    /** How often that wait looks again; every tenth look asks the queue's members again. */
    static final long HOLDER_POLL_MS = 25;
    /** What the holder may send ahead to a consumer without a prefetch limit. */
    static final int UNLIMITED_WINDOW = 1000;

    private final EventLoopGroup group;
    private final Class<? extends SocketChannel> channelClass;
    private final String self;
    private final LinkAuth auth;
    private final Directory directory;
    private final Set<AmqpLink> links = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    /**
     * @param self this node's name: a stand-in whose holder is this node (a leader not yet ready)
     *             waits rather than linking to itself
     */
    public LinkRelays(EventLoopGroup group, Class<? extends SocketChannel> channelClass, String self, LinkAuth auth,
                      Directory directory) {
        this.group = group;
        this.channelClass = channelClass;
        this.self = self;
        this.auth = auth;
        this.directory = directory;
    }

    /** The node stops: every link closes (the holders requeue what they had out). */
    public void close() {
        closed = true;
        links.forEach(AmqpLink::close);
        links.clear();
        idle.clear();
        holding.clear();
    }

    /** Links to other nodes open now: relayed consumers, gets and other uses, forwarded publishes. */
    @Override public int openLinks() {
        int n = 0;
        for (AmqpLink l : links) {
            if (l.isOpen()) {
                n++;
            }
        }
        return n;
    }

    /** The node to link to for {@code q} now, or null while it is not known (an election). */
    private String holderOf(MessageQueue q) {
        String holder = q.holder();
        if (holder == null || holder.equals(StoreDurability.ELECTING) || holder.equals(self)) {
            return null;
        }
        return holder;
    }

    /**
     * A link for a use of stand-in {@code q}, on the queue's own event loop when it is one of this
     * node's loops (it is): what the link reads reaches the relay, which runs on that loop, without
     * a hand-over between threads (each costs a wake-up, tens of microseconds on a small VM).
     */
    private CompletableFuture<AmqpLink> open(MessageQueue q, String node, String user, AmqpLink.Handler handler) {
        EventLoopGroup on = q.loop() instanceof io.netty.channel.EventLoop l ? l : group;
        return open(on, node, q.vhost(), user, handler);
    }

    @Override public CompletableFuture<Void> whenHolderKnown(MessageQueue q) {
        if (closed || q.remoteHome() == null || holderOf(q) != null) {
            return CompletableFuture.completedFuture(null);
        }
        CompletableFuture<Void> known = new CompletableFuture<>();
        lookForHolder(q, known, System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(HOLDER_WAIT_MS), null, 0);
        return known;
    }

    /**
     * One look of a wait for {@code q}'s holder, on the queue's loop (never blocks it): completes
     * {@code known} once a holder other than {@code avoid} (null: any) is known, this node took the
     * queue over, or at {@code deadline}.
     */
    private void lookForHolder(MessageQueue q, CompletableFuture<Void> known, long deadline, String avoid,
                               int looks) {
        String holder = holderOf(q);
        if (closed || q.remoteHome() == null || (holder != null && !holder.equals(avoid))
                || System.nanoTime() - deadline >= 0) {
            known.complete(null);
            return;
        }
        if (looks % 10 == 0) {
            q.holderSuspect(); // a queue this node is no member of asks its members who leads now
        }
        try {
            q.loop().schedule(() -> lookForHolder(q, known, deadline, avoid, looks + 1), HOLDER_POLL_MS,
                    TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException stopping) {
            known.complete(null);
        }
    }

    /** A link to {@code node}, its socket on {@code on} (a loop of this node's, or the group: any). */
    private CompletableFuture<AmqpLink> open(EventLoopGroup on, String node, String vhost, String user,
                                             AmqpLink.Handler handler) {
        if (closed) {
            return CompletableFuture.failedFuture(new IllegalStateException("the node is stopping"));
        }
        return directory.amqpAddress(node)
                .thenCompose(address -> AmqpLink.open(on, channelClass, address, vhost, user, self, auth,
                        HEARTBEAT_SECONDS, handler))
                .whenComplete((link, e) -> {
                    if (e != null) {
                        directory.forget(node);
                    } else {
                        links.add(link);
                        if (closed) {
                            link.close();
                        }
                    }
                });
    }

    /** What a client hears when the holder refused, or could not be reached. */
    static BrokerException refusal(MessageQueue q, String node, Throwable failure) {
        Throwable e = unwrap(failure);
        if (e instanceof AmqpLink.LinkException le) {
            return new BrokerException(reasonOf(le.code()), le.getMessage());
        }
        // RabbitMQ's answer for a queue whose node is down: 404 naming the node.
        return BrokerException.notFound("home node '%s' of queue '%s' in vhost '%s' is down or inaccessible (%s)",
                node == null ? StoreDurability.ELECTING : node, q.name(), q.vhost(), e);
    }

    /** What a link's future failed with: the cause of a CompletionException. */
    private static Throwable unwrap(Throwable failure) {
        return failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
    }

    /** The client's reason for a holder's reply code; INTERNAL_ERROR for one that refuses no operation (320, 541, ...). */
    private static BrokerException.Reason reasonOf(int code) {
        return switch (code) {
            case 403 -> BrokerException.Reason.ACCESS_REFUSED;
            case 404 -> BrokerException.Reason.NOT_FOUND;
            case 405 -> BrokerException.Reason.RESOURCE_LOCKED;
            case 406 -> BrokerException.Reason.PRECONDITION_FAILED;
            case 530 -> BrokerException.Reason.NOT_ALLOWED;
            default -> BrokerException.Reason.INTERNAL_ERROR;
        };
    }

    /** Whether the holder refused for good (the client must hear it), not "try again". */
    private static boolean refusedForGood(Throwable failure) {
        Throwable e = unwrap(failure);
        if (e instanceof AmqpLink.LinkException le) {
            return le.code() == 403 || le.code() == 405 || le.code() == 406 || le.code() == 530;
        }
        return false;
    }

    // ---- consumers ------------------------------------------------------------------------

    @Override public Relay consume(MessageQueue q, Consumer c) {
        ConsumerRelay r = new ConsumerRelay(q, c);
        r.connect();
        r.watch = q.loop().scheduleAtFixedRate(r::watch, WATCH_MS, WATCH_MS, TimeUnit.MILLISECONDS);
        q.loop().schedule(() -> r.started.complete(null), START_WAIT_MS, TimeUnit.MILLISECONDS);
        return r;
    }

    /** Relayed consumer tags at the holders: unique on every link of this node's. */
    private final java.util.concurrent.atomic.AtomicLong consumerTags = new java.util.concurrent.atomic.AtomicLong();

    /** The key of a shared consumer link: one stand-in (MessageQueue's equality is identity), one holder, one user. */
    private record PipeKey(MessageQueue q, String node, String user) {}

    /** Shared consumer links by stand-in, holder and user. */
    private final ConcurrentHashMap<PipeKey, Pipe> pipes = new ConcurrentHashMap<>();

    /**
     * A link that carries the relayed consumers of one stand-in by one user at one holder, each
     * with its own consumer tag and prefetch on the link's channel: a client's thousand consumers
     * of a queue held elsewhere cost one connection and one login on both nodes, not a thousand.
     * An exclusive consumer has one of its own (its refusal, 403 when the queue has consumers,
     * closes the link's channel, which must not take the others' deliveries back). The link
     * closes once its last consumer is cancelled and has nothing unsettled; a link that drops
     * sends each of its consumers after the queue again.
     */
    private final class Pipe implements AmqpLink.Handler {
        final PipeKey key;
        final boolean shared;
        /** Consumers by their tag at the holder; removed once cancelled and settled. */
        final ConcurrentHashMap<String, Session> sessions = new ConcurrentHashMap<>();
        /** No more sessions join: it is closing or closed. Guarded by this. */
        boolean ended;
        /** Completes once the link is open (then {@link #open} is set), or fails. */
        final CompletableFuture<AmqpLink> link = new CompletableFuture<>();
        volatile AmqpLink open;

        Pipe(PipeKey key, boolean shared) {
            this.key = key;
            this.shared = shared;
        }

        /** Adds {@code s} unless the pipe ended. */
        synchronized boolean join(Session s) {
            if (ended) {
                return false;
            }
            sessions.put(s.tag, s);
            return true;
        }

        /** {@code s} is cancelled and settled: the last one closes the link. Any thread. */
        void leave(Session s) {
            synchronized (this) {
                if (sessions.remove(s.tag) == null || !sessions.isEmpty() || ended) {
                    return;
                }
                ended = true;
            }
            end();
            link.whenComplete((l, e) -> closeLink(l));
        }

        private void end() {
            if (shared) {
                pipes.remove(key, this);
            }
        }

        @Override public void delivery(String consumerTag, long deliveryTag, boolean redelivered, String exchange,
                                       String routingKey, ByteBuf properties, ByteBuf body) {
            Session s = sessions.get(consumerTag);
            if (s == null) { // cancelled and settled already: the holder keeps it for another consumer
                properties.release();
                body.release();
                AmqpLink l = open;
                if (l != null) {
                    l.nack(deliveryTag, false, true);
                }
                return;
            }
            s.delivery(deliveryTag, redelivered, exchange, routingKey, properties, body);
        }

        @Override public void cancelled(String consumerTag) {
            Session s = sessions.get(consumerTag);
            if (s != null) {
                s.execute(() -> s.relay.lost(s, "the holder cancelled the consumer"));
            }
        }

        @Override public void closed(int code, String reason) {
            synchronized (this) {
                ended = true;
            }
            end();
            AmqpLink l = open;
            if (l != null) {
                links.remove(l);
            }
            for (Session s : sessions.values()) {
                s.execute(() -> s.relay.lost(s, reason));
            }
        }
    }

    /**
     * The link to consume {@code s}'s queue on: the shared one of its stand-in, holder and user
     * (opened now if there is none, or it is closing), or for an exclusive consumer one of its own.
     */
    private Pipe pipe(MessageQueue q, String node, String user, boolean exclusive, Session s) {
        PipeKey key = new PipeKey(q, node, user);
        if (!exclusive) {
            Pipe p = pipes.get(key);
            if (p != null && p.join(s)) {
                return p;
            }
        }
        Pipe fresh = new Pipe(key, !exclusive);
        fresh.join(s);
        if (!exclusive) {
            pipes.put(key, fresh); // a pipe found above has ended: it leaves the map or has left it
        }
        open(q, node, user, fresh).whenComplete((l, e) -> {
            if (l != null) {
                fresh.open = l;
                fresh.link.complete(l);
            } else {
                synchronized (fresh) {
                    fresh.ended = true;
                }
                fresh.end();
                fresh.link.completeExceptionally(e);
            }
        });
        return fresh;
    }

    /** One consumer's consume at one holder; several may live while a relay moves (old ones settle what is out). */
    private final class Session {
        final ConsumerRelay relay;
        final String node;
        /** This consume's tag at the holder. */
        final String tag = "warren-relay-" + consumerTags.incrementAndGet();
        Pipe pipe;
        volatile AmqpLink link;
        /** consume-ok came. Relay's loop. */
        boolean consuming;
        /** Deliveries not yet settled at the holder. */
        final AtomicInteger outstanding = new AtomicInteger();
        /** No new deliveries wanted: leave the link once nothing is outstanding. */
        volatile boolean retired;
        private final java.util.concurrent.atomic.AtomicBoolean left = new java.util.concurrent.atomic.AtomicBoolean();

        Session(ConsumerRelay relay, String node) {
            this.relay = relay;
            this.node = node;
        }

        void delivery(long deliveryTag, boolean redelivered, String exchange, String routingKey,
                      ByteBuf properties, ByteBuf body) {
            outstanding.incrementAndGet();
            Message m = new Message(exchange, routingKey, properties, body, false, MessageHeaders.READER);
            QueueEntry e = new QueueEntry(m, 0, redelivered, new Settle(this, deliveryTag));
            try {
                relay.q.execute(() -> relay.arrived(this, e));
            } catch (RejectedExecutionException gone) {
                e.remote().requeue();
                m.release();
            }
        }

        void execute(Runnable r) {
            try {
                relay.q.execute(r);
            } catch (RejectedExecutionException gone) {
                retire();
            }
        }

        void settled() {
            if (outstanding.decrementAndGet() == 0 && retired) {
                leave();
            }
        }

        void retire() {
            retired = true;
            if (outstanding.get() == 0) {
                leave();
            }
        }

        private void leave() {
            if (left.compareAndSet(false, true)) {
                pipe.leave(this);
            }
        }
    }

    /** A relayed delivery's settlement: over the link it came by (dropped if that link is gone). */
    private record Settle(Session session, long tag) implements QueueEntry.Remote {
        @Override public void ack() {
            session.link.ack(tag, false);
            session.settled();
        }

        @Override public void requeue() {
            session.link.nack(tag, false, true);
            session.settled();
        }

        @Override public void reject() {
            session.link.reject(tag, false);
            session.settled();
        }
    }

    /** One local consumer of a stand-in, consuming at the holder. Its state is the stand-in's loop's. */
    private final class ConsumerRelay implements Relay {
        final MessageQueue q;
        final Consumer c;
        final ArrayDeque<QueueEntry> buffer = new ArrayDeque<>();
        final CompletableFuture<Void> started = new CompletableFuture<>();
        Session current;
        boolean cancelled;
        boolean retrying;
        long retryMs = RETRY_MIN_MS;
        io.netty.util.concurrent.ScheduledFuture<?> watch;

        ConsumerRelay(MessageQueue q, Consumer c) {
            this.q = q;
            this.c = c;
        }

        int window() {
            int p = c.prefetch();
            return p <= 0 ? UNLIMITED_WINDOW : Math.min(p, 65535);
        }

        /** Consumes at the holder as the queue's group knows it now, or tries again soon. */
        void connect() {
            retrying = false;
            if (cancelled || closed) {
                return;
            }
            String node = holderOf(q);
            if (node == null) {
                q.holderSuspect();
                retry();
                return;
            }
            Session s = new Session(this, node);
            current = s;
            s.pipe = pipe(q, node, c.user(), c.exclusive(), s);
            int window = window();
            s.pipe.link
                    .thenCompose(link -> {
                        s.link = link;
                        return link.consume(q.name(), s.tag, window, c.exclusive(), c.arguments());
                    })
                    .whenComplete((tag, e) -> {
                        try {
                            q.execute(() -> consuming(s, e));
                        } catch (RejectedExecutionException gone) {
                            s.retire();
                        }
                    });
        }

        private void retry() {
            if (retrying || cancelled || closed) {
                return;
            }
            retrying = true;
            long wait = retryMs;
            retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
            try {
                q.loop().schedule(this::connect, wait, TimeUnit.MILLISECONDS);
            } catch (RejectedExecutionException gone) {
                retrying = false;
            }
        }

        void consuming(Session s, Throwable e) {
            if (e == null) {
                s.consuming = true;
                if (current != s || cancelled) {
                    s.link.cancel(s.tag);
                    s.retire();
                } else {
                    retryMs = RETRY_MIN_MS;
                    started.complete(null);
                }
                return;
            }
            s.retire();
            if (current != s || cancelled) {
                return;
            }
            current = null;
            q.holderSuspect();
            if (refusedForGood(e)) {
                cancelled = true;
                stopWatch();
                BrokerException why = refusal(q, s.node, e);
                if (!started.completeExceptionally(why)) {
                    c.refused(q, why); // after consume-ok: the channel closes with the holder's reply
                }
                return;
            }
            log.debug("relaying queue '{}' in vhost '{}' from node {} failed, trying again: {}", q.name(), q.vhost(),
                    s.node, e.toString());
            retry();
        }

        void arrived(Session s, QueueEntry e) {
            if (cancelled || s != current) {
                e.remote().requeue(); // a consume that is going: the holder keeps it for the next
                e.message().release();
                return;
            }
            buffer.add(e);
            pump();
        }

        /** The link went, or the holder cancelled its consume: consume again wherever the queue is now. */
        void lost(Session s, String why) {
            if (s != current) {
                return;
            }
            current = null;
            dropBuffered(s);
            s.retire();
            q.holderSuspect();
            if (!cancelled) {
                log.debug("queue '{}' in vhost '{}': the relay from node {} ended ({}), following the queue",
                        q.name(), q.vhost(), s.node, why);
                retry();
            }
        }

        /** Buffered deliveries of {@code s} (all when null) go back to the holder. */
        private void dropBuffered(Session s) {
            for (Iterator<QueueEntry> it = buffer.iterator(); it.hasNext(); ) {
                QueueEntry e = it.next();
                if (s == null || ((Settle) e.remote()).session() == s) {
                    it.remove();
                    e.remote().requeue();
                    e.message().release();
                }
            }
        }

        /** The queue's group names another holder than the one consumed at: move there. */
        void watch() {
            Session s = current;
            if (cancelled || s == null || !s.consuming) {
                return;
            }
            String node = holderOf(q);
            if (node != null && !node.equals(s.node)) {
                current = null;
                dropBuffered(s);
                s.link.cancel(s.tag);
                s.retire();
                retryMs = RETRY_MIN_MS;
                connect();
            }
        }

        @Override public CompletableFuture<Void> started() {
            return started;
        }

        @Override public void pump() {
            while (!buffer.isEmpty() && !cancelled && c.tryReserve()) {
                c.deliver(q, buffer.poll());
            }
        }

        @Override public void cancel() {
            if (cancelled) {
                return;
            }
            cancelled = true;
            stopWatch();
            dropBuffered(null);
            Session s = current;
            current = null;
            if (s != null) {
                if (s.consuming) {
                    s.link.cancel(s.tag);
                }
                s.retire();
            }
        }

        private void stopWatch() {
            if (watch != null) {
                watch.cancel(false);
                watch = null;
            }
        }
    }

    // ---- get and purge --------------------------------------------------------------------

    /** Idle one-operation links kept per holder, vhost and user. */
    static final int MAX_IDLE_LINKS = 4;
    /** How long an idle one-operation link is kept. */
    static final long IDLE_LINK_MS = 30_000;

    /** Idle one-operation links by "node \0 vhost \0 user", the most recently used first. */
    private final ConcurrentHashMap<String, java.util.concurrent.ConcurrentLinkedDeque<Once>> idle =
            new ConcurrentHashMap<>();
    /**
     * Links holding got messages not settled yet, by "node \0 vhost \0 user \0 queue": the next
     * get of that queue goes there (one link per queue, not per unsettled message).
     */
    private final ConcurrentHashMap<String, Once> holding = new ConcurrentHashMap<>();

    /**
     * A one-operation link: nothing is delivered on it; it goes back to the idle ones when done
     * with: when its operations have been answered and the messages got on it settled.
     */
    private static final class Once implements AmqpLink.Handler {
        final String key;
        volatile AmqpLink link;
        /** Operations waiting for their answer plus got messages not settled yet. Guarded by this. */
        private int uses = 1;
        /** Its key in {@link #holding} while it is the link there. Guarded by this. */
        private String holdKey;

        Once(String key) {
            this.key = key;
        }

        @Override public void delivery(String consumerTag, long deliveryTag, boolean redelivered, String exchange,
                                       String routingKey, ByteBuf properties, ByteBuf body) {
            properties.release();
            body.release();
        }

        @Override public void cancelled(String consumerTag) { }

        @Override public void closed(int code, String reason) { }
    }

    /**
     * Runs {@code op} on a link of its own to {@code q}'s holder, as {@code user} (an idle one, or
     * a new one): {@code then} gets the link (to {@link #release} once done with it) and the
     * result; a failure closes the link and reaches {@code failed} as the client's refusal. An idle
     * link that turns out gone (its holder restarted) is replaced by a new one, once. A quorum
     * queue's holder that cannot be reached (its leader just died), or that says it no longer
     * leads while its group names another, is followed to the next leader for up to
     * {@link #HOLDER_WAIT_MS}: the client sees a pause, not a 404, across a failover. When this
     * node takes the queue over meanwhile, the use fails here and the caller, seeing the queue
     * is no longer a stand-in, runs it here.
     */
    private <T> void once(MessageQueue q, String user, java.util.function.Consumer<BrokerException> failed,
                          java.util.function.Function<AmqpLink, CompletableFuture<T>> op,
                          BiConsumer<Once, T> then) {
        once(q, user, failed, op, then, System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(HOLDER_WAIT_MS));
    }

    private <T> void once(MessageQueue q, String user, java.util.function.Consumer<BrokerException> failed,
                          java.util.function.Function<AmqpLink, CompletableFuture<T>> op,
                          BiConsumer<Once, T> then, long deadline) {
        String node = holderOf(q);
        if (node == null) {
            q.holderSuspect();
            failed.accept(refusal(q, null, new IllegalStateException("no leader known")));
            return;
        }
        String key = node + '\0' + q.vhost() + '\0' + user;
        Once reused = takeIdle(key);
        Once once = reused != null ? reused : new Once(key);
        CompletableFuture<AmqpLink> link = reused != null ? CompletableFuture.completedFuture(reused.link)
                : open(q, node, user, once);
        link.thenCompose(l -> {
                    once.link = l;
                    return op.apply(l);
                })
                .whenComplete((result, e) -> {
                    if (e == null) {
                        then.accept(once, result);
                        return;
                    }
                    closeLink(once.link);
                    q.holderSuspect(); // a quorum queue's leader may have moved
                    // the holder refused the operation, or (320 connection-forced, a closed socket) the idle link was gone
                    boolean refused = unwrap(e) instanceof AmqpLink.LinkException le
                            && reasonOf(le.code()) != BrokerException.Reason.INTERNAL_ERROR;
                    if (reused != null && !refused && !closed) {
                        once(q, user, failed, op, then, deadline); // the idle link was gone, not refused: a new one
                    } else if (q.quorum() && !closed && !refusedForGood(e) && System.nanoTime() - deadline < 0) {
                        // The leader died or moved: once the group names another node (or this
                        // one takes the queue over), try there; a refusal by the node the group
                        // still names is the client's answer.
                        CompletableFuture<Void> moved = new CompletableFuture<>();
                        lookForHolder(q, moved, refused ? System.nanoTime() : deadline, node, 0);
                        moved.thenRun(() -> {
                            String next = holderOf(q);
                            if (next != null && !next.equals(node)) {
                                once(q, user, failed, op, then, deadline);
                            } else {
                                // still there, none known, or this node leads it now (the caller
                                // then runs the use here: see whenHolderKnown)
                                failed.accept(refusal(q, node, e));
                            }
                        });
                    } else {
                        failed.accept(refusal(q, node, e));
                    }
                });
    }

    /** An idle link for {@code key} that is still open, or null; closed ones found on the way are dropped. */
    private Once takeIdle(String key) {
        java.util.concurrent.ConcurrentLinkedDeque<Once> links = idle.get(key);
        if (links == null) {
            return null;
        }
        for (Once o; (o = links.pollFirst()) != null; ) {
            if (o.link.isOpen()) {
                synchronized (o) {
                    o.uses = 1;
                }
                return o;
            }
            closeLink(o.link);
        }
        return null;
    }

    /**
     * Takes one more use of {@code o} for a get, if it is in use (its gets not all settled: it is
     * not idle, so no idle timer closes it) and open.
     */
    private static boolean join(Once o) {
        synchronized (o) {
            if (o.uses > 0 && o.link != null && o.link.isOpen()) {
                o.uses++;
                return true;
            }
            return false;
        }
    }

    /** One use of {@code o} is over (an operation answered, a got message settled); at the last it is released. */
    private void done(Once o) {
        synchronized (o) {
            if (--o.uses > 0) {
                return;
            }
            if (o.holdKey != null) {
                holding.remove(o.holdKey, o);
                o.holdKey = null;
            }
        }
        release(o);
    }

    /** A one-operation link is done with: kept idle for the next (up to MAX_IDLE_LINKS per key), else closed. */
    private void release(Once once) {
        AmqpLink link = once.link;
        if (closed || link == null || !link.isOpen()) {
            closeLink(link);
            return;
        }
        java.util.concurrent.ConcurrentLinkedDeque<Once> links =
                idle.computeIfAbsent(once.key, k -> new java.util.concurrent.ConcurrentLinkedDeque<>());
        if (links.size() >= MAX_IDLE_LINKS) {
            closeLink(link);
            return;
        }
        links.addFirst(once);
        try {
            group.next().schedule(() -> {
                if (links.remove(once)) { // still idle (taken meanwhile, it is not in the deque)
                    closeLink(link);
                }
            }, IDLE_LINK_MS, TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            links.remove(once); // the node stops
            closeLink(link);
            return;
        }
        if (closed && links.remove(once)) {
            closeLink(link);
        }
    }

    private void closeLink(AmqpLink link) {
        if (link != null) {
            link.close();
            links.remove(link);
        }
    }

    @Override public void get(MessageQueue q, String user, BiConsumer<QueueEntry, Integer> sink,
                              java.util.function.Consumer<BrokerException> failed) {
        String node = holderOf(q);
        Once held = node == null ? null : holding.get(node + '\0' + q.vhost() + '\0' + user + '\0' + q.name());
        if (held != null && join(held)) {
            held.link.get(q.name()).whenComplete((got, e) -> {
                if (e == null) {
                    got(q, held, got, sink);
                    return;
                }
                // the link went or the holder refused (the link closed): the usual way follows
                // a leader that moved and gives the client the holder's refusal
                done(held);
                getOnce(q, user, sink, failed);
            });
            return;
        }
        getOnce(q, user, sink, failed);
    }

    private void getOnce(MessageQueue q, String user, BiConsumer<QueueEntry, Integer> sink,
                         java.util.function.Consumer<BrokerException> failed) {
        once(q, user, failed, link -> link.get(q.name()), (once, got) -> got(q, once, got, sink));
    }

    /** A get's answer on {@code once}: the message holds the link until the client settles it. */
    private void got(MessageQueue q, Once once, AmqpLink.Got got, BiConsumer<QueueEntry, Integer> sink) {
        if (got == null) {
            done(once);
            sink.accept(null, 0);
            return;
        }
        synchronized (once) {
            once.uses++; // the message's, until settled; the get's own use ends below
            String key = once.key + '\0' + q.name();
            if (once.holdKey == null && holding.putIfAbsent(key, once) == null) {
                once.holdKey = key;
            }
        }
        done(once);
        AmqpLink link = once.link;
        Message m = new Message(got.exchange(), got.routingKey(), got.properties(), got.body(), false,
                MessageHeaders.READER);
        QueueEntry entry = new QueueEntry(m, 0, got.redelivered(), new QueueEntry.Remote() {
            @Override public void ack() {
                link.ack(got.deliveryTag(), false);
                done(once);
            }

            @Override public void requeue() {
                link.nack(got.deliveryTag(), false, true);
                done(once);
            }

            @Override public void reject() {
                link.reject(got.deliveryTag(), false);
                done(once);
            }
        });
        sink.accept(entry, got.messageCount());
    }

    @Override public void purge(MessageQueue q, String user, IntConsumer sink,
                                java.util.function.Consumer<BrokerException> failed) {
        once(q, user, failed, link -> link.purge(q.name()), (once, n) -> {
            done(once);
            sink.accept(n);
        });
    }

    // ---- redeclare and delete of a classic queue held elsewhere ---------------------------

    @Override public void counts(MessageQueue q, String user, BiConsumer<Integer, Integer> sink,
                                 java.util.function.Consumer<BrokerException> failed) {
        once(q, user, failed, link -> link.declarePassive(q.name()), (once, ok) -> {
            done(once);
            sink.accept((int) Math.min(Integer.MAX_VALUE, ok.messageCount()),
                    (int) Math.min(Integer.MAX_VALUE, ok.consumerCount()));
        });
    }

    @Override public void delete(MessageQueue q, String user, boolean ifUnused, boolean ifEmpty, IntConsumer sink,
                                 java.util.function.Consumer<BrokerException> failed) {
        once(q, user, failed, link -> link.delete(q.name(), ifUnused, ifEmpty), (once, n) -> {
            done(once);
            sink.accept(n);
        });
    }

    // ---- publishes to a classic queue held elsewhere --------------------------------------

    /** Unconfirmed forwarded messages to one node and vhost past which their publishers pause (they resume at half). */
    static final int FORWARD_WINDOW = 2048;
    /** The same bound in body bytes. */
    static final long FORWARD_WINDOW_BYTES = 64L << 20;

    /** One forwarder per holder node and vhost, by "node \0 vhost". */
    private final ConcurrentHashMap<String, Forwarder> forwarders = new ConcurrentHashMap<>();

    @Override public io.warren.core.store.MessageStore forwarder(MessageQueue q) {
        return new ForwardStore(q);
    }

    /** Forwarders now (tests). */
    public int forwarders() {
        return forwarders.size();
    }

    /**
     * What a publish routed to stand-in {@code q} is written to: its {@link Forwarder}. Nothing
     * is ever stored here, so there is nothing to remove, recover or load.
     *
     * <p>A quorum queue's publish that fails (the node it went to nacked it: no longer, or not
     * yet, the leader; its link dropped: the leader died; no leader known yet) is tried once more
     * once the queue's group names a leader other than the node that failed it, or this one
     * still after {@link #NACKED_RETRY_MS} for a nack (a nack that has another cause is then
     * the publisher's), within {@link #HOLDER_WAIT_MS}: the publisher sees a pause, not a nack,
     * when the lead moved (as after a declare, when the placement hands it on). At most
     * {@link #FORWARD_WINDOW} publishes of a queue wait for their second try; past that a
     * failure is the publisher's nack at once. A second try may put the message behind later
     * ones, and one that the failed leader had logged may be taken twice (a duplicate, never a loss).
     */
    private final class ForwardStore implements io.warren.core.store.MessageStore {
        private final MessageQueue q;
        /** Publishes waiting for their second try. */
        private final AtomicInteger retrying = new AtomicInteger();

        ForwardStore(MessageQueue q) {
            this.q = q;
        }

        /** The forwarder once found: a classic queue's holder does not change; a quorum queue's leader may. */
        private volatile Forwarder forwarder;

        /**
         * The forwarder to q's holder, or null when none can be named (this node holds it, or no
         * node is known). A classic queue's is looked up once, not per publish; a quorum queue's
         * (this node is no member of it) again whenever its leader is another node.
         */
        private Forwarder forwarder() {
            Forwarder f = forwarder;
            if (f == null || q.quorum()) {
                String node = holderOf(q);
                if (node == null) {
                    return null;
                }
                if (f != null && f.node.equals(node)) {
                    return f;
                }
                f = forwarders.computeIfAbsent(node + "\0" + q.vhost(), k -> new Forwarder(node, q.vhost()));
                forwarder = f;
            }
            return f;
        }

        @Override public long append(String exchange, String routingKey, ByteBuf properties, ByteBuf body,
                                     long[] queueIds, Durable durable) {
            Out o = Out.of(q.name(), exchange, routingKey, properties, body, durable, q.quorum() ? this : null);
            Forwarder f = forwarder();
            if (f != null) {
                f.send(o);
            } else if (!retry(o, null, new IllegalStateException("no node to forward to"))) {
                o.release();
                durable.done(refusal(q, null, new IllegalStateException("no node to forward to")));
            }
            return 0;
        }

        /**
         * A quorum queue's publish {@code o} failed at {@code from} (null: no node known): takes it
         * for its second try (true; o's buffers are this one's then) or leaves the failure to the
         * caller (false). Any thread.
         */
        boolean retry(Out o, Forwarder from, Throwable failure) {
            q.holderSuspect(); // ask the queue's members who leads now
            if (closed || o.second()) {
                return false;
            }
            if (retrying.incrementAndGet() > FORWARD_WINDOW) {
                retrying.decrementAndGet();
                return false;
            }
            boolean nacked = from != null && unwrap(failure) instanceof Nacked;
            CompletableFuture<Void> moved = new CompletableFuture<>();
            lookForHolder(q, moved, System.nanoTime()
                    + TimeUnit.MILLISECONDS.toNanos(nacked ? NACKED_RETRY_MS : HOLDER_WAIT_MS),
                    from == null ? null : from.node, 0);
            moved.whenComplete((v, e) -> {
                retrying.decrementAndGet();
                Forwarder f = closed ? null : forwarder();
                if (f == null) {
                    o.release();
                    BrokerException refusal = from != null ? from.refusalOf(o, failure) : refusal(q, null, failure);
                    o.done().completeExceptionally(refusal);
                    o.durable().done(refusal);
                } else {
                    f.send(o.again());
                }
            });
            return true;
        }

        @Override public void remove(long ref) { }

        @Override public void sync(Durable durable) {
            Forwarder f = forwarder();
            if (f == null) {
                durable.done(null);
            } else {
                f.sync(durable);
            }
        }

        @Override public boolean overloaded() {
            Forwarder f = forwarder();
            return f != null && f.overloaded();
        }

        @Override public void whenDrained(java.util.concurrent.Executor executor, Runnable callback) {
            Forwarder f = forwarder();
            if (f == null) {
                executor.execute(callback);
            } else {
                f.whenDrained(executor, callback);
            }
        }

        @Override public void recover(RecoveryVisitor visitor) { }

        @Override public void load(long ref, LoadSink sink) {
            sink.loaded(null, null, new io.warren.core.store.StoreException("a forwarded message is not kept here"));
        }

        @Override public void close() { }
    }

    /** How long a quorum queue's publish that its leader nacked waits for another leader before its second try. */
    static final long NACKED_RETRY_MS = 1000;

    /** The holder answered basic.nack. */
    private static final class Nacked extends IllegalStateException {
        Nacked() {
            super("the holder nacked it");
        }
    }

    /** A message on its way to the holder. */
    private record Out(String queue, String exchange, String routingKey, ByteBuf properties, ByteBuf body, int size,
                       io.warren.core.store.MessageStore.Durable durable, ForwardStore retry, boolean second,
                       CompletableFuture<Void> done) {
        /**
         * A publish for {@code queue}: copies the properties with the queue's forward header and
         * keeps a retained duplicate of the body (the caller's buffers stay the caller's).
         * {@code retry} (null: none) takes it for a second try should this one fail.
         */
        static Out of(String queue, String exchange, String routingKey, ByteBuf properties, ByteBuf body,
                      io.warren.core.store.MessageStore.Durable durable, ForwardStore retry) {
            ByteBuf props = MessageHeaders.withForwardTo(io.netty.buffer.ByteBufAllocator.DEFAULT, properties, queue);
            ByteBuf b = body.retainedDuplicate();
            return new Out(queue, exchange, routingKey, props, b, b.readableBytes(), durable, retry, false,
                    new CompletableFuture<>());
        }

        /** Whether this try keeps its buffers for a second one (each send then gets duplicates of its own). */
        boolean keeps() {
            return retry != null && !second;
        }

        /** The second try: the same buffers and outcome, nothing kept back. */
        Out again() {
            return new Out(queue, exchange, routingKey, properties, body, size, durable, retry, true, done);
        }

        void release() {
            properties.release();
            body.release();
        }

        /** A send that did not reach the link gives back what it was handed. */
        void unsent() {
            if (!keeps()) {
                release();
            }
        }
    }

    /**
     * The publishes this node forwards to one node's classic queues in one vhost, over one link
     * logged in as the node itself (no user: the holder then takes forwarded publishes only,
     * see AmqpConnection#nodeLink) in confirm mode, opened when first needed and again after it
     * drops. Each message names its queue in a header the holder removes
     * ({@link MessageHeaders#FORWARD_TO}) and keeps its exchange and routing key. A publisher's
     * confirm waits for the holder's; a nack there, or a link that drops or cannot be opened
     * first, is a nack to the publisher (RabbitMQ drops a message for a queue whose node is down;
     * here the publisher hears of it). Its state lives on one event loop, so messages go out in
     * the order they were forwarded.
     */
    private final class Forwarder implements AmqpLink.Handler {
        private final String node;
        private final String vhost;
        private final io.netty.channel.EventLoop loop = group.next();
        private final AtomicInteger inFlight = new AtomicInteger();
        private final java.util.concurrent.atomic.AtomicLong inFlightBytes = new java.util.concurrent.atomic.AtomicLong();
        private final Set<CompletableFuture<Void>> unsettled = ConcurrentHashMap.newKeySet();
        private final java.util.List<Runnable> drainWaiters = new java.util.ArrayList<>();
        // loop only
        private AmqpLink link;
        private boolean opening;
        private final ArrayDeque<Out> waiting = new ArrayDeque<>();

        Forwarder(String node, String vhost) {
            this.node = node;
            this.vhost = vhost;
        }

        /**
         * Any thread: sends {@code o} (which {@link Out#of} made) to the holder; its buffers are
         * this forwarder's from now on.
         */
        void send(Out o) {
            unsettled.add(o.done());
            o.done().whenComplete((v, e) -> unsettled.remove(o.done()));
            inFlight.incrementAndGet();
            inFlightBytes.addAndGet(o.size());
            try {
                loop.execute(() -> write(o));
            } catch (RejectedExecutionException e) {
                o.unsent();
                settle(o, new IllegalStateException("the node is stopping"));
            }
        }

        private void write(Out o) {
            if (closed) {
                o.unsent();
                settle(o, new IllegalStateException("the node is stopping"));
                return;
            }
            if (link != null && link.isOpen()) {
                ByteBuf props = o.keeps() ? o.properties().retainedDuplicate() : o.properties();
                ByteBuf body = o.keeps() ? o.body().retainedDuplicate() : o.body();
                link.publish(o.exchange(), o.routingKey(), props, body).whenComplete((acked, e) ->
                        settle(o, e != null ? e : acked ? null : new Nacked()));
                return;
            }
            waiting.add(o);
            if (!opening) {
                opening = true;
                link = null;
                open(loop, node, vhost, "", this) // the forwarder's loop: publishes and confirms stay on it
                        .thenCompose(l -> l.confirmSelect().thenApply(v -> l))
                        .whenCompleteAsync(this::opened, loop);
            }
        }

        private void opened(AmqpLink l, Throwable e) {
            opening = false;
            if (e != null) {
                log.debug("forwarding to node {} (vhost '{}') failed: {}", node, vhost, e.toString());
                for (Out o; (o = waiting.poll()) != null; ) {
                    o.unsent();
                    settle(o, e);
                }
                return;
            }
            link = l;
            for (Out o; (o = waiting.poll()) != null; ) {
                write(o);
            }
        }

        private BrokerException refusalOf(Out o, Throwable e) {
            Throwable t = unwrap(e);
            return BrokerException.notFound("home node '%s' of queue '%s' in vhost '%s' did not take a forwarded "
                    + "message: %s", node, o.queue(), vhost, t.getMessage() != null ? t.getMessage() : t.toString());
        }

        /**
         * The holder confirmed {@code o} ({@code failure == null}) or it failed (the holder's nack,
         * the link's failure): the publisher's answer, or, for a quorum queue's first try, its
         * second try ({@link ForwardStore#retry}; {@code o.done()} completes with that one's
         * outcome, so a sync waits for it).
         */
        private void settle(Out o, Throwable failure) {
            long bytes = inFlightBytes.addAndGet(-o.size());
            int n = inFlight.decrementAndGet();
            try {
                if (failure != null && o.retry() != null && o.retry().retry(o, this, failure)) {
                    return; // o's buffers and outcome are the second try's now
                }
                if (o.keeps()) {
                    o.release();
                }
                BrokerException refusal = failure == null ? null : refusalOf(o, failure);
                if (refusal == null) {
                    o.done().complete(null);
                } else {
                    o.done().completeExceptionally(refusal);
                }
                o.durable().done(refusal);
            } finally {
                if (n <= FORWARD_WINDOW / 2 && bytes <= FORWARD_WINDOW_BYTES / 2) {
                    drained();
                }
            }
        }

        void sync(io.warren.core.store.MessageStore.Durable durable) {
            CompletableFuture.allOf(unsettled.toArray(new CompletableFuture<?>[0])).whenComplete((v, e) ->
                    durable.done(e == null ? null : unwrap(e)));
        }

        boolean overloaded() {
            return inFlight.get() > FORWARD_WINDOW || inFlightBytes.get() > FORWARD_WINDOW_BYTES;
        }

        void whenDrained(java.util.concurrent.Executor executor, Runnable callback) {
            synchronized (drainWaiters) {
                if (inFlight.get() > FORWARD_WINDOW / 2 || inFlightBytes.get() > FORWARD_WINDOW_BYTES / 2) {
                    drainWaiters.add(() -> executor.execute(callback));
                    return;
                }
            }
            executor.execute(callback);
        }

        private void drained() {
            java.util.List<Runnable> ready;
            synchronized (drainWaiters) {
                if (drainWaiters.isEmpty()) {
                    return;
                }
                ready = new java.util.ArrayList<>(drainWaiters);
                drainWaiters.clear();
            }
            ready.forEach(Runnable::run);
        }

        // AmqpLink.Handler: a forwarding link consumes nothing.
        @Override public void delivery(String consumerTag, long deliveryTag, boolean redelivered, String exchange,
                                       String routingKey, ByteBuf properties, ByteBuf body) {
            properties.release();
            body.release();
        }

        @Override public void cancelled(String consumerTag) { }

        /** The link went: its unconfirmed publishes fail (AmqpLink); the next one opens a new link. */
        @Override public void closed(int code, String reason) {
            loop.execute(() -> {
                if (link != null && !link.isOpen()) {
                    links.remove(link);
                    link = null;
                }
            });
            directory.forget(node);
        }
    }
}
