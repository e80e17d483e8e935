package io.warren.server;

import io.warren.amqp.codec.TableArgumentCodec;
import io.warren.amqp.server.AmqpServer;
import io.warren.amqp.server.AmqpSettings;
import io.warren.amqp.server.BrokerContext;
import io.warren.core.auth.AccessControl;
import io.warren.core.flow.ResourceAlarms;
import io.warren.amqp.channel.MessageHeaders;
import io.warren.core.queue.Paging;
import io.warren.store.spill.FileSpillStore;
import io.warren.core.store.StoreDurability;
import io.warren.core.vhost.VirtualHosts;
import io.warren.server.flow.ResourceMonitor;
import io.warren.server.launch.StartupException;
import io.warren.server.tls.TlsContexts;
import io.warren.server.flow.Watermark;
import io.warren.store.DataDirLock;
import io.warren.store.definitions.SnapshotDefinitionStore;
import io.warren.store.journal.JournalMessageStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Map;

/**
 * Wires the broker from a {@link WarrenConfig} and owns its lifecycle: the one place where
 * the parts are constructed and connected (no container, no global state).
 */
public final class Broker implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Broker.class);

    private final WarrenConfig config;
    private AmqpServer server;
    private BrokerContext context;
    private DataDirLock lock;
    private SnapshotDefinitionStore definitions;
    private JournalMessageStore messages;
    private FileSpillStore pageStore;
    private ResourceMonitor resources;
    private io.warren.server.management.ManagementServer management;

    private final io.netty.buffer.ByteBufAllocator allocator;

    public Broker(WarrenConfig config) {
        this(config, null);
    }

    /**
     * A broker whose client connections allocate their buffers from {@code allocator} (null:
     * Netty's default). For tests that inject allocation failures; not a configuration key.
     */
    public Broker(WarrenConfig config, io.netty.buffer.ByteBufAllocator allocator) {
        this.config = config;
        this.allocator = allocator;
    }

    /**
     * Locks and opens the store in data_dir, recovers durable definitions and messages, then
     * binds the AMQP listener; returns once it accepts connections. A store that cannot be
     * opened fails with a {@link io.warren.core.store.StoreException} naming the file.
     */
    public synchronized void start() throws Exception {
        if (server != null) {
            throw new IllegalStateException("already started");
        }
        // Certificates and key first: a bad file fails the start before anything is opened.
        io.netty.handler.ssl.SslContext tlsContext = config.tls() == null ? null : TlsContexts.server(config.tls());
        AmqpServer s = new AmqpServer(Runtime.getRuntime().availableProcessors());
        try {
            Path dataDir = config.dataDir();
            Files.createDirectories(dataDir);
            lock = DataDirLock.acquire(dataDir);
            definitions = SnapshotDefinitionStore.open(dataDir);
            messages = JournalMessageStore.open(dataDir);
            pageStore = FileSpillStore.open(dataDir.resolve("paging"), MessageHeaders.READER);
            Paging paging = new Paging(pageStore, Paging.DEFAULT_QUEUE_BOUND, Paging.DEFAULT_PRESSURE_BOUND);
            // The monitor runs from before recovery: a large recovered backlog must see memory
            // pressure (smaller paging bound) like any other.
            resources = new ResourceMonitor(config.memoryHighWatermark(), dataDir, config.diskFreeLimit(), paging,
                    config.memoryPagingRatio());
            resources.start();
            StoreDurability durability = new StoreDurability(definitions, messages, new TableArgumentCodec());
            VirtualHosts vhosts = new VirtualHosts(s.loops(), durability, paging);
            AccessControl access = new AccessControl(definitions, config.loopbackUsers());
            durability.recover(vhosts);
            if (!access.seeded()) {
                seed(vhosts, access);
            }
            AmqpSettings settings = new AmqpSettings(config.heartbeatSeconds(), config.frameMax(),
                    config.channelMax(), config.maxMessageSize(), config.connectionMax(), config.sendTimeoutMs(),
                    config.auth().mechanisms(), config.auth().certLoginFrom().equals("common_name"));
            context = new BrokerContext(vhosts, access, settings, resources.alarms());
            // The API first: once bin/warren sees the AMQP port open, the API answers too.
            if (config.managementPort() != WarrenConfig.MANAGEMENT_DISABLED) {
                startManagement();
            }
            s.bind(config.listenHost(), config.listenPort(), context, allocator);
            if (management != null) {
                management.amqpListener("amqp", config.listenHost(), s.port());
            }
            if (tlsContext != null) {
                WarrenConfig.TlsConfig tls = config.tls();
                try {
                    s.bindTls(tls.host(), tls.port(), context, allocator, tlsContext);
                    if (management != null) {
                        management.amqpListener("amqp/ssl", tls.host(), s.tlsPort());
                    }
                } catch (Exception e) {
                    throw new StartupException("cannot listen on " + (tls.host() == null ? "" : tls.host() + ":")
                            + tls.port() + " (listeners.ssl.default): " + e.getMessage(), e);
                }
            }
        } catch (Exception | Error e) {
            closeManagement();
            s.close(context == null ? new BrokerContext(new VirtualHosts(s.loops(), "/"), null, null, null) : context);
            closeStore();
            throw e;
        }
        server = s;
    }

    /**
     * A new data dir (or one from before access control was stored) gets RabbitMQ's first-start
     * set-up: the default vhost, and the default user as an administrator with every permission
     * in it. Later starts keep what operators made of them (default_user and default_pass are
     * then not read, as in RabbitMQ).
     */
    private void seed(VirtualHosts vhosts, AccessControl access) {
        vhosts.create(config.defaultVhost(), new VirtualHosts.Info("Default virtual host", java.util.List.of()));
        if (access.user(config.defaultUser()) == null) {
            access.putUser(config.defaultUser(), config.defaultPass(), java.util.List.of("administrator"));
        }
        access.setPermissions(config.defaultUser(), config.defaultVhost(), ".*", ".*", ".*");
        access.markSeeded();
        java.util.concurrent.CompletableFuture<Throwable> synced = new java.util.concurrent.CompletableFuture<>();
        access.whenDurable(synced::complete);
        Throwable failure = synced.join();
        if (failure != null) {
            throw new io.warren.core.store.StoreException("cannot store the default vhost and user: " + failure, failure);
        }
        log.info("created the default vhost '{}' and user '{}' (administrator)", config.defaultVhost(),
                config.defaultUser());
    }

    private void startManagement() throws InterruptedException {
        management = new io.warren.server.management.ManagementServer();
        try {
            management.start(config.managementIp(), config.managementPort(), context, resources, config,
                    this::setMemoryHighWatermark);
        } catch (Exception e) {
            String address = WarrenMain.address(config.managementIp(), config.managementPort());
            String why = String.valueOf(e.getMessage()).contains("Address already in use") || e instanceof java.net.BindException
                    ? "address already in use" : String.valueOf(e.getMessage());
            throw new StartupException("cannot listen on " + address
                    + " for the management API (management.tcp.ip / management.tcp.port): " + why, e);
        }
    }

    private void closeManagement() {
        if (management != null) {
            management.close();
            management = null;
        }
    }

    /**
     * The bound management API port (useful when configured with port 0); -1 when the API is
     * disabled ({@code management.enabled = false}) or the broker is not running.
     */
    public synchronized int managementPort() {
        return management == null ? -1 : management.port();
    }

    /** The bound TLS port (listeners.ssl.default; useful when configured with port 0), or -1 without TLS. */
    public int tlsPort() {
        return server == null ? -1 : server.tlsPort();
    }

    /** The bound AMQP port (useful when configured with port 0). */
    public int port() {
        return server == null ? config.listenPort() : server.port();
    }

    public WarrenConfig config() {
        return config;
    }

    /** Closes every client connection with 320 CONNECTION_FORCED, then the listener. */
    @Override public synchronized void close() {
        if (server != null) {
            log.info("stopping warren");
            closeManagement();
            server.close(context);
            server = null;
            closeStore();
        }
    }

    // ---- resource alarms: the broker methods warrenctl and the management API call ---------

    /** The alarms in force (memory, disk); empty when publishers may publish. */
    public java.util.Set<ResourceAlarms.Resource> alarms() {
        return monitor().alarms().active();
    }

    /** rabbitmqctl set_vm_memory_high_watermark: takes effect at once (alarms set or cleared). */
    public void setMemoryHighWatermark(Watermark w) {
        monitor().memory().setWatermark(w);
    }

    /** rabbitmqctl set_disk_free_limit: takes effect at once. */
    public void setDiskFreeLimit(Watermark w) {
        monitor().disk().setLimit(w);
    }

    /** Users, tags and permissions. */
    public synchronized AccessControl access() {
        if (context == null) {
            throw new IllegalStateException("broker not started");
        }
        return context.access();
    }

    /** A virtual host by name, or null; for tests and the coming management API. */
    public synchronized io.warren.core.vhost.VirtualHost vhost(String name) {
        if (context == null) {
            throw new IllegalStateException("broker not started");
        }
        return context.vhosts().get(name);
    }

    /**
     * The client connections now (a snapshot), with their state (running, flow, blocked ...),
     * for tests and the coming management API's list of connections.
     */
    public synchronized java.util.List<io.warren.amqp.connection.AmqpConnection> connections() {
        if (context == null) {
            throw new IllegalStateException("broker not started");
        }
        return java.util.List.copyOf(context.connections());
    }

    /** How queues page out (bounds, counters). */
    public synchronized Paging paging() {
        if (context == null) {
            throw new IllegalStateException("broker not started");
        }
        return context.vhosts().paging();
    }

    /** The resource monitor: memory used and its limit, free disk and its limit. */
    public synchronized ResourceMonitor monitor() {
        if (resources == null) {
            throw new IllegalStateException("broker not started");
        }
        return resources;
    }

    /** After the queues are closed: commit what is pending, close the files, release the lock. */
    private void closeStore() {
        if (resources != null) {
            resources.close();
            resources = null;
        }
        // The page-out store first: a purge still under way there frees journal slots.
        if (pageStore != null) {
            pageStore.close();
            pageStore = null;
        }
        if (messages != null) {
            messages.close();
            messages = null;
        }
        if (definitions != null) {
            definitions.close();
            definitions = null;
        }
        if (lock != null) {
            lock.close();
            lock = null;
        }
    }
}
