package io.warren.amqp.channel;

import io.netty.buffer.ByteBuf;
import io.warren.amqp.codec.ConnectionException;
import io.warren.amqp.codec.FrameWriter;
import io.warren.amqp.connection.AmqpConnection;
import io.warren.amqp.connection.ReplyCodes;
import io.warren.amqp.protocol.*;
import io.warren.core.BrokerException;
import io.warren.core.auth.AccessControl.Permission;
import io.warren.core.auth.Authorizer.Kind;
import io.warren.core.message.Message;
import io.warren.core.message.QueueEntry;
import io.warren.core.queue.MessageQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The consuming side of one {@link AmqpChannel}: basic.qos, basic.consume and basic.cancel
 * (also of the direct reply-to pseudo-queue), the deliveries queues hand over, basic.get, and
 * the settling of deliveries (basic.ack, nack, reject, recover) with the credit that gives back:
 * to each consumer, and for the channel-wide prefetch (basic.qos global=true) to the consumers
 * waiting for it, in turn.
 *
 * <p>Holds the consumers by tag, the deliveries awaiting ack ({@link UnackedDeliveries}, which
 * also hands out the channel's delivery tags), both prefetch settings, the channel-wide credit
 * and its waiters, the direct reply-to consumer, and the channel's {@link ConsumerTimeout}.
 *
 * <p>Owner: the channel's connection loop. Queue loops touch only the channel-wide credit
 * ({@link #globalPrefetch}, {@link #globalUnacked}, {@link #waitForGlobalCredit}), through their
 * {@link ChannelConsumer}s, and hand deliveries over to the owner's loop. Acks on a transactional
 * channel wait in {@link ChannelTransactions} until tx.commit settles them here.
 */
final class ChannelConsumers {
    /** The channel's logger: these lines keep the logger name they always had. */
    private static final Logger log = LoggerFactory.getLogger(AmqpChannel.class);
    private static final SecureRandom RANDOM = new SecureRandom();

    private final AmqpChannel channel;
    private final AmqpConnection connection;
    private final int id;
    private final ChannelTransactions transactions;
    private final Map<String, ChannelConsumer> consumers = new LinkedHashMap<>();
    private final UnackedDeliveries unacked = new UnackedDeliveries();
    private final ConsumerTimeout timeout;
    /** basic.qos global=false: the prefetch given to consumers created afterwards. */
    private int consumerPrefetch;
    /** basic.qos global=true: the limit shared by all consumers of the channel (0 = none). */
    volatile int globalPrefetch;
    final AtomicInteger globalUnacked = new AtomicInteger();
    /**
     * Consumers refused by the global prefetch, in the order they asked (any queue loop adds,
     * the channel's loop takes): freed credit goes to them in turn, so with a channel-wide limit
     * every queue gets its share (RabbitMQ's limiter wakes its blocked queues in random order).
     */
    private final java.util.concurrent.ConcurrentLinkedQueue<ChannelConsumer> globalWaiters =
            new java.util.concurrent.ConcurrentLinkedQueue<>();
    /** A queue was handed the global credit and has not reported back yet (channel loop). */
    private boolean creditPassInFlight;
    /** The direct reply-to consumer (consumer tag and registry token), or null. Channel loop. */
    private String replyTag;
    private String replyToken;

    ChannelConsumers(AmqpChannel channel, AmqpConnection connection, int id, ChannelTransactions transactions) {
        this.channel = channel;
        this.connection = connection;
        this.id = id;
        this.transactions = transactions;
        this.timeout = new ConsumerTimeout(channel, connection, id, unacked);
    }

    /** The channel's connection (its consumers hand deliveries over to its loop). */
    AmqpConnection connection() {
        return connection;
    }

    // ---- basic: consuming --------------------------------------------------------------------

    void onBasicQos(BasicQos m) {
        if (m.prefetchSize() != 0) {
            throw new ConnectionException(ReplyCode.NOT_IMPLEMENTED, "prefetch_size!=0 (" + m.prefetchSize() + ")",
                    60, 10);
        }
        if (m.global()) {
            globalPrefetch = m.prefetchCount();
        } else {
            consumerPrefetch = m.prefetchCount();
            // RabbitMQ 3.10 (rabbit_channel, basic.qos global=false) also lifts the channel-wide
            // limit of an earlier global=true: "unlimit_prefetch". Clients see that, so do the same.
            globalPrefetch = 0;
        }
        kickConsumers();
        channel.send(new BasicQosOk());
    }

    void onBasicConsume(BasicConsume m) {
        if (m.queue().equals(DirectReplyTo.QUEUE)) {
            consumeReplies(m);
            return;
        }
        channel.authz().check(Kind.QUEUE, channel.queueName(m.queue()), Permission.READ);
        MessageQueue q = channel.vhost().queueForClient(channel.queueName(m.queue()), connection,
                connection.relayed());
        String tag = m.consumerTag().isEmpty() ? "amq.ctag-" + randomId() : m.consumerTag();
        if (consumers.containsKey(tag)) {
            throw new ConnectionException(ReplyCode.NOT_ALLOWED, "attempt to reuse consumer tag '" + tag + "'", 60, 20);
        }
        ChannelConsumer c = new ChannelConsumer(this, tag, q, m.noAck(), m.exclusive(), consumerPrefetch,
                consumerPriority(m.arguments(), q));
        consumers.put(tag, c);
        // The methods behind this one wait for consume-ok or the refusal (RabbitMQ's channel
        // takes one method at a time): a pipelined basic.qos is answered after consume-ok.
        boolean held = !m.nowait();
        if (held) {
            channel.hold();
        }
        q.execute(() -> {
            try {
                q.addConsumer(c);
            } catch (BrokerException e) {
                refusedAtStart(c, e, held);
                return;
            }
            // A stand-in's consumer is taken by the queue's holder first: its refusal (exclusive
            // use...) comes in place of consume-ok, as from a queue of this node. Completed on the
            // queue's loop, before the holder's first delivery reaches it.
            q.consumerStarted(c).whenComplete((v, failure) -> {
                if (failure instanceof BrokerException e) {
                    refusedAtStart(c, e, held);
                    return;
                }
                // consume-ok is queued to the channel before the first delivery.
                if (held) {
                    connection.execute(() -> {
                        channel.sendIfOpen(new BasicConsumeOk(tag));
                        channel.unhold();
                    });
                }
                q.scheduleDispatch();
            });
        });
    }

    /** A consume refused by its queue (or the queue's holder) before consume-ok: the channel's error (any thread). */
    private void refusedAtStart(ChannelConsumer c, BrokerException e, boolean held) {
        connection.execute(() -> {
            consumerRefused(c, e);
            if (held) {
                channel.unhold();
            }
        });
    }

    /**
     * {@code x-priority} of a basic.consume: an integer of any AMQP integer type (RabbitMQ's
     * check_int_arg), clamped to int; anything else is 406 with RabbitMQ's text.
     */
    private static int consumerPriority(java.util.Map<String, Object> args, MessageQueue q) {
        if (args == null || !args.containsKey("x-priority")) {
            return 0;
        }
        Object v = args.get("x-priority"); // a void value is refused below, as RabbitMQ does
        long p;
        if (v instanceof Byte || v instanceof Short || v instanceof Integer || v instanceof Long) {
            p = ((Number) v).longValue();
        } else if (v instanceof io.warren.core.message.TableValue t && t.typeName().startsWith("unsigned")
                && t.comparable() instanceof Long l) {
            p = l;
        } else {
            throw BrokerException.preconditionFailed("invalid arg 'x-priority' for queue '%s' in vhost '%s': "
                    + "{unacceptable_type,%s}", q.name(), q.vhost(), io.warren.core.message.TableValue.typeNameOf(v));
        }
        return (int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, p));
    }

    /**
     * basic.consume on amq.rabbitmq.reply-to (RabbitMQ's checks, in its order): no permission
     * needed, one no-ack reply consumer per channel.
     */
    private void consumeReplies(BasicConsume m) {
        if (consumers.containsKey(m.consumerTag())) {
            throw new ConnectionException(ReplyCode.NOT_ALLOWED, "attempt to reuse consumer tag '" + m.consumerTag()
                    + "'", 60, 20);
        }
        if (!m.noAck()) {
            throw new ChannelException(ReplyCode.PRECONDITION_FAILED, "reply consumer cannot acknowledge");
        }
        if (replyTag != null) {
            throw new ChannelException(ReplyCode.PRECONDITION_FAILED, "reply consumer already set");
        }
        replyTag = m.consumerTag().isEmpty() ? "amq.ctag-" + randomId() : m.consumerTag();
        replyToken = channel.replies().register(channel);
        if (!m.nowait()) {
            channel.send(new BasicConsumeOk(replyTag));
        }
    }

    private void cancelReplies() {
        if (replyToken != null) {
            channel.replies().unregister(replyToken, channel);
        }
        replyTag = null;
        replyToken = null;
    }

    /**
     * A direct reply for this channel's reply consumer {@code token} (channel loop; handed over
     * by {@link DirectReplyTo#deliver}). Dropped when the channel closed or the consumer was
     * cancelled since. As in RabbitMQ, the delivery tag is the channel's next one, not taken (no
     * ack follows), and nothing limits these deliveries (no prefetch, no queue).
     */
    void deliverReply(String token, Message msg) {
        try {
            if (!channel.open() || !token.equals(replyToken)) {
                return;
            }
            connection.write(FrameWriter.content(connection.ctx().alloc(), id,
                    new BasicDeliver(replyTag, unacked.peekTag(), false, msg.exchange(), msg.routingKey()),
                    BasicDeliver.CLASS_ID, msg.properties(), msg.body(), connection.frameMax()));
        } catch (RuntimeException | OutOfMemoryError failure) {
            // Replies are transient and unacknowledged: one that cannot be written is lost, as
            // when its client goes away.
            log.warn("channel {}: could not write a direct reply: {}", id, failure.toString());
        } finally {
            msg.release();
        }
    }

    private static String randomId() {
        byte[] b = new byte[16];
        RANDOM.nextBytes(b);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }

    void onBasicCancel(BasicCancel m) {
        if (replyTag != null && replyTag.equals(m.consumerTag())) {
            cancelReplies();
            if (!m.nowait()) {
                channel.send(new BasicCancelOk(m.consumerTag()));
            }
            return;
        }
        ChannelConsumer c = consumers.remove(m.consumerTag());
        if (c == null) {
            if (!m.nowait()) {
                channel.send(new BasicCancelOk(m.consumerTag()));
            }
            return;
        }
        c.cancelled = true;
        if (!m.nowait()) {
            channel.hold(); // what follows waits for cancel-ok
        }
        c.queue.execute(() -> {
            try {
                c.queue.removeConsumer(c);
            } finally {
                // cancel-ok once the queue let the consumer go, as RabbitMQ answers: an auto-delete
                // queue whose last consumer this was is deleted by then (the Java client's
                // QueueLifecycle.queueAutoDelete checks it right after the ok)
                if (!m.nowait()) {
                    connection.execute(() -> {
                        channel.sendIfOpen(new BasicCancelOk(m.consumerTag()));
                        channel.unhold();
                    });
                }
            }
        });
    }

    /** The queue's loop handed over an entry; write it (channel loop). */
    void deliver(ChannelConsumer c, QueueEntry e) {
        if (!channel.open() || c.cancelled) {
            c.release(1);
            c.queue.execute(() -> c.queue.requeue(List.of(e), false));
            if (channel.open() && globalPrefetch > 0) {
                passGlobalCredit(); // the place it held goes to the next in line
            }
            return;
        }
        long tag = unacked.nextTag();
        Message msg = e.message();
        ByteBuf frame;
        try {
            frame = content(c.queue, e, new BasicDeliver(c.tag, tag, e.redelivered(), msg.exchange(), msg.routingKey()),
                    BasicDeliver.CLASS_ID);
        } catch (RuntimeException | OutOfMemoryError failure) {
            // Nothing reached the client: the message goes back to its place, unmarked, and the
            // consumer gets its credit back after a pause (retrying at once would spin while
            // memory is short).
            unacked.unused(tag);
            c.release(1);
            c.queue.execute(() -> c.queue.requeue(List.of(e), false));
            c.pauseAfterFailedDelivery(failure);
            return;
        }
        channel.stats.delivered(c.queue, c.noAck, e.redelivered());
        if (c.noAck) {
            c.queue.discard(e);
        } else {
            unacked.add(new Unacked(tag, e, c.queue, c));
            timeout.arm(c.queue);
        }
        connection.write(frame);
    }

    /**
     * The frames of a delivery or get-ok of entry {@code e} from {@code q}; a queue that counts
     * deliveries (quorum, x-delivery-limit) adds the x-delivery-count header to a copy of the
     * properties.
     */
    private ByteBuf content(MessageQueue q, QueueEntry e, io.warren.amqp.protocol.AmqpMethod method, int classId) {
        Message msg = e.message();
        // A delivery relayed from the holder carries the holder's x-delivery-count already.
        if (!q.countsDeliveries() || e.remote() != null) {
            return FrameWriter.content(connection.ctx().alloc(), id, method, classId, msg.properties(), msg.body(),
                    connection.frameMax());
        }
        ByteBuf props = MessageHeaders.withDeliveryCount(connection.ctx().alloc(), msg.properties(), e.deliveryCount());
        try {
            return FrameWriter.content(connection.ctx().alloc(), id, method, classId, props, msg.body(),
                    connection.frameMax());
        } finally {
            props.release();
        }
    }

    /**
     * The queue refused the consumer (exclusive use...), at basic.consume or, for a queue another
     * node holds, when its holder refused: the channel closes with the reply code.
     */
    void consumerRefused(ChannelConsumer c, BrokerException e) {
        c.queue.execute(() -> c.queue.removeConsumer(c));
        if (consumers.remove(c.tag) == c) {
            c.cancelled = true;
            if (channel.open()) {
                channel.closeWithError(ReplyCodes.of(e.reason()), e.getMessage(), 60, 20);
            }
        }
    }

    void consumerCancelledByQueue(ChannelConsumer c) {
        if (consumers.remove(c.tag) == c) {
            c.cancelled = true;
            if (channel.open() && connection.clientCapability("consumer_cancel_notify")) {
                channel.send(new BasicCancel(c.tag, true));
            }
        }
    }

    /** The socket became writable again, or the channel prefetch grew: let queues deliver. */
    void resumeDelivery() {
        kickConsumers();
    }

    private void kickConsumers() {
        Map<MessageQueue, Boolean> seen = new IdentityHashMap<>();
        for (ChannelConsumer c : consumers.values()) {
            if (seen.put(c.queue, Boolean.TRUE) == null) {
                c.queue.scheduleDispatch();
            }
        }
    }

    void onBasicGet(BasicGet m) {
        channel.authz().check(Kind.QUEUE, channel.queueName(m.queue()), Permission.READ);
        // A stand-in too when relayed here: this node may just have been elected its leader (see get)
        MessageQueue q = channel.vhost().queueForClient(channel.queueName(m.queue()), connection, false);
        channel.hold(); // what follows waits for get-ok or get-empty
        get(q, m);
    }

    /**
     * basic.get of {@code q}, the channel held for its reply: here, or at the node that holds it.
     * A quorum queue whose leader is not known yet (an election, or this node just elected and
     * not yet leading it) waits for one rather than fail the get.
     */
    private void get(MessageQueue q, BasicGet m) {
        io.warren.core.queue.RemoteQueues.whenUsable(q, connection::execute, () -> getHereOrAtHolder(q, m));
    }

    /**
     * basic.get of {@code q} here, or at its holder if another node holds it (404 if none is
     * known); a get another node relayed here is never relayed on (404 naming the holder).
     */
    private void getHereOrAtHolder(MessageQueue q, BasicGet m) {
        if (q.remoteHome() != null) {
            if (connection.relayed()) {
                getFailed(q.remoteUse());
            } else {
                getAtHolder(q, m);
            }
            return;
        }
        q.execute(() -> q.get((entry, remaining) ->
                connection.execute(() -> getReplyThenUnhold(q, entry, remaining, m.noAck()))));
    }

    /** basic.get of stand-in {@code q} at its holder. */
    private void getAtHolder(MessageQueue q, BasicGet m) {
        q.remotes().get(q, connection.user(),
                (entry, remaining) -> connection.execute(() -> getReplyThenUnhold(q, entry, remaining, m.noAck())),
                e -> connection.execute(() -> {
                    if (q.remoteHome() == null) {
                        getHereOrAtHolder(q, m); // this node took the queue over meanwhile (a new leader)
                    } else {
                        getFailed(e);
                    }
                }));
    }

    /** The held basic.get failed: the channel closes with {@code e}'s reply code. */
    private void getFailed(BrokerException e) {
        if (channel.open()) {
            channel.closeWithError(ReplyCodes.of(e.reason()), e.getMessage(), BasicGet.CLASS_ID, BasicGet.METHOD_ID);
        }
        channel.unhold();
    }

    private void getReplyThenUnhold(MessageQueue q, QueueEntry e, int remaining, boolean noAck) {
        try {
            getReply(q, e, remaining, noAck);
        } finally {
            channel.unhold();
        }
    }

    private void getReply(MessageQueue q, QueueEntry e, int remaining, boolean noAck) {
        if (e == null) {
            if (channel.open()) {
                channel.stats.gotEmpty(q);
            }
            channel.sendIfOpen(new BasicGetEmpty(""));
            return;
        }
        if (!channel.open()) {
            q.execute(() -> q.requeue(List.of(e), false));
            return;
        }
        long tag = unacked.nextTag();
        Message msg = e.message();
        ByteBuf frame;
        try {
            frame = content(q, e, new BasicGetOk(tag, e.redelivered(), msg.exchange(), msg.routingKey(), remaining),
                    BasicGetOk.CLASS_ID);
        } catch (RuntimeException | OutOfMemoryError failure) {
            // The message goes back where it was; the client, waiting for get-ok or get-empty,
            // learns of the failure by 541 (there is no reply for "could not send it").
            unacked.unused(tag);
            q.execute(() -> q.requeue(List.of(e), false));
            log.warn("basic.get on channel {}: could not encode the reply: {}", id, failure.toString());
            connection.closeWithError(new ConnectionException(ReplyCode.INTERNAL_ERROR,
                    "could not send basic.get-ok: " + failure, BasicGet.CLASS_ID, BasicGet.METHOD_ID));
            return;
        }
        connection.write(frame);
        channel.stats.got(q, noAck, e.redelivered());
        if (noAck) {
            q.discard(e);
        } else {
            unacked.add(new Unacked(tag, e, q, null));
            timeout.arm(q);
        }
    }

    // ---- basic: acknowledgements ----------------------------------------------------------

    void onBasicAck(BasicAck m) {
        List<Unacked> settled = unacked.take(m.deliveryTag(), m.multiple());
        if (transactions.hold(settled, false, false)) {
            return;
        }
        settle(settled, false, false);
    }

    void onBasicReject(BasicReject m) {
        List<Unacked> settled = unacked.take(m.deliveryTag(), false);
        if (transactions.hold(settled, true, m.requeue())) {
            return;
        }
        settle(settled, true, m.requeue());
    }

    void onBasicNack(BasicNack m) {
        List<Unacked> settled = unacked.take(m.deliveryTag(), m.multiple());
        if (transactions.hold(settled, true, m.requeue())) {
            return;
        }
        settle(settled, true, m.requeue());
    }

    /** Acks (discard) or rejects (requeue or discard) deliveries, and returns their credit. */
    void settle(List<Unacked> settled, boolean reject, boolean requeue) {
        if (settled.isEmpty()) {
            return;
        }
        if (!reject) {
            for (int i = 0, n = settled.size(); i < n; i++) {
                channel.stats.acked(settled.get(i).queue());
            }
        }
        if (settled.size() == 1) {
            settleOne(settled.get(0), reject, requeue);
            return;
        }
        Map<MessageQueue, List<QueueEntry>> back = requeue ? new IdentityHashMap<>() : null;
        Map<ChannelConsumer, Integer> credit = new IdentityHashMap<>();
        for (Unacked u : settled) {
            if (requeue) {
                back.computeIfAbsent(u.queue(), k -> new ArrayList<>()).add(u.entry());
            } else if (reject) {
                u.queue().reject(u.entry()); // dead-lettered when the queue has a DLX
            } else {
                u.queue().discard(u.entry());
            }
            if (!reject) {
                u.queue().acked(1);
            }
            if (u.consumer() != null) {
                credit.merge(u.consumer(), 1, Integer::sum);
            }
        }
        if (requeue) {
            back.forEach((q, entries) -> q.execute(() -> q.requeue(entries, true)));
        }
        boolean globalLimited = globalPrefetch > 0;
        credit.forEach((c, n) -> {
            c.release(n);
            if (globalLimited) {
                waitForGlobalCredit(c); // its own limit may have held it back: it takes its turn too
            } else if (!c.cancelled) {
                c.queue.scheduleDispatch();
            }
        });
        if (globalLimited && !credit.isEmpty()) {
            passGlobalCredit();
        }
    }

    /** The common case (one ack per delivery): the same as {@link #settle} without its grouping maps. */
    private void settleOne(Unacked u, boolean reject, boolean requeue) {
        MessageQueue q = u.queue();
        if (!reject) {
            q.acked(1);
        }
        if (requeue) {
            q.execute(() -> q.requeue(List.of(u.entry()), true));
        } else if (reject) {
            q.reject(u.entry()); // dead-lettered when the queue has a DLX
        } else {
            q.discard(u.entry());
        }
        ChannelConsumer c = u.consumer();
        if (c == null) {
            return;
        }
        c.release(1);
        if (globalPrefetch > 0) {
            waitForGlobalCredit(c);
            passGlobalCredit();
        } else if (!c.cancelled) {
            c.queue.scheduleDispatch();
        }
    }

    /** Any loop: {@code c} was refused by the channel's global prefetch; it waits for its turn. */
    void waitForGlobalCredit(ChannelConsumer c) {
        if (c.waitingForCredit.compareAndSet(false, true)) {
            globalWaiters.add(c);
        }
    }

    /**
     * Channel loop: while the global prefetch has room, hands the turn to the consumer that has
     * waited longest, one at a time: its queue dispatches (taking what room it can use), then
     * reports back and the next in line gets what is left. Kicking every queue at once instead
     * let the queue nearest the channel (the same loop) win every freed place (QosTests.fairness).
     */
    private void passGlobalCredit() {
        if (creditPassInFlight) {
            return; // the report of the queue now dispatching continues the round
        }
        while (channel.open() && (globalPrefetch <= 0 || globalUnacked.get() < globalPrefetch)) {
            ChannelConsumer c = globalWaiters.poll();
            if (c == null) {
                return;
            }
            c.waitingForCredit.set(false);
            if (c.cancelled) {
                continue;
            }
            creditPassInFlight = true;
            MessageQueue q = c.queue;
            q.execute(() -> {
                q.scheduleDispatch();
                // Always a new task, also on the same loop: no recursion through the waiters.
                try {
                    connection.loop().execute(() -> {
                        creditPassInFlight = false;
                        passGlobalCredit();
                    });
                } catch (java.util.concurrent.RejectedExecutionException shuttingDown) {
                    // the connection's loop is gone, and the channel with it
                }
            });
            return;
        }
    }

    void onBasicRecover(BasicRecover m) {
        recover(m.requeue(), BasicRecover.METHOD_ID);
        channel.send(new BasicRecoverOk());
    }

    void onBasicRecoverAsync(BasicRecoverAsync m) {
        recover(m.requeue(), BasicRecoverAsync.METHOD_ID);
    }

    /**
     * Requeues every unacked delivery. Redelivering to the original recipient (requeue=false)
     * is not implemented, as in RabbitMQ 3.10, which closes the connection with 540.
     */
    private void recover(boolean requeue, int methodId) {
        if (!requeue) {
            throw new ConnectionException(ReplyCode.NOT_IMPLEMENTED, "requeue=false", BasicRecover.CLASS_ID, methodId);
        }
        settle(unacked.takeAll(), true, true);
    }

    // ---- the channel's state: management API, rollback, closing -------------------------------

    /** basic.qos global=false: the prefetch consumers created now get (management API). */
    int consumerPrefetch() {
        return consumerPrefetch;
    }

    /** The deliveries awaiting ack (management API). */
    UnackedDeliveries unacked() {
        return unacked;
    }

    /** The consumers, in the order they subscribed (management API). */
    List<ChannelInfo.ConsumerInfo> consumerInfos() {
        List<ChannelInfo.ConsumerInfo> cs = new ArrayList<>(consumers.size());
        for (ChannelConsumer c : consumers.values()) {
            cs.add(new ChannelInfo.ConsumerInfo(c.tag, c.queue, !c.noAck, c.exclusive, c.prefetch, c));
        }
        return cs;
    }

    /** The direct reply-to consumer's registry token (what its reply address ends with), or null. */
    String replyToken() {
        return replyToken;
    }

    /** Rolled-back acks: their deliveries await ack again, as before the ack. */
    void restoreUnacked(List<Unacked> deliveries) {
        unacked.restore(deliveries);
    }

    /**
     * The channel closes: cancels the direct reply-to consumer and every consumer (deliveries
     * still on their way to them are requeued) and returns the latter, still known to their
     * queues until {@link #removeFromQueues}.
     */
    List<ChannelConsumer> cancelAll() {
        cancelReplies();
        List<ChannelConsumer> gone = new ArrayList<>(consumers.values());
        gone.forEach(c -> c.cancelled = true);
        consumers.clear();
        return gone;
    }

    /** The channel closes: every delivery awaiting ack, for {@link #settle} to put back. */
    List<Unacked> takeAllUnacked() {
        return unacked.takeAll();
    }

    /** The channel closes: the queues drop the consumers {@link #cancelAll} returned. */
    void removeFromQueues(List<ChannelConsumer> gone) {
        for (ChannelConsumer c : gone) {
            c.queue.execute(() -> c.queue.removeConsumer(c));
        }
    }
}
