package io.warren.amqp.server;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.util.concurrent.EventExecutor;
import io.warren.amqp.codec.FrameDecoder;
import io.warren.amqp.connection.AmqpConnection;
import io.warren.core.queue.MessageQueue;
import io.warren.core.vhost.VirtualHost;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The AMQP listener and the event loops. The same loops run connections and own queues
 * (docs/architecture.md, threads), so a consumer and its queue often share a thread.
 */
public final class AmqpServer {
    private static final Logger log = LoggerFactory.getLogger(AmqpServer.class);

    private final EventLoopGroup boss;
    private final EventLoopGroup workers;
    private final boolean epoll;
    private Channel listener;
    private Channel tlsListener;
    /** Tells this server's connections of alarm changes; removed on close (the alarms outlive it). */
    private io.warren.core.flow.ResourceAlarms.Listener alarmsListener;

    public AmqpServer(int threads) {
        epoll = Epoll.isAvailable();
        IoHandlerFactory io = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        boss = new MultiThreadIoEventLoopGroup(1, io);
        workers = new MultiThreadIoEventLoopGroup(threads, io);
    }

    /** The worker loops, for queue ownership. */
    public EventExecutor[] loops() {
        List<EventExecutor> l = new ArrayList<>();
        workers.forEach(l::add);
        return l.toArray(new EventExecutor[0]);
    }

    /** The worker loops as a group: cluster links ({@link io.warren.amqp.link.AmqpLink}) run on them too. */
    public EventLoopGroup workers() {
        return workers;
    }

    /** The client socket type that goes with the worker loops' transport (epoll or NIO). */
    public Class<? extends io.netty.channel.socket.SocketChannel> clientChannelClass() {
        return epoll ? io.netty.channel.epoll.EpollSocketChannel.class
                : io.netty.channel.socket.nio.NioSocketChannel.class;
    }

    /** Binds {@code host:port} (host null: all interfaces; port 0: ephemeral). */
    public void bind(String host, int port, BrokerContext broker) throws InterruptedException {
        bind(host, port, broker, null);
    }

    /**
     * Like {@link #bind(String, int, BrokerContext)}, with the allocator client connections use
     * (null: Netty's default). Tests inject allocation failures this way.
     */
    public void bind(String host, int port, BrokerContext broker, io.netty.buffer.ByteBufAllocator allocator)
            throws InterruptedException {
        listener = bind(host, port, broker, allocator, null);
    }

    /**
     * Binds a TLS listener ({@code listeners.ssl.default}) beside the plain one: the same AMQP
     * behind Netty's SslHandler. Call after {@link #bind}.
     */
    public void bindTls(String host, int port, BrokerContext broker, io.netty.buffer.ByteBufAllocator allocator,
                        SslContext ssl) throws InterruptedException {
        tlsListener = bind(host, port, broker, allocator, ssl);
    }

    private Channel bind(String host, int port, BrokerContext broker, io.netty.buffer.ByteBufAllocator allocator,
                         SslContext ssl) throws InterruptedException {
        // Resolves the local host name now, on this thread: the first connection would otherwise
        // do it (a possible DNS lookup) on an event loop.
        AmqpConnection.hostName();
        Class<? extends ServerSocketChannel> type = epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
        ServerBootstrap b = new ServerBootstrap()
                .group(boss, workers)
                .channel(type)
                .option(ChannelOption.SO_BACKLOG, 1024)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                // Back-pressure for consumers: stop delivering above 2 MiB queued for the socket.
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(512 * 1024, 2 * 1024 * 1024))
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override protected void initChannel(SocketChannel ch) {
                        if (ssl != null) {
                            // The handshake must finish within 10 s (Netty's default), or the
                            // connection closes: a client cannot hold a socket without speaking.
                            ch.pipeline().addLast("tls", ssl.newHandler(ch.alloc()));
                        }
                        FrameDecoder decoder = new FrameDecoder();
                        long sendTimeout = broker.settings() == null ? 0 : broker.settings().sendTimeoutMs();
                        if (sendTimeout > 0) {
                            ch.pipeline().addLast("send-timeout", new SendTimeoutHandler(sendTimeout));
                        }
                        ch.pipeline().addLast("frames", decoder);
                        ch.pipeline().addLast("amqp", new AmqpConnection(broker, decoder));
                    }
                });
        if (broker.alarms() != null && alarmsListener == null) {
            // Alarms change on the monitor thread; each connection applies them on its own loop.
            alarmsListener = reason -> {
                for (AmqpConnection c : broker.connections()) {
                    c.alarmsChanged();
                }
            };
            broker.alarms().addListener(alarmsListener);
        }
        if (allocator != null) {
            b.childOption(ChannelOption.ALLOCATOR, allocator);
        }
        InetSocketAddress addr = host == null ? new InetSocketAddress(port) : new InetSocketAddress(host, port);
        Channel bound = b.bind(addr).sync().channel();
        log.info("AMQP{} listener on {} ({} transport)", ssl == null ? "" : " TLS", bound.localAddress(),
                epoll ? "epoll" : "nio");
        return bound;
    }

    public int port() {
        return ((InetSocketAddress) listener.localAddress()).getPort();
    }

    /** The TLS listener's port, or -1 without one. */
    public int tlsPort() {
        return tlsListener == null ? -1 : ((InetSocketAddress) tlsListener.localAddress()).getPort();
    }

    /** Stops accepting, forces clients off with 320 CONNECTION_FORCED, shuts the loops down. */
    public void close(BrokerContext broker) {
        if (alarmsListener != null && broker.alarms() != null) {
            broker.alarms().removeListener(alarmsListener);
            alarmsListener = null;
        }
        if (listener != null) {
            listener.close().syncUninterruptibly();
        }
        if (tlsListener != null) {
            tlsListener.close().syncUninterruptibly();
        }
        for (AmqpConnection c : broker.connections()) {
            c.forceClose("shutdown");
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        while (!broker.connections().isEmpty() && System.nanoTime() < deadline) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        closeQueues(broker);
        boss.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        workers.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    /**
     * Releases the messages queues still hold (the closed connections have requeued their
     * unacknowledged ones by now: those tasks ran earlier on the same loops), before the loops
     * stop. Otherwise every message left in a queue is a leaked buffer when a broker is stopped
     * in-process (tests, restarts).
     */
    private static void closeQueues(BrokerContext broker) {
        if (broker.vhosts() == null) {
            return;
        }
        List<io.netty.util.concurrent.Future<?>> done = new ArrayList<>();
        for (VirtualHost v : broker.vhosts().all()) {
            for (MessageQueue q : v.queues()) {
                done.add(q.loop().submit(q::close));
            }
        }
        for (io.netty.util.concurrent.Future<?> f : done) {
            f.awaitUninterruptibly(1, TimeUnit.SECONDS);
        }
    }
}
