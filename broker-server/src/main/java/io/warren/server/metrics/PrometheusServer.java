package io.warren.server.metrics;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.warren.amqp.server.BrokerContext;
import io.warren.server.flow.ResourceMonitor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Supplier;
import java.util.zip.Deflater;
import java.util.zip.GZIPOutputStream;

/**
 * The Prometheus endpoint ({@code prometheus.tcp.port}, default 15692, as RabbitMQ's
 * rabbitmq_prometheus plugin): {@code GET /metrics}, {@code /metrics/per-object} and
 * {@code /metrics/detailed?family=...&vhost=...} (the path prefix is {@code prometheus.path}).
 * Its own event loop (one thread) parses requests; a scrape is rendered on the metrics thread
 * (one, so scrapes queue; at most {@link #MAX_WAITING} wait, the rest get 503) and streamed as
 * a chunked response that the rendering waits for when the client reads slowly, so a scrape of
 * any size holds a few chunks of memory. gzip when the client accepts it (Prometheus does).
 */
public final class PrometheusServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(PrometheusServer.class);
    static final int MAX_WAITING = 4;
    /** A reader that takes nothing for this long loses its scrape (the connection closes). */
    static final long STALLED_MS = 30_000;

    private final EventLoopGroup group;
    private final ThreadPoolExecutor worker;
    private Channel listener;

    public PrometheusServer() {
        group = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("warren-prometheus", true),
                NioIoHandler.newFactory());
        worker = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS, new ArrayBlockingQueue<>(MAX_WAITING),
                new DefaultThreadFactory("warren-metrics", true));
    }

    /**
     * Binds {@code ip:port} (0: ephemeral). {@code broker} is the running application's model
     * (null while it is stopped: scrapes then get 503); {@code path} is the prefix
     * ({@code /metrics}); {@code perObject}: {@code /metrics} answers per object
     * ({@code prometheus.return_per_object_metrics}).
     */
    public void start(String ip, int port, String path, boolean perObject, Supplier<BrokerContext> broker,
                      ResourceMonitor monitor, String node, long startedAtMs, String version)
            throws InterruptedException {
        Endpoints endpoints = new Endpoints(path, perObject, broker, monitor, node, startedAtMs, version);
        ServerBootstrap b = new ServerBootstrap()
                .group(group)
                .channel(NioServerSocketChannel.class)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(1 << 20, 4 << 20))
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(8192),
                                new ScrapeHandler(endpoints, worker));
                    }
                });
        listener = b.bind(new InetSocketAddress(ip, port)).sync().channel();
        log.info("Prometheus metrics on http://{}:{}{}", ip.contains(":") ? "[" + ip + "]" : ip, port(), path);
    }

    /** The bound port. */
    public int port() {
        return ((InetSocketAddress) listener.localAddress()).getPort();
    }

    @Override public void close() {
        if (listener != null) {
            listener.close().syncUninterruptibly();
            listener = null;
        }
        worker.shutdownNow();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    /** What each path renders. */
    private record Endpoints(String path, boolean perObject, Supplier<BrokerContext> broker, ResourceMonitor monitor,
                             String node, long startedAtMs, String version) {
    }

    private enum Kind { AGGREGATED, PER_OBJECT, DETAILED }

    private static final class ScrapeHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
        private final Endpoints endpoints;
        private final ThreadPoolExecutor worker;

        ScrapeHandler(Endpoints endpoints, ThreadPoolExecutor worker) {
            this.endpoints = endpoints;
            this.worker = worker;
        }

        @Override protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
            boolean keepAlive = HttpUtil.isKeepAlive(req);
            if (!req.decoderResult().isSuccess()) {
                plain(ctx, HttpResponseStatus.BAD_REQUEST, "Bad request\n", false);
                return;
            }
            if (!req.method().equals(HttpMethod.GET)) {
                plain(ctx, HttpResponseStatus.METHOD_NOT_ALLOWED, "Only GET is supported\n", keepAlive);
                return;
            }
            QueryStringDecoder q = new QueryStringDecoder(req.uri());
            String p = q.path();
            String base = endpoints.path();
            Kind kind;
            if (p.equals(base) || p.equals(base + "/")) {
                kind = endpoints.perObject() ? Kind.PER_OBJECT : Kind.AGGREGATED;
            } else if (p.equals(base + "/per-object")) {
                kind = Kind.PER_OBJECT;
            } else if (p.equals(base + "/detailed")) {
                kind = Kind.DETAILED;
            } else if (p.equals(base + "/default") || p.equals(base + "/aggregated")) {
                kind = Kind.AGGREGATED;
            } else if (p.startsWith(base + "/")) {
                plain(ctx, HttpResponseStatus.NOT_FOUND, "Unknown Registry\n", keepAlive);
                return;
            } else {
                plain(ctx, HttpResponseStatus.NOT_FOUND, "Not Found: the metrics are at " + base + "\n", keepAlive);
                return;
            }
            String accept = req.headers().get(HttpHeaderNames.ACCEPT);
            boolean openMetrics = accept != null && accept.contains("application/openmetrics-text");
            if (accept != null && !openMetrics && !accept.contains("text/plain") && !accept.contains("*/*")
                    && !accept.contains("text/*")) {
                plain(ctx, HttpResponseStatus.NOT_ACCEPTABLE,
                        "Not Acceptable: text/plain (0.0.4) or application/openmetrics-text only\n", keepAlive);
                return;
            }
            String encoding = req.headers().get(HttpHeaderNames.ACCEPT_ENCODING);
            boolean gzip = encoding != null && encoding.toLowerCase(java.util.Locale.ROOT).contains("gzip");
            BrokerContext broker = endpoints.broker().get();
            if (broker == null) {
                plain(ctx, HttpResponseStatus.SERVICE_UNAVAILABLE, "The warren application is stopped\n", keepAlive);
                return;
            }
            Set<String> families = new HashSet<>(q.parameters().getOrDefault("family", List.of()));
            Set<String> vhosts = new HashSet<>(q.parameters().getOrDefault("vhost", List.of()));
            Channel ch = ctx.channel();
            ch.config().setAutoRead(false); // one scrape at a time per connection
            try {
                worker.execute(() -> render(ch, kind, broker, openMetrics, gzip, keepAlive, families, vhosts));
            } catch (RejectedExecutionException e) {
                ch.config().setAutoRead(true);
                plain(ctx, HttpResponseStatus.SERVICE_UNAVAILABLE, "Too many scrapes waiting; try again\n", keepAlive);
            }
        }

        /** On the metrics thread: the headers, the rendered chunks, the end. */
        private void render(Channel ch, Kind kind, BrokerContext broker, boolean openMetrics, boolean gzip,
                            boolean keepAlive, Set<String> families, Set<String> vhosts) {
            long start = System.nanoTime();
            HttpResponse res = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
            res.headers().set(HttpHeaderNames.CONTENT_TYPE,
                    openMetrics ? Exposition.OPENMETRICS_TYPE : Exposition.PROMETHEUS_TYPE);
            res.headers().set(HttpHeaderNames.VARY, "Accept, Accept-Encoding");
            if (gzip) {
                res.headers().set(HttpHeaderNames.CONTENT_ENCODING, HttpHeaderValues.GZIP);
            }
            HttpUtil.setTransferEncodingChunked(res, true);
            HttpUtil.setKeepAlive(res, keepAlive);
            ch.writeAndFlush(res);
            long bytes = 0;
            try {
                ChunkStream chunks = new ChunkStream(ch);
                OutputStream out = gzip ? new FastGzip(chunks) : chunks;
                Exposition x = new Exposition(openMetrics, (b, n) -> {
                    try {
                        out.write(b, 0, n);
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                });
                MetricsRenderer r = new MetricsRenderer(broker, endpoints.monitor(), endpoints.node(),
                        endpoints.startedAtMs(), endpoints.version());
                switch (kind) {
                    case AGGREGATED -> r.aggregated(x);
                    case PER_OBJECT -> r.perObject(x);
                    case DETAILED -> r.detailed(x, families, vhosts);
                }
                x.finish();
                bytes = x.bytes();
                out.close();
                ch.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT).addListener(f -> {
                    if (keepAlive && f.isSuccess()) {
                        ch.config().setAutoRead(true);
                    } else {
                        ch.close();
                    }
                });
                log.debug("scrape {} ({} bytes) in {} ms", kind, bytes, (System.nanoTime() - start) / 1_000_000);
            } catch (RuntimeException | IOException | Error e) {
                // The status line is out: the only way to tell the scraper is to cut the response.
                log.warn("Prometheus scrape of {} failed: {}", kind, e.toString());
                ch.close();
            }
        }

        private static void plain(ChannelHandlerContext ctx, HttpResponseStatus status, String text,
                                  boolean keepAlive) {
            FullHttpResponse res = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
                    Unpooled.copiedBuffer(text, StandardCharsets.UTF_8));
            res.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8");
            HttpUtil.setContentLength(res, res.content().readableBytes());
            HttpUtil.setKeepAlive(res, keepAlive);
            if (keepAlive) {
                ctx.writeAndFlush(res);
            } else {
                ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
            }
        }

        @Override public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            log.debug("Prometheus endpoint connection error: {}", cause.toString());
            ctx.close();
        }
    }

    /**
     * The chunks of a response, written from the metrics thread. When the connection's outbound
     * buffer is full the writer waits until it drains (back-pressure), for at most
     * {@link #STALLED_MS}; a closed connection ends the scrape.
     */
    static final class ChunkStream extends OutputStream {
        private final Channel ch;

        ChunkStream(Channel ch) {
            this.ch = ch;
        }

        @Override public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override public void write(byte[] b, int off, int len) throws IOException {
            if (len == 0) {
                return;
            }
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(STALLED_MS);
            while (!ch.isWritable()) {
                if (!ch.isActive()) {
                    throw new IOException("the scraper went away");
                }
                if (System.nanoTime() > deadline) {
                    throw new IOException("the scraper read nothing for " + STALLED_MS + " ms");
                }
                LockSupport.parkNanos(1_000_000);
            }
            if (!ch.isActive()) {
                throw new IOException("the scraper went away");
            }
            ch.writeAndFlush(new DefaultHttpContent(Unpooled.copiedBuffer(b, off, len)));
        }
    }

    /** gzip at the fastest level: a scrape is large text, and the CPU it costs is the broker's. */
    static final class FastGzip extends GZIPOutputStream {
        FastGzip(OutputStream out) throws IOException {
            super(out, 64 * 1024);
            def.setLevel(Deflater.BEST_SPEED);
        }
    }
}
