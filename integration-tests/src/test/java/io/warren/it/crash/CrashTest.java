package io.warren.it.crash;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import com.rabbitmq.client.GetResponse;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentNavigableMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * kill -9 of a real broker process while several publishers wait for confirms, repeated on
 * the same data dir: every confirmed persistent message survives every crash.
 *
 * <p>Each round starts bin/warren on the data dir, takes a few messages with basic.get and
 * acks them on a channel that it then closes (close-ok: the broker has handled the acks),
 * starts 4 publishers (own connection each, confirm mode, persistent messages whose id is in
 * message_id and body) and a consumer acking 9 deliveries in 10, and kills the broker JVM
 * with SIGKILL after a random delay. Finally the broker is started once more and the queue is
 * drained. Checked:
 * <ul>
 *   <li>every confirmed id is there, unless a consumer acked it (an unsettled ack may or may
 *       not have reached the disk before the kill, as in RabbitMQ);</li>
 *   <li>ids acked before a close-ok, in a round where a later publish was confirmed, never
 *       come back: that confirm's group commit covered the acks;</li>
 *   <li>other acked ids come back only marked redelivered; so does any second copy;</li>
 *   <li>no id that was never published appears, and each body is its id's;</li>
 *   <li>the queue keeps publish order across restarts (per publisher, and round after round).</li>
 * </ul>
 * Unconfirmed (or nacked) ids may or may not be there: they are not counted as lost.
 *
 * <p>The seed is printed; rerun a sequence with {@code -Dcrash.seed=N}.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class CrashTest {
    private static final String QUEUE = "crash-durable";
    private static final int ROUNDS = Integer.getInteger("crash.rounds", 4);
    private static final int PUBLISHERS = 4;
    private static final int WINDOW = 1_000;
    private static final int BODY_SIZE = 300;
    private static final int GETS_PER_ROUND = 100;

    @TempDir
    Path tmp;

    /** Every id given to basicPublish (sent or not). */
    private final Set<String> published = ConcurrentHashMap.newKeySet();
    private final Set<String> confirmed = ConcurrentHashMap.newKeySet();
    private final Set<String> nacked = ConcurrentHashMap.newKeySet();
    /** Acked by the round consumers, with no proof the ack reached the disk. */
    private final Set<String> acked = ConcurrentHashMap.newKeySet();
    /** Acked, then close-ok, then a publish confirmed: these acks are durable. */
    private final Set<String> settled = new HashSet<>();

    @Test
    void confirmedMessagesSurviveRepeatedKill9() throws Exception {
        assumeTrue(BrokerProcess.packaged(), BrokerProcess.JAR + " is missing: run mvn -q -B -DskipTests package first");
        String off = BrokerProcess.crashTestsOff();
        if (off != null) {
            System.out.println("CrashTest skipped: " + off);
        }
        assumeTrue(off == null, off);
        long seed = Long.getLong("crash.seed", System.nanoTime());
        System.out.println("CrashTest seed " + seed + " (rerun with -Dcrash.seed=" + seed + ")");
        Random random = new Random(seed);
        long t0 = System.nanoTime();
        try (BrokerProcess broker = new BrokerProcess(tmp, tmp.resolve("data"), "-Xmx512m -XX:TieredStopAtLevel=1")) {
            for (int round = 0; round < ROUNDS; round++) {
                round(broker, round, random);
            }
            broker.start();
            String recoveredLine = recoveredLine(broker);
            List<Drained> drained = drain(broker);
            broker.stop();
            System.out.printf("final: %s; drained %,d; totals: published %,d, confirmed %,d, nacked %,d, acked %,d"
                            + " (settled %,d); %.1f s%n", recoveredLine, drained.size(), published.size(),
                    confirmed.size(), nacked.size(), acked.size(), settled.size(), (System.nanoTime() - t0) / 1e9);
            check(drained);
        }
    }

    // ---- one round: start, settle some acks, publish and consume, kill -9 -----------------

    private void round(BrokerProcess broker, int round, Random random) throws Exception {
        broker.start();
        ConnectionHolder control = new ConnectionHolder(broker.factory().newConnection("crash-control-" + round));
        List<String> gotAndAcked;
        try {
            Channel ch = control.connection.createChannel();
            ch.queueDeclare(QUEUE, true, false, false, null);
            gotAndAcked = getAndAck(ch);
            ch.close(); // close-ok: the broker has handled the acks before anything below
        } finally {
            control.close();
        }
        int prePublished = published.size();
        int preConfirmed = confirmed.size();
        int preAcked = acked.size();

        RoundConsumer consumer = new RoundConsumer(broker.factory().newConnection("crash-consumer-" + round));
        List<Publisher> publishers = new ArrayList<>();
        for (int p = 0; p < PUBLISHERS; p++) {
            publishers.add(new Publisher(broker.factory().newConnection("crash-pub-" + round + "-" + p), round, p));
        }
        CountDownLatch go = new CountDownLatch(1);
        List<Thread> threads = new ArrayList<>();
        for (Publisher p : publishers) {
            Thread t = new Thread(() -> p.run(go), "crash-publisher-" + round + "-" + p.index);
            t.start();
            threads.add(t);
        }
        long delay = 50 + random.nextInt(1_500);
        go.countDown();
        Thread.sleep(delay);
        int roundConfirmedBeforeKill = publishers.stream().mapToInt(p -> p.confirms.get()).sum();
        broker.kill9();
        for (Publisher p : publishers) {
            p.stop = true;
        }
        for (Thread t : threads) {
            t.join(TimeUnit.SECONDS.toMillis(30));
            assertTrue(!t.isAlive(), t.getName() + " did not stop after the kill");
        }
        consumer.close();
        int roundConfirmed = publishers.stream().mapToInt(p -> p.confirms.get()).sum();
        if (roundConfirmed > 0) {
            // Publishes sent after the close-ok were committed together with (or after) its acks.
            settled.addAll(gotAndAcked);
        }
        System.out.printf("round %d: kill -9 after %4d ms; published %,6d, confirmed %,6d (%,d seen before the kill),"
                        + " nacked %d; consumer got %,d, acked %,d; basic.get+ack before publishing %d%n",
                round, delay, published.size() - prePublished, confirmed.size() - preConfirmed,
                roundConfirmedBeforeKill, publishers.stream().mapToInt(p -> p.nacks.get()).sum(),
                consumer.delivered.get(), acked.size() - preAcked, gotAndAcked.size());
        assertTrue(!broker.running(), "broker still running after kill -9");
    }

    /** basic.get a few messages and ack them (one multiple ack); returns their ids. */
    private List<String> getAndAck(Channel ch) throws IOException {
        List<String> ids = new ArrayList<>();
        long last = -1;
        for (int i = 0; i < GETS_PER_ROUND; i++) {
            GetResponse r = ch.basicGet(QUEUE, false);
            if (r == null) {
                break;
            }
            String id = idOf(r.getProps(), r.getBody());
            ids.add(id);
            last = r.getEnvelope().getDeliveryTag();
        }
        if (last > 0) {
            ch.basicAck(last, true);
            acked.addAll(ids);
        }
        return ids;
    }

    private final class Publisher {
        final Connection connection;
        final int round;
        final int index;
        final Channel channel;
        final ConcurrentNavigableMap<Long, String> outstanding = new ConcurrentSkipListMap<>();
        final Semaphore window = new Semaphore(WINDOW);
        final AtomicInteger confirms = new AtomicInteger();
        final AtomicInteger nacks = new AtomicInteger();
        volatile boolean stop;

        Publisher(Connection connection, int round, int index) throws IOException {
            this.connection = connection;
            this.round = round;
            this.index = index;
            this.channel = connection.createChannel();
            channel.confirmSelect();
            channel.addConfirmListener((tag, multiple) -> settle(tag, multiple, true),
                    (tag, multiple) -> settle(tag, multiple, false));
        }

        private void settle(long tag, boolean multiple, boolean ack) {
            Map<Long, String> done = multiple ? outstanding.headMap(tag, true) : single(tag);
            List<Long> tags = new ArrayList<>(done.keySet());
            for (Long t : tags) {
                String id = outstanding.remove(t);
                if (id == null) {
                    continue;
                }
                if (ack) {
                    confirmed.add(id);
                    confirms.incrementAndGet();
                } else {
                    nacked.add(id);
                    nacks.incrementAndGet();
                }
                window.release();
            }
        }

        private Map<Long, String> single(long tag) {
            String id = outstanding.get(tag);
            return id == null ? Map.of() : Map.of(tag, id);
        }

        void run(CountDownLatch go) {
            byte[] pad = new byte[BODY_SIZE];
            Arrays.fill(pad, (byte) '.');
            try {
                go.await();
                for (int n = 0; !stop; n++) {
                    while (!window.tryAcquire(50, TimeUnit.MILLISECONDS)) {
                        if (stop || !connection.isOpen()) {
                            return;
                        }
                    }
                    String id = id(round, index, n);
                    byte[] body = pad.clone();
                    byte[] idBytes = id.getBytes(StandardCharsets.US_ASCII);
                    System.arraycopy(idBytes, 0, body, 0, idBytes.length);
                    AMQP.BasicProperties props = new AMQP.BasicProperties.Builder()
                            .deliveryMode(2).messageId(id).build();
                    outstanding.put(channel.getNextPublishSeqNo(), id);
                    published.add(id);
                    channel.basicPublish("", QUEUE, false, props, body);
                }
            } catch (IOException | RuntimeException e) {
                // the broker was killed under us
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                if (connection.isOpen()) {
                    connection.abort(1_000);
                }
            }
        }
    }

    /** Consumes with manual acks, acking 9 deliveries in 10 (the tenth stays unacked until the kill). */
    private final class RoundConsumer {
        final ConnectionHolder holder;
        final AtomicInteger delivered = new AtomicInteger();

        RoundConsumer(Connection connection) throws IOException {
            this.holder = new ConnectionHolder(connection);
            Channel ch = connection.createChannel();
            ch.basicQos(200);
            ch.basicConsume(QUEUE, false, new DefaultConsumer(ch) {
                @Override public void handleDelivery(String tag, Envelope env, AMQP.BasicProperties props, byte[] body)
                        throws IOException {
                    String id = idOf(props, body);
                    if (delivered.incrementAndGet() % 10 != 0) {
                        getChannel().basicAck(env.getDeliveryTag(), false);
                        acked.add(id);
                    }
                }
            });
        }

        void close() {
            holder.close();
        }
    }

    private static final class ConnectionHolder {
        final Connection connection;

        ConnectionHolder(Connection connection) {
            this.connection = connection;
        }

        void close() {
            if (connection.isOpen()) {
                connection.abort(1_000);
            }
        }
    }

    // ---- the end: drain and check --------------------------------------------------------

    private record Drained(String id, boolean redelivered) {
    }

    /** Ids whose drained body is not the one published under that id. */
    private final List<String> badBodies = new ArrayList<>();

    private static String recoveredLine(BrokerProcess broker) throws IOException {
        String[] lines = broker.log().split("\n");
        for (int i = lines.length - 1; i >= 0; i--) {
            if (lines[i].contains("recovered ") && lines[i].contains(" messages in ")) {
                return lines[i].substring(lines[i].indexOf("recovered "));
            }
        }
        return "(no 'recovered' line in the log)";
    }

    private List<Drained> drain(BrokerProcess broker) throws Exception {
        List<Drained> out = new ArrayList<>();
        Connection c = broker.factory().newConnection("crash-drain");
        try {
            Channel ch = c.createChannel();
            int count = ch.queueDeclarePassive(QUEUE).getMessageCount();
            ch.basicQos(1_000);
            CountDownLatch all = new CountDownLatch(1);
            if (count == 0) {
                all.countDown();
            }
            ch.basicConsume(QUEUE, false, new DefaultConsumer(ch) {
                @Override public void handleDelivery(String tag, Envelope env, AMQP.BasicProperties props, byte[] body)
                        throws IOException {
                    String id = idOf(props, body);
                    synchronized (out) {
                        if (!new String(body, StandardCharsets.US_ASCII).startsWith(id + ".")) {
                            badBodies.add(id);
                        }
                        out.add(new Drained(id, env.isRedeliver()));
                        if (out.size() % 100 == 0 || out.size() >= count) {
                            getChannel().basicAck(env.getDeliveryTag(), true);
                        }
                        if (out.size() == count) {
                            all.countDown();
                        }
                    }
                }
            });
            assertTrue(all.await(60, TimeUnit.SECONDS), "drained " + out.size() + " of " + count + " in 60 s");
            Thread.sleep(200); // anything beyond the count would be a bug: let it show
            GetResponse extra = ch.basicGet(QUEUE, true);
            assertEquals(null, extra == null ? null : idOf(extra.getProps(), extra.getBody()),
                    "queue not empty after draining the count it reported");
            synchronized (out) {
                return new ArrayList<>(out);
            }
        } finally {
            c.abort(2_000);
        }
    }

    private void check(List<Drained> drained) {
        Map<String, Integer> copies = new HashMap<>();
        List<String> problems = new ArrayList<>();
        badBodies.forEach(id -> problems.add("body of " + id + " is not its own"));
        int duplicates = 0;
        int[] lastRound = {-1};
        Map<String, Integer> lastN = new HashMap<>();
        for (Drained d : drained) {
            int seen = copies.merge(d.id, 1, Integer::sum);
            if (!published.contains(d.id)) {
                problems.add(d.id + " was never published");
            }
            if (seen > 1) {
                duplicates++;
                if (!d.redelivered) {
                    problems.add(d.id + " came twice, the second copy not marked redelivered");
                }
            }
            if (settled.contains(d.id)) {
                problems.add(d.id + " came back after an ack that a later confirm covered");
            } else if (acked.contains(d.id) && !d.redelivered) {
                problems.add(d.id + " came back after an ack, not marked redelivered");
            }
            String[] f = d.id.split("-");
            int round = Integer.parseInt(f[0].substring(1));
            int n = Integer.parseInt(f[2]);
            if (round < lastRound[0]) {
                problems.add(d.id + " out of order: after a message of round " + lastRound[0]);
            }
            lastRound[0] = Math.max(lastRound[0], round);
            Integer prev = lastN.put(f[0] + "-" + f[1], n);
            if (prev != null && n <= prev && seen == 1) {
                problems.add(d.id + " out of publish order (after n=" + prev + ")");
            }
        }
        int lost = 0;
        for (String id : confirmed) {
            if (!copies.containsKey(id) && !acked.contains(id)) {
                lost++;
                if (lost <= 20) {
                    problems.add("confirmed " + id + " lost");
                }
            }
        }
        long unconfirmedPresent = copies.keySet().stream().filter(id -> !confirmed.contains(id)).count();
        System.out.printf("check: %,d distinct ids, %d duplicates, %d confirmed lost, %,d unconfirmed present,"
                + " %,d acked ids present (redelivered)%n", copies.size(), duplicates, lost, unconfirmedPresent,
                copies.keySet().stream().filter(acked::contains).count());
        assertTrue(confirmed.size() > 1_000, "too few confirms for a meaningful test: " + confirmed.size());
        if (!problems.isEmpty()) {
            fail(problems.size() + " problems (seed printed above), first ones:\n  "
                    + String.join("\n  ", problems.subList(0, Math.min(40, problems.size()))));
        }
    }

    private static String id(int round, int publisher, int n) {
        return "r" + round + "-p" + publisher + "-" + n;
    }

    private static String idOf(AMQP.BasicProperties props, byte[] body) {
        String id = props.getMessageId();
        if (id == null) {
            throw new AssertionError("message without message_id: " + new String(body, 0, Math.min(40, body.length),
                    StandardCharsets.US_ASCII));
        }
        return id;
    }
}
