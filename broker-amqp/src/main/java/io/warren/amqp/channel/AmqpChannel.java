package io.warren.amqp.channel;

import io.netty.buffer.ByteBuf;
import io.warren.amqp.codec.ConnectionException;
import io.warren.amqp.codec.Frame;
import io.warren.amqp.codec.FrameWriter;
import io.warren.amqp.codec.MalformedFrameException;
import io.warren.amqp.connection.AmqpConnection;
import io.warren.amqp.connection.ReplyCodes;
import io.warren.amqp.protocol.*;
import io.warren.core.BrokerException;
import io.warren.core.auth.AccessControl.Permission;
import io.warren.core.auth.Authorizer;
import io.warren.core.auth.Authorizer.Kind;
import io.warren.core.exchange.Exchange;
import io.warren.core.exchange.RoutingResult;
import io.warren.core.message.Message;
import io.warren.core.message.QueueEntry;
import io.warren.core.publish.QueueVerdicts;
import io.warren.core.queue.MessageQueue;
import io.warren.core.store.MessageStore;
import io.warren.core.vhost.VirtualHost;
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
 * One AMQP channel: implements every channel-level method. Owner: its connection's loop;
 * queues hand deliveries over to that loop. Soft errors close only this channel.
 */
public final class AmqpChannel implements MethodHandler {
    private static final Logger log = LoggerFactory.getLogger(AmqpChannel.class);
    private static final SecureRandom RANDOM = new SecureRandom();

    private enum State { OPEN, CLOSING, CLOSED }

    private final AmqpConnection connection;
    private final int id;
    private State state = State.OPEN;
    private final PublishAssembler publish = new PublishAssembler();
    private final RoutingResult routing = new RoutingResult();
    private final Map<String, ChannelConsumer> consumers = new LinkedHashMap<>();
    private final UnackedDeliveries unacked = new UnackedDeliveries();
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
    private final ConfirmTracker confirms = new ConfirmTracker();
    private Transaction tx;
    /**
     * The queue this channel declared last (passively or not): what an empty queue name means
     * (0-9-1 queue-name domain; RabbitMQ's most_recently_declared_queue). Null before any.
     */
    private String lastQueue;
    /** The method being handled, for the class/method ids of a channel.close. */
    private AmqpMethod current;
    /** The direct reply-to consumer (consumer tag and registry token), or null. Channel loop. */
    private String replyTag;
    private String replyToken;

    public AmqpChannel(AmqpConnection connection, int id) {
        this.connection = connection;
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
        this.id = id;
    }

    AmqpConnection connection() {
        return connection;
    }

    private VirtualHost vhost() {
        return connection.vhost();
    }

    public void opened() {
        send(new ChannelOpenOk(new byte[0]));
    }

    private void send(AmqpMethod m) {
        connection.sendMethod(id, m);
    }

    // ---- frames -----------------------------------------------------------------------------

    public void handleFrame(Frame frame) {
        if (state != State.OPEN) {
            // After we sent channel.close only close-ok (or a crossing close) matters (0-9-1 §4.2.8).
            if (frame instanceof Frame.Method m) {
                if (m.method() instanceof ChannelCloseOk) {
                    state = State.CLOSED;
                    connection.channelClosed(id);
                } else if (m.method() instanceof ChannelClose) {
                    send(new ChannelCloseOk());
                }
            } else if (frame instanceof Frame.ReleasableFrame r) {
                r.content().release();
            }
            return;
        }
        try {
            if (frame instanceof Frame.Method m) {
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
                current = m.method();
                m.method().dispatch(this);
            } else if (frame instanceof Frame.ContentHeader h) {
                onHeader(h);
            } else if (frame instanceof Frame.MalformedHeader mh) {
                if (!publish.awaitingHeader()) {
                    throw new ConnectionException(ReplyCode.UNEXPECTED_FRAME, "content header on channel " + id
                            + " without a method expecting content", 60, 40);
                }
                publish.reset();
                throw mh.error();
            } else if (frame instanceof Frame.ContentBody b) {
                if (publish.body(b, connection.ctx().alloc())) {
                    publishComplete();
                }
            }
        } catch (ChannelException e) {
            closeWithError(e.code(), e.getMessage());
        } catch (BrokerException e) {
            ReplyCode code = ReplyCodes.of(e.reason());
            if (code.hardError()) {
                throw new ConnectionException(code, e.getMessage(), classId(), methodId());
            }
            closeWithError(code, e.getMessage());
        } catch (ConnectionException e) {
            throw e;
        } catch (MalformedFrameException e) {
            // Raw properties decoded lazily (user-id, headers while routing): see PublishAssembler.decode.
            throw new ConnectionException(ReplyCode.FRAME_ERROR, "cannot decode content header properties: "
                    + e.getMessage(), BasicPublish.CLASS_ID, BasicPublish.METHOD_ID);
        } catch (OutOfMemoryError e) {
            // No memory for a reply (a basic.return, say): the client must learn that what it
            // sent was not handled, so the connection closes (its unconfirmed publishes are in
            // doubt, as after any connection loss). Not a bug: no stack trace.
            log.warn("channel {}: out of memory handling {}: {}", id, current == null ? "a frame" : current.name(),
                    e.getMessage());
            throw new ConnectionException(ReplyCode.INTERNAL_ERROR, String.valueOf(e), classId(), methodId());
        } catch (Exception e) {
            connection.broker().errorLog().error(log, "internal error " + e.getClass().getName(), "internal error on"
                    + " channel " + id + " of connection from " + connection.ctx().channel().remoteAddress(), e);
            throw new ConnectionException(ReplyCode.INTERNAL_ERROR, String.valueOf(e), classId(), methodId());
        }
    }

    private int classId() {
        return current == null ? 0 : current.classId();
    }

    private int methodId() {
        return current == null ? 0 : current.methodId();
    }

    @Override public void unexpectedMethod(AmqpMethod method) {
        throw new ConnectionException(ReplyCode.COMMAND_INVALID, "unexpected method " + method.name() + " on channel "
                + id, method.classId(), method.methodId());
    }

    /** End of a read batch: send coalesced publisher confirms. */
    public void readBatchComplete() {
        if (state == State.OPEN) {
            confirms.flush(this::send);
        }
    }

    // ---- channel class ----------------------------------------------------------------------

    @Override public void onChannelOpen(ChannelOpen m) {
        throw new ConnectionException(ReplyCode.CHANNEL_ERROR, "second 'channel.open' seen", 20, 10);
    }

    @Override public void onChannelClose(ChannelClose m) {
        release();
        send(new ChannelCloseOk());
        state = State.CLOSED;
        connection.channelClosed(id);
    }

    @Override public void onChannelCloseOk(ChannelCloseOk m) {
        // Not closing: nothing to confirm. RabbitMQ ignores a stray close-ok.
    }

    @Override public void onChannelFlow(ChannelFlow m) {
        if (!m.active()) {
            // RabbitMQ 3.10 does not implement flow active=false either.
            throw new ConnectionException(ReplyCode.NOT_IMPLEMENTED, "active=false", 20, 20);
        }
        send(new ChannelFlowOk(true));
    }

    @Override public void onChannelFlowOk(ChannelFlowOk m) {
        // A reply to a flow we never send; ignore.
    }

    @Override public void onAccessRequest(AccessRequest m) {
        send(new AccessRequestOk(1));
    }

    // ---- exchanges ----------------------------------------------------------------------------

    @Override public void onExchangeDeclare(ExchangeDeclare m) {
        String name = stripCrLf(m.exchange());
        if (!m.passive() && !name.isEmpty()) {
            // RabbitMQ: a passive declare needs no permission; the default exchange is refused first.
            authz().check(Kind.EXCHANGE, name, Permission.CONFIGURE);
            String ae = Exchange.alternateExchangeName(m.arguments());
            if (ae != null && vhost().exchange(name) == null) {
                // RabbitMQ (rabbit_channel): declaring a new exchange with an AE needs read on it and write on the AE.
                authz().check(Kind.EXCHANGE, name, Permission.READ);
                authz().check(Kind.EXCHANGE, ae, Permission.WRITE);
            }
        }
        vhost().declareExchange(name, m.type(), m.passive(), m.durable(), m.autoDelete(), m.internal(),
                m.arguments());
        if (!m.nowait()) {
            sendWhenDurable(new ExchangeDeclareOk(), ExchangeDeclare.CLASS_ID, ExchangeDeclare.METHOD_ID);
        }
    }

    @Override public void onExchangeDelete(ExchangeDelete m) {
        String name = stripCrLf(m.exchange());
        if (!name.isEmpty() && !name.startsWith("amq.")) {
            // The default and amq.* exchanges are refused first, whatever the permissions (RabbitMQ's order).
            authz().check(Kind.EXCHANGE, name, Permission.CONFIGURE);
        }
        vhost().deleteExchange(name, m.ifUnused());
        if (!m.nowait()) {
            sendWhenDurable(new ExchangeDeleteOk(), ExchangeDelete.CLASS_ID, ExchangeDelete.METHOD_ID);
        }
    }

    @Override public void onExchangeBind(ExchangeBind m) {
        checkBinding(Kind.EXCHANGE, stripCrLf(m.destination()), stripCrLf(m.source()), m.routingKey());
        vhost().bindExchange(stripCrLf(m.destination()), stripCrLf(m.source()), m.routingKey(), m.arguments());
        if (!m.nowait()) {
            sendWhenDurable(new ExchangeBindOk(), ExchangeBind.CLASS_ID, ExchangeBind.METHOD_ID);
        }
    }

    @Override public void onExchangeUnbind(ExchangeUnbind m) {
        checkBinding(Kind.EXCHANGE, stripCrLf(m.destination()), stripCrLf(m.source()), m.routingKey());
        vhost().unbindExchange(stripCrLf(m.destination()), stripCrLf(m.source()), m.routingKey(), m.arguments());
        if (!m.nowait()) {
            sendWhenDurable(new ExchangeUnbindOk(), ExchangeUnbind.CLASS_ID, ExchangeUnbind.METHOD_ID);
        }
    }

    // ---- queues ---------------------------------------------------------------------------------

    @Override public void onQueueDeclare(QueueDeclare m) {
        if (stripCrLf(m.queue()).startsWith(DirectReplyTo.QUEUE)) {
            declareReplyQueue(stripCrLf(m.queue()), m.nowait());
            return;
        }
        VirtualHost.Declared d = vhost().declareQueue(stripCrLf(m.queue()), m.passive(), m.durable(), m.exclusive(),
                m.autoDelete(), m.arguments(), connection, n -> {
                    authz().check(Kind.QUEUE, n, Permission.CONFIGURE);
                    checkDeadLetterPermissions(n, m.arguments());
                });
        lastQueue = d.queue().name();
        if (m.nowait()) {
            return;
        }
        MessageQueue q = d.queue();
        // Counts are read on the queue's loop, after any publish this channel sent before.
        q.execute(() -> {
            int messages = q.messageCount();
            int consumerCount = q.consumerCount();
            connection.execute(() -> sendWhenDurable(new QueueDeclareOk(q.name(), messages, consumerCount),
                    QueueDeclare.CLASS_ID, QueueDeclare.METHOD_ID));
        });
    }

    /**
     * RabbitMQ 3.10's rabbit_channel (queue.declare): a queue with a dead-letter exchange needs
     * read permission on itself and write permission on the DLX (dead letters are published
     * there on the declarer's authority). A DLX name of the wrong type is 406 later, with the
     * other argument checks.
     */
    private void checkDeadLetterPermissions(String queue, Map<String, Object> args) {
        Object dlx = args == null ? null : args.get("x-dead-letter-exchange");
        if (dlx instanceof io.warren.core.message.TableValue t) {
            dlx = t.comparable();
        }
        if (dlx instanceof CharSequence name) {
            // RabbitMQ 3.10's text here has no permission word (checked with pika)
            checkOrRefuse(Kind.QUEUE, queue, Permission.READ);
            checkOrRefuse(Kind.EXCHANGE, name.toString(), Permission.WRITE);
        }
    }

    private void checkOrRefuse(Kind kind, String name, Permission perm) {
        try {
            authz().check(kind, name, perm);
        } catch (BrokerException refused) {
            throw BrokerException.accessRefused("access to %s '%s' in vhost '%s' refused for user '%s'",
                    kind == Kind.QUEUE ? "queue" : "exchange", kind == Kind.EXCHANGE && name.isEmpty() ? "amq.default"
                    : name, vhost().name(), authz().user());
        }
    }

    /**
     * RabbitMQ (rabbit_channel, queue.declare of amq.rabbitmq.reply-to*): passive or not, no
     * permission checked, the pseudo-queue and a live reply address answer 0 messages and 1
     * consumer; anything else under that name is 404. Nothing is created.
     */
    private void declareReplyQueue(String name, boolean nowait) {
        if (!replies().exists(name)) {
            throw BrokerException.notFound("no queue '%s' in vhost '%s'", name, vhost().name());
        }
        lastQueue = name;
        if (!nowait) {
            // in order with the replies of earlier declares that wait for the disk
            sendWhenDurable(new QueueDeclareOk(name, 0, 1), QueueDeclare.CLASS_ID, QueueDeclare.METHOD_ID);
        }
    }

    private DirectReplyTo replies() {
        return connection.broker().directReplyTo();
    }

    @Override public void onQueueBind(QueueBind m) {
        checkBinding(Kind.QUEUE, stripCrLf(queueName(m.queue())), stripCrLf(m.exchange()),
                bindingKey(m.queue(), m.routingKey()));
        vhost().bindQueue(stripCrLf(queueName(m.queue())), stripCrLf(m.exchange()),
                bindingKey(m.queue(), m.routingKey()), m.arguments(), connection);
        if (!m.nowait()) {
            sendWhenDurable(new QueueBindOk(), QueueBind.CLASS_ID, QueueBind.METHOD_ID);
        }
    }

    @Override public void onQueueUnbind(QueueUnbind m) {
        checkBinding(Kind.QUEUE, stripCrLf(queueName(m.queue())), stripCrLf(m.exchange()),
                bindingKey(m.queue(), m.routingKey()));
        vhost().unbindQueue(stripCrLf(queueName(m.queue())), stripCrLf(m.exchange()),
                bindingKey(m.queue(), m.routingKey()), m.arguments(), connection);
        sendWhenDurable(new QueueUnbindOk(), QueueUnbind.CLASS_ID, QueueUnbind.METHOD_ID);
    }

    @Override public void onQueuePurge(QueuePurge m) {
        authz().check(Kind.QUEUE, queueName(m.queue()), Permission.READ);
        MessageQueue q = vhost().existingQueue(queueName(m.queue()), connection);
        q.execute(() -> q.purge(n -> {
            if (!m.nowait()) {
                connection.execute(() -> sendIfOpen(new QueuePurgeOk(n)));
            }
        }));
    }

    @Override public void onQueueDelete(QueueDelete m) {
        // The checks and the count run on the queue's loop (after this channel's publishes,
        // consumes and cancels); the outcome comes back to this loop.
        authz().check(Kind.QUEUE, stripCrLf(queueName(m.queue())), Permission.CONFIGURE);
        vhost().deleteQueue(stripCrLf(queueName(m.queue())), m.ifUnused(), m.ifEmpty(), connection,
                (count, refused) -> connection.execute(() -> {
                    if (refused != null) {
                        if (state == State.OPEN) {
                            closeWithError(ReplyCodes.of(refused.reason()), refused.getMessage(),
                                    QueueDelete.CLASS_ID, QueueDelete.METHOD_ID);
                        }
                    } else if (!m.nowait()) {
                        sendWhenDurable(new QueueDeleteOk(count), QueueDelete.CLASS_ID, QueueDelete.METHOD_ID);
                    }
                }));
    }

    private Authorizer authz() {
        return connection.authorizer();
    }

    /**
     * RabbitMQ's binding checks (rabbit_channel:binding_action_with_checks): write on the
     * destination, read on the source exchange, then the topic read permission on the key when
     * the source is a topic exchange. The default exchange is refused by the vhost as before.
     */
    private void checkBinding(Kind destinationKind, String destination, String source, String routingKey) {
        if (destinationKind == Kind.QUEUE || !destination.isEmpty()) {
            authz().check(destinationKind, destination, Permission.WRITE);
        }
        if (source.isEmpty() || destination.isEmpty()) {
            return; // the vhost refuses the default exchange with its own 403
        }
        authz().check(Kind.EXCHANGE, source, Permission.READ);
        Exchange x = vhost().exchange(source);
        if (x != null && x.type() == io.warren.core.exchange.ExchangeType.TOPIC) {
            authz().checkTopic(source, routingKey, Permission.READ);
        }
    }

    /**
     * An empty queue name means the channel's last declared queue (0-9-1 queue-name domain);
     * without one RabbitMQ answers 404 with this text. A queue deleted since is still meant by
     * name, and then not found.
     */
    private String queueName(String name) {
        if (!name.isEmpty()) {
            return name;
        }
        if (lastQueue == null) {
            throw new BrokerException(BrokerException.Reason.NOT_FOUND, "no previously declared queue");
        }
        return lastQueue;
    }

    /** queue.bind/unbind with an empty queue name and an empty key bind by the last queue's name (RabbitMQ). */
    private String bindingKey(String queue, String routingKey) {
        return queue.isEmpty() && routingKey.isEmpty() ? queueName(queue) : routingKey;
    }

    /**
     * RabbitMQ strips CR and LF from exchange and queue names in the declare, delete, bind and
     * unbind methods (rabbit_channel strip_cr_lf), not in publish, get, consume or purge.
     */
    static String stripCrLf(String name) {
        if (name.indexOf('\n') < 0 && name.indexOf('\r') < 0) {
            return name;
        }
        StringBuilder sb = new StringBuilder(name.length());
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (c != '\n' && c != '\r') {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    /**
     * Sends a topology reply once the durable changes made so far are on disk (at once when none
     * wait), on this channel's loop; a failed definitions write closes the channel with 541.
     */
    private void sendWhenDurable(AmqpMethod m, int classId, int methodId) {
        vhost().whenDurable(failure -> connection.execute(() -> {
            if (failure == null) {
                sendIfOpen(m);
            } else if (state == State.OPEN) {
                closeWithError(ReplyCode.INTERNAL_ERROR, "cannot store definitions: " + failure.getMessage(), classId,
                        methodId);
            }
        }));
    }

    private void sendIfOpen(AmqpMethod m) {
        if (state == State.OPEN) {
            send(m);
        }
    }

    // ---- basic: consuming --------------------------------------------------------------------

    @Override public void onBasicQos(BasicQos m) {
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
        send(new BasicQosOk());
    }

    @Override public void onBasicConsume(BasicConsume m) {
        if (m.queue().equals(DirectReplyTo.QUEUE)) {
            consumeReplies(m);
            return;
        }
        authz().check(Kind.QUEUE, queueName(m.queue()), Permission.READ);
        MessageQueue q = vhost().existingQueue(queueName(m.queue()), connection);
        String tag = m.consumerTag().isEmpty() ? "amq.ctag-" + randomId() : m.consumerTag();
        if (consumers.containsKey(tag)) {
            throw new ConnectionException(ReplyCode.NOT_ALLOWED, "attempt to reuse consumer tag '" + tag + "'", 60, 20);
        }
        ChannelConsumer c = new ChannelConsumer(this, tag, q, m.noAck(), m.exclusive(), consumerPrefetch,
                consumerPriority(m.arguments(), q));
        consumers.put(tag, c);
        q.execute(() -> {
            try {
                q.addConsumer(c);
            } catch (BrokerException e) {
                connection.execute(() -> {
                    consumers.remove(tag);
                    if (state == State.OPEN) {
                        closeWithError(ReplyCodes.of(e.reason()), e.getMessage(), 60, 20);
                    }
                });
                return;
            }
            // consume-ok is queued to the channel before the first delivery.
            if (!m.nowait()) {
                connection.execute(() -> sendIfOpen(new BasicConsumeOk(tag)));
            }
            q.scheduleDispatch();
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
        replyToken = replies().register(this);
        if (!m.nowait()) {
            send(new BasicConsumeOk(replyTag));
        }
    }

    private void cancelReplies() {
        if (replyToken != null) {
            replies().unregister(replyToken, this);
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
            if (state != State.OPEN || !token.equals(replyToken)) {
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

    @Override public void onBasicCancel(BasicCancel m) {
        if (replyTag != null && replyTag.equals(m.consumerTag())) {
            cancelReplies();
            if (!m.nowait()) {
                send(new BasicCancelOk(m.consumerTag()));
            }
            return;
        }
        ChannelConsumer c = consumers.remove(m.consumerTag());
        if (c != null) {
            c.cancelled = true;
            c.queue.execute(() -> c.queue.removeConsumer(c));
        }
        if (!m.nowait()) {
            send(new BasicCancelOk(m.consumerTag()));
        }
    }

    /** The queue's loop handed over an entry; write it (channel loop). */
    void deliver(ChannelConsumer c, QueueEntry e) {
        if (state != State.OPEN || c.cancelled) {
            c.release(1);
            c.queue.execute(() -> c.queue.requeue(List.of(e), false));
            if (state == State.OPEN && globalPrefetch > 0) {
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
        if (c.noAck) {
            c.queue.discard(e);
        } else {
            unacked.add(new Unacked(tag, e, c.queue, c));
            armConsumerTimeout(c.queue);
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
        if (!q.countsDeliveries()) {
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

    void consumerCancelledByQueue(ChannelConsumer c) {
        if (consumers.remove(c.tag) == c) {
            c.cancelled = true;
            if (state == State.OPEN && connection.clientCapability("consumer_cancel_notify")) {
                send(new BasicCancel(c.tag, true));
            }
        }
    }

    /** The socket became writable again, or the channel prefetch grew: let queues deliver. */
    public void resumeDelivery() {
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

    @Override public void onBasicGet(BasicGet m) {
        authz().check(Kind.QUEUE, queueName(m.queue()), Permission.READ);
        MessageQueue q = vhost().existingQueue(queueName(m.queue()), connection);
        q.execute(() -> q.get((entry, remaining) -> connection.execute(() -> getReply(q, entry, remaining, m.noAck()))));
    }

    private void getReply(MessageQueue q, QueueEntry e, int remaining, boolean noAck) {
        if (e == null) {
            sendIfOpen(new BasicGetEmpty(""));
            return;
        }
        if (state != State.OPEN) {
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
        if (noAck) {
            q.discard(e);
        } else {
            unacked.add(new Unacked(tag, e, q, null));
            armConsumerTimeout(q);
        }
    }

    // ---- consumer timeout ----------------------------------------------------------------------

    /** The pending check of the oldest unacked delivery's age; null when none is scheduled. Channel loop. */
    private io.netty.util.concurrent.ScheduledFuture<?> timeoutCheck;

    /** A queue's delivery acknowledgement timeout in ms: its x-consumer-timeout, else consumer_timeout; 0 none. */
    private long consumerTimeout(MessageQueue q) {
        long t = q.consumerTimeoutMs();
        return t > 0 ? t : connection.broker().settings().consumerTimeoutMs();
    }

    /** After a delivery that awaits an ack: schedule the timeout check if it applies and none is pending. */
    private void armConsumerTimeout(MessageQueue q) {
        if (timeoutCheck == null) {
            long t = consumerTimeout(q);
            if (t > 0) {
                timeoutCheck = connection.ctx().executor().schedule(this::checkConsumerTimeout, t,
                        java.util.concurrent.TimeUnit.MILLISECONDS);
            }
        }
    }

    /**
     * RabbitMQ's check (rabbit_channel evaluate_consumer_timeout): the oldest delivery awaiting
     * ack, against its queue's timeout; past it the channel closes with 406 and RabbitMQ's text
     * (its deliveries go back to their queues). Otherwise checked again when the oldest one would
     * time out, while anything awaits an ack. Costs nothing while no timeout applies.
     */
    private void checkConsumerTimeout() {
        timeoutCheck = null;
        if (state != State.OPEN) {
            return;
        }
        Unacked head = unacked.oldest();
        if (head == null) {
            return;
        }
        long t = consumerTimeout(head.queue());
        long ageMs = java.util.concurrent.TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - head.deliveredAt());
        if (t > 0 && ageMs >= t) {
            log.warn("consumer '{}' on channel {} of connection from {} timed out waiting for the ack of delivery tag "
                    + "{} from {} ({} ms)", head.consumer() == null ? "basic.get" : head.consumer().tag, id,
                    connection.ctx().channel().remoteAddress(), head.tag(), head.queue(), t);
            closeWithError(ReplyCode.PRECONDITION_FAILED, "PRECONDITION_FAILED - delivery acknowledgement on channel "
                    + id + " timed out. Timeout value used: " + t + " ms. This timeout value can be configured, see "
                    + "consumers doc guide to learn more");
            return;
        }
        long next = t > 0 ? t - ageMs : 1000;
        timeoutCheck = connection.ctx().executor().schedule(this::checkConsumerTimeout, Math.max(1, next),
                java.util.concurrent.TimeUnit.MILLISECONDS);
    }

    // ---- basic: acknowledgements ----------------------------------------------------------

    @Override public void onBasicAck(BasicAck m) {
        List<Unacked> settled = unacked.take(m.deliveryTag(), m.multiple());
        if (tx != null) {
            tx.acks.add(new Transaction.Settle(settled, false, false));
            return;
        }
        settle(settled, false, false);
    }

    @Override public void onBasicReject(BasicReject m) {
        List<Unacked> settled = unacked.take(m.deliveryTag(), false);
        if (tx != null) {
            tx.acks.add(new Transaction.Settle(settled, true, m.requeue()));
            return;
        }
        settle(settled, true, m.requeue());
    }

    @Override public void onBasicNack(BasicNack m) {
        List<Unacked> settled = unacked.take(m.deliveryTag(), m.multiple());
        if (tx != null) {
            tx.acks.add(new Transaction.Settle(settled, true, m.requeue()));
            return;
        }
        settle(settled, true, m.requeue());
    }

    /** Acks (discard) or rejects (requeue or discard) deliveries, and returns their credit. */
    private void settle(List<Unacked> settled, boolean reject, boolean requeue) {
        if (settled.isEmpty()) {
            return;
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
        while (state == State.OPEN && (globalPrefetch <= 0 || globalUnacked.get() < globalPrefetch)) {
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

    @Override public void onBasicRecover(BasicRecover m) {
        recover(m.requeue(), BasicRecover.METHOD_ID);
        send(new BasicRecoverOk());
    }

    @Override public void onBasicRecoverAsync(BasicRecoverAsync m) {
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

    // ---- basic: publishing -----------------------------------------------------------------

    @Override public void onBasicPublish(BasicPublish m) {
        if (m.immediate()) {
            // RabbitMQ 3.x dropped immediate: 540, a connection error, before looking at the
            // exchange (rabbit_channel). The content frames that follow are discarded with the connection.
            throw new ConnectionException(ReplyCode.NOT_IMPLEMENTED, "immediate=true", BasicPublish.CLASS_ID,
                    BasicPublish.METHOD_ID);
        }
        authz().check(Kind.EXCHANGE, m.exchange(), Permission.WRITE);
        Exchange x = vhost().exchange(m.exchange());
        if (x == null) {
            throw BrokerException.notFound("no exchange '%s' in vhost '%s'", m.exchange(), vhost().name());
        }
        if (x.internal()) {
            throw BrokerException.accessRefused("cannot publish to internal exchange '%s' in vhost '%s'",
                    m.exchange(), vhost().name());
        }
        if (x.type() == io.warren.core.exchange.ExchangeType.TOPIC) {
            authz().checkTopic(m.exchange(), m.routingKey(), Permission.WRITE);
        }
        publish.start(m);
    }

    private void onHeader(Frame.ContentHeader h) {
        publish.header(h);
        long max = connection.broker().settings().maxMessageSize();
        if (h.bodySize() > max) {
            current = publish.method();
            publish.reset();
            throw new ChannelException(ReplyCode.PRECONDITION_FAILED, "PRECONDITION_FAILED - message size "
                    + h.bodySize() + " is larger than configured max size " + max);
        }
        checkUserId();
        checkExpiration();
        setReplyAddress();
        if (h.bodySize() == 0) {
            publishComplete();
        }
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
            authz().checkUserId(userId);
        } catch (BrokerException e) {
            current = publish.method();
            publish.reset();
            throw new ChannelException(ReplyCode.PRECONDITION_FAILED, "PRECONDITION_FAILED - " + e.getMessage());
        }
    }

    /** RabbitMQ's rabbit_channel:check_expiration_header: an invalid expiration is refused with 406. */
    private void checkExpiration() {
        try {
            publish.checkExpiration();
        } catch (Expiration.Invalid e) {
            current = publish.method();
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
        if (replyToken == null) {
            current = publish.method();
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
            current = publish.method();
            publish.reset();
            throw new ChannelException(ReplyCode.PRECONDITION_FAILED, "PRECONDITION_FAILED - " + e.getMessage());
        }
        if (tx != null) {
            tx.publishes.add(new Transaction.Publish(msg, mandatory));
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

    /** Sends the due confirms from the channel's loop, one task for any number of reports. */
    private void scheduleConfirmFlush() {
        if (confirmFlushScheduled.compareAndSet(false, true)) {
            connection.execute(() -> {
                confirmFlushScheduled.set(false);
                if (state == State.OPEN) {
                    confirms.flush(this::send);
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
    private io.warren.core.store.DurableWrites route(Message msg, boolean mandatory, long seq) {
        MessageStore.Durable safe = seq > 0 ? failure -> committed(seq, failure) : NOT_WATCHED;
        if (msg.exchange().isEmpty() && DirectReplyTo.isReplyAddress(msg.routingKey())) {
            // A direct reply (RabbitMQ routes it in the default exchange): straight to the reply
            // consumer's channel. It counts as reaching no queue: a mandatory one also comes back.
            msg.retain();
            replies().deliver(msg.routingKey(), msg);
        }
        // A queue on another loop costs the connection a credit (PublisherFlow).
        io.warren.core.store.DurableWrites store;
        QueueVerdicts v;
        verdictSeq = seq;
        try {
            store = io.warren.core.publish.Publisher.publish(vhost().exchange(msg.exchange()), msg, routing,
                    mandatory ? returner : null, handover, safe);
        } finally {
            v = verdicts;
            verdicts = null;
            verdictSeq = 0;
        }
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

    // ---- confirms and transactions ---------------------------------------------------------

    @Override public void onConfirmSelect(ConfirmSelect m) {
        if (tx != null) {
            throw new ChannelException(ReplyCode.PRECONDITION_FAILED,
                    "PRECONDITION_FAILED - cannot switch from tx to confirm mode");
        }
        confirms.enable();
        if (!m.nowait()) {
            send(new ConfirmSelectOk());
        }
    }

    @Override public void onTxSelect(TxSelect m) {
        if (confirms.enabled()) {
            throw new ChannelException(ReplyCode.PRECONDITION_FAILED,
                    "PRECONDITION_FAILED - cannot switch from confirm to tx mode");
        }
        if (tx == null) {
            tx = new Transaction();
        }
        send(new TxSelectOk());
    }

    @Override public void onTxCommit(TxCommit m) {
        if (tx == null) {
            throw new ChannelException(ReplyCode.PRECONDITION_FAILED, "PRECONDITION_FAILED - channel is not transactional");
        }
        io.warren.core.store.DurableWrites store = null;
        // Delayed publishes are in the delay store, the others in the journal: both must be safe.
        io.warren.core.store.DurableWrites delayed = null;
        int routed = 0;
        try {
            for (Transaction.Publish p : tx.publishes) {
                routed++; // route() owns the message from here, even when it throws
                io.warren.core.store.DurableWrites used = route(p.message(), p.mandatory(), 0);
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
            settle(s.deliveries(), s.reject(), s.requeue());
        }
        tx.acks.clear();
        if (store == null && delayed == null) {
            send(new TxCommitOk());
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
                sendIfOpen(new TxCommitOk());
            } else {
                log.error("tx.commit on channel {} could not be made durable", id, failure);
                connection.closeWithError(new ConnectionException(ReplyCode.INTERNAL_ERROR,
                        "tx.commit could not be written to disk: " + failure.getMessage(), 90, 20));
            }
        });
    }

    @Override public void onTxRollback(TxRollback m) {
        if (tx == null) {
            throw new ChannelException(ReplyCode.PRECONDITION_FAILED, "PRECONDITION_FAILED - channel is not transactional");
        }
        tx.publishes.forEach(p -> p.message().release());
        tx.publishes.clear();
        // Rolled-back acks leave their deliveries unacknowledged, as before the ack.
        for (Transaction.Settle s : tx.acks) {
            unacked.restore(s.deliveries());
        }
        tx.acks.clear();
        send(new TxRollbackOk());
    }

    /** A copy of this channel's state for the management API. Channel loop. */
    public ChannelInfo info() {
        List<ChannelInfo.ConsumerInfo> cs = new ArrayList<>(consumers.size());
        for (ChannelConsumer c : consumers.values()) {
            cs.add(new ChannelInfo.ConsumerInfo(c.tag, c.queue, !c.noAck, c.exclusive, c.prefetch, c));
        }
        return new ChannelInfo(id, state == State.OPEN ? "running" : "closing", consumerPrefetch, globalPrefetch,
                confirms.enabled(), tx != null, unacked.size(), unacked.countByQueue(), cs);
    }

    // ---- closing ----------------------------------------------------------------------------

    private void closeWithError(ReplyCode code, String text) {
        closeWithError(code, text, classId(), methodId());
    }

    private void closeWithError(ReplyCode code, String text, int classId, int methodId) {
        String reply = text.startsWith(code.text() + " - ") ? text : code.text() + " - " + text;
        log.debug("closing channel {}: {}", id, reply);
        release();
        send(new ChannelClose(code.code(), ReplyCodes.replyText(reply), classId, methodId));
        state = State.CLOSING;
    }

    /** The connection went away: give everything back. */
    public void connectionClosed() {
        release();
        state = State.CLOSED;
    }

    /** Cancels consumers, requeues unacked deliveries, drops half-assembled and uncommitted publishes. */
    private void release() {
        cancelReplies();
        List<ChannelConsumer> gone = new ArrayList<>(consumers.values());
        gone.forEach(c -> c.cancelled = true);
        consumers.clear();
        List<Unacked> all = unacked.takeAll();
        if (tx != null) {
            tx.publishes.forEach(p -> p.message().release());
            tx.publishes.clear();
            tx.acks.forEach(s -> all.addAll(s.deliveries()));
            tx.acks.clear();
        }
        // Unacked messages go back before the consumers are removed (RabbitMQ's order): a
        // single-active-consumer queue's next consumer then starts with them, in order.
        settle(all, true, true);
        for (ChannelConsumer c : gone) {
            c.queue.execute(() -> c.queue.removeConsumer(c));
        }
        publish.reset();
    }
}
