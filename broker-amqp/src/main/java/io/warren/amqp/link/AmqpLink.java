package io.warren.amqp.link;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.ReferenceCountUtil;
import io.warren.amqp.codec.ConnectionException;
import io.warren.amqp.codec.FieldValues.LongString;
import io.warren.amqp.codec.Frame;
import io.warren.amqp.codec.FrameDecoder;
import io.warren.amqp.codec.FrameWriter;
import io.warren.amqp.protocol.AmqpConstants;
import io.warren.amqp.protocol.AmqpMethod;
import io.warren.amqp.protocol.BasicAck;
import io.warren.amqp.protocol.BasicCancel;
import io.warren.amqp.protocol.BasicCancelOk;
import io.warren.amqp.protocol.BasicConsume;
import io.warren.amqp.protocol.BasicConsumeOk;
import io.warren.amqp.protocol.BasicDeliver;
import io.warren.amqp.protocol.BasicGet;
import io.warren.amqp.protocol.BasicGetEmpty;
import io.warren.amqp.protocol.BasicGetOk;
import io.warren.amqp.protocol.BasicNack;
import io.warren.amqp.protocol.BasicPublish;
import io.warren.amqp.protocol.BasicQos;
import io.warren.amqp.protocol.BasicQosOk;
import io.warren.amqp.protocol.BasicReject;
import io.warren.amqp.protocol.ChannelClose;
import io.warren.amqp.protocol.ChannelCloseOk;
import io.warren.amqp.protocol.ChannelFlow;
import io.warren.amqp.protocol.ChannelFlowOk;
import io.warren.amqp.protocol.ChannelOpen;
import io.warren.amqp.protocol.ChannelOpenOk;
import io.warren.amqp.protocol.ConfirmSelect;
import io.warren.amqp.protocol.ConfirmSelectOk;
import io.warren.amqp.protocol.ConnectionBlocked;
import io.warren.amqp.protocol.ConnectionClose;
import io.warren.amqp.protocol.ConnectionCloseOk;
import io.warren.amqp.protocol.ConnectionOpen;
import io.warren.amqp.protocol.ConnectionOpenOk;
import io.warren.amqp.protocol.ConnectionSecure;
import io.warren.amqp.protocol.ConnectionSecureOk;
import io.warren.amqp.protocol.ConnectionStart;
import io.warren.amqp.protocol.ConnectionStartOk;
import io.warren.amqp.protocol.ConnectionTune;
import io.warren.amqp.protocol.ConnectionTuneOk;
import io.warren.amqp.protocol.ConnectionUnblocked;
import io.warren.amqp.protocol.QueueDeclare;
import io.warren.amqp.protocol.QueueDeclareOk;
import io.warren.amqp.protocol.QueueDelete;
import io.warren.amqp.protocol.QueueDeleteOk;
import io.warren.amqp.protocol.QueuePurge;
import io.warren.amqp.protocol.QueuePurgeOk;
import io.warren.amqp.protocol.ReplyCode;
import io.warren.amqp.server.BrokerContext;
import io.warren.amqp.server.LinkAuth;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * A cluster link: an AMQP 0-9-1 client connection from one warren node to another node's
 * ordinary AMQP listener, so that a node can consume a queue led by another node on behalf of
 * its own clients, and forward its clients' publishes, passive declares and deletes of a queue
 * to the node that holds it. It logs in with the WARREN-LINK mechanism (a MAC of the server's
 * challenge under the cluster's shared key, {@link LinkAuth}) as a user the forwarded client
 * is, and uses one channel (1). It speaks through the module's own codec ({@link FrameDecoder} in client
 * mode, {@link FrameWriter}) so that message properties pass through as the raw bytes the
 * server sent and can be re-sent verbatim.
 *
 * <p>Threads: everything the link does runs on its Netty event loop (one of {@code group}),
 * including every {@link Handler} call and the completion of every future it returns (so
 * their dependent stages run there too, unless added with an executor). The public methods
 * may be called from any thread; they never block: work is handed to the loop. Nothing here
 * waits on a future.
 *
 * <p>Synchronous requests (qos, consume, cancel, get, purge, confirmSelect, declarePassive,
 * delete) may be made several at once; they go out one at a time in the order made, each after
 * the previous one's reply, and their futures complete in that order. When the link goes, every
 * one still waiting fails: with a {@link LinkException} carrying the server's code and text when
 * the server closed the channel or connection, with an {@link IOException} otherwise. Publishes
 * are not synchronous requests: each is written at once (see {@link #publish}); in confirm mode
 * the ones the server has not confirmed yet fail the same way when the link goes.
 */
public final class AmqpLink {
    private static final Logger log = LoggerFactory.getLogger(AmqpLink.class);
    /** The login mechanism, as the server side knows it. */
    static final String MECHANISM = io.warren.amqp.connection.AmqpConnection.LINK_MECHANISM;
    /** The link's only channel. */
    private static final int CHANNEL = 1;
    /** The largest frame the link accepts (and writes): RabbitMQ's default frame_max. */
    private static final long MAX_FRAME = 131072;
    /** As a server gives a client: the handshake must be done within this time. */
    private static final long HANDSHAKE_TIMEOUT_MS = 10_000;
    /**
     * How long the link waits for connection.close-ok before it drops the socket: as long as the
     * server waits to handle what its channels held before the close (an ack behind a cancel,
     * see AmqpConnection#closeAfterHeld), so an ack written just before the close is not lost to a
     * socket dropped early. Nothing waits for it: the link is already closed for its users.
     */
    private static final long CLOSE_OK_TIMEOUT_MS = 10_000;

    /** What the link hears; all calls on the link's event loop. */
    public interface Handler {
        /**
         * A basic.deliver with its content; the handler owns (must release) properties and body.
         * properties = the raw content-header property bytes (flags + list) exactly as received,
         * so they can be re-sent verbatim with FrameWriter.content.
         */
        void delivery(String consumerTag, long deliveryTag, boolean redelivered, String exchange, String routingKey,
                      ByteBuf properties, ByteBuf body);

        /**
         * The server cancelled a consumer (basic.cancel from the server: queue deleted, leader
         * moved...). The link stays open.
         */
        void cancelled(String consumerTag);

        /**
         * The link is gone (socket closed, connection.close or channel.close from the server,
         * missed heartbeats, or close() called). Called once, and only for a link whose open
         * future completed: a link that never opened fails its open future instead.
         * reason: a one-line text; code: the AMQP reply code if the server closed it, else 0.
         */
        void closed(int code, String reason);
    }

    /** The queue.declare-ok of a passive declare. */
    public record DeclareOk(String queue, long messageCount, long consumerCount) {}

    /** A basic.get-ok's message; the caller owns (must release) properties and body. */
    public record Got(long deliveryTag, boolean redelivered, String exchange, String routingKey, int messageCount,
                      ByteBuf properties, ByteBuf body) {}

    /** A refusal by the server (channel.close or connection.close it sent): its reply code and text. */
    public static final class LinkException extends RuntimeException {
        private final int code;
        private final String text;

        public LinkException(int code, String text) {
            super(code + " " + text);
            this.code = code;
            this.text = text;
        }

        /** The server's AMQP reply code (403 ACCESS_REFUSED, 404 NOT_FOUND, 320 CONNECTION_FORCED...). */
        public int code() {
            return code;
        }

        /** The server's reply text. */
        public String text() {
            return text;
        }
    }

    private enum State { CONNECTING, AWAIT_START, AUTHENTICATING, AWAIT_OPEN_OK, AWAIT_CHANNEL_OPEN_OK, OPEN, CLOSED }

    private final InetSocketAddress address;
    private final String vhost;
    private final String user;
    private final String node;
    private final LinkAuth auth;
    private final int heartbeatSeconds;
    private final Handler handler;
    private final FrameDecoder decoder = new FrameDecoder(true);
    private final CompletableFuture<AmqpLink> opened = new CompletableFuture<>();
    /** Read from any thread by the public methods; written on the loop. */
    private volatile State state = State.CONNECTING;
    private volatile Channel channel;

    // ---- loop only ----------------------------------------------------------------------------
    private ChannelHandlerContext ctx;
    /** The start-ok response (user \0 node), which the proof covers. */
    private byte[] response;
    /**
     * Synchronous requests in the order they were made; the head is the one written, waiting for
     * its reply, the others wait to be written (see {@link #call}).
     */
    private final ArrayDeque<Pending> pending = new ArrayDeque<>();
    /** A method whose content frames are being read, or null. */
    private Incoming incoming;
    /** The open future completed: closed() is owed once the link goes. */
    private boolean handedOut;
    /** Why the link is gone, for the futures of requests made afterwards. */
    private Throwable closeCause;
    private boolean flushScheduled;
    private final Runnable flushTask = this::flushNow;
    /** The frame_max agreed at tune: the largest frame the link writes. */
    private long frameMax = MAX_FRAME;
    /**
     * confirm.select has been written: every publish written since is counted by the server
     * (from 1, in the order it receives them, which is the order they are written) and
     * confirmed with that number.
     */
    private boolean confirming;
    /** The sequence number of the last publish written in confirm mode (0: none yet). */
    private long publishSeq;
    /** Publishes written in confirm mode and not confirmed yet, by sequence number. */
    private final TreeMap<Long, CompletableFuture<Boolean>> unconfirmed = new TreeMap<>();

    private AmqpLink(InetSocketAddress address, String vhost, String user, String node, LinkAuth auth,
                     int heartbeatSeconds, Handler handler) {
        this.address = address;
        this.vhost = vhost;
        this.user = user;
        this.node = node;
        this.auth = auth;
        this.heartbeatSeconds = heartbeatSeconds;
        this.handler = handler;
    }

    /**
     * Connects to host:port, logs in with WARREN-LINK as {@code user} from node {@code node}
     * (proofs from auth), opens vhost and channel 1. Completes when channel 1 is open; fails
     * with LinkException (refused) or the IO error. heartbeatSeconds: proposed heartbeat (take
     * min with the server's when both non-zero; if the server proposes 0 use 0; 0 here asks for
     * none). Any thread; does not block. Completing the returned future exceptionally (cancel,
     * orTimeout) before the link is open abandons it: its socket is closed.
     */
    public static CompletableFuture<AmqpLink> open(EventLoopGroup group, Class<? extends SocketChannel> channelClass,
                                                   InetSocketAddress address, String vhost, String user, String node,
                                                   LinkAuth auth, int heartbeatSeconds, Handler handler) {
        AmqpLink link = new AmqpLink(address, vhost, user, node, auth, heartbeatSeconds, handler);
        Bootstrap b = new Bootstrap()
                .group(group)
                .channel(channelClass)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) HANDSHAKE_TIMEOUT_MS)
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast("frames", link.decoder);
                        ch.pipeline().addLast("link", link.new Connection());
                    }
                });
        ChannelFuture connect;
        try {
            connect = b.connect(address);
        } catch (RuntimeException e) {
            link.opened.completeExceptionally(e);
            return link.opened;
        }
        link.channel = connect.channel();
        connect.addListener((ChannelFutureListener) f -> {
            if (!f.isSuccess()) {
                link.state = State.CLOSED;
                link.opened.completeExceptionally(f.cause());
            }
        });
        link.opened.whenComplete((l, e) -> {
            // Given up on from outside (cancel, orTimeout); when the link failed by itself its
            // socket is closing already.
            if (e != null && link.state != State.CLOSED) {
                connect.channel().close();
            }
        });
        return link.opened;
    }

    // ---- requests -------------------------------------------------------------------------------

    /** basic.qos with {@code prefetchCount}, per consumer (global=false). Any thread. */
    public CompletableFuture<Void> qos(int prefetchCount) {
        return call(new BasicQos(0, prefetchCount, false), m -> m instanceof BasicQosOk, m -> null);
    }

    /**
     * basic.consume (no_ack = false always, no_local false, nowait false); completes with the
     * server's consumer tag. Deliveries go to {@link Handler#delivery}. Any thread.
     */
    public CompletableFuture<String> consume(String queue, String consumerTag, boolean exclusive,
                                             Map<String, Object> arguments) {
        BasicConsume c = new BasicConsume(0, queue, consumerTag == null ? "" : consumerTag, false, false, exclusive,
                false, arguments == null ? Map.of() : arguments);
        return call(c, m -> m instanceof BasicConsumeOk, m -> ((BasicConsumeOk) m).consumerTag());
    }

    /**
     * basic.qos {@code prefetchCount} (global=false) and basic.consume queued together, nothing
     * between them, so the prefetch is this consumer's even when other consumers of the link
     * start meanwhile from other threads (a server gives a consumer the per-consumer prefetch
     * last set on its channel). Completes as {@link #consume}. Any thread.
     */
    public CompletableFuture<String> consume(String queue, String consumerTag, int prefetchCount, boolean exclusive,
                                             Map<String, Object> arguments) {
        CompletableFuture<Void> qos = new CompletableFuture<>();
        CompletableFuture<String> consumed = new CompletableFuture<>();
        BasicConsume c = new BasicConsume(0, queue, consumerTag == null ? "" : consumerTag, false, false, exclusive,
                false, arguments == null ? Map.of() : arguments);
        boolean queued = runOnLoop(() -> {
            if (state != State.OPEN) {
                qos.completeExceptionally(closedError());
                consumed.completeExceptionally(closedError());
                return;
            }
            enqueue(new Pending(new BasicQos(0, prefetchCount, false), m -> m instanceof BasicQosOk, qos, m -> null));
            enqueue(new Pending(c, m -> m instanceof BasicConsumeOk, consumed,
                    m -> ((BasicConsumeOk) m).consumerTag()));
        });
        if (!queued) {
            IOException shut = new IOException("link to " + address + " closed: its event loop is shut down");
            qos.completeExceptionally(shut);
            consumed.completeExceptionally(shut);
        }
        return qos.thenCompose(v -> consumed);
    }

    /** basic.cancel of one of this link's consumers. Any thread. */
    public CompletableFuture<Void> cancel(String consumerTag) {
        return call(new BasicCancel(consumerTag, false), m -> m instanceof BasicCancelOk, m -> null);
    }

    /** basic.get no_ack=false; completes with null for get-empty. Any thread. */
    public CompletableFuture<Got> get(String queue) {
        // A get-ok completes its future once its content is in (see Incoming).
        return call(new BasicGet(0, queue, false), m -> m instanceof BasicGetOk || m instanceof BasicGetEmpty,
                m -> null);
    }

    /** queue.purge; completes with the count purged. Any thread. */
    public CompletableFuture<Integer> purge(String queue) {
        return call(new QueuePurge(0, queue, false), m -> m instanceof QueuePurgeOk,
                m -> (int) Math.min(Integer.MAX_VALUE, ((QueuePurgeOk) m).messageCount()));
    }

    /**
     * confirm.select (nowait=false): every publish written after it is confirmed by the server.
     * Any thread.
     *
     * <p>Ordering: confirm.select is a synchronous request like the others, so it is written at
     * once when no other request is waiting for its reply, and otherwise once those before it
     * have their replies. The server numbers the publishes it receives after confirm.select,
     * and the link numbers those it writes after it (writes are the server's receive order),
     * so the numbers always agree. Publishes, though, are never held behind a request: one
     * made while confirm.select itself still waits to be written goes out before it and is
     * not confirmed (its future completes with true on being written, as outside confirm mode).
     * Call this first on a link used for publishing, with no request pending (then every
     * publish made after this call returned, from the same thread, or after the future
     * completed, is confirmed), and do not publish on it before. A second call changes nothing
     * (the server keeps its numbering).
     */
    public CompletableFuture<Void> confirmSelect() {
        return call(new ConfirmSelect(false), m -> m instanceof ConfirmSelectOk, m -> null);
    }

    /**
     * basic.publish (mandatory=false, immediate=false) of a message: {@code properties} are raw
     * encoded basic properties (as a content header carries them: the flags word and the
     * present properties), written as they are; {@code body} its body. Takes ownership of both
     * buffers (released once written, or at once when the link is not open). Not a synchronous
     * request: it is written at once, in call order with other publishes, never held behind a
     * pending call's reply (publishes have no reply of their own).
     *
     * <p>In confirm mode (a publish written after confirm.select: after {@link #confirmSelect}
     * completed, or see there) the future completes with true on the server's basic.ack
     * covering it, false on basic.nack, and fails with the link's close cause when the link goes
     * before its confirm; without confirm mode it completes with true once handed to the socket
     * (and fails if that write fails). Fails at once when the link is closed. Any thread.
     *
     * <p>Nothing here bounds what is in flight: TCP back-pressure applies (the server stops
     * reading a blocked or flow-controlled connection), and the caller bounds its outstanding
     * publishes.
     */
    public CompletableFuture<Boolean> publish(String exchange, String routingKey, ByteBuf properties, ByteBuf body) {
        CompletableFuture<Boolean> f = new CompletableFuture<>();
        if (!fitsShortString(exchange) || !fitsShortString(routingKey)) {
            properties.release();
            body.release();
            f.completeExceptionally(new IllegalArgumentException("exchange or routing key longer than 255 bytes"));
            return f;
        }
        BasicPublish method = new BasicPublish(0, exchange, routingKey, false, false);
        boolean queued = runOnLoop(() -> {
            if (state != State.OPEN) {
                properties.release();
                body.release();
                f.completeExceptionally(closedError());
                return;
            }
            ByteBuf frames;
            try {
                frames = FrameWriter.content(ctx.alloc(), CHANNEL, method, BasicPublish.CLASS_ID, properties, body,
                        frameMax);
            } finally {
                // The frames hold copies or retained slices of them.
                properties.release();
                body.release();
            }
            if (confirming) {
                unconfirmed.put(++publishSeq, f);
                write(frames);
                return;
            }
            ctx.write(frames).addListener(w -> {
                if (w.isSuccess()) {
                    f.complete(true);
                } else {
                    f.completeExceptionally(closeCause != null ? closedError()
                            : new IOException("link to " + address + ": publish not written", w.cause()));
                }
            });
            scheduleFlush();
        });
        if (!queued) {
            properties.release();
            body.release();
            f.completeExceptionally(new IOException("link to " + address + " closed: its event loop is shut down"));
        }
        return f;
    }

    /**
     * queue.declare passive=true (nowait=false): completes with the server's counts; a missing
     * queue fails with LinkException 404 (and the link closes, as for any channel error). Any
     * thread.
     */
    public CompletableFuture<DeclareOk> declarePassive(String queue) {
        return call(new QueueDeclare(0, queue, true, false, false, false, false, Map.of()),
                m -> m instanceof QueueDeclareOk, m -> {
                    QueueDeclareOk ok = (QueueDeclareOk) m;
                    return new DeclareOk(ok.queue(), ok.messageCount(), ok.consumerCount());
                });
    }

    /**
     * queue.delete (nowait=false); completes with the message count the server reports. A
     * refusal (406 for ifUnused / ifEmpty, 404...) fails with LinkException and closes the link.
     * Any thread.
     */
    public CompletableFuture<Integer> delete(String queue, boolean ifUnused, boolean ifEmpty) {
        return call(new QueueDelete(0, queue, ifUnused, ifEmpty, false), m -> m instanceof QueueDeleteOk,
                m -> (int) Math.min(Integer.MAX_VALUE, ((QueueDeleteOk) m).messageCount()));
    }

    /** basic.ack. Any thread; dropped when the link is closed. */
    public void ack(long deliveryTag, boolean multiple) {
        send(new BasicAck(deliveryTag, multiple));
    }

    /** basic.nack. Any thread; dropped when the link is closed. */
    public void nack(long deliveryTag, boolean multiple, boolean requeue) {
        send(new BasicNack(deliveryTag, multiple, requeue));
    }

    /** basic.reject. Any thread; dropped when the link is closed. */
    public void reject(long deliveryTag, boolean requeue) {
        send(new BasicReject(deliveryTag, requeue));
    }

    /** True while channel 1 is open and the link has not closed (a recent value; any thread). */
    public boolean isOpen() {
        return state == State.OPEN;
    }

    /**
     * connection.close (200), then the socket; closed(...) is called once (on the loop, code 0).
     * Unacknowledged deliveries go back to their queues on the server. Idempotent; any thread.
     */
    public void close() {
        runOnLoop(() -> {
            if (state == State.CLOSED) {
                return;
            }
            if (ctx != null && ctx.channel().isActive() && state != State.CONNECTING) {
                closeGracefully(AmqpConstants.REPLY_SUCCESS, "link closed by node " + node);
            } else {
                channel.close();
            }
            terminate(0, "closed by node " + node, new IOException("link to " + address + " closed"));
        });
    }

    @Override public String toString() {
        return "AmqpLink[" + node + " -> " + address + " " + vhost + " as " + user + ", " + state + "]";
    }

    // ---- writing --------------------------------------------------------------------------------

    /**
     * Queues a synchronous request on the loop; it is written once every request before it has
     * its reply. One at a time, as the RabbitMQ Java client does: warren answers some methods
     * from the queue's event loop (queue.purge, basic.get), so two of them on different queues,
     * written back to back, may be answered in either order and a reply could not be told apart
     * from the other's. Waiting for each reply keeps request and reply paired.
     */
    private <T> CompletableFuture<T> call(AmqpMethod request, Predicate<AmqpMethod> expects,
                                          Function<AmqpMethod, T> result) {
        CompletableFuture<T> f = new CompletableFuture<>();
        boolean queued = runOnLoop(() -> {
            if (state != State.OPEN) {
                f.completeExceptionally(closedError());
                return;
            }
            enqueue(new Pending(request, expects, f, result));
        });
        if (!queued) {
            f.completeExceptionally(new IOException("link to " + address + " closed: its event loop is shut down"));
        }
        return f;
    }

    /** Queues {@code p} behind the requests waiting (loop only); written now if none is. */
    private void enqueue(Pending p) {
        pending.add(p);
        if (pending.size() == 1) {
            writeRequest(p.request);
        }
    }

    /**
     * Writes the synchronous request at the head of {@link #pending}. Confirm mode starts here,
     * at the write of confirm.select: the server counts the publishes it reads after it.
     */
    private void writeRequest(AmqpMethod request) {
        writeMethod(CHANNEL, request);
        if (request instanceof ConfirmSelect) {
            confirming = true;
        }
    }

    /** An asynchronous method (ack, nack, reject): written if the link is open, else dropped. */
    private void send(AmqpMethod m) {
        runOnLoop(() -> {
            if (state == State.OPEN) {
                write(FrameWriter.method(ctx.alloc(), CHANNEL, m));
            }
        });
    }

    /** Runs {@code task} on the loop (inline when there); false when the loop no longer takes tasks. */
    private boolean runOnLoop(Runnable task) {
        Channel ch = channel;
        if (ch == null) {
            return false;
        }
        if (ch.eventLoop().inEventLoop()) {
            task.run();
            return true;
        }
        try {
            ch.eventLoop().execute(task);
            return true;
        } catch (RejectedExecutionException e) {
            return false;
        }
    }

    /** Queues a frame; one flush follows the current batch of work (loop only). */
    private void write(ByteBuf frame) {
        ctx.write(frame, ctx.voidPromise());
        scheduleFlush();
    }

    private void scheduleFlush() {
        if (!flushScheduled) {
            flushScheduled = true;
            ctx.executor().execute(flushTask);
        }
    }

    private void writeMethod(int channelNumber, AmqpMethod m) {
        write(FrameWriter.method(ctx.alloc(), channelNumber, m));
    }

    private void flushNow() {
        flushScheduled = false;
        ctx.flush();
    }

    // ---- closing --------------------------------------------------------------------------------

    /** connection.close from the link; the socket goes at close-ok, or after a pause without one. */
    private void closeGracefully(int code, String text) {
        writeMethod(0, new ConnectionClose(code, shortString(text), 0, 0));
        flushNow();
        ChannelHandlerContext c = ctx;
        c.executor().schedule(() -> {
            c.close();
        }, CLOSE_OK_TIMEOUT_MS, TimeUnit.MILLISECONDS);
    }

    /**
     * The link is gone (loop only; once): fails the open future or every request waiting for a
     * reply and every publish waiting for its confirm with {@code cause}, releases content being
     * read, and tells the handler.
     */
    private void terminate(int code, String reason, Throwable cause) {
        if (state == State.CLOSED && closeCause != null) {
            return;
        }
        state = State.CLOSED;
        closeCause = cause;
        if (incoming != null) {
            Incoming in = incoming;
            incoming = null;
            in.release();
            if (in.target != null) {
                in.target.future.completeExceptionally(cause);
            }
        }
        while (!pending.isEmpty()) {
            pending.poll().future.completeExceptionally(cause);
        }
        while (!unconfirmed.isEmpty()) {
            unconfirmed.pollFirstEntry().getValue().completeExceptionally(cause);
        }
        opened.completeExceptionally(cause);
        if (handedOut) {
            handedOut = false;
            log.debug("link {} closed: {} {}", this, code, reason);
            try {
                handler.closed(code, reason);
            } catch (RuntimeException e) {
                log.warn("link {}: closed handler failed", this, e);
            }
        }
    }

    private Throwable closedError() {
        Throwable c = closeCause;
        if (c instanceof LinkException e) {
            return new LinkException(e.code(), e.text());
        }
        return new IOException("link to " + address + " is closed", c);
    }

    /** A protocol error by the server: told with connection.close, then the link is gone. */
    private void protocolError(int code, String text) {
        log.warn("link {}: protocol error from the server: {} {}", this, code, text);
        State s = state;
        if (s != State.CLOSED && s != State.CONNECTING) {
            closeGracefully(code, text);
        }
        terminate(0, "protocol error: " + text, new IOException("link to " + address + ": protocol error: " + text));
    }

    private static boolean fitsShortString(String s) {
        return s == null || s.length() <= 85 || s.getBytes(StandardCharsets.UTF_8).length <= 255;
    }

    private static String shortString(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        return b.length <= 255 ? s : new String(b, 0, 255, StandardCharsets.UTF_8);
    }

    private static void release(Frame f) {
        ReferenceCountUtil.release(f instanceof Frame.ReleasableFrame r ? r.content() : null);
    }

    // ---- reading --------------------------------------------------------------------------------

    /** The pipeline end of the link: the handshake, channel 1, heartbeats. Loop only. */
    private final class Connection extends ChannelInboundHandlerAdapter {
        @Override public void handlerAdded(ChannelHandlerContext c) {
            ctx = c;
        }

        @Override public void channelActive(ChannelHandlerContext c) {
            state = State.AWAIT_START;
            c.writeAndFlush(c.alloc().buffer(8).writeBytes(FrameDecoder.PROTOCOL_HEADER), c.voidPromise());
            c.executor().schedule(() -> {
                if (state != State.OPEN && state != State.CLOSED) {
                    terminate(0, "handshake timed out", new IOException("link to " + address + ": handshake not done"
                            + " within " + HANDSHAKE_TIMEOUT_MS + " ms"));
                    c.close();
                }
            }, HANDSHAKE_TIMEOUT_MS, TimeUnit.MILLISECONDS);
            c.fireChannelActive();
        }

        @Override public void channelInactive(ChannelHandlerContext c) {
            terminate(0, "connection to " + address + " closed", new IOException("link to " + address
                    + ": connection closed"));
        }

        @Override public void channelRead(ChannelHandlerContext c, Object msg) {
            if (!(msg instanceof Frame f)) {
                ReferenceCountUtil.release(msg);
                return;
            }
            frame(f);
        }

        @Override public void channelReadComplete(ChannelHandlerContext c) {
            if (flushScheduled) {
                flushNow();
            }
        }

        @Override public void userEventTriggered(ChannelHandlerContext c, Object evt) {
            if (evt instanceof IdleStateEvent e) {
                switch (e.state()) {
                    case READER_IDLE -> {
                        if (state != State.CLOSED) {
                            log.warn("link {}: missed heartbeats from {}", AmqpLink.this, address);
                        }
                        terminate(0, "missed heartbeats from " + address, new IOException("link to " + address
                                + ": missed heartbeats"));
                        c.close();
                    }
                    case WRITER_IDLE -> {
                        if (state != State.CLOSED) {
                            write(FrameWriter.heartbeat(c.alloc()));
                        }
                    }
                    default -> { }
                }
                return;
            }
            c.fireUserEventTriggered(evt);
        }

        @Override public void exceptionCaught(ChannelHandlerContext c, Throwable cause) {
            Throwable t = cause instanceof DecoderException && cause.getCause() != null ? cause.getCause() : cause;
            if (t instanceof ConnectionException e) {
                protocolError(e.code().code(), e.replyText());
                return;
            }
            if (t instanceof IOException) {
                log.debug("link {} failed: {}", AmqpLink.this, t.toString());
            } else {
                log.warn("link {} failed", AmqpLink.this, t);
            }
            terminate(0, "link failed: " + t, t instanceof IOException ? t : new IOException("link to " + address
                    + " failed", t));
            c.close();
        }
    }

    private void frame(Frame f) {
        if (state == State.CLOSED) {
            // Gone: what still arrives is dropped; the server's close handshake is completed.
            release(f);
            if (f instanceof Frame.Method m && m.method() instanceof ConnectionCloseOk) {
                ctx.close();
            } else if (f instanceof Frame.Method m && m.method() instanceof ConnectionClose) {
                ctx.writeAndFlush(FrameWriter.method(ctx.alloc(), 0, new ConnectionCloseOk()))
                   .addListener(ChannelFutureListener.CLOSE);
            }
            return;
        }
        if (f instanceof Frame.Heartbeat) {
            return; // it counts as a read (IdleStateHandler); nothing else to do
        }
        if (f instanceof Frame.MalformedHeader h) {
            protocolError(h.error().code().code(), h.error().replyText());
            return;
        }
        if (f.channel() == 0) {
            if (f instanceof Frame.Method m) {
                connectionMethod(m.method());
            } else {
                release(f);
                protocolError(ReplyCode.UNEXPECTED_FRAME.code(), "content frame on channel 0");
            }
            return;
        }
        if (f.channel() != CHANNEL || state.ordinal() < State.AWAIT_CHANNEL_OPEN_OK.ordinal()) {
            release(f);
            protocolError(ReplyCode.CHANNEL_ERROR.code(), "frame on channel " + f.channel() + ", which is not open");
            return;
        }
        channelFrame(f);
    }

    // ---- channel 0 ------------------------------------------------------------------------------

    private void connectionMethod(AmqpMethod m) {
        if (m instanceof ConnectionClose c) {
            // close-ok, then the socket: the server waits for close-ok and closes too.
            ctx.writeAndFlush(FrameWriter.method(ctx.alloc(), 0, new ConnectionCloseOk()))
               .addListener(ChannelFutureListener.CLOSE);
            terminate(c.replyCode(), c.replyText(), new LinkException(c.replyCode(), c.replyText()));
        } else if (m instanceof ConnectionStart s && state == State.AWAIT_START) {
            start(s);
        } else if (m instanceof ConnectionSecure s && state == State.AUTHENTICATING) {
            byte[] proof;
            try {
                proof = auth.prove(s.challenge(), response);
            } catch (RuntimeException e) {
                log.warn("link {}: no proof for the server's challenge", this, e);
                terminate(0, "no proof for the challenge", e);
                ctx.close();
                return;
            }
            writeMethod(0, new ConnectionSecureOk(proof));
        } else if (m instanceof ConnectionTune t && state == State.AUTHENTICATING) {
            tune(t);
        } else if (m instanceof ConnectionOpenOk && state == State.AWAIT_OPEN_OK) {
            state = State.AWAIT_CHANNEL_OPEN_OK;
            writeMethod(CHANNEL, new ChannelOpen(""));
        } else if (m instanceof ConnectionBlocked || m instanceof ConnectionUnblocked) {
            // TCP back-pressure applies to a blocked link's publishes (the server stops reading),
            // and whoever publishes through a link bounds its publishes in flight.
            return;
        } else {
            protocolError(ReplyCode.COMMAND_INVALID.code(), "unexpected " + m.name() + " in state "
                    + state.name().toLowerCase());
        }
    }

    private void start(ConnectionStart s) {
        Map<String, Object> caps = new LinkedHashMap<>();
        caps.put("consumer_cancel_notify", true);
        caps.put("basic.nack", true);
        caps.put("publisher_confirms", true);
        // A refused login gets connection.close with 403 (not a silently dropped socket), so
        // the open future can say it was refused.
        caps.put("authentication_failure_close", true);
        Map<String, Object> props = new LinkedHashMap<>();
        props.put("product", LongString.of("warren-link"));
        props.put("version", LongString.of(BrokerContext.VERSION));
        props.put("connection_name", LongString.of("warren-link from " + node));
        props.put("capabilities", caps);
        response = (user + "\0" + node).getBytes(StandardCharsets.UTF_8);
        state = State.AUTHENTICATING;
        writeMethod(0, new ConnectionStartOk(props, MECHANISM, response, locale(s.locales())));
    }

    /** en_US when the server offers it (every RabbitMQ-like server does), else its first locale. */
    private static String locale(byte[] offered) {
        String first = null;
        for (String l : new String(offered, StandardCharsets.UTF_8).split(" ")) {
            if (l.equals("en_US")) {
                return l;
            }
            if (first == null && !l.isEmpty()) {
                first = l;
            }
        }
        return first == null ? "en_US" : first;
    }

    /**
     * tune-ok within what the server's tune-ok validation accepts: channel_max 1 (at least 1 and
     * at most any server limit), frame_max at least 4096 and at most the server's.
     */
    private void tune(ConnectionTune t) {
        long frameMax = t.frameMax() == 0 ? MAX_FRAME : Math.min(t.frameMax(), MAX_FRAME);
        int heartbeat = t.heartbeat() == 0 || heartbeatSeconds <= 0 ? 0 : Math.min(t.heartbeat(), heartbeatSeconds);
        decoder.frameMax(frameMax);
        this.frameMax = frameMax;
        if (heartbeat > 0) {
            // A heartbeat after half an interval without writes; the server is gone after two silent ones.
            ctx.pipeline().addBefore(ctx.name(), "idle", new IdleStateHandler(heartbeat * 2000L, heartbeat * 500L, 0,
                    TimeUnit.MILLISECONDS));
        }
        state = State.AWAIT_OPEN_OK;
        writeMethod(0, new ConnectionTuneOk(1, frameMax, heartbeat));
        writeMethod(0, new ConnectionOpen(vhost, "", false));
    }

    // ---- channel 1 ------------------------------------------------------------------------------

    private void channelFrame(Frame f) {
        if (incoming != null) {
            content(f);
            return;
        }
        if (!(f instanceof Frame.Method fm)) {
            release(f);
            protocolError(ReplyCode.UNEXPECTED_FRAME.code(), "content frame on channel " + CHANNEL
                    + " without a method expecting content");
            return;
        }
        AmqpMethod m = fm.method();
        if (m instanceof ChannelClose c) {
            // The channel is the link: close-ok, then the connection goes too.
            writeMethod(CHANNEL, new ChannelCloseOk());
            closeGracefully(AmqpConstants.REPLY_SUCCESS, "channel closed by the server");
            terminate(c.replyCode(), c.replyText(), new LinkException(c.replyCode(), c.replyText()));
            return;
        }
        if (state == State.AWAIT_CHANNEL_OPEN_OK) {
            if (m instanceof ChannelOpenOk) {
                state = State.OPEN;
                log.debug("link {} open", this);
                // Set first: the caller's stages run inside complete() and may close the link.
                handedOut = true;
                if (!opened.complete(this)) {
                    handedOut = false; // given up on from outside: its socket is being closed
                }
            } else {
                protocolError(ReplyCode.COMMAND_INVALID.code(), "unexpected " + m.name() + " before channel.open-ok");
            }
            return;
        }
        if (m instanceof BasicDeliver) {
            incoming = new Incoming(m, null);
        } else if (m instanceof BasicCancel c) {
            // From the server (consumer_cancel_notify): nowait semantics, nothing to answer.
            try {
                handler.cancelled(c.consumerTag());
            } catch (RuntimeException e) {
                log.warn("link {}: cancelled handler failed", this, e);
            }
        } else if (m instanceof BasicAck a) {
            confirmed(a.deliveryTag(), a.multiple(), true);
        } else if (m instanceof BasicNack n) {
            confirmed(n.deliveryTag(), n.multiple(), false);
        } else if (m instanceof ChannelFlow c) {
            writeMethod(CHANNEL, new ChannelFlowOk(c.active()));
        } else if (m.hasContent() && !(m instanceof BasicGetOk)) {
            // basic.return: none comes for the link's publishes (mandatory=false); dropped
            incoming = new Incoming(m, null);
        } else {
            reply(m);
        }
    }

    /**
     * A publisher confirm from the server (basic.ack / basic.nack on channel 1, outside the
     * request/reply pairing): settles publish {@code tag}, or with {@code multiple} every one up
     * to and including it (tag 0 with multiple: every one written).
     */
    private void confirmed(long tag, boolean multiple, boolean ack) {
        String name = ack ? "basic.ack" : "basic.nack";
        if (!confirming) {
            protocolError(ReplyCode.COMMAND_INVALID.code(), "unexpected " + name + " outside confirm mode");
            return;
        }
        if (tag > publishSeq) {
            protocolError(ReplyCode.COMMAND_INVALID.code(), name + " for delivery tag " + tag
                    + " beyond the last publish, " + publishSeq);
            return;
        }
        if (!multiple) {
            CompletableFuture<Boolean> f = unconfirmed.remove(tag);
            if (f != null) {
                f.complete(ack);
            }
            return;
        }
        long upTo = tag == 0 ? publishSeq : tag;
        // One at a time: a completed future's stages run here and may publish (higher numbers).
        while (!unconfirmed.isEmpty() && unconfirmed.firstKey() <= upTo) {
            unconfirmed.pollFirstEntry().getValue().complete(ack);
        }
    }

    /** A synchronous reply: completes the request written, and writes the next one. */
    private void reply(AmqpMethod m) {
        Pending p = pending.peek();
        if (p == null || !p.expects.test(m)) {
            protocolError(ReplyCode.COMMAND_INVALID.code(), "unexpected " + m.name()
                    + (p == null ? " with no request waiting" : " in reply to " + p.request.name()));
            return;
        }
        pending.poll();
        Pending next = pending.peek();
        if (next != null) {
            writeRequest(next.request);
        }
        if (m instanceof BasicGetOk) {
            incoming = new Incoming(m, p);
            return;
        }
        p.complete(m);
    }

    private void content(Frame f) {
        Incoming in = incoming;
        if (f instanceof Frame.ContentHeader h) {
            if (in.properties != null || h.classId() != in.method.classId()) {
                h.properties().release();
                protocolError(ReplyCode.UNEXPECTED_FRAME.code(), "unexpected content header for class "
                        + h.classId() + " after " + in.method.name());
                return;
            }
            in.properties = h.properties();
            in.bodySize = h.bodySize();
        } else if (f instanceof Frame.ContentBody b) {
            if (in.properties == null) {
                b.body().release();
                protocolError(ReplyCode.UNEXPECTED_FRAME.code(), "content body before its header after "
                        + in.method.name());
                return;
            }
            in.add(b.body(), ctx);
            if (in.received > in.bodySize) {
                protocolError(ReplyCode.UNEXPECTED_FRAME.code(), "content body larger than the " + in.bodySize
                        + " bytes its header declared");
                return;
            }
        } else {
            release(f);
            protocolError(ReplyCode.UNEXPECTED_FRAME.code(), "expected content after " + in.method.name());
            return;
        }
        if (in.received == in.bodySize) {
            incoming = null;
            complete(in);
        }
    }

    /** A message is complete: to the handler (deliver), to the get's future (get-ok), or dropped. */
    private void complete(Incoming in) {
        ByteBuf props = in.properties;
        ByteBuf body = in.body == null ? Unpooled.EMPTY_BUFFER : in.body;
        if (in.method instanceof BasicDeliver d) {
            try {
                handler.delivery(d.consumerTag(), d.deliveryTag(), d.redelivered(), d.exchange(), d.routingKey(),
                        props, body);
            } catch (RuntimeException e) {
                log.warn("link {}: delivery handler failed", this, e);
            }
        } else if (in.method instanceof BasicGetOk g) {
            Got got = new Got(g.deliveryTag(), g.redelivered(), g.exchange(), g.routingKey(),
                    (int) Math.min(Integer.MAX_VALUE, g.messageCount()), props, body);
            @SuppressWarnings("unchecked") CompletableFuture<Got> f = (CompletableFuture<Got>) in.target.future;
            if (!f.complete(got)) {
                // Given up on (cancelled) meanwhile: nobody owns the message. Not acked, so it
                // goes back to the queue when the link closes.
                props.release();
                body.release();
            }
        } else {
            props.release();
            body.release();
        }
    }

    /** A synchronous request waiting to be written or for its reply. */
    private record Pending(AmqpMethod request, Predicate<AmqpMethod> expects, CompletableFuture<?> future,
                           Function<AmqpMethod, ?> result) {
        @SuppressWarnings("unchecked")
        void complete(AmqpMethod reply) {
            ((CompletableFuture<Object>) future).complete(result.apply(reply));
        }
    }

    /** A method with content, its header and body frames being read. */
    private static final class Incoming {
        final AmqpMethod method;
        /** The basic.get whose reply this is, or null. */
        final Pending target;
        ByteBuf properties;
        long bodySize;
        ByteBuf body;
        long received;

        Incoming(AmqpMethod method, Pending target) {
            this.method = method;
            this.target = target;
        }

        /** Adds a body fragment (ownership passes here): a retained slice, never copied. */
        void add(ByteBuf fragment, ChannelHandlerContext ctx) {
            received += fragment.readableBytes();
            if (body == null) {
                body = fragment;
            } else if (body instanceof CompositeByteBuf c) {
                c.addComponent(true, fragment);
            } else {
                CompositeByteBuf c = ctx.alloc().compositeBuffer(Integer.MAX_VALUE);
                c.addComponent(true, body);
                c.addComponent(true, fragment);
                body = c;
            }
        }

        void release() {
            ReferenceCountUtil.release(properties);
            ReferenceCountUtil.release(body);
            properties = null;
            body = null;
        }
    }
}
