import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.DeliverCallback;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The cluster soak (bench/cluster-soak.sh): three warren nodes (bin/warren, one process each,
 * configs in WORK/nodeN.conf written by the script), a quorum queue, 4 confirm-mode publishers
 * spread over the nodes that run, an acking consumer on the queue's leader, and for MINUTES a
 * fault every 15-30 s on a random node: kill -9 (restarted 5-10 s later), SIGSTOP for 5 s
 * (longer than the election timeout) then SIGCONT, a partition that cuts the node off from
 * both others for 5-10 s, a partial partition that cuts it from one other node only for 5-10 s,
 * or a slow network: every byte to and from the node held back 3 s (past the election timeout)
 * for 5-10 s. The nodes reach each other through TCP proxies in this JVM on loopback
 * (integration-tests' NodeProxies: the node list names the proxy, the node listens on
 * cluster.listener.port). At the end: every node up, publishers
 * stopped, the queue drained; prints confirmed, consumed, duplicates and confirmed-but-lost
 * (must be 0) and exits 1 if any confirmed message was lost.
 *
 *   java -cp CP ClusterSoak.java WORK BIN_WARREN MINUTES
 */
public class ClusterSoak {
    static Path work;
    static String warren;
    static final Random RANDOM = new Random();
    static final Set<String> confirmed = ConcurrentHashMap.newKeySet();
    static final Map<String, Integer> consumed = new ConcurrentHashMap<>();
    static final AtomicBoolean stopPublishing = new AtomicBoolean();
    static final AtomicBoolean stopConsuming = new AtomicBoolean();
    static final AtomicLong nacked = new AtomicLong();
    /**
     * SOAK_LARGE_EVERY=N (0, the default: none): every Nth message of each publisher is padded to
     * SOAK_LARGE_BYTES (default 5,000,000), past a Raft log entry's 1 MiB, so it goes to the log in
     * parts; a body is its id, then "|" and the padding when there is one.
     */
    static final int LARGE_EVERY = Integer.parseInt(System.getenv().getOrDefault("SOAK_LARGE_EVERY", "0"));
    static final int LARGE_BYTES = Integer.parseInt(System.getenv().getOrDefault("SOAK_LARGE_BYTES", "5000000"));

    /** Restarts (after a kill -9) that bin/warren reported failed: the node stayed down. */
    static int failedStarts;

    public static void main(String[] args) {
        try {
            soak(args);
        } catch (Throwable t) {
            // the clients' connection threads would keep the JVM (and the script) running
            System.out.println(now() + " cluster soak failed: " + t);
            t.printStackTrace(System.out);
            System.exit(2);
        }
    }

    static void soak(String[] args) throws Exception {
        work = Path.of(args[0]);
        warren = args[1];
        double minutes = Double.parseDouble(args[2]);
        int[] proxyPorts = new int[3];
        int[] listenPorts = new int[3];
        Map<Integer, Path> pidFiles = new java.util.HashMap<>();
        for (int i = 1; i <= 3; i++) {
            listenPorts[i - 1] = Integer.parseInt(key(i, "cluster.listener.port"));
            String entry = key(i, "cluster_formation.classic_config.nodes." + i);
            proxyPorts[i - 1] = Integer.parseInt(entry.substring(entry.lastIndexOf(':') + 1));
            pidFiles.put(i, Path.of(key(i, "data_dir"), "warren.pid"));
        }
        io.warren.it.cluster.NodeProxies proxies = new io.warren.it.cluster.NodeProxies(proxyPorts, listenPorts,
                io.warren.it.cluster.NodeProxies.byPidFiles(pidFiles));
        for (int i = 1; i <= 3; i++) {
            run(warren, "start", "--config", conf(i).toString());
        }
        awaitLogin();
        try (Connection c = connect(1)) {
            c.createChannel().queueDeclare("soak", true, false, false, Map.of("x-queue-type", "quorum"));
        }
        List<Thread> threads = new ArrayList<>();
        for (int p = 0; p < 4; p++) {
            String prefix = "p" + p + "-";
            int first = 1 + p % 3;
            threads.add(start(() -> publish(prefix, first)));
        }
        Thread consumer = start(ClusterSoak::consume);
        long end = System.nanoTime() + (long) (minutes * 60e9);
        int kills = 0;
        int stops = 0;
        int partitions = 0;
        int delays = 0;
        int cuts = 0;
        while (System.nanoTime() < end) {
            Thread.sleep(15_000 + RANDOM.nextInt(15_000));
            int node = 1 + RANDOM.nextInt(3);
            long pid = pid(node);
            if (pid < 0 || !ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
                System.out.printf("%s node %d is down (its start failed): starting it again%n", now(), node);
                start(node);
                continue;
            }
            int fault = RANDOM.nextInt(5);
            if (fault == 4) {
                cuts++;
                int other = node % 3 + 1 + RANDOM.nextInt(2);
                other = other > 3 ? other - 3 : other;
                int millis = 5_000 + RANDOM.nextInt(5_000);
                System.out.printf("%s partial partition: nodes %d and %d cut from each other for %d ms; confirmed so far %d%n",
                        now(), node, other, millis, confirmed.size());
                proxies.cut(node, other);
                Thread.sleep(millis);
                proxies.heal();
            } else if (fault == 3) {
                delays++;
                int millis = 5_000 + RANDOM.nextInt(5_000);
                System.out.printf("%s delay: node %d's traffic 3 s late for %d ms; confirmed so far %d%n", now(), node,
                        millis, confirmed.size());
                proxies.delay(node, 3_000);
                Thread.sleep(millis);
                proxies.heal();
            } else if (fault == 2) {
                partitions++;
                int millis = 5_000 + RANDOM.nextInt(5_000);
                System.out.printf("%s partition: node %d cut off for %d ms; confirmed so far %d%n", now(), node, millis,
                        confirmed.size());
                proxies.isolate(node);
                Thread.sleep(millis);
                proxies.heal();
            } else if (fault == 0) {
                kills++;
                System.out.printf("%s kill -9 node %d (pid %d); confirmed so far %d%n", now(), node, pid, confirmed.size());
                run("kill", "-9", String.valueOf(pid));
                Thread.sleep(5_000 + RANDOM.nextInt(5_000));
                start(node);
            } else {
                stops++;
                System.out.printf("%s SIGSTOP node %d for 5 s; confirmed so far %d%n", now(), node, confirmed.size());
                run("kill", "-STOP", String.valueOf(pid));
                Thread.sleep(5_000);
                run("kill", "-CONT", String.valueOf(pid));
            }
        }
        Thread.sleep(5_000);
        stopPublishing.set(true);
        for (Thread t : threads) {
            t.join(60_000);
        }
        // Drain: until every confirmed message was consumed, or a minute without progress.
        long last = consumed.size();
        long idleSince = System.nanoTime();
        while (!consumed.keySet().containsAll(confirmed) && System.nanoTime() - idleSince < 60e9) {
            Thread.sleep(1_000);
            if (consumed.size() != last) {
                last = consumed.size();
                idleSince = System.nanoTime();
            }
        }
        stopConsuming.set(true);
        consumer.join(10_000);
        long lost = confirmed.stream().filter(m -> !consumed.containsKey(m)).count();
        long duplicates = consumed.values().stream().mapToLong(n -> n - 1).sum();
        long invented = consumed.keySet().stream().filter(m -> !m.matches("p[0-3]-[0-9]+")).count();
        System.out.printf("%s cluster soak, %.1f min: %d kill -9, %d SIGSTOP, %d partitions, %d partial partitions, %d "
                + "delays; confirmed %d, consumed %d distinct, duplicates %d, nacked %d, confirmed-but-lost %d, invented %d, "
                + "failed restarts %d%n", now(), minutes, kills, stops, partitions, cuts, delays, confirmed.size(),
                consumed.size(), duplicates, nacked.get(), lost, invented, failedStarts);
        for (int i = 1; i <= 3; i++) {
            run(warren, "stop", "--config", conf(i).toString());
        }
        proxies.close();
        System.exit(lost == 0 && invented == 0 && failedStarts == 0 ? 0 : 1);
    }

    static String now() {
        return java.time.LocalTime.now().withNano(0).toString();
    }

    static Thread start(Runnable r) {
        Thread t = new Thread(r);
        t.setDaemon(true);
        t.start();
        return t;
    }

    static Path conf(int node) {
        return work.resolve("node" + node + ".conf");
    }

    static String key(int node, String key) throws Exception {
        for (String l : Files.readAllLines(conf(node))) {
            if (l.startsWith(key + " =")) {
                return l.substring(l.indexOf('=') + 1).strip();
            }
        }
        throw new IllegalStateException(key + " not in " + conf(node));
    }

    static int amqpPort(int node) throws Exception {
        String v = key(node, "listeners.tcp.default");
        return Integer.parseInt(v.substring(v.lastIndexOf(':') + 1));
    }

    static long pid(int node) throws Exception {
        Path file = Path.of(key(node, "data_dir")).resolve("warren.pid");
        return Files.exists(file) ? Long.parseLong(Files.readString(file).strip()) : -1;
    }

    /** Runs a command; its exit code, or -1 when it ran past two minutes. */
    static int run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .start();
        return p.waitFor(120, TimeUnit.SECONDS) ? p.exitValue() : -1;
    }

    /** Starts node {@code node} through bin/warren; a failed start is printed and counted. */
    static void start(int node) throws Exception {
        int code = run(warren, "start", "--config", conf(node).toString());
        if (code != 0) {
            failedStarts++;
            System.out.printf("%s node %d did not start (bin/warren start exited %d): see its log%n", now(), node, code);
        }
    }

    static Connection connect(int node) throws Exception {
        ConnectionFactory f = new ConnectionFactory();
        f.setPort(amqpPort(node));
        f.setAutomaticRecoveryEnabled(false);
        f.setConnectionTimeout(3_000);
        return f.newConnection();
    }

    static void awaitLogin() throws Exception {
        for (int i = 1; i <= 3; i++) {
            for (int t = 0; ; t++) {
                try (Connection c = connect(i)) {
                    break;
                } catch (Exception e) {
                    if (t > 120) {
                        throw e;
                    }
                    Thread.sleep(500);
                }
            }
        }
    }

    /** The node that leads the queue, asked of the management API of any node that answers. */
    static int leader() {
        Pattern p = Pattern.compile("\"leader\":\"warren([1-3])@");
        for (int i = 1; i <= 3; i++) {
            try {
                HttpRequest r = HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                                + key(i, "management.tcp.port") + "/api/queues/%2F/soak"))
                        .header("Authorization", "Basic " + Base64.getEncoder().encodeToString(
                                "guest:guest".getBytes(StandardCharsets.UTF_8)))
                        .timeout(java.time.Duration.ofSeconds(2)).build();
                String body = HttpClient.newHttpClient().send(r, HttpResponse.BodyHandlers.ofString()).body();
                Matcher m = p.matcher(body);
                if (m.find()) {
                    return Integer.parseInt(m.group(1));
                }
            } catch (Exception e) {
                // that node is down or stopped: ask the next
            }
        }
        return -1;
    }

    static void publish(String prefix, int first) {
        AMQP.BasicProperties persistent = new AMQP.BasicProperties.Builder().deliveryMode(2).build();
        int k = 0;
        int node = first;
        while (!stopPublishing.get()) {
            try (Connection c = connect(node)) {
                Channel ch = c.createChannel();
                ch.confirmSelect();
                while (!stopPublishing.get()) {
                    List<String> batch = new ArrayList<>();
                    for (int i = 0; i < 20; i++) {
                        String m = prefix + k++;
                        byte[] body = m.getBytes(StandardCharsets.UTF_8);
                        if (LARGE_EVERY > 0 && k % LARGE_EVERY == 0) {
                            body = java.util.Arrays.copyOf((m + "|").getBytes(StandardCharsets.UTF_8),
                                    Math.max(LARGE_BYTES, body.length + 1));
                        }
                        ch.basicPublish("", "soak", persistent, body);
                        batch.add(m);
                    }
                    if (ch.waitForConfirms(20_000)) {
                        confirmed.addAll(batch);
                    } else {
                        nacked.addAndGet(batch.size());
                    }
                }
            } catch (Exception e) {
                // not confirmed (connection lost, timeout): try the next node
                node = 1 + node % 3;
                sleep(500);
            }
        }
    }

    static void consume() {
        while (!stopConsuming.get()) {
            int node = leader();
            if (node < 0) {
                sleep(500);
                continue;
            }
            try (Connection c = connect(node)) {
                Channel ch = c.createChannel();
                ch.basicQos(200);
                CountDownLatch2 gone = new CountDownLatch2();
                DeliverCallback deliver = (tag, d) -> {
                    consumed.merge(idOf(d.getBody()), 1, Integer::sum);
                    ch.basicAck(d.getEnvelope().getDeliveryTag(), false);
                };
                ch.basicConsume("soak", false, deliver, tag -> gone.open());
                c.addShutdownListener(s -> gone.open());
                while (!stopConsuming.get() && !gone.isOpen()) {
                    sleep(200);
                }
            } catch (Exception e) {
                sleep(500);
            }
        }
    }

    /** A message's id: its body up to "|" (a padded one), or all of it. */
    static String idOf(byte[] body) {
        int end = 0;
        while (end < body.length && body[end] != '|') {
            end++;
        }
        return new String(body, 0, end, StandardCharsets.UTF_8);
    }

    static final class CountDownLatch2 {
        private volatile boolean open;

        void open() {
            open = true;
        }

        boolean isOpen() {
            return open;
        }
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
