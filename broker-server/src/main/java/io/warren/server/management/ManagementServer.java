package io.warren.server.management;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.warren.amqp.connection.AmqpConnection;
import io.warren.amqp.server.BrokerContext;
import io.warren.server.flow.ResourceMonitor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * The management HTTP API listener (RabbitMQ's management plugin paths and JSON), served by
 * Netty's HTTP codec in the broker's process. It has its own event loop (one thread: the API is
 * for operators and scripts, not traffic) and one worker thread for topology changes, so
 * neither the AMQP loops nor this loop ever block on it.
 */
public final class ManagementServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ManagementServer.class);
    /**
     * Largest request body: RabbitMQ's default management.http.max_body_size (20 MB), so a
     * definitions file RabbitMQ's API takes is taken here too.
     */
    static final int MAX_BODY = 20_000_000;

    private final EventLoopGroup group;
    private final ExecutorService worker;
    private Channel listener;
    private String node;
    private final List<Map<String, Object>> listeners = new java.util.concurrent.CopyOnWriteArrayList<>();

    public ManagementServer() {
        group = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("warren-mgmt", true),
                NioIoHandler.newFactory());
        worker = Executors.newSingleThreadExecutor(new DefaultThreadFactory("warren-mgmt-worker", true));
    }

    /**
     * Binds {@code ip:port} (port 0: an ephemeral port, see {@link #port()}) and serves the API.
     * Called before the AMQP listener binds, so that once clients can connect the API answers too.
     * {@code config} is shown (password masked) by GET /api/warren/environment;
     * {@code memoryWatermark} is what PUT /api/warren/vm_memory_high_watermark calls.
     * {@code broker} gives the running application's model, null while it is stopped (stop_app):
     * the API outlives the application so that start_app can be asked for; {@code users} log in.
     */
    public void start(String ip, int port, java.util.function.Supplier<BrokerContext> broker,
                      java.util.function.Supplier<io.warren.core.auth.AccessControl> users,
                      BrokerControl control, ResourceMonitor monitor, io.warren.server.WarrenConfig config,
                      java.util.function.Consumer<io.warren.server.flow.Watermark> memoryWatermark)
            throws InterruptedException {
        node = config == null ? io.warren.server.WarrenConfig.ClusterConfig.defaultNodeName() : config.cluster().nodeName();
        ApiContext ctx = new ApiContext(broker, users, control, monitor, node, System.currentTimeMillis(), worker,
                listeners, config, memoryWatermark);
        ManagementApi api = new ManagementApi(ctx);
        apiContext = ctx;
        ConsoleAssets console = new ConsoleAssets();
        ctx.stats.start(group.next());
        ServerBootstrap b = new ServerBootstrap()
                .group(group)
                .channel(NioServerSocketChannel.class)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(MAX_BODY),
                                new HttpApiHandler(api, users, console));
                    }
                });
        listener = b.bind(new InetSocketAddress(ip, port)).sync().channel();
        listeners.add(listener(node, "http", ip, port()));
        String hostPort = (ip.contains(":") ? "[" + ip + "]" : ip) + ":" + port();
        log.info("management API on http://{}/api/, web console on http://{}/", hostPort, hostPort);
    }

    private volatile ApiContext apiContext;

    /** This node's entry of /api/nodes in a JSON array of one, for another node's /api/nodes; empty before start. */
    public byte[] nodeView() {
        ApiContext c = apiContext;
        return c == null ? new byte[0] : Json.write(List.of(SystemEndpoints.localNode(c)));
    }

    /**
     * Names a listener in /api/overview once it is bound, with RabbitMQ's protocol names
     * ({@code amqp}, {@code amqp/ssl}, {@code http/prometheus}) and in RabbitMQ's order (AMQP
     * first, then HTTP); {@code host} null: all interfaces.
     */
    public synchronized void amqpListener(String protocol, String host, int port) {
        listeners.removeIf(l -> protocol.equals(l.get("protocol")));
        int at = 0;
        while (at < listeners.size() && String.valueOf(listeners.get(at).get("protocol")).compareTo(protocol) < 0) {
            at++;
        }
        listeners.add(at, listener(node, protocol, host == null ? "::" : host, port));
    }

    /** The AMQP listeners are closed (stop_app): the HTTP ones (the API's, Prometheus') stay listed. */
    public void amqpListenersClosed() {
        listeners.removeIf(l -> !String.valueOf(l.get("protocol")).startsWith("http"));
    }

    private static Map<String, Object> listener(String node, String protocol, String ip, int port) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("node", node);
        m.put("protocol", protocol);
        m.put("ip_address", ip);
        m.put("port", port);
        return m;
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
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        worker.shutdownNow();
    }
}
