package io.warren.it.cluster;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * The network between the nodes of a {@link ProcessCluster}, simulated on loopback: every node
 * is reached by the others through a TCP proxy of its own in this JVM (the node list names the
 * proxy's port; the node listens on another), so a test can cut a node off from all the others
 * ({@link #isolate}) or two nodes from each other only ({@link #cut}), or hold back everything a
 * node sends and is sent ({@link #delay}), and join them again ({@link #heal}).
 *
 * <p>Ratis' gRPC connections carry traffic both ways, so cutting a node off means cutting the
 * connections it accepts (those through its own proxy) <em>and</em> those it opened to the others
 * (through theirs). A proxy knows which node opened a connection by the process that owns the
 * connection's other end: Linux lists the socket in {@code /proc/net/tcp} under its local port,
 * and the owner's {@code /proc/PID/fd} links to the socket's inode.
 */
public final class NodeProxies implements AutoCloseable {
    /** One proxied connection: who opened it, to whom, and its two sockets. */
    private record Link(int from, int to, Socket client, Socket server) {
        void close() {
            closeQuietly(client);
            closeQuietly(server);
        }
    }

    private final List<ServerSocket> listeners = new ArrayList<>();
    private final Set<Link> links = ConcurrentHashMap.newKeySet();
    private final Set<Integer> isolated = ConcurrentHashMap.newKeySet();
    /** The pairs of nodes cut from each other ("a-b", a < b). */
    private final Set<String> cuts = ConcurrentHashMap.newKeySet();
    /** Connections refused because of a cut, by pair. */
    private final Map<String, java.util.concurrent.atomic.AtomicInteger> refusedByCut = new ConcurrentHashMap<>();
    /** Each delayed node's delay, in nanoseconds. */
    private final Map<Integer, Long> delays = new ConcurrentHashMap<>();
    /** The nodes' processes now: pid -> node (1..n). */
    private final Supplier<Map<Long, Integer>> nodePids;
    private volatile boolean closed;

    /**
     * One proxy per node: node {@code i} (1-based) is reached at {@link #port}{@code (i)} and the
     * proxy forwards to 127.0.0.1:{@code targetPorts[i - 1]}.
     */
    NodeProxies(int[] targetPorts, Supplier<Map<Long, Integer>> nodePids) throws IOException {
        this(freePorts(targetPorts.length), targetPorts, nodePids);
    }

    /** As above, node {@code i} reached at {@code proxyPorts[i - 1]}. */
    public NodeProxies(int[] proxyPorts, int[] targetPorts, Supplier<Map<Long, Integer>> nodePids) throws IOException {
        this.nodePids = nodePids;
        for (int i = 0; i < targetPorts.length; i++) {
            ServerSocket listener = new ServerSocket();
            listener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), proxyPorts[i]));
            listeners.add(listener);
            int to = i + 1;
            int target = targetPorts[i];
            Thread t = new Thread(() -> accept(listener, to, target), "proxy-to-node" + to);
            t.setDaemon(true);
            t.start();
        }
    }

    private static int[] freePorts(int n) throws IOException {
        int[] ports = new int[n];
        for (int i = 0; i < n; i++) {
            ports[i] = io.warren.it.support.Processes.freePort();
        }
        return ports;
    }

    /** The port through which the others reach node {@code i}. */
    public int port(int i) {
        return listeners.get(i - 1).getLocalPort();
    }

    /** Cuts node {@code i} off: its connections both ways are closed, and new ones refused, until {@link #heal}. */
    public void isolate(int i) {
        isolated.add(i);
        for (Link l : links) {
            if (l.from() == i || l.to() == i) {
                links.remove(l);
                l.close();
            }
        }
    }

    /**
     * Cuts nodes {@code a} and {@code b} off from each other only (a partial partition): their
     * connections to each other, both ways, are closed and new ones refused until {@link #heal};
     * each still reaches the third.
     */
    public void cut(int a, int b) {
        cuts.add(pair(a, b));
        for (Link l : links) {
            if (pair(l.from(), l.to()).equals(pair(a, b))) {
                links.remove(l);
                l.close();
            }
        }
    }

    /** Connections between nodes {@code a} and {@code b} (either way) refused because they are cut from each other. */
    public int refusedBetween(int a, int b) {
        java.util.concurrent.atomic.AtomicInteger n = refusedByCut.get(pair(a, b));
        return n == null ? 0 : n.get();
    }

    private static String pair(int a, int b) {
        return Math.min(a, b) + "-" + Math.max(a, b);
    }

    /** Connections open now that node {@code i} opened to another node (0 would mean it cannot be told apart). */
    public long openedBy(int i) {
        return links.stream().filter(l -> l.from() == i).count();
    }

    /**
     * Holds back every byte node {@code i} sends to the others, and they to it, for {@code millis}
     * before it is passed on (in order, nothing dropped): a slow network, not a cut one. Bytes
     * already held keep their time when the delay changes. Until {@link #heal}.
     */
    public void delay(int i, long millis) {
        delays.put(i, java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(millis));
    }

    /** Every node reaches every other again, without delay. */
    public void heal() {
        isolated.clear();
        cuts.clear();
        delays.clear();
    }

    private void accept(ServerSocket listener, int to, int target) {
        while (!closed) {
            Socket client;
            try {
                client = listener.accept();
            } catch (IOException e) {
                return; // closed
            }
            int from = opener(client);
            if (isolated.contains(to) || isolated.contains(from) || cuts.contains(pair(from, to))) {
                if (cuts.contains(pair(from, to))) {
                    refusedByCut.computeIfAbsent(pair(from, to), k -> new java.util.concurrent.atomic.AtomicInteger())
                            .incrementAndGet();
                }
                closeQuietly(client);
                continue;
            }
            Socket server = new Socket();
            try {
                server.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), target), 2000);
            } catch (IOException e) {
                closeQuietly(client);
                closeQuietly(server);
                continue; // the node is down: so is the connection through its proxy
            }
            Link link = new Link(from, to, client, server);
            links.add(link);
            pump(link, client, server, "node" + from + "->node" + to);
            pump(link, server, client, "node" + to + "->node" + from);
        }
    }

    /** A chunk of one direction of a link, passed on at {@code at} (nanoTime); an empty one ends the direction. */
    private record Chunk(byte[] bytes, long at) { }

    /**
     * One direction of a link: a reader that stamps each chunk with its time to go (now, plus the
     * delay of either end), and a writer that passes the chunks on in order at their times. At most
     * 1,024 chunks (16 MB) are held: past that the reader stops reading, as TCP would.
     */
    private void pump(Link link, Socket in, Socket out, String name) {
        java.util.concurrent.BlockingQueue<Chunk> held = new java.util.concurrent.LinkedBlockingQueue<>(1024);
        Thread reader = new Thread(() -> {
            byte[] buffer = new byte[16384];
            try (InputStream i = in.getInputStream()) {
                int n;
                while ((n = i.read(buffer)) >= 0) {
                    Chunk c = new Chunk(java.util.Arrays.copyOf(buffer, n), System.nanoTime() + delayOf(link));
                    while (!held.offer(c, 100, java.util.concurrent.TimeUnit.MILLISECONDS)) {
                        if (in.isClosed()) {
                            return; // the writer failed and closed the link
                        }
                    }
                }
            } catch (IOException | InterruptedException e) {
                // one side closed or was cut: the writer closes both
            } finally {
                // the end goes after what was read, at its own time; dropped when the writer is gone
                held.offer(new Chunk(new byte[0], System.nanoTime() + delayOf(link)));
            }
        }, "proxy " + name);
        Thread writer = new Thread(() -> {
            try (OutputStream o = out.getOutputStream()) {
                while (true) {
                    Chunk c = held.take();
                    long wait = c.at() - System.nanoTime();
                    if (wait > 0) {
                        java.util.concurrent.TimeUnit.NANOSECONDS.sleep(wait);
                    }
                    if (c.bytes().length == 0) {
                        break;
                    }
                    o.write(c.bytes());
                    o.flush();
                }
            } catch (IOException | InterruptedException e) {
                // one side closed or was cut: close both
            } finally {
                links.remove(link);
                link.close(); // the reader's read fails, and it ends too
            }
        }, "proxy " + name + " (out)");
        for (Thread t : List.of(reader, writer)) {
            t.setDaemon(true);
            t.start();
        }
    }

    private long delayOf(Link link) {
        return Math.max(delays.getOrDefault(link.from(), 0L), delays.getOrDefault(link.to(), 0L));
    }

    /**
     * The node (1..n) that opened {@code client}'s other end, or 0 when not known (a process
     * that is not a node, such as this JVM's own probes).
     */
    private int opener(Socket client) {
        try {
            long inode = socketInode(client.getPort(), client.getLocalPort());
            if (inode <= 0) {
                return 0;
            }
            String link = "socket:[" + inode + "]";
            for (Map.Entry<Long, Integer> node : nodePids.get().entrySet()) {
                try (var fds = Files.list(Path.of("/proc", node.getKey().toString(), "fd"))) {
                    for (Path fd : fds.toList()) {
                        try {
                            if (Files.readSymbolicLink(fd).toString().equals(link)) {
                                return node.getValue();
                            }
                        } catch (IOException gone) {
                            // the descriptor closed meanwhile
                        }
                    }
                } catch (IOException gone) {
                    // the process ended meanwhile
                }
            }
        } catch (IOException | UncheckedIOException e) {
            // not known
        }
        return 0;
    }

    /**
     * The inode of the loopback socket whose local port is {@code localPort} and remote port
     * {@code remotePort}: the connecting end, as {@code /proc/net/tcp} lists it (ports in hex).
     */
    private static long socketInode(int localPort, int remotePort) throws IOException {
        String local = String.format(":%04X", localPort);
        String remote = String.format(":%04X", remotePort);
        for (String table : List.of("/proc/net/tcp", "/proc/net/tcp6")) {
            Path p = Path.of(table);
            if (!Files.exists(p)) {
                continue;
            }
            for (String line : Files.readAllLines(p)) {
                String[] f = line.trim().split("\\s+");
                if (f.length > 9 && f[1].endsWith(local) && f[2].endsWith(remote)) {
                    return Long.parseLong(f[9]);
                }
            }
        }
        return -1;
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // closing: nothing to do
        }
    }

    @Override public void close() {
        closed = true;
        for (ServerSocket l : listeners) {
            try {
                l.close();
            } catch (IOException ignored) {
                // closing: nothing to do
            }
        }
        links.forEach(Link::close);
        links.clear();
    }

    /** For a ProcessCluster: the nodes' pids, from their pid files (a node that is down has none). */
    public static Supplier<Map<Long, Integer>> byPidFiles(Map<Integer, Path> pidFiles) {
        return () -> {
            Map<Long, Integer> pids = new java.util.HashMap<>();
            pidFiles.forEach((node, file) -> {
                try {
                    pids.put(Long.parseLong(Files.readString(file).strip()), node);
                } catch (IOException | NumberFormatException ignored) {
                    // not running, or the file is being written: not a node now
                }
            });
            return pids;
        };
    }
}
