package io.warren.it.cluster;

import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import io.warren.it.support.Processes;
import io.warren.it.support.Processes.Result;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A cluster of real warren nodes on this machine, as the README sets one up: one process per
 * node started by {@code bin/warren start --config}, each with its own ports, data dir and log,
 * the same node list and the same secret file. The list names each node's proxy in this JVM
 * ({@link NodeProxies}), not the port the node listens on, so that tests can partition them.
 */
final class ProcessCluster implements AutoCloseable {
    /** One node: its name, config and ports. */
    record Node(String name, Path dir, Path conf, int amqpPort, int managementPort, int clusterPort, int prometheusPort) {
        Path pidFile() {
            return dir.resolve("data/warren.pid");
        }

        Path log() {
            return dir.resolve("warren.log");
        }
    }

    final List<Node> nodes = new ArrayList<>();
    final Path secret;
    /** The network between the nodes: {@link NodeProxies#isolate} partitions it. */
    final NodeProxies proxies;
    private final Path dir;

    /** Writes {@code size} configs under {@code dir} (nodes warren1@localhost ...); starts none. */
    ProcessCluster(Path dir, int size) throws Exception {
        assumeTrue(Files.isRegularFile(Processes.SERVER_JAR) && Files.isRegularFile(Processes.CLI_JAR),
                "the packaged broker and CLI are missing: run mvn -q -B -DskipTests package first");
        this.dir = dir;
        secret = dir.resolve("cluster.secret");
        byte[] bytes = new byte[32];
        new SecureRandom().nextBytes(bytes);
        Files.writeString(secret, Base64.getEncoder().encodeToString(bytes) + "\n");
        Files.setPosixFilePermissions(secret, PosixFilePermissions.fromString("rw-------"));
        int[] clusterPorts = new int[size];
        Map<Integer, Path> pidFiles = new java.util.HashMap<>();
        for (int i = 1; i <= size; i++) {
            clusterPorts[i - 1] = Processes.freePort();
            Path nodeDir = dir.resolve("node" + i);
            Files.createDirectories(nodeDir);
            nodes.add(new Node("warren" + i + "@localhost", nodeDir, nodeDir.resolve("warren.conf"),
                    Processes.freePort(), Processes.freePort(), clusterPorts[i - 1], Processes.freePort()));
            pidFiles.put(i, nodes.get(i - 1).pidFile());
        }
        // The nodes reach each other through proxies in this JVM (the list names the proxies' ports),
        // so a test can partition the network.
        proxies = new NodeProxies(clusterPorts, NodeProxies.byPidFiles(pidFiles));
        List<String> peers = new ArrayList<>();
        for (int i = 1; i <= size; i++) {
            peers.add("cluster_formation.classic_config.nodes." + i + " = warren" + i + "@localhost:" + proxies.port(i));
        }
        for (Node n : nodes) {
            StringBuilder c = new StringBuilder();
            c.append("listeners.tcp.default = 127.0.0.1:").append(n.amqpPort()).append('\n')
                    .append("management.tcp.port = ").append(n.managementPort()).append('\n')
                    .append("prometheus.tcp.port = ").append(n.prometheusPort()).append('\n')
                    .append("data_dir = data\nlog.file = warren.log\n")
                    .append("node.name = ").append(n.name()).append('\n')
                    .append("cluster.listener.port = ").append(n.clusterPort()).append('\n')
                    .append("cluster.secret_file = ").append(secret).append('\n')
                    .append("cluster_formation.peer_discovery_backend = classic_config\n");
            peers.forEach(p -> c.append(p).append('\n'));
            Files.writeString(n.conf(), c.toString());
        }
    }

    /**
     * A node of its own, for join_cluster: the next number, the same secret, a config that lists
     * itself only (with the port it listens on: no proxy). Started by {@link #start}; returns its number.
     */
    int addLoneNode() throws Exception {
        int i = nodes.size() + 1;
        Path nodeDir = dir.resolve("node" + i);
        Files.createDirectories(nodeDir);
        Node n = new Node("warren" + i + "@localhost", nodeDir, nodeDir.resolve("warren.conf"), Processes.freePort(),
                Processes.freePort(), Processes.freePort(), Processes.freePort());
        nodes.add(n);
        Files.writeString(n.conf(), "listeners.tcp.default = 127.0.0.1:" + n.amqpPort() + "\n"
                + "management.tcp.port = " + n.managementPort() + "\n"
                + "prometheus.tcp.port = " + n.prometheusPort() + "\n"
                + "data_dir = data\nlog.file = warren.log\n"
                + "node.name = " + n.name() + "\n"
                + "cluster.listener.port = " + n.clusterPort() + "\n"
                + "cluster.secret_file = " + secret + "\n"
                + "cluster_formation.peer_discovery_backend = classic_config\n"
                + "cluster_formation.classic_config.nodes.1 = " + n.name() + ":" + n.clusterPort() + "\n");
        return i;
    }

    Node node(int i) {
        return nodes.get(i - 1);
    }

    /** {@code bin/warren start} for node {@code i}; fails the test if the script does. */
    void start(int i) throws Exception {
        Result r = warren(node(i), "start");
        assertEquals(0, r.code(), r.all());
    }

    void startAll() throws Exception {
        for (int i = 1; i <= nodes.size(); i++) {
            start(i);
        }
    }

    /** {@code bin/warren stop} for node {@code i}. */
    Result stop(int i) throws Exception {
        return warren(node(i), "stop");
    }

    Result warren(Node n, String command) throws Exception {
        return Processes.runMerged(n.dir(), List.of(Processes.WARREN.toString(), command, "--config",
                n.conf().toString()), Map.of(), Processes.TIMEOUT);
    }

    /** {@code bin/warrenctl ARGS} against node {@code i} (WARREN_CONFIG names its config). */
    Result ctl(int i, String... args) throws Exception {
        List<String> c = new ArrayList<>();
        c.add(Processes.WARRENCTL.toString());
        c.addAll(List.of(args));
        return Processes.run(node(i).dir(), c, Map.of("WARREN_CONFIG", node(i).conf().toString()));
    }

    /** An AMQP connection to node {@code i} as guest, without automatic recovery. */
    Connection connect(int i) throws Exception {
        ConnectionFactory f = new ConnectionFactory();
        f.setHost("127.0.0.1");
        f.setPort(node(i).amqpPort());
        f.setAutomaticRecoveryEnabled(false);
        return f.newConnection();
    }

    /** Stops every node; one that does not stop is killed, so no JVM outlives the test. */
    @Override public void close() throws Exception {
        proxies.close();
        for (Node n : nodes) {
            Result r = warren(n, "stop");
            if (r.code() != 0 && Files.exists(n.pidFile())) {
                ProcessHandle.of(Processes.pid(n.pidFile())).ifPresent(ProcessHandle::destroyForcibly);
            }
        }
        keepLogs();
    }

    /** The logs go with the temp dir: keep copies under target/broker-logs/cluster-TIME/ for a post-mortem. */
    private void keepLogs() {
        Path to = Processes.ROOT.resolve("integration-tests/target/broker-logs/cluster-" + System.currentTimeMillis());
        for (int i = 1; i <= nodes.size(); i++) {
            Node n = nodes.get(i - 1);
            try (java.util.stream.Stream<Path> logs = Files.list(n.dir())) {
                for (Path log : logs.filter(f -> f.getFileName().toString().startsWith("warren.log")).toList()) {
                    Files.createDirectories(to);
                    Files.copy(log, to.resolve("node" + i + "-" + log.getFileName()));
                }
            } catch (java.io.IOException ignored) {
                // only a convenience
            }
        }
    }
}
