package io.warren.amqp.connection;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.collection.IntObjectHashMap;
import io.netty.util.concurrent.EventExecutor;
import io.warren.amqp.channel.AmqpChannel;
import io.warren.amqp.codec.ConnectionException;
import io.warren.amqp.codec.FieldValues.LongString;
import io.warren.amqp.codec.Frame;
import io.warren.amqp.codec.FrameDecoder;
import io.warren.amqp.codec.FrameWriter;
import io.warren.amqp.codec.Wire;
import io.warren.amqp.protocol.AmqpConstants;
import io.warren.amqp.protocol.AmqpMethod;
import io.warren.amqp.protocol.ChannelOpen;
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
import io.warren.amqp.protocol.ConnectionUpdateSecret;
import io.warren.amqp.protocol.ConnectionUpdateSecretOk;
import io.warren.amqp.protocol.ReplyCode;
import io.warren.amqp.server.BrokerContext;
import io.warren.core.flow.PublisherFlow;
import io.warren.core.auth.Authorizer;
import io.warren.core.vhost.VirtualHost;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One AMQP connection: the handshake, channel 0, and routing of frames to channels. Owner:
 * the connection's event loop; every field is touched only there, except the delivery window
 * (queue loops add to it) and the volatile state fields that {@link #state()} reads from any thread.
 */
public final class AmqpConnection extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(AmqpConnection.class);
    /** RabbitMQ gives a client 10 s to finish the handshake. */
    private static final long HANDSHAKE_TIMEOUT_MS = 10_000;
    /** How long to wait for connection.close-ok before dropping the socket. */
    private static final long CLOSE_OK_TIMEOUT_MS = 3_000;
    /**
     * RabbitMQ's SILENT_CLOSE_DELAY: a protocol error during the handshake is not answered; the
     * socket is dropped after this pause so a client cannot hammer the broker with bad handshakes.
     */
    private static final long SILENT_CLOSE_DELAY_MS = 3_000;

    /**
     * The "version" in connection.start: the RabbitMQ release whose behaviour warren follows.
     * Clients and test suites compare it with RabbitMQ versions to pick what to expect (the Java
     * client's suites skip tests below 3.10 or above 4.2), so warren's own version would send
     * them down the wrong branch; it is in "information" instead.
     */
    public static final String RABBITMQ_VERSION = "3.10.8";
    /** RabbitMQ's CLOSING_TIMEOUT: the longest wait for a client to close its socket after close-ok. */
    private static final long CLOSED_SOCKET_TIMEOUT_S = 30;

    /** AWAIT_SECURE_OK: a WARREN-LINK login waits for the proof of its challenge (RabbitMQ's "starting" still). */
    private enum State {
        AWAIT_HEADER, AWAIT_START_OK, AWAIT_SECURE_OK, AWAIT_TUNE_OK, AWAIT_OPEN, OPEN, CLOSING, CLOSED
    }

    /**
     * The SASL mechanism cluster nodes log in to one another with (io.warren.amqp.link.AmqpLink):
     * a challenge answered with a MAC under the cluster's shared secret
     * ({@link io.warren.amqp.server.LinkAuth}). Accepted only when the broker has a LinkAuth, and never
     * offered in connection.start: clients have no business with it, and listing it would tell
     * scanners the broker is clustered.
     */
    public static final String LINK_MECHANISM = "WARREN-LINK";
    /** Bytes of random challenge a WARREN-LINK login must prove. */
    private static final int LINK_CHALLENGE_BYTES = 32;
    private static final java.security.SecureRandom RANDOM = new java.security.SecureRandom();

    private final BrokerContext broker;
    private final FrameDecoder decoder;
    private final IntObjectHashMap<AmqpChannel> channels = new IntObjectHashMap<>();
    private final Runnable flushTask = this::flushNow;
    private ChannelHandlerContext ctx;
    private volatile State state = State.AWAIT_HEADER;
    /** Copies of the flow's state for {@link #state()} and tests on other threads. */
    private volatile boolean flowPaused;
    private volatile long flowPauses;
    /** Volatile: the management API reads it to close a deleted vhost's connections. */
    private volatile VirtualHost vhost;
    private String user;
    private Authorizer authorizer;
    private int channelMax;
    /** Negotiated heartbeat interval in seconds (0: none). */
    private int heartbeat;
    private long frameMax = AmqpConstants.FRAME_MIN_SIZE;
    private boolean flushScheduled;
    private Map<String, Object> clientCapabilities = Map.of();
    /** For the management API: what the client said about itself, how it logged in, when. */
    private Map<String, Object> clientProperties = Map.of();
    private String authMechanism;
    /** A WARREN-LINK login in progress: the challenge sent, the start-ok response, its user and node. */
    private byte[] linkChallenge;
    private byte[] linkResponse;
    private String linkUser;
    private String linkNode;
    private volatile long connectedAt;
    /** Socket reads paused by a resource alarm (RabbitMQ's "blocked" connection state). */
    private boolean blocked;
    /**
     * Credit flow towards the queues and the store this connection publishes to; while it is
     * paused the socket is not read either (RabbitMQ's "flow" state, without connection.blocked:
     * RabbitMQ sends that for resource alarms only). Created when the connection opens.
     */
    private PublisherFlow flow;
    /** connection.blocked was sent, so connection.unblocked is owed. */
    private boolean blockedSent;
    /** Closing without a word (handshake error): never read again. */
    private boolean silentClose;
    /** Counted in the broker's open connections (connection_max) until cleanup. */
    private boolean counted;
    /** This connection's number in the log lines (RabbitMQ shows its process id there). */
    private long number;
    /** The protocol header came: an AMQP connection, logged as accepted (not a port probe). */
    private boolean accepted;
    /** Its "closing AMQP connection" line is written. */
    private boolean closeLogged;
    /**
     * Bytes of deliveries that queues (on other loops) have handed to this connection and it has
     * not written yet. The socket's writability only counts what was written, so without this a
     * queue on another loop could hand over its whole backlog before the first write lands.
     */
    private final java.util.concurrent.atomic.AtomicLong deliveriesInFlight = new java.util.concurrent.atomic.AtomicLong();
    /**
     * The most delivery bytes in flight to one connection: about one socket read's worth of
     * frames, on top of Netty's 2 MiB write-buffer high watermark.
     */
    static final long MAX_DELIVERIES_IN_FLIGHT = 1024 * 1024;

    public AmqpConnection(BrokerContext broker, FrameDecoder decoder) {
        this.broker = broker;
        this.decoder = decoder;
    }

    // ---- accessors used by channels -------------------------------------------------------

    public VirtualHost vhost() {
        return vhost;
    }

    public long frameMax() {
        return frameMax;
    }

    public BrokerContext broker() {
        return broker;
    }

    public EventExecutor loop() {
        return ctx.executor();
    }

    public ChannelHandlerContext ctx() {
        return ctx;
    }

    /**
     * True when a queue may hand this connection another delivery (any thread): the socket is
     * writable and not too much is on its way to it already.
     */
    public boolean acceptsDeliveries() {
        return deliveriesInFlight.get() < MAX_DELIVERIES_IN_FLIGHT && ctx.channel().isWritable();
    }

    /** A queue's loop hands over a delivery of about {@code bytes}; {@link #deliveryTaken} follows. */
    public void deliveryHandedOver(long bytes) {
        deliveriesInFlight.addAndGet(bytes);
    }

    /** The connection's loop took a handed-over delivery; reopens the window for queues when it drains. */
    public void deliveryTaken(long bytes) {
        long now = deliveriesInFlight.addAndGet(-bytes);
        if (now < MAX_DELIVERIES_IN_FLIGHT && now + bytes >= MAX_DELIVERIES_IN_FLIGHT && ctx.channel().isWritable()) {
            for (AmqpChannel ch : channels.values()) {
                ch.resumeDelivery();
            }
        }
    }

    /** The permission checks of this connection's user in its vhost (loop only); null before connection.open. */
    public Authorizer authorizer() {
        return authorizer;
    }

    /**
     * Whether another node of the cluster opened this connection (WARREN-LINK) to relay its
     * clients' use of queues this node holds: what it asks of a queue held elsewhere is refused,
     * never relayed on.
     */
    public boolean relayed() {
        return LINK_MECHANISM.equals(authMechanism);
    }

    /**
     * Whether another node opened this connection as itself, with no user (WARREN-LINK with an
     * empty user name), to forward the publishes its clients routed to classic queues held here:
     * such a connection may open any vhost and publish forwarded messages (which name their queue,
     * see ChannelPublisher) without permission checks, since the sending node made them (a node
     * holding the cluster's secret may change any definition anyway); anything that needs a
     * permission is refused, as it would be for a user with none.
     */
    public boolean nodeLink() {
        return relayed() && user != null && user.isEmpty();
    }

    public String user() {
        return user;
    }

    /** Credit flow of this publisher (connection's loop only). */
    public PublisherFlow flow() {
        return flow;
    }

    /**
     * RabbitMQ's connection state, as list_connections and the management API show it:
     * starting, tuning, opening, running, flow (paused by credit flow: a queue or the store has
     * not caught up with it), blocking (an alarm is set; blocked at its next publish), blocked
     * (paused by an alarm; flow too, perhaps), closing, closed. Any thread; a recent value.
     */
    public String state() {
        State s = state;
        return switch (s) {
            case AWAIT_HEADER, AWAIT_START_OK, AWAIT_SECURE_OK -> "starting";
            case AWAIT_TUNE_OK -> "tuning";
            case AWAIT_OPEN -> "opening";
            case CLOSING -> "closing";
            case CLOSED -> "closed";
            case OPEN -> blocked ? "blocked" : flowPaused ? "flow"
                    : broker.alarms() != null && broker.alarms().blocked() ? "blocking" : "running";
        };
    }

    /** How many times credit flow paused this connection (a recent value from any thread). */
    public long flowPauses() {
        return flowPauses;
    }

    /** The (connection, queue) credit links this connection holds now. Connection's loop. */
    public int creditLinks() {
        return flow == null ? 0 : flow.links();
    }

    /** True when the client announced capability {@code name} in connection.start-ok. */
    public boolean clientCapability(String name) {
        return Boolean.TRUE.equals(clientCapabilities.get(name));
    }

    /** Runs {@code task} on this connection's loop: inline when already there. */
    public void execute(Runnable task) {
        if (ctx.executor().inEventLoop()) {
            task.run();
            return;
        }
        try {
            ctx.executor().execute(task);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            if (!ctx.executor().isShuttingDown()) {
                throw e;
            }
            // Broker shutdown: the connection is gone, so is whatever the task would have sent
            // (e.g. a confirm from the store's last commit; the client never saw it and resends).
            log.debug("connection from {} gone at shutdown; dropping a task", ctx.channel().remoteAddress());
        }
    }

    /** Queues a frame buffer; a flush follows once the current batch of work is done. */
    public void write(ByteBuf frame) {
        if (state == State.CLOSED) {
            frame.release();
            return;
        }
        ctx.write(frame, ctx.voidPromise());
        wroteSinceFlush = true;
        if (!flushScheduled) {
            flushScheduled = true;
            ctx.executor().execute(flushTask);
        }
    }

    public void sendMethod(int channel, AmqpMethod m) {
        write(FrameWriter.method(ctx.alloc(), channel, m));
    }

    private void flushNow() {
        flushScheduled = false;
        if (wroteSinceFlush) {
            // (flushes also follow each read, with nothing written: those are no output)
            wroteSinceFlush = false;
            lastFlushNanos = System.nanoTime();
        }
        ctx.flush();
    }

    /** When output was last flushed (heartbeats go after half an interval without). Loop only. */
    private long lastFlushNanos = System.nanoTime();
    private boolean wroteSinceFlush;
    private io.netty.util.concurrent.ScheduledFuture<?> heartbeatTimer;

    /**
     * Sends a heartbeat once half the interval passed without output, then looks again when the
     * next half interval from the last flush ends. Watching flushes, once per batch of writes,
     * instead of Netty's writer-idle tracking, which gave every write a promise and a listener.
     */
    private void heartbeatDue() {
        heartbeatTimer = null;
        if (state == State.CLOSED || heartbeat <= 0 || !ctx.channel().isActive()) {
            return;
        }
        long half = TimeUnit.SECONDS.toNanos(heartbeat) / 2;
        long idle = System.nanoTime() - lastFlushNanos;
        long next = half - idle;
        if (next <= 0 && !wroteSinceFlush) {
            write(FrameWriter.heartbeat(ctx.alloc()));
            next = half;
        } else if (next <= 0) {
            next = half; // a flush is on its way
        }
        heartbeatTimer = ctx.executor().schedule(this::heartbeatDue, next, TimeUnit.NANOSECONDS);
    }

    // ---- Netty callbacks ------------------------------------------------------------------

    @Override public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    @Override public void channelActive(ChannelHandlerContext ctx) {
        connectedAt = System.currentTimeMillis();
        number = NUMBERS.incrementAndGet();
        broker.connections().add(this);
        ctx.executor().schedule(() -> {
            if (state.ordinal() < State.OPEN.ordinal() && ctx.channel().isActive()) {
                broker.errorLog().warn(log, "handshake timeout", "closing connection from {}: handshake not completed"
                        + " within {} ms", ctx.channel().remoteAddress(), HANDSHAKE_TIMEOUT_MS);
                ctx.close();
            }
        }, HANDSHAKE_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        ctx.fireChannelActive();
    }

    @Override public void channelInactive(ChannelHandlerContext ctx) {
        if (accepted && !closeLogged) {
            closeLogged = true;
            if (state == State.CLOSING || state == State.CLOSED) {
                lifecycle(clog.atInfo()).log("closing AMQP connection {}", logName(true));
            } else {
                // RabbitMQ 3.10 at warning, on two lines; one line here.
                lifecycle(clog.atWarn()).log("closing AMQP connection {}: client unexpectedly closed TCP connection",
                        logName(true));
            }
        }
        state = State.CLOSED;
        cleanup();
        broker.connections().remove(this);
    }

    @Override public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable()) {
            for (AmqpChannel ch : channels.values()) {
                ch.resumeDelivery();
            }
        }
    }

    @Override public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt == FrameDecoder.ProtocolHeaderReceived.INSTANCE) {
            // Logged once the client speaks AMQP, so bin/warren's port probes and health checks
            // that only open a socket do not fill the log.
            accepted = true;
            lifecycle(clog.atInfo()).log("accepting AMQP connection {}", logName(false));
            sendStart();
        } else if (evt instanceof IdleStateEvent e) {
            switch (e.state()) {
                case READER_IDLE -> {
                    if (state == State.CLOSED) {
                        ctx.close(); // closed by the client and then silent: the socket goes quietly
                        return;
                    }
                    if (blocked || flowPaused || channelsHolding > 0) {
                        // Its socket is not read while blocked, so its heartbeats are not seen
                        // either: RabbitMQ pauses the heartbeat monitor of a blocked connection
                        // (blocked by an alarm or by flow alike). The same while a channel holds
                        // frames behind a reply that another node is slow to give.
                        return;
                    }
                    broker.errorLog().warn(log, "missed heartbeats", "closing connection from {}: missed heartbeats"
                            + " from client", ctx.channel().remoteAddress());
                    ctx.close();
                }
                default -> { }
            }
        } else {
            ctx.fireUserEventTriggered(evt);
        }
    }

    @Override public void channelRead(ChannelHandlerContext ctx, Object msg) {
        Frame frame = (Frame) msg;
        try {
            if (state == State.CLOSING || state == State.CLOSED) {
                if (frame instanceof Frame.Method m && m.method() instanceof ConnectionCloseOk) {
                    ctx.close();
                } else if (frame instanceof Frame.Method m && m.method() instanceof ConnectionClose) {
                    sendMethod(0, new ConnectionCloseOk());
                }
                ReferenceCountUtil.release(frame instanceof Frame.ReleasableFrame r ? r.content() : null);
                return;
            }
            if (closeAfterHeld) {
                // What the client sent after its connection.close is dropped, as in state CLOSED.
                ReferenceCountUtil.release(frame instanceof Frame.ReleasableFrame r ? r.content() : null);
                return;
            }
            if (frame instanceof Frame.Heartbeat) {
                return;
            }
            if (frame.channel() == 0) {
                if (frame instanceof Frame.Method m) {
                    handleConnectionMethod(m.method());
                } else {
                    ReferenceCountUtil.release(frame instanceof Frame.ReleasableFrame r ? r.content() : null);
                    throw new ConnectionException(ReplyCode.UNEXPECTED_FRAME, "content frame on channel 0");
                }
                return;
            }
            if (state != State.OPEN) {
                ReferenceCountUtil.release(frame instanceof Frame.ReleasableFrame r ? r.content() : null);
                throw new ConnectionException(ReplyCode.UNEXPECTED_FRAME, "frame on channel " + frame.channel()
                        + " before the connection is open");
            }
            channelFrame(frame);
            // As RabbitMQ (rabbit_reader: "blocking", then "blocked" on the next publish): during
            // an alarm a connection is blocked when it publishes, so connections that only
            // consume or ack, including those that published before the alarm, keep being read.
            if (!blocked && frame instanceof Frame.Method m && m.method() instanceof io.warren.amqp.protocol.BasicPublish
                    && broker.alarms() != null && broker.alarms().blocked()) {
                block(broker.alarms().reason());
            }
        } catch (ConnectionException e) {
            closeWithError(e);
        }
    }

    @Override public void channelReadComplete(ChannelHandlerContext ctx) {
        for (AmqpChannel ch : channels.values()) {
            ch.readBatchComplete();
        }
        flushNow();
    }

    /**
     * A protocol error the client caused (a ConnectionException, from the decoder or a handler)
     * is one line, written by {@link #closeWithError}, never a stack trace; only an unexpected
     * internal error logs its trace. Both are rate-limited per kind ({@link BrokerContext#errorLog}).
     */
    @Override public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        Throwable c = cause instanceof io.netty.handler.codec.DecoderException && cause.getCause() != null
                ? cause.getCause() : cause;
        if (c instanceof ConnectionException e) {
            closeWithError(e);
        } else if (c instanceof javax.net.ssl.SSLException) {
            // A refused certificate, plain AMQP on the TLS port, a failed handshake: the operator
            // wants to see these (one line, rate-limited), the client gets the TLS alert.
            broker.errorLog().warn(log, "tls", "TLS connection from {} failed: {}", ctx.channel().remoteAddress(),
                    c.getMessage());
            ctx.close();
        } else if (c instanceof java.io.IOException) {
            log.debug("connection from {} failed: {}", ctx.channel().remoteAddress(), c.toString());
            ctx.close();
        } else {
            broker.errorLog().error(log, "internal error " + c.getClass().getName(),
                    "internal error on connection from " + ctx.channel().remoteAddress(), c);
            closeWithError(new ConnectionException(ReplyCode.INTERNAL_ERROR, String.valueOf(c)));
        }
    }

    // ---- resource alarms (RabbitMQ's connection.blocked extension) -----------------------

    /**
     * The broker's alarms changed (any thread): a blocked connection is unblocked on its loop
     * once no alarm is left. Blocking itself waits for the connection's next publish.
     */
    public void alarmsChanged() {
        execute(() -> {
            if (blocked && broker.alarms().reason() == null) {
                unblock();
            }
        });
    }

    /**
     * Stops reading the socket (TCP then pushes back on the publisher) and tells a client that
     * asked for it with connection.blocked. Deliveries to this connection go on.
     */
    private void block(String reason) {
        blocked = true;
        updateReading();
        if (clientCapability("connection.blocked")) {
            blockedSent = true;
            sendMethod(0, new io.warren.amqp.protocol.ConnectionBlocked(reason));
        }
        log.info("connection from {} blocked: {}", ctx.channel().remoteAddress(), reason);
    }

    private void unblock() {
        blocked = false;
        updateReading();
        if (blockedSent) {
            blockedSent = false;
            sendMethod(0, new io.warren.amqp.protocol.ConnectionUnblocked());
        }
        log.info("connection from {} unblocked", ctx.channel().remoteAddress());
    }

    /**
     * Credit flow paused or resumed this connection. Reading resumes only when neither flow nor
     * an alarm holds it; connection.blocked / unblocked are left to the alarms.
     */
    private void flowChanged(boolean paused) {
        flowPaused = paused;
        flowPauses = flow.pauses();
        updateReading();
        log.debug("connection from {} {} by credit flow", ctx.channel().remoteAddress(),
                paused ? "paused" : "resumed");
    }

    /** Channels holding frames behind a pending reply: reading waits for them. */
    private int channelsHolding;
    /** The client sent connection.close while channels held frames: close-ok waits for them ({@link #closeAfterHeld}). */
    private boolean closeAfterHeld;

    /** A channel holds frames behind a pending reply (true), or no longer (false). Loop only. */
    public void holdReading(boolean hold) {
        channelsHolding += hold ? 1 : -1;
        updateReading();
        if (channelsHolding == 0 && closeAfterHeld) {
            // not from inside the channel's handling of its held frames: closing ends the channel
            ctx.executor().execute(this::heldHandledThenClose);
        }
    }

    /** How long a client's connection.close waits for the frames its channels held before it. */
    private static final long HELD_CLOSE_WAIT_S = 10;

    /**
     * The client closed the connection while channels still held frames it sent before the close
     * (an ack behind a cancel whose cancel-ok comes from a queue's loop): close-ok once they are
     * handled, as RabbitMQ's channels handle what they read before the reader closes them, so an
     * ack sent just before connection.close is not lost and its message redelivered. A reply that
     * does not come within {@value #HELD_CLOSE_WAIT_S} s does not keep the connection open.
     */
    private void closeAfterHeld() {
        closeAfterHeld = true;
        ctx.executor().schedule(this::heldHandledThenClose, HELD_CLOSE_WAIT_S, TimeUnit.SECONDS);
    }

    private void heldHandledThenClose() {
        if (closeAfterHeld && state == State.OPEN) {
            closeAfterHeld = false;
            closedByClient();
        }
    }

    /**
     * The one place that sets autoRead from the reasons to stop reading: an alarm (blocked) and
     * credit flow (a queue or the store behind). Only open connections are ever paused; one
     * closing since still needs its close-ok read, so it reads again once both reasons are gone.
     */
    private void updateReading() {
        boolean read = !blocked && !flowPaused && channelsHolding == 0;
        if (!read) {
            ctx.channel().config().setAutoRead(false);
        } else if (state == State.OPEN || state == State.CLOSING && !silentClose) {
            ctx.channel().config().setAutoRead(true);
        }
    }

    // ---- channels -------------------------------------------------------------------------

    /** A frame a channel held and that came after its close: handled as a frame just read. Loop only. */
    public void frameForChannel(Frame frame) {
        if (state != State.OPEN) {
            ReferenceCountUtil.release(frame instanceof Frame.ReleasableFrame r ? r.content() : null);
            return;
        }
        channelFrame(frame);
    }

    private void channelFrame(Frame frame) {
        int id = frame.channel();
        AmqpChannel ch = channels.get(id);
        if (ch == null) {
            if (frame instanceof Frame.Method m && m.method() instanceof ChannelOpen) {
                // RabbitMQ 3.10 limits how many channels are open, not their numbers: channel.open
                // on a number above channel_max succeeds while fewer than channel_max are open.
                if (channels.size() >= channelMax) {
                    throw new ConnectionException(ReplyCode.NOT_ALLOWED, "number of channels opened ("
                            + channels.size() + ") has reached the negotiated channel_max (" + channelMax + ")");
                }
                ch = new AmqpChannel(this, id);
                channels.put(id, ch);
                broker.counters().channelsOpened.increment();
                ch.opened();
                return;
            }
            ReferenceCountUtil.release(frame instanceof Frame.ReleasableFrame r ? r.content() : null);
            // RabbitMQ's exact text (rabbit_reader), without the channel number.
            throw new ConnectionException(ReplyCode.CHANNEL_ERROR, "expected 'channel.open'",
                    frame instanceof Frame.Method m ? m.method().classId() : 0,
                    frame instanceof Frame.Method m ? m.method().methodId() : 0);
        }
        ch.handleFrame(frame);
    }

    /** Called by a channel once closed (close-ok sent or received). */
    public void channelClosed(int id) {
        if (channels.remove(id) != null) {
            broker.counters().channelsClosed.increment();
        }
    }

    // ---- channel 0 ------------------------------------------------------------------------

    private void sendStart() {
        state = State.AWAIT_START_OK;
        Map<String, Object> caps = new LinkedHashMap<>();
        caps.put("publisher_confirms", true);
        caps.put("exchange_exchange_bindings", true);
        caps.put("basic.nack", true);
        caps.put("consumer_cancel_notify", true);
        caps.put("per_consumer_qos", true);
        caps.put("authentication_failure_close", true);
        caps.put("connection.blocked", true);
        caps.put("direct_reply_to", true);
        Map<String, Object> props = new LinkedHashMap<>();
        props.put("capabilities", caps);
        props.put("cluster_name", LongString.of("warren@" + hostName()));
        props.put("copyright", LongString.of("Copyright (c) the warren authors"));
        props.put("information", LongString.of("warren " + BrokerContext.VERSION + ": AMQP 0-9-1 broker, RabbitMQ "
                + RABBITMQ_VERSION + "-compatible"));
        props.put("platform", LongString.of("Java " + Runtime.version().feature()));
        props.put("product", LongString.of("warren"));
        props.put("version", LongString.of(RABBITMQ_VERSION));
        sendMethod(0, new ConnectionStart(0, 9, props, String.join(" ", offeredMechanisms()).getBytes(StandardCharsets.UTF_8),
                "en_US".getBytes(StandardCharsets.UTF_8)));
    }

    /**
     * The host name in connection.start's cluster_name, resolved once: getLocalHost() can be a
     * DNS lookup, which must never run per connection on an event loop.
     */
    private static final String HOST_NAME = resolveHostName();

    /** The host name connection.start names; the listener calls this at start, off the event loops. */
    public static String hostName() {
        return HOST_NAME;
    }

    private static String resolveHostName() {
        try {
            return java.net.InetAddress.getLocalHost().getHostName();
        } catch (java.io.IOException e) {
            return "localhost";
        }
    }

    private void handleConnectionMethod(AmqpMethod m) {
        switch (state) {
            case AWAIT_START_OK -> {
                if (m instanceof ConnectionStartOk s) {
                    startOk(s);
                    return;
                }
            }
            case AWAIT_SECURE_OK -> {
                if (m instanceof ConnectionSecureOk s) {
                    linkProof(s);
                    return;
                }
            }
            case AWAIT_TUNE_OK -> {
                if (m instanceof ConnectionTuneOk t) {
                    tuneOk(t);
                    return;
                }
            }
            case AWAIT_OPEN -> {
                if (m instanceof ConnectionOpen o) {
                    open(o);
                    return;
                }
            }
            case OPEN -> {
                if (m instanceof ConnectionClose) {
                    if (channelsHolding > 0) {
                        closeAfterHeld();
                    } else {
                        closedByClient();
                    }
                    return;
                }
                if (m instanceof ConnectionUpdateSecret) {
                    sendMethod(0, new ConnectionUpdateSecretOk());
                    return;
                }
                if (m instanceof io.warren.amqp.protocol.ConnectionBlocked
                        || m instanceof io.warren.amqp.protocol.ConnectionUnblocked) {
                    return; // a client may send these; nothing to do
                }
            }
            default -> { }
        }
        if (m instanceof ConnectionClose) {
            sendMethod(0, new ConnectionCloseOk());
            state = State.CLOSED;
            ctx.writeAndFlush(ctx.alloc().buffer(0)).addListener(ChannelFutureListener.CLOSE);
            return;
        }
        if (state == State.OPEN) {
            // RabbitMQ (rabbit_reader:handle_method0) answers any other method on channel 0,
            // a channel method or a second connection.open alike, with 504.
            throw new ConnectionException(ReplyCode.CHANNEL_ERROR, "unexpected method in connection state running",
                    m.classId(), m.methodId());
        }
        throw new ConnectionException(ReplyCode.COMMAND_INVALID, "unexpected method " + m.name() + " on channel 0"
                + " in state " + state.name().toLowerCase(), m.classId(), m.methodId());
    }

    private void startOk(ConnectionStartOk s) {
        clientProperties = s.clientProperties();
        authMechanism = s.mechanism();
        Object caps = s.clientProperties().get("capabilities");
        if (caps instanceof Map<?, ?> c) {
            @SuppressWarnings("unchecked") Map<String, Object> cm = (Map<String, Object>) c;
            clientCapabilities = cm;
        }
        if (s.mechanism().equals(LINK_MECHANISM) && broker.linkAuth() != null) {
            linkLogin(s.response());
            return;
        }
        if (!offeredMechanisms().contains(s.mechanism())) {
            throw new ConnectionException(ReplyCode.COMMAND_INVALID, "unknown authentication mechanism '"
                    + s.mechanism() + "'", 10, 11);
        }
        InetSocketAddress remote = (InetSocketAddress) ctx.channel().remoteAddress();
        String[] credentials;
        String refusal;
        if (s.mechanism().equals("EXTERNAL")) {
            // The user named by the verified client certificate; no password (RabbitMQ's auth_mechanism_ssl).
            String name = certificateUser();
            credentials = name == null ? null : new String[] {name, null};
            refusal = name == null ? "EXTERNAL login: no usable client certificate"
                    : broker.access().authenticateExternal(name, remote == null ? null : remote.getAddress());
        } else {
            credentials = credentials(s.mechanism(), s.response());
            refusal = credentials == null ? "invalid " + s.mechanism() + " response"
                    : broker.access().authenticate(credentials[0], credentials[1], remote == null ? null : remote.getAddress());
        }
        if (refusal != null) {
            refuseLogin(s.mechanism(), credentials == null ? null : credentials[0], refusal);
            return;
        }
        loggedIn(credentials[0]);
    }

    /**
     * A refused login, whatever the mechanism: logged, then 403 to clients with the
     * authentication_failure_close capability, a dropped socket to others.
     */
    private void refuseLogin(String mechanism, String name, String refusal) {
        // RabbitMQ 3.10: "Error on AMQP connection <pid> (peer -> local, state: starting):
        // PLAIN login refused: user 'guest' - invalid credentials", at error; one line here.
        if (broker.errorLog().admit(clog, org.slf4j.event.Level.ERROR, "login refused")) {
            lifecycle(clog.atError()).addKeyValue("mechanism", mechanism)
                    .addKeyValue("user", name)
                    .log("Error on AMQP connection {} (state: starting): {} login refused: {}", logName(false),
                            mechanism, refusal);
        }
        ConnectionException e = new ConnectionException(ReplyCode.ACCESS_REFUSED, "Login was refused using "
                + "authentication mechanism " + mechanism + ". For details see the broker logfile.");
        if (clientCapability("authentication_failure_close")) {
            closeWithError(e);
        } else {
            ctx.close();
        }
    }

    /** A login succeeded, whatever the mechanism: the connection is {@code name}'s; tuning follows. */
    private void loggedIn(String name) {
        user = name;
        state = State.AWAIT_TUNE_OK;
        AmqpSettingsView t = new AmqpSettingsView(broker);
        sendMethod(0, new ConnectionTune(t.channelMax(), t.frameMax(), t.heartbeat()));
        flushNow();
    }

    /**
     * WARREN-LINK, first step: the response is {@code user \0 node}; the node must prove it holds
     * the cluster's secret by the MAC of a fresh random challenge and that response.
     */
    private void linkLogin(byte[] response) {
        int nul = -1;
        for (int i = 0; i < response.length; i++) {
            if (response[i] == 0) {
                nul = i;
                break;
            }
        }
        if (nul < 0) {
            // An empty user (nul at 0) is the node itself: see nodeLink().
            refuseLogin(LINK_MECHANISM, null, "invalid " + LINK_MECHANISM + " response");
            return;
        }
        linkUser = new String(response, 0, nul, StandardCharsets.UTF_8);
        linkNode = new String(response, nul + 1, response.length - nul - 1, StandardCharsets.UTF_8);
        linkResponse = response.clone();
        linkChallenge = new byte[LINK_CHALLENGE_BYTES];
        RANDOM.nextBytes(linkChallenge);
        state = State.AWAIT_SECURE_OK;
        sendMethod(0, new ConnectionSecure(linkChallenge.clone()));
        flushNow();
    }

    /** WARREN-LINK, second step: the proof in connection.secure-ok logs the node in as its user, or not. */
    private void linkProof(ConnectionSecureOk s) {
        byte[] challenge = linkChallenge;
        byte[] response = linkResponse;
        linkChallenge = null;
        linkResponse = null;
        boolean valid;
        try {
            valid = s.response() != null && broker.linkAuth().verify(challenge, response, s.response());
        } catch (RuntimeException e) {
            log.warn("WARREN-LINK proof from {} could not be checked", ctx.channel().remoteAddress(), e);
            valid = false;
        }
        if (!valid) {
            refuseLogin(LINK_MECHANISM, linkUser, "node '" + linkNode + "': invalid proof");
            return;
        }
        log.debug("connection from {}: node '{}' logged in with {} as '{}'", ctx.channel().remoteAddress(), linkNode,
                LINK_MECHANISM, linkUser);
        loggedIn(linkUser);
    }

    /**
     * The configured mechanisms (auth_mechanisms), EXTERNAL only to a TLS client that presented
     * a certificate the listener verified: offered to anyone else it could never succeed.
     */
    private java.util.List<String> offeredMechanisms() {
        java.util.List<String> out = new java.util.ArrayList<>();
        for (String m : broker.settings().mechanisms()) {
            if (m.equals(LINK_MECHANISM)) {
                continue; // never offered, never by the configured name either (see LINK_MECHANISM)
            }
            if (!m.equals("EXTERNAL") || peerCertificate() != null) {
                out.add(m);
            }
        }
        return out;
    }

    private java.security.cert.X509Certificate peerCertificate() {
        io.netty.handler.ssl.SslHandler tls = ctx.pipeline().get(io.netty.handler.ssl.SslHandler.class);
        if (tls == null) {
            return null;
        }
        try {
            java.security.cert.Certificate[] chain = tls.engine().getSession().getPeerCertificates();
            return chain.length > 0 && chain[0] instanceof java.security.cert.X509Certificate x ? x : null;
        } catch (javax.net.ssl.SSLPeerUnverifiedException e) {
            return null;
        }
    }

    /**
     * The EXTERNAL user name: the client certificate's subject as an RFC 2253 string (RabbitMQ's
     * default, like OpenSSL's {@code -nameopt RFC2253}), or its CN with ssl_cert_login_from = common_name.
     */
    private String certificateUser() {
        java.security.cert.X509Certificate cert = peerCertificate();
        if (cert == null) {
            return null;
        }
        String dn = cert.getSubjectX500Principal().getName(javax.security.auth.x500.X500Principal.RFC2253);
        if (!broker.settings().certLoginFromCommonName()) {
            return dn;
        }
        try {
            for (javax.naming.ldap.Rdn rdn : new javax.naming.ldap.LdapName(dn).getRdns()) {
                if (rdn.getType().equalsIgnoreCase("CN")) {
                    return String.valueOf(rdn.getValue());
                }
            }
        } catch (javax.naming.InvalidNameException e) {
            return null;
        }
        return null;
    }

    /** {user, password} from a PLAIN or AMQPLAIN response, or null when malformed. */
    private String[] credentials(String mechanism, byte[] response) {
        if (mechanism.equals("PLAIN")) {
            String s = new String(response, StandardCharsets.UTF_8);
            String[] parts = s.split("\0", -1);
            return parts.length == 3 ? new String[] {parts[1], parts[2]} : null;
        }
        if (mechanism.equals("AMQPLAIN")) {
            ByteBuf b = ctx.alloc().buffer(response.length + 4).writeInt(response.length).writeBytes(response);
            try {
                Map<String, Object> t = Wire.readTable(b);
                String login = Wire.asString(t.get("LOGIN"));
                String password = Wire.asString(t.get("PASSWORD"));
                return login == null || password == null ? null : new String[] {login, password};
            } catch (RuntimeException e) {
                return null;
            } finally {
                b.release();
            }
        }
        throw new ConnectionException(ReplyCode.COMMAND_INVALID, "unknown authentication mechanism '" + mechanism
                + "'", 10, 11);
    }

    private void tuneOk(ConnectionTuneOk t) {
        AmqpSettingsView offered = new AmqpSettingsView(broker);
        validateNegotiated("frame_max", AmqpConstants.FRAME_MIN_SIZE, t.frameMax(), broker.settings().frameMax());
        validateNegotiated("channel_max", 1, t.channelMax(), broker.settings().channelMax());
        long fm = t.frameMax() == 0 ? offered.frameMax() : t.frameMax();
        int cm = t.channelMax() == 0 ? offered.channelMax() : t.channelMax();
        frameMax = fm;
        channelMax = cm;
        decoder.frameMax(fm);
        int hb = t.heartbeat();
        heartbeat = hb;
        if (hb > 0) {
            // As RabbitMQ (rabbit_heartbeat): a heartbeat after half an interval without writes, so
            // a client that gives up after one silent interval (the Java client in NIO mode) hears
            // from us in time; a peer silent for 2 intervals is dropped.
            ctx.pipeline().addBefore(ctx.name(), "idle", new IdleStateHandler(hb * 2000L, 0, 0,
                    TimeUnit.MILLISECONDS));
            heartbeatTimer = ctx.executor().schedule(this::heartbeatDue, TimeUnit.SECONDS.toNanos(hb) / 2,
                    TimeUnit.NANOSECONDS);
        }
        state = State.AWAIT_OPEN;
    }

    /**
     * RabbitMQ 3.10's check of a tune-ok value (rabbit_reader validate_negotiated_integer_value):
     * below the minimum, above the broker's limit, or 0 ("no limit") when the broker has a limit
     * ({@code serverValue} 0: none) is refused, with its text. Not answered (see closeWithError).
     */
    private static void validateNegotiated(String field, long min, long clientValue, long serverValue) {
        if (clientValue != 0 && clientValue < min) {
            throw new ConnectionException(ReplyCode.NOT_ALLOWED, "negotiated " + field + " = " + clientValue
                    + " is lower than the minimum allowed value (" + min + ")", ConnectionTune.CLASS_ID,
                    ConnectionTune.METHOD_ID);
        }
        if (serverValue != 0 && (clientValue == 0 || clientValue > serverValue)) {
            throw new ConnectionException(ReplyCode.NOT_ALLOWED, "negotiated " + field + " = " + clientValue
                    + (clientValue == 0 ? " (no limit)" : "") + " is higher than the maximum allowed value ("
                    + serverValue + ")", ConnectionTune.CLASS_ID, ConnectionTune.METHOD_ID);
        }
    }

    private void open(ConnectionOpen o) {
        VirtualHost v = broker.vhosts().get(o.virtualHost());
        if (v == null) {
            throw new ConnectionException(ReplyCode.NOT_ALLOWED, "vhost " + o.virtualHost() + " not found", 10, 40);
        }
        if (!nodeLink() && !broker.access().canAccessVhost(user, v.name())) {
            // RabbitMQ (rabbit_access_control:check_vhost_access): a user needs permissions in the vhost.
            throw new ConnectionException(ReplyCode.NOT_ALLOWED, "access to vhost '" + v.name() + "' refused for user '"
                    + user + "'", 10, 40);
        }
        // Another node's link (a relayed consumer, get or publish) is inter-node traffic, as
        // RabbitMQ's distribution links are: neither a client connection counted in
        // rabbitmq_connections nor one that connection_max may refuse (a limit met by clients
        // would otherwise cut the other nodes' clients off this node's queues, and their links
        // would use up the clients' share).
        if (!relayed()) {
            int max = broker.settings().connectionMax();
            if (broker.openConnections().incrementAndGet() > max) {
                broker.openConnections().decrementAndGet();
                // 530 with RabbitMQ's text for a connection limit (its per-vhost max-connections).
                throw new ConnectionException(ReplyCode.NOT_ALLOWED, "access to vhost '" + o.virtualHost()
                        + "' refused for user '" + user + "': connection limit (" + max + ") is reached", 10, 40);
            }
            counted = true;
            broker.counters().connectionsOpened.increment();
        }
        vhost = v;
        authorizer = new Authorizer(broker.access(), user, v.name());
        if (broker.vhosts().get(v.name()) != v) {
            // Deleted meanwhile: its deletion may have missed this connection.
            throw new ConnectionException(ReplyCode.NOT_ALLOWED, "vhost " + o.virtualHost() + " not found", 10, 40);
        }
        // A queue is dropped from the vhost when deleted: its link can go (PublisherFlow.sweep).
        flow = new PublisherFlow(ctx.executor(), q -> v.queue(q.name()) == q, this::flowChanged);
        state = State.OPEN;
        sendMethod(0, new ConnectionOpenOk(""));
        lifecycle(clog.atInfo()).log("connection {}: user '{}' authenticated and granted access to vhost '{}'",
                logName(false), user, v.name());
    }

    // ---- closing --------------------------------------------------------------------------

    /**
     * connection.close from the client: close-ok, then what still arrives is read and dropped
     * and the socket left for the client to close (0-9-1 §4.2.8: the peer that receives
     * close-ok closes). Closing it here, with the client's later frames still arriving
     * (amqplib queues thousands of publishes, then closes), would reset the connection and the
     * client would never see close-ok. As RabbitMQ (rabbit_reader close_connection), the
     * socket is closed after the heartbeat interval, or 30 s, if the client keeps it.
     */
    private void closedByClient() {
        sendMethod(0, new ConnectionCloseOk());
        flushNow();
        if (accepted && !closeLogged) {
            closeLogged = true;
            lifecycle(clog.atInfo()).log("closing AMQP connection {}", logName(true));
        }
        state = State.CLOSED;
        cleanup();
        if (blocked) {
            // Read (and drop) the rest, so the client's close is seen and its writes complete.
            blocked = false;
            ctx.channel().config().setAutoRead(true);
        }
        long grace = heartbeat > 0 && heartbeat < CLOSED_SOCKET_TIMEOUT_S ? heartbeat : CLOSED_SOCKET_TIMEOUT_S;
        ctx.executor().schedule(() -> {
            if (ctx.channel().isActive()) {
                log.debug("closing connection from {}: socket kept {} s after close-ok", ctx.channel().remoteAddress(),
                        grace);
                ctx.close();
            }
        }, grace, TimeUnit.SECONDS);
    }

    /** Closes the connection with a hard error: connection.close, then wait for close-ok. */
    public void closeWithError(ConnectionException e) {
        if (state == State.CLOSING || state == State.CLOSED) {
            return;
        }
        if (state == State.AWAIT_HEADER) {
            // Never spoke AMQP (a port probe, or garbage): nothing to tell it.
            log.debug("closing connection from {} before its protocol header: {}", ctx.channel().remoteAddress(),
                    e.replyText());
            ctx.close();
            return;
        }
        // One line per connection error, with what an operator needs: who, reply code, reason.
        broker.errorLog().warn(log, "connection error " + e.code().code(), "closing connection from {}: {} {}",
                ctx.channel().remoteAddress(), e.code().code(), e.replyText());
        if (state != State.OPEN && !answeredDuringHandshake(e.code(), state)) {
            // As RabbitMQ (rabbit_reader:handle_exception): no connection.close before the
            // connection is open; stop reading and drop the socket after a pause.
            state = State.CLOSING;
            silentClose = true;
            cleanup();
            ctx.channel().config().setAutoRead(false);
            long delay = e.code() == ReplyCode.CONNECTION_FORCED ? 0 : SILENT_CLOSE_DELAY_MS;
            ctx.executor().schedule(() -> {
                ctx.close();
            }, delay, TimeUnit.MILLISECONDS);
            return;
        }
        sendMethod(0, new ConnectionClose(e.code().code(), truncate(e.replyText()), e.classId(), e.methodId()));
        flushNow();
        state = State.CLOSING;
        cleanup();
        ctx.executor().schedule(() -> {
            ctx.close();
        }, CLOSE_OK_TIMEOUT_MS, TimeUnit.MILLISECONDS);
    }

    /**
     * The handshake errors RabbitMQ 3.10 does answer with connection.close: a refused login (to
     * clients with the authentication_failure_close capability) and not_allowed from
     * connection.open (unknown vhost, connection limit). A refused tune-ok (frame_max,
     * channel_max) is not: checked against 3.10.8, it drops the socket after 3 s.
     */
    private static boolean answeredDuringHandshake(ReplyCode code, State state) {
        return code == ReplyCode.ACCESS_REFUSED || code == ReplyCode.NOT_ALLOWED && state == State.AWAIT_OPEN;
    }

    /** Broker shutdown: 320 CONNECTION_FORCED to the client. Any thread. */
    public void forceClose(String reason) {
        ctx.executor().execute(() -> closeWithError(new ConnectionException(ReplyCode.CONNECTION_FORCED,
                "broker forced connection closure with reason '" + reason + "'")));
    }

    /**
     * Closed by an operator (management API, warrenctl close_connection): 320 CONNECTION_FORCED
     * with the operator's reason as the text, as RabbitMQ does. Any thread.
     */
    public void closeByOperator(String reason) {
        execute(() -> closeWithError(new ConnectionException(ReplyCode.CONNECTION_FORCED, reason)));
    }

    // ---- log lines ------------------------------------------------------------------------------

    /**
     * RabbitMQ's connection lines (accepted, authenticated, closing, unexpectedly closed, login
     * refused) go to this logger, as RabbitMQ's go to its {@code rabbitmq.connection} domain,
     * so an operator can turn them down or route them on their own.
     */
    public static final String CONNECTION_LOGGER = "io.warren.connection";
    private static final Logger clog = LoggerFactory.getLogger(CONNECTION_LOGGER);
    private static final java.util.concurrent.atomic.AtomicLong NUMBERS = new java.util.concurrent.atomic.AtomicLong();

    /**
     * {@code #N (PEER -> LOCAL)}, with {@code , vhost: 'V', user: 'U'} once known when
     * {@code withUser}: RabbitMQ's shape, with warren's connection number for its pid.
     */
    public String logName(boolean withUser) {
        StringBuilder b = new StringBuilder().append('#').append(number).append(" (").append(name());
        if (withUser && vhost != null) {
            b.append(", vhost: '").append(vhost.name()).append("', user: '").append(user).append('\'');
        }
        return b.append(')').toString();
    }

    /** The connection's fields for structured (JSON) output. */
    private org.slf4j.spi.LoggingEventBuilder lifecycle(org.slf4j.spi.LoggingEventBuilder b) {
        b.addKeyValue("connection", name()).addKeyValue("connection_number", number);
        if (user != null) {
            b.addKeyValue("user", user);
        }
        if (vhost != null) {
            b.addKeyValue("vhost", vhost.name());
        }
        return b;
    }

    // ---- management API ---------------------------------------------------------------------

    /** RabbitMQ's connection name: {@code "PEER_HOST:PEER_PORT -> HOST:PORT"}. Any thread. */
    public String name() {
        return address(ctx.channel().remoteAddress()) + " -> " + address(ctx.channel().localAddress());
    }

    private static String address(java.net.SocketAddress sa) {
        if (!(sa instanceof InetSocketAddress a)) {
            return sa == null ? "?" : sa.toString(); // not a socket (tests' embedded channels)
        }
        String h = a.getAddress() == null ? a.getHostString() : a.getAddress().getHostAddress();
        return (h.contains(":") ? "[" + h + "]" : h) + ":" + a.getPort();
    }

    /**
     * Hands {@code sink} a copy of this connection's state, taken on its loop (the sink runs
     * there). Nothing is called when the loop is already shut down.
     */
    public void snapshot(java.util.function.Consumer<ConnectionInfo> sink) {
        execute(() -> {
            InetSocketAddress peer = (InetSocketAddress) ctx.channel().remoteAddress();
            InetSocketAddress local = (InetSocketAddress) ctx.channel().localAddress();
            List<io.warren.amqp.channel.ChannelInfo> chs = new ArrayList<>(channels.size());
            for (AmqpChannel ch : channels.values()) {
                chs.add(ch.info());
            }
            chs.sort(java.util.Comparator.comparingInt(io.warren.amqp.channel.ChannelInfo::number));
            String st = switch (state) {
                case AWAIT_HEADER, AWAIT_START_OK, AWAIT_SECURE_OK -> "starting";
                case AWAIT_TUNE_OK -> "tuning";
                case AWAIT_OPEN -> "opening";
                case OPEN -> blocked ? "blocked" : "running";
                case CLOSING -> "closing";
                case CLOSED -> "closed";
            };
            sink.accept(new ConnectionInfo(name(), peer == null ? null : peer.getAddress().getHostAddress(),
                    peer == null ? 0 : peer.getPort(), local == null ? null : local.getAddress().getHostAddress(),
                    local == null ? 0 : local.getPort(), user, vhost == null ? null : vhost.name(), st,
                    authMechanism, clientProperties, connectedAt, channelMax, frameMax, heartbeat, chs));
        });
    }

    static String truncate(String s) {
        return ReplyCodes.replyText(s);
    }

    private void cleanup() {
        if (heartbeatTimer != null) {
            heartbeatTimer.cancel(false);
            heartbeatTimer = null;
        }
        if (counted) {
            counted = false;
            broker.openConnections().decrementAndGet();
            broker.counters().connectionsClosed.increment();
        }
        if (flow != null) {
            // Enqueues in flight still run on their queues' loops; their credit goes nowhere.
            flow.close();
            if (flowPaused) {
                flowPaused = false;
                updateReading(); // a closing connection reads again to see close-ok
            }
        }
        List<AmqpChannel> all = new ArrayList<>(channels.values());
        channels.clear();
        broker.counters().channelsClosed.add(all.size());
        for (AmqpChannel ch : all) {
            ch.connectionClosed();
        }
        if (vhost != null) {
            vhost.connectionClosed(this);
        }
    }

    /** The offer made in connection.tune. */
    private record AmqpSettingsView(int channelMax, int frameMax, int heartbeat) {
        AmqpSettingsView(BrokerContext b) {
            this(b.settings().channelMax() == 0 ? 65535 : b.settings().channelMax(), b.settings().frameMax(),
                    b.settings().heartbeatSeconds());
        }
    }
}
