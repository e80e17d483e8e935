package io.warren.amqp.channel;

import io.netty.buffer.ByteBuf;
import io.warren.amqp.codec.ConnectionException;
import io.warren.amqp.codec.Frame;
import io.warren.amqp.codec.FrameWriter;
import io.warren.amqp.connection.AmqpConnection;
import io.warren.amqp.protocol.*;
import io.warren.core.BrokerException;
import io.warren.core.auth.AccessControl.Permission;
import io.warren.core.auth.Authorizer.Kind;
import io.warren.core.exchange.Exchange;
import io.warren.core.exchange.RoutingResult;
import io.warren.core.message.Message;
import io.warren.core.publish.QueueVerdicts;
import io.warren.core.store.MessageStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The publishing side of one {@link AmqpChannel}: basic.publish and its content frames (with the
 * checks RabbitMQ makes once the header is in: message size, user-id, expiration, the direct
 * reply-to address), routing through the core's {@link io.warren.core.publish.Publisher},
 * basic.return of unroutable mandatory messages, and publisher confirms (confirm.select, the
 * store's commits and the refusing queues' decisions, sent coalesced by {@link ConfirmTracker}).
 * On a transactional channel complete messages wait in {@link ChannelTransactions}, which routes
 * them here at tx.commit.
 *
 * <p>Holds the {@link PublishAssembler} of the publish in progress, the {@link ConfirmTracker},
 * and the objects every publish reuses (routing result, handover, returner, verdict sink), so
 * that a publish allocates nothing of its own here.
 *
 * <p>Owner: the channel's connection loop, except {@link #committed} (the store's committer
 * thread) and {@link #decided} (a queue's loop), which only record the outcome and schedule a
 * confirm flush on the owner's loop.
 */
final class ChannelPublisher {
    /** The channel's logger: these lines keep the logger name they always had. */
    private static final Logger log = LoggerFactory.getLogger(AmqpChannel.class);

    private final AmqpChannel channel;
    private final AmqpConnection connection;
    private final int id;
    private final ChannelTransactions transactions;
    /** For the direct reply-to consumer's address (a request's reply_to). */
    private final ChannelConsumers consumers;
    private final PublishAssembler publish = new PublishAssembler();
    private final RoutingResult routing = new RoutingResult();
    private final ConfirmTracker confirms = new ConfirmTracker();
    /** What confirm flushes send through (one object, not one per flush). */
    private final java.util.function.Consumer<AmqpMethod> sender;

    ChannelPublisher(AmqpChannel channel, AmqpConnection connection, int id, ChannelTransactions transactions,
                     ChannelConsumers consumers) {
        this.channel = channel;
        this.connection = connection;
        this.id = id;
        this.transactions = transactions;
        this.consumers = consumers;
        this.sender = channel::send;
        this.handover = (q, m, ref) -> {
            if (verdictSeq > 0 && q.mayRefuse()) {
                // A confirmed publish to a queue that may refuse it: its confirm waits for the decision.
                if (verdicts == null) {
                    verdicts = new QueueVerdicts(verdictSeq, verdictSink);
                }
                verdicts.expect();
                connection.flow().enqueue(q, m, ref, verdicts);
            } else {
                connection.flow().enqueue(q, m, ref);
            }
        };
    }

    /** Confirm mode (confirm.select) is on. */
    boolean confirmsEnabled() {
        return confirms.enabled();
    }

    /** Publishes not confirmed yet (0 outside confirm mode). Channel loop. */
    long unconfirmed() {
        return confirms.unconfirmed();
    }

    /** Sends the confirms that are due (the end of a read batch coalesces them). Channel loop, channel open. */
    void flushConfirms() {
        confirms.flush(sender);
        countConfirmed();
    }

    /** The channel closes: drops a half-assembled publish. */
    void reset() {
        publish.reset();
        forwardTo = null;
    }

    // ---- content frames ------------------------------------------------------------------------

    /** A method frame arrived: a publish still waiting for its content is cut short, 505. */
    void checkContentComplete() {
        if (publish.inProgress()) {
            // RabbitMQ's texts (rabbit_command_assembler), with the ids of the method
            // whose content was cut short.
            String text = publish.awaitingHeader()
                    ? "expected content header for class 60, got non content header frame instead"
                    : "expected content body, got non content body frame instead";
            publish.reset();
            throw new ConnectionException(ReplyCode.UNEXPECTED_FRAME, text, BasicPublish.CLASS_ID,
                    BasicPublish.METHOD_ID);
        }
    }

    /** A content header whose properties could not be decoded. */
    void onMalformedHeader(Frame.MalformedHeader mh) {
        if (!publish.awaitingHeader()) {
            throw new ConnectionException(ReplyCode.UNEXPECTED_FRAME, "content header on channel " + id
                    + " without a method expecting content", 60, 40);
        }
        publish.reset();
        throw mh.error();
    }

    void onBody(Frame.ContentBody b) {
        if (publish.body(b, connection.ctx().alloc())) {
            publishComplete();
        }
    }

    // ---- basic: publishing -----------------------------------------------------------------

    void onBasicPublish(BasicPublish m) {
        if (m.immediate()) {
            // RabbitMQ 3.x dropped immediate: 540, a connection error, before looking at the
            // exchange (rabbit_channel). The content frames that follow are discarded with the connection.
            throw new ConnectionException(ReplyCode.NOT_IMPLEMENTED, "immediate=true", BasicPublish.CLASS_ID,
                    BasicPublish.METHOD_ID);
        }
        if (connection.nodeLink()) {
            // Forwarded by another node, which checked the exchange and the permissions and
            // routed the message; it names its queue in the header (onHeader).
            publish.start(m);
            return;
        }
        channel.authz().check(Kind.EXCHANGE, m.exchange(), Permission.WRITE);
        Exchange x = channel.vhost().exchange(m.exchange());
        if (x == null) {
            throw BrokerException.notFound("no exchange '%s' in vhost '%s'", m.exchange(), channel.vhost().name());
        }
        if (x.internal()) {
            throw BrokerException.accessRefused("cannot publish to internal exchange '%s' in vhost '%s'",
                    m.exchange(), channel.vhost().name());
        }
        if (x.type() == io.warren.core.exchange.ExchangeType.TOPIC) {
            channel.authz().checkTopic(m.exchange(), m.routingKey(), Permission.WRITE);
        }
        publish.start(m);
    }

    void onHeader(Frame.ContentHeader h) {
        publish.header(h);
        long max = connection.broker().settings().maxMessageSize();
        if (h.bodySize() > max) {
            channel.current(publish.method());
            publish.reset();
            throw new ChannelException(ReplyCode.PRECONDITION_FAILED, "PRECONDITION_FAILED - message size "
                    + h.bodySize() + " is larger than configured max size " + max);
        }
        if (connection.nodeLink()) {
            takeForwardTarget();
        } else {
            checkUserId();
        }
        checkExpiration();
        setReplyAddress();
        if (h.bodySize() == 0) {
            publishComplete();
        }
    }

    /** The queue the publish being assembled was forwarded to (a node's link only), or null. */
    private String forwardTo;

    /**
     * A node's link: the queue the forwarded message is for, from its {@link MessageHeaders#FORWARD_TO}
     * header, which is removed; without one the publish is refused (406).
     */
    private void takeForwardTarget() {
        MessageHeaders.Forwarded f = MessageHeaders.takeForwardTo(connection.ctx().alloc(), publish.properties());
        if (f == null) {
            channel.current(publish.method());
            publish.reset();
            throw new ChannelException(ReplyCode.PRECONDITION_FAILED, "PRECONDITION_FAILED - a forwarded publish "
                    + "needs its " + MessageHeaders.FORWARD_TO + " header");
        }
        publish.replaceProperties(f.properties());
        forwardTo = f.queue();
    }

    /** The user-id bit of the property flags (0-9-1 basic properties: 13th of 14). */
    private static final int USER_ID_FLAG = 1 << 4;

    /**
     * RabbitMQ's validated user-id: a publish whose user_id property is not the connection's
     * user is refused with 406 (and the message dropped). Only this flag word is read on the
     * hot path; the properties are decoded only when a user_id is present.
     */
    private void checkUserId() {
        ByteBuf props = publish.properties();
        if (props.readableBytes() < 2 || (props.getUnsignedShort(props.readerIndex()) & USER_ID_FLAG) == 0) {
            return;
        }
        String userId = PublishAssembler.decode(props, BasicProperties::read).userId();
        try {
            channel.authz().checkUserId(userId);
        } catch (BrokerException e) {
            channel.current(publish.method());
            publish.reset();
            throw new ChannelException(ReplyCode.PRECONDITION_FAILED, "PRECONDITION_FAILED - " + e.getMessage());
        }
    }

    /** RabbitMQ's rabbit_channel:check_expiration_header: an invalid expiration is refused with 406. */
    private void checkExpiration() {
        try {
            publish.checkExpiration();
        } catch (Expiration.Invalid e) {
            channel.current(publish.method());
            publish.reset();
            throw new ChannelException(ReplyCode.PRECONDITION_FAILED, "PRECONDITION_FAILED - " + e.getMessage());
        }
    }

    /** The reply-to bit of the property flags (0-9-1 basic properties: 7th of 14). */
    private static final int REPLY_TO_FLAG = 1 << 9;

    /**
     * RabbitMQ's maybe_set_fast_reply_to: a request with reply_to = amq.rabbitmq.reply-to gets
     * this channel's reply address instead; without a reply consumer it is refused with 406.
     * Only the flag word is read unless a reply-to is present.
     */
    private void setReplyAddress() {
        ByteBuf props = publish.properties();
        if (props.readableBytes() < 2 || (props.getUnsignedShort(props.readerIndex()) & REPLY_TO_FLAG) == 0) {
            return;
        }
        String replyTo = PublishAssembler.decode(props, BasicProperties::read).replyTo();
        if (!DirectReplyTo.QUEUE.equals(replyTo)) {
            return;
        }
        String replyToken = consumers.replyToken();
        if (replyToken == null) {
            channel.current(publish.method());
            publish.reset();
            throw new ChannelException(ReplyCode.PRECONDITION_FAILED, "fast reply consumer does not exist");
        }
        publish.replaceProperties(DirectReplyTo.withReplyTo(connection.ctx().alloc(), props,
                DirectReplyTo.PREFIX + replyToken));
    }

    private void publishComplete() {
        boolean mandatory = publish.method().mandatory();
        Message msg;
        try {
            msg = publish.takeMessage();
        } catch (BrokerException e) {
            // e.g. a CC header that is not an array: RabbitMQ's "invalid message", 406
            channel.current(publish.method());
            publish.reset();
            throw new ChannelException(ReplyCode.PRECONDITION_FAILED, "PRECONDITION_FAILED - " + e.getMessage());
        }
        channel.stats.received(confirms.enabled());
        if (forwardTo == null && transactions.hold(msg, mandatory)) {
            return;
        }
        route(msg, mandatory, confirms.enabled() ? confirms.nextSeq() : 0);
    }

    private final java.util.concurrent.atomic.AtomicBoolean confirmFlushScheduled =
            new java.util.concurrent.atomic.AtomicBoolean();

    /** Store thread: a commit settled confirm {@code seq}; send it from the channel's loop. */
    private void committed(long seq, Throwable failure) {
        if (failure == null) {
            confirms.committed(seq);
        } else {
            log.error("publish {} on channel {} could not be made durable; sending basic.nack", seq, id, failure);
            confirms.failed(seq);
        }
        scheduleConfirmFlush();
    }

    /** A queue's loop: the queues that may refuse publish {@code seq} decided about it. */
    private void decided(long seq, boolean refused) {
        confirms.decided(seq, refused);
        scheduleConfirmFlush();
    }

    private final QueueVerdicts.Sink verdictSink = this::decided;
    /**
     * While {@link #route} hands a confirmed publish to its queues: its confirm sequence number
     * (0: none), and the verdicts object, created at the first queue that may refuse it.
     */
    private long verdictSeq;
    private QueueVerdicts verdicts;

    private void countConfirmed() {
        long n = confirms.takeAcked();
        if (n > 0) {
            channel.stats.confirmed(n);
        }
    }

    /** Sends the due confirms from the channel's loop, one task for any number of reports. */
    private void scheduleConfirmFlush() {
        if (confirmFlushScheduled.compareAndSet(false, true)) {
            connection.execute(() -> {
                confirmFlushScheduled.set(false);
                if (channel.open()) {
                    confirms.flush(sender);
                    countConfirmed();
                }
            });
        }
    }

    /**
     * Publishes a complete message through the core's publish path (route, journal, hand over);
     * unroutable mandatory ones go back (312 NO_ROUTE). Its confirm ({@code seq > 0}) waits for
     * the journal when the core wrote one, else goes out with the next flush. Returns the store
     * written to, or null. Takes over the caller's reference to {@code msg}, also when it fails.
     */
    io.warren.core.store.DurableWrites route(Message msg, boolean mandatory, long seq) {
        MessageStore.Durable safe = seq > 0 ? failure -> committed(seq, failure) : NOT_WATCHED;
        if (msg.exchange().isEmpty() && DirectReplyTo.isReplyAddress(msg.routingKey())) {
            // A direct reply (RabbitMQ routes it in the default exchange): straight to the reply
            // consumer's channel. It counts as reaching no queue: a mandatory one also comes back.
            msg.retain();
            channel.replies().deliver(msg.routingKey(), msg);
        }
        // A queue on another loop costs the connection a credit (PublisherFlow).
        io.warren.core.store.DurableWrites store;
        QueueVerdicts v;
        verdictSeq = seq;
        String target = forwardTo;
        forwardTo = null;
        try {
            // A node's link forwards messages for one queue each (takeForwardTarget); it uses no transactions.
            store = target != null
                    ? io.warren.core.publish.Publisher.publishTo(channel.vhost().queue(target), msg, routing, handover,
                            safe)
                    : io.warren.core.publish.Publisher.publish(channel.vhost().exchange(msg.exchange()), msg, routing,
                            mandatory ? returner : null, handover, safe);
        } finally {
            v = verdicts;
            verdicts = null;
            verdictSeq = 0;
        }
        channel.stats.routed(routing.routed(), mandatory);
        if (store != null) {
            // Past the store's commit backlog bound the connection pauses until it drains.
            connection.flow().appended(store);
        }
        io.warren.core.store.WriteBacklog pager = connection.broker().vhosts().paging().backlog();
        if (pager.overloaded()) {
            // The page-out thread is behind (queues page faster than the disk takes it): likewise.
            connection.flow().appended(pager);
        }
        if (seq > 0) {
            if (store != null) {
                confirms.awaitCommit(seq);
            } else {
                confirms.routed(seq);
            }
        }
        if (v != null) {
            // registered before the hold is released: the decision cannot come before it
            confirms.awaitQueues(seq);
            v.handedOver();
        }
        return store;
    }

    /**
     * basic.return for a mandatory message no queue took. A failure to build it propagates:
     * handleFrame then closes the connection (541), so the publisher learns that this message
     * was not handled.
     */
    private final java.util.function.Consumer<Message> returner = this::sendReturn;

    private void sendReturn(Message msg) {
        connection.write(FrameWriter.content(connection.ctx().alloc(), id,
                new BasicReturn(ReplyCode.NO_ROUTE.code(), "NO_ROUTE", msg.exchange(), msg.routingKey()),
                BasicReturn.CLASS_ID, msg.properties(), msg.body(), connection.frameMax()));
    }

    /** Hands routed messages to queues through the connection's credit flow (one object, not one per publish). */
    private final io.warren.core.publish.Publisher.Handover handover;

    private static final MessageStore.Durable NOT_WATCHED = failure -> { };

    // ---- confirm mode --------------------------------------------------------------------------

    void onConfirmSelect(ConfirmSelect m) {
        if (transactions.active()) {
            throw new ChannelException(ReplyCode.PRECONDITION_FAILED,
                    "PRECONDITION_FAILED - cannot switch from tx to confirm mode");
        }
        confirms.enable();
        if (!m.nowait()) {
            channel.send(new ConfirmSelectOk());
        }
    }
}
