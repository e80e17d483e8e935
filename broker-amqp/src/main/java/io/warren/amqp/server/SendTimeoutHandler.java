package io.warren.amqp.server;

import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.util.concurrent.ScheduledFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.TimeUnit;

/**
 * RabbitMQ's {@code tcp_listen_options.send_timeout}: a connection whose socket has accepted no
 * bytes for the timeout while output waits (a consumer that stopped reading) is closed, so its
 * buffers and its unacknowledged messages come back. Any progress in writing the pending bytes
 * counts as activity, so a slow reader is not a dead one.
 *
 * <p>The output is looked at every quarter of the timeout (a stuck connection closes within
 * 1.25 timeouts), not per write: Netty's IdleStateHandler, used before, gave every write a
 * promise and a listener, which cost the delivery path several percent of its CPU.
 */
final class SendTimeoutHandler extends ChannelDuplexHandler {
    private static final Logger log = LoggerFactory.getLogger(SendTimeoutHandler.class);
    private final long timeoutMs;
    private final long periodNanos;
    private ScheduledFuture<?> check;
    /** The output as last seen: the message being written, how far, and how much waits. */
    private Object lastCurrent;
    private long lastProgress;
    private long lastPending;
    private long lastActiveNanos;

    SendTimeoutHandler(long timeoutMs) {
        this.timeoutMs = timeoutMs;
        this.periodNanos = Math.max(TimeUnit.MILLISECONDS.toNanos(timeoutMs) / 4, TimeUnit.MILLISECONDS.toNanos(1));
    }

    @Override public void handlerAdded(ChannelHandlerContext ctx) {
        if (ctx.channel().isActive() && ctx.channel().isRegistered()) {
            start(ctx);
        }
    }

    @Override public void channelActive(ChannelHandlerContext ctx) throws Exception {
        start(ctx);
        super.channelActive(ctx);
    }

    @Override public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        stop();
        super.channelInactive(ctx);
    }

    @Override public void handlerRemoved(ChannelHandlerContext ctx) {
        stop();
    }

    private void start(ChannelHandlerContext ctx) {
        if (check != null) {
            return;
        }
        lastActiveNanos = System.nanoTime();
        check = ctx.executor().scheduleAtFixedRate(() -> look(ctx), periodNanos, periodNanos, TimeUnit.NANOSECONDS);
    }

    private void stop() {
        if (check != null) {
            check.cancel(false);
            check = null;
        }
    }

    private void look(ChannelHandlerContext ctx) {
        long now = System.nanoTime();
        ChannelOutboundBuffer out = ctx.channel().unsafe().outboundBuffer();
        if (out == null) {
            stop(); // closed
            return;
        }
        Object current = out.current();
        long progress = out.currentProgress();
        long pending = out.totalPendingWriteBytes();
        if (pending == 0 || current != lastCurrent || progress != lastProgress || pending != lastPending) {
            // nothing waits (an idle connection, not a stuck one), or the socket took something
            lastCurrent = current;
            lastProgress = progress;
            lastPending = pending;
            lastActiveNanos = now;
            return;
        }
        if (now - lastActiveNanos >= TimeUnit.MILLISECONDS.toNanos(timeoutMs)) {
            log.warn("closing connection from {}: the client accepted no data for {} ms with {} bytes waiting "
                    + "(send_timeout)", ctx.channel().remoteAddress(), timeoutMs, pending);
            stop();
            ctx.close();
        }
    }
}
