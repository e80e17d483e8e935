package io.warren.amqp.channel;

import io.warren.amqp.codec.ConnectionException;
import io.warren.amqp.codec.Frame;
import io.warren.amqp.codec.MalformedFrameException;
import io.warren.amqp.connection.AmqpConnection;
import io.warren.amqp.connection.ReplyCodes;
import io.warren.amqp.protocol.*;
import io.warren.core.BrokerException;
import io.warren.core.auth.AccessControl.Permission;
import io.warren.core.auth.Authorizer;
import io.warren.core.auth.Authorizer.Kind;
import io.warren.core.exchange.Exchange;
import io.warren.core.message.Message;
import io.warren.core.queue.MessageQueue;
import io.warren.core.vhost.VirtualHost;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.Map;

/**
 * One AMQP channel: implements every channel-level method. Owner: its connection's loop; queues
 * hand deliveries over to that loop. Soft errors close only this channel.
 *
 * <p>This class dispatches the frames ({@link #handleFrame}), holds the channel's state (open,
 * closing, closed; the method being handled; the last declared queue), handles the channel
 * class and the exchange and queue methods (declarations, bindings, purge, delete), and closes
 * the channel, releasing what its parts hold. The basic, confirm and tx methods go to the parts,
 * which run on the same loop:
 * <ul>
 *   <li>{@link ChannelPublisher}: basic.publish and its content frames, routing, basic.return,
 *       publisher confirms;
 *   <li>{@link ChannelConsumers}: basic.qos, consume, cancel, get, the deliveries, ack, nack,
 *       reject, recover, the prefetch credit, the direct reply-to consumer; with its
 *       {@link ConsumerTimeout}, the delivery acknowledgement timeout;
 *   <li>{@link ChannelTransactions}: tx.select, commit, rollback, and the publishes and acks a
 *       transaction holds until its commit.
 * </ul>
 */
public final class AmqpChannel implements MethodHandler {
    private static final Logger log = LoggerFactory.getLogger(AmqpChannel.class);

    private enum State { OPEN, CLOSING, CLOSED }

    private final AmqpConnection connection;
    private final int id;
    private State state = State.OPEN;
    /** The parts (see the class comment); package-private: the transactions reach the other two. */
    final ChannelTransactions transactions;
    final ChannelConsumers consumers;
    final ChannelPublisher publisher;
    /** Message counts, this channel's and the broker's (the parts count; owner: this loop). */
    final ChannelStats stats;
    /**
     * The queue this channel declared last (passively or not): what an empty queue name means
     * (0-9-1 queue-name domain; RabbitMQ's most_recently_declared_queue). Null before any.
     */
    private String lastQueue;
    /** The method being handled, for the class/method ids of a channel.close. */
    private AmqpMethod current;

    public AmqpChannel(AmqpConnection connection, int id) {
        this.connection = connection;
        this.id = id;
        this.stats = new ChannelStats(connection.broker().counters().stripe(connection.loop()));
        this.transactions = new ChannelTransactions(this, connection, id);
        this.consumers = new ChannelConsumers(this, connection, id, transactions);
        this.publisher = new ChannelPublisher(this, connection, id, transactions, consumers);
    }

    AmqpConnection connection() {
        return connection;
    }

    /** The connection's vhost (its parts use it too). */
    VirtualHost vhost() {
        return connection.vhost();
    }

    public void opened() {
        send(new ChannelOpenOk(new byte[0]));
    }

    void send(AmqpMethod m) {
        connection.sendMethod(id, m);
    }

    // ---- frames -----------------------------------------------------------------------------

    /**
     * Frames that came while a reply waits for another thread (a topology change for the cluster's
     * log, a queue's loop for a declare's counts, a delete or a purge), handled in order once it is
     * sent: as a RabbitMQ channel handles one method at a time,
     * so pipelined methods are answered in the order they were sent (a queue.declare followed by a
     * basic.qos gets declare-ok, then qos-ok) and a publish after a declare sees the queue.
     */
    private final java.util.ArrayDeque<Frame> held = new java.util.ArrayDeque<>();
    /** Replies that come from another thread and are not sent yet ({@link #hold}). */
    private int repliesPending;
    /** Inside {@link #handleNow}: frames held meanwhile are handled when it returns, not nested in it. */
    private boolean handling;
    /**
     * Whether this channel asked its connection to stop reading: from its first held frame until
     * none is left, so what a connection holds is bounded by what one read brought, whatever its
     * channels pipeline.
     */
    private boolean holdPausedReading;

    public void handleFrame(Frame frame) {
        if (repliesPending > 0 || !held.isEmpty()) {
            held.add(frame);
            if (!holdPausedReading) {
                holdPausedReading = true;
                connection.holdReading(true);
            }
            return;
        }
        handleNow(frame);
        handleHeld();
    }

    /** Handles held frames while no reply is pending. Throws what {@link #handleNow} throws. */
    private void handleHeld() {
        if (handling) {
            return;
        }
        while (repliesPending == 0 && !held.isEmpty()) {
            if (state == State.CLOSED) {
                // A held close or close-ok ended this channel: what the client sent after it (a
                // channel.open of the same number, say) is for the channel's next life.
                connection.frameForChannel(held.poll());
            } else {
                handleNow(held.poll());
            }
        }
        if (holdPausedReading && held.isEmpty()) {
            holdPausedReading = false;
            connection.holdReading(false);
        }
    }

    private void handleNow(Frame frame) {
        boolean outer = !handling;
        handling = true;
        try {
            handleFrameNow(frame);
        } finally {
            if (outer) {
                handling = false;
            }
        }
    }

    private void handleFrameNow(Frame frame) {
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
                publisher.checkContentComplete();
                current = m.method();
                m.method().dispatch(this);
            } else if (frame instanceof Frame.ContentHeader h) {
                publisher.onHeader(h);
            } else if (frame instanceof Frame.MalformedHeader mh) {
                publisher.onMalformedHeader(mh);
            } else if (frame instanceof Frame.ContentBody b) {
                publisher.onBody(b);
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

    /** The channel is open: not closing (channel.close sent, awaiting close-ok) nor closed. */
    boolean open() {
        return state == State.OPEN;
    }

    /** Sets the method a channel.close names, when a part refuses a publish after its method was handled. */
    void current(AmqpMethod m) {
        current = m;
    }

    @Override public void unexpectedMethod(AmqpMethod method) {
        throw new ConnectionException(ReplyCode.COMMAND_INVALID, "unexpected method " + method.name() + " on channel "
                + id, method.classId(), method.methodId());
    }

    /** End of a read batch: send coalesced publisher confirms. */
    public void readBatchComplete() {
        if (state == State.OPEN) {
            publisher.flushConfirms();
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
        connection.broker().counters().queuesDeclared.increment();
        if (m.nowait()) {
            return;
        }
        MessageQueue q = d.queue();
        if (q.remoteHome() != null && q.remotes() != null && !d.created()) {
            if (connection.relayed()) {
                throw q.remoteUse(); // a use relayed here is never relayed on
            }
            // A queue another node holds (a classic queue's home, a quorum queue's leader): the
            // counts are the holder's. A quorum queue whose leader cannot be asked (an election)
            // answers this node's copy's counts rather than fail a declare.
            hold();
            q.remotes().counts(q, connection.user(), (messages, consumerCount) -> connection.execute(() -> {
                sendWhenDurable(new QueueDeclareOk(q.name(), messages, consumerCount), QueueDeclare.CLASS_ID,
                        QueueDeclare.METHOD_ID);
                unhold();
            }), e -> connection.execute(() -> {
                if (q.quorum() && e.reason() != io.warren.core.BrokerException.Reason.ACCESS_REFUSED) {
                    sendLocalCounts(q);
                } else if (state == State.OPEN) {
                    closeWithError(ReplyCodes.of(e.reason()), e.getMessage(), QueueDeclare.CLASS_ID,
                            QueueDeclare.METHOD_ID);
                }
                unhold();
            }));
            return;
        }
        sendLocalCounts(q);
    }

    /** declare-ok with the counts of this node's queue, read on the queue's loop after any publish this channel sent before. */
    private void sendLocalCounts(MessageQueue q) {
        hold();
        q.execute(() -> {
            int messages = q.messageCount();
            int consumerCount = q.consumerCount();
            connection.execute(() -> {
                sendWhenDurable(new QueueDeclareOk(q.name(), messages, consumerCount), QueueDeclare.CLASS_ID,
                        QueueDeclare.METHOD_ID);
                unhold();
            });
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

    /** The broker's direct reply-to registry. */
    DirectReplyTo replies() {
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
        // A stand-in too when relayed here: this node may just have been elected its leader
        MessageQueue q = vhost().queueForClient(queueName(m.queue()), connection, false);
        hold(); // what follows waits for purge-ok
        // A quorum queue whose leader is not known yet waits for one rather than fail the purge.
        io.warren.core.queue.RemoteQueues.whenUsable(q, connection::execute, () -> purgeHereOrAtHolder(q, m));
    }

    /**
     * queue.purge of {@code q}, the channel held for its reply: here, or at the node that holds it
     * (404 if none is known); a purge another node relayed here is never relayed on.
     */
    private void purgeHereOrAtHolder(MessageQueue q, QueuePurge m) {
        java.util.function.IntConsumer purged = n -> connection.execute(() -> {
            if (!m.nowait()) {
                sendIfOpen(new QueuePurgeOk(n));
            }
            unhold();
        });
        if (q.remoteHome() == null) {
            q.execute(() -> q.purge(purged));
        } else if (connection.relayed()) {
            purgeFailed(q.remoteUse());
        } else {
            // Held by another node: the purge goes there.
            q.remotes().purge(q, connection.user(), purged, e -> connection.execute(() -> {
                if (q.remoteHome() == null) {
                    purgeHereOrAtHolder(q, m); // this node took the queue over meanwhile (a new leader)
                } else {
                    purgeFailed(e);
                }
            }));
        }
    }

    /** The held queue.purge failed: the channel closes with {@code e}'s reply code. */
    private void purgeFailed(io.warren.core.BrokerException e) {
        if (state == State.OPEN) {
            closeWithError(ReplyCodes.of(e.reason()), e.getMessage(), QueuePurge.CLASS_ID, QueuePurge.METHOD_ID);
        }
        unhold();
    }

    @Override public void onQueueDelete(QueueDelete m) {
        // The checks and the count run on the queue's loop (after this channel's publishes,
        // consumes and cancels); the outcome comes back to this loop.
        authz().check(Kind.QUEUE, stripCrLf(queueName(m.queue())), Permission.CONFIGURE);
        MessageQueue standIn = vhost().queue(stripCrLf(queueName(m.queue())));
        if (standIn != null && standIn.remoteHome() != null && !standIn.quorum() && standIn.remotes() != null
                && !connection.relayed()) {
            vhost().checkExclusiveAccess(standIn, connection); // another node's exclusive queue: 405
            deleteAtHolder(standIn, m);
            return;
        }
        hold();
        try {
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
                        unhold();
                    }));
        } catch (RuntimeException e) {
            repliesPending--; // refused at once: nothing to wait for
            throw e;
        }
    }

    /** How long a delete through this node waits for the holder's removal of the queue to reach this node. */
    static final long DELETE_SPREAD_MS = 10_000;

    /**
     * queue.delete of a classic queue another node holds: the holder deletes it (its checks, its
     * count), which removes the definition on every node. delete-ok waits until this node's
     * stand-in is gone too, so that what this client does next (a redeclare) sees no queue.
     */
    private void deleteAtHolder(MessageQueue standIn, QueueDelete m) {
        hold();
        standIn.remotes().delete(standIn, connection.user(), m.ifUnused(), m.ifEmpty(), count ->
                connection.execute(() -> whenGone(standIn, System.nanoTime()
                        + java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(DELETE_SPREAD_MS), () -> {
                            if (!m.nowait()) {
                                sendIfOpen(new QueueDeleteOk(count));
                            }
                            unhold();
                        })), e -> connection.execute(() -> {
                            if (state == State.OPEN) {
                                closeWithError(ReplyCodes.of(e.reason()), e.getMessage(), QueueDelete.CLASS_ID,
                                        QueueDelete.METHOD_ID);
                            }
                            unhold();
                        }));
    }

    /** Runs {@code then} on this loop once {@code q} is no longer its vhost's queue, or at {@code deadline}. */
    private void whenGone(MessageQueue q, long deadline, Runnable then) {
        if (vhost().queue(q.name()) != q || System.nanoTime() - deadline >= 0) {
            then.run();
            return;
        }
        connection.ctx().executor().schedule(() -> whenGone(q, deadline, then), 10,
                java.util.concurrent.TimeUnit.MILLISECONDS);
    }

    /** The connection's user's permissions. */
    Authorizer authz() {
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
    String queueName(String name) {
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
        hold();
        vhost().whenDurable(failure -> connection.execute(() -> {
            if (failure == null) {
                sendIfOpen(m);
            } else if (state == State.OPEN) {
                closeWithError(ReplyCode.INTERNAL_ERROR, "cannot store definitions: " + failure.getMessage(), classId,
                        methodId);
            }
            unhold();
        }));
    }

    /**
     * A reply will come from another thread: frames that follow wait for it ({@link #held}) until
     * {@link #unhold}, which every path of the reply (sent, refused, channel closed) calls once.
     */
    void hold() {
        repliesPending++;
    }

    /** The reply {@link #hold} waited for is sent: frames held behind it are handled (on this channel's loop). */
    void unhold() {
        repliesPending--;
        if (state == State.CLOSED) {
            dropHeld();
            return;
        }
        try {
            handleHeld();
        } catch (ConnectionException e) {
            connection.closeWithError(e);
        }
    }

    /** Releases held frames unhandled: the channel or its connection is gone. */
    private void dropHeld() {
        for (Frame f; (f = held.poll()) != null; ) {
            if (f instanceof Frame.ReleasableFrame r) {
                r.content().release();
            }
        }
        if (holdPausedReading) {
            holdPausedReading = false;
            connection.holdReading(false);
        }
    }

    void sendIfOpen(AmqpMethod m) {
        if (state == State.OPEN) {
            send(m);
        }
    }

    // ---- basic: consuming and acknowledgements (ChannelConsumers) -----------------------------

    @Override public void onBasicQos(BasicQos m) {
        consumers.onBasicQos(m);
    }

    @Override public void onBasicConsume(BasicConsume m) {
        consumers.onBasicConsume(m);
    }

    @Override public void onBasicCancel(BasicCancel m) {
        consumers.onBasicCancel(m);
    }

    @Override public void onBasicGet(BasicGet m) {
        consumers.onBasicGet(m);
    }

    @Override public void onBasicAck(BasicAck m) {
        consumers.onBasicAck(m);
    }

    @Override public void onBasicReject(BasicReject m) {
        consumers.onBasicReject(m);
    }

    @Override public void onBasicNack(BasicNack m) {
        consumers.onBasicNack(m);
    }

    @Override public void onBasicRecover(BasicRecover m) {
        consumers.onBasicRecover(m);
    }

    @Override public void onBasicRecoverAsync(BasicRecoverAsync m) {
        consumers.onBasicRecoverAsync(m);
    }

    /** The socket became writable again, or the channel prefetch grew: let queues deliver. */
    public void resumeDelivery() {
        consumers.resumeDelivery();
    }

    /** A direct reply for this channel's reply consumer {@code token}: see {@link ChannelConsumers#deliverReply}. */
    void deliverReply(String token, Message msg) {
        consumers.deliverReply(token, msg);
    }

    // ---- basic: publishing, confirms (ChannelPublisher) ----------------------------------------

    @Override public void onBasicPublish(BasicPublish m) {
        publisher.onBasicPublish(m);
    }

    @Override public void onConfirmSelect(ConfirmSelect m) {
        publisher.onConfirmSelect(m);
    }

    // ---- transactions (ChannelTransactions) ----------------------------------------------------

    @Override public void onTxSelect(TxSelect m) {
        transactions.onTxSelect(m);
    }

    @Override public void onTxCommit(TxCommit m) {
        transactions.onTxCommit(m);
    }

    @Override public void onTxRollback(TxRollback m) {
        transactions.onTxRollback(m);
    }

    /** A copy of this channel's state for the management API. Channel loop. */
    public ChannelInfo info() {
        UnackedDeliveries unacked = consumers.unacked();
        return new ChannelInfo(id, state == State.OPEN ? "running" : "closing", consumers.consumerPrefetch(),
                consumers.globalPrefetch, publisher.confirmsEnabled(), transactions.active(), unacked.size(),
                unacked.countByQueue(), consumers.consumerInfos(), stats.counts(publisher.unconfirmed()));
    }

    // ---- closing ----------------------------------------------------------------------------

    void closeWithError(ReplyCode code, String text) {
        closeWithError(code, text, classId(), methodId());
    }

    void closeWithError(ReplyCode code, String text, int classId, int methodId) {
        String reply = text.startsWith(code.text() + " - ") ? text : code.text() + " - " + text;
        // RabbitMQ 3.10 logs every channel error at error, on two lines: "Channel error on
        // connection <pid> (peer -> local, vhost: 'V', user: 'U'), channel N:" and "operation
        // queue.declare caused a channel exception precondition_failed: TEXT". One line here,
        // rate-limited per reply code as the connection errors are (a client can loop on them).
        String kind = "channel error " + code.code();
        if (connection.broker().errorLog().admit(log, org.slf4j.event.Level.ERROR, kind)) {
            String operation = current == null || current.classId() != classId || current.methodId() != methodId
                    ? java.util.Objects.requireNonNullElse(io.warren.amqp.protocol.MethodDecoder.name(classId, methodId), "none")
                    : current.name();
            String detail = reply.substring(Math.min(reply.length(), code.text().length() + 3));
            log.atError().addKeyValue("connection", connection.name()).addKeyValue("channel", id)
                    .addKeyValue("user", connection.user()).addKeyValue("vhost", connection.vhost() == null ? null
                            : connection.vhost().name())
                    .addKeyValue("operation", operation).addKeyValue("reply_code", code.code())
                    .log("Channel error on connection {}, channel {}: operation {} caused a channel exception {}: {}",
                            connection.logName(true), id, operation, code.text().toLowerCase(java.util.Locale.ROOT),
                            detail);
        }
        release();
        send(new ChannelClose(code.code(), ReplyCodes.replyText(reply), classId, methodId));
        state = State.CLOSING;
    }

    /** The connection went away: give everything back. */
    public void connectionClosed() {
        release();
        state = State.CLOSED;
        dropHeld();
    }

    /** Cancels consumers, requeues unacked deliveries, drops half-assembled and uncommitted publishes. */
    private void release() {
        List<ChannelConsumer> gone = consumers.cancelAll();
        List<Unacked> all = consumers.takeAllUnacked();
        transactions.release(all);
        // Unacked messages go back before the consumers are removed (RabbitMQ's order): a
        // single-active-consumer queue's next consumer then starts with them, in order.
        consumers.settle(all, true, true);
        consumers.removeFromQueues(gone);
        publisher.reset();
    }
}
