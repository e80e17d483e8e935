package io.warren.cluster;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * A metadata group of in-process members on loopback ports, each with its own storage dir under
 * {@code dir}; a member can be stopped and started again on the same dir and port. Every member
 * is started with {@link #SECRET} unless a test gives one another.
 */
final class TestCluster implements AutoCloseable {
    static final ClusterSecret SECRET = ClusterSecret.of("the test cluster's shared secret".getBytes(StandardCharsets.UTF_8));

    private final List<Member> members;
    private final Path dir;
    private final RaftSettings settings;
    private final MetadataGroup[] running;
    private final RecordingState[] states;
    private final ClusterSecret[] secrets;

    TestCluster(int size, Path dir, RaftSettings settings) {
        this.dir = dir;
        this.settings = settings;
        this.members = new ArrayList<>();
        int[] ports = freePorts(size);
        for (int i = 0; i < size; i++) {
            members.add(new Member("n" + i, "127.0.0.1:" + ports[i]));
        }
        this.running = new MetadataGroup[size];
        this.states = new RecordingState[size];
        this.secrets = new ClusterSecret[size];
        Arrays.fill(secrets, SECRET);
    }

    /** Member {@code i} will start (from its next start on) with {@code secret} instead of {@link #SECRET}. */
    TestCluster withSecret(int i, ClusterSecret secret) {
        secrets[i] = secret;
        return this;
    }

    /** Member {@code i}'s address, whether it runs or not. */
    Member memberAt(int i) {
        return members.get(i);
    }

    /** Every member, running or not. */
    List<Member> members() {
        return List.copyOf(members);
    }

    /** Member {@code i}'s storage dir. */
    Path storageDir(int i) {
        return dir.resolve(members.get(i).id());
    }

    /**
     * Free ports, all held open together so none is handed out twice. They come from 20000-32767, below
     * Linux's ephemeral range: a member that is stopped and started again binds its port anew, and a port in
     * the ephemeral range could meanwhile be the local end of one of the other members' outgoing connections.
     * Test JVMs that run side by side (surefire's forks: {@code warren.test.fork} 1 to
     * {@code warren.test.forks}) take a part each, so that a port one checked free and then released is
     * not bound by another before its member binds it.
     */
    private static int[] freePorts(int n) {
        int forks = Math.max(1, Integer.getInteger("warren.test.forks", 1));
        int slot = Math.floorMod(Integer.getInteger("warren.test.fork", 1) - 1, forks);
        int part = (32768 - 20000) / forks;
        int low = 20000 + slot * part;
        int high = slot == forks - 1 ? 32768 : low + part;
        List<ServerSocket> sockets = new ArrayList<>();
        java.util.concurrent.ThreadLocalRandom random = java.util.concurrent.ThreadLocalRandom.current();
        try {
            int[] ports = new int[n];
            for (int i = 0, attempts = 0; i < n; attempts++) {
                if (attempts > 1000) {
                    throw new IOException("no free TCP port in " + low + "-" + (high - 1) + " after 1000 tries");
                }
                ServerSocket s = new ServerSocket();
                try {
                    s.bind(new java.net.InetSocketAddress(InetAddress.getLoopbackAddress(), random.nextInt(low, high)), 1);
                } catch (IOException inUse) {
                    s.close();
                    continue;
                }
                sockets.add(s);
                ports[i++] = s.getLocalPort();
            }
            return ports;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            for (ServerSocket s : sockets) {
                try {
                    s.close();
                } catch (IOException ignored) {
                    // closing a listening socket we opened: nothing to do
                }
            }
        }
    }

    TestCluster startAll() throws IOException {
        for (int i = 0; i < members.size(); i++) {
            start(i);
        }
        return this;
    }

    /** Starts member {@code i} with a new, empty {@link RecordingState} (its snapshot and log fill it). */
    MetadataGroup start(int i) throws IOException {
        if (running[i] != null) {
            throw new IllegalStateException("member " + i + " is running");
        }
        states[i] = new RecordingState();
        running[i] = MetadataGroup.start(members.get(i), members, secrets[i], storageDir(i),
                settings, states[i]);
        return running[i];
    }

    /** Starts member {@code i} as one of a group of {@code group} only (a cluster that another member joins later). */
    MetadataGroup startAmong(int i, List<Member> group) throws IOException {
        states[i] = new RecordingState();
        running[i] = MetadataGroup.start(members.get(i), group, secrets[i], storageDir(i), settings, states[i]);
        return running[i];
    }

    /**
     * Starts member {@code i} as a node joining the running group of {@code group} (itself
     * among them) does (join_cluster): knowing the others, waiting to be taken in ({@link MetadataGroup#addSelf}).
     */
    MetadataGroup startJoining(int i, List<Member> group) throws IOException {
        states[i] = new RecordingState();
        running[i] = RaftNode.startJoining(members.get(i), members.get(i).port(), group, secrets[i], storageDir(i),
                settings, states[i]).metadata();
        return running[i];
    }

    void stop(int i) {
        running[i].close();
        running[i] = null;
    }

    MetadataGroup member(int i) {
        return running[i];
    }

    RecordingState state(int i) {
        return states[i];
    }

    int size() {
        return members.size();
    }

    /** The running member that believes it leads, if any. */
    Optional<Integer> leader() {
        for (int i = 0; i < running.length; i++) {
            if (running[i] != null && running[i].isLeader()) {
                return Optional.of(i);
            }
        }
        return Optional.empty();
    }

    @Override public void close() {
        for (int i = 0; i < running.length; i++) {
            if (running[i] != null) {
                stop(i);
            }
        }
    }
}
