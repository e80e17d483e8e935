package io.warren.amqp.server;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.TimeUnit;

/**
 * RabbitMQ's {@code tcp_listen_options.send_timeout}: a connection whose socket has accepted no
 * bytes for the timeout while output waits (a consumer that stopped reading) is closed, so its
 * buffers and its unacknowledged messages come back. Netty's idle handler watches the output:
 * any progress in writing the pending bytes counts as activity, so a slow reader is not a dead
 * one.
 */
final class SendTimeoutHandler extends IdleStateHandler {
    private static final Logger log = LoggerFactory.getLogger(SendTimeoutHandler.class);
    private final long timeoutMs;

    SendTimeoutHandler(long timeoutMs) {
        super(true, 0, timeoutMs, 0, TimeUnit.MILLISECONDS);
        this.timeoutMs = timeoutMs;
    }

    @Override protected void channelIdle(ChannelHandlerContext ctx, IdleStateEvent evt) {
        ChannelOutboundBuffer out = ctx.channel().unsafe().outboundBuffer();
        if (out == null || out.totalPendingWriteBytes() == 0) {
            return; // nothing to send: an idle connection, not a stuck one
        }
        log.warn("closing connection from {}: the client accepted no data for {} ms with {} bytes waiting "
                + "(send_timeout)", ctx.channel().remoteAddress(), timeoutMs, out.totalPendingWriteBytes());
        ctx.close();
    }
}
