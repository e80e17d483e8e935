package io.warren.it.extensions;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import com.rabbitmq.client.GetResponse;
import io.warren.core.queue.MessageQueue;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * Message TTL for paged-out messages: an expired message leaves the counts at once and is
 * dead-lettered (reason {@code expired}) within about a second of its expiry wherever it sits,
 * deep in the spill too, without waiting for the spill to be read back (no consumer reads it back
 * here); a {@code message-ttl} policy re-times the paged-out messages as well (shortened: the
 * counts drop at once and the DLQ gets them; lengthened: nothing expires early); a durable queue
 * neither loses nor duplicates such messages across a restart. A paging ratio of 0 keeps the
 * broker under memory pressure, so a queue keeps only 256 KiB in memory and 3,000 1 KB messages
 * are mostly on disk.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class PagedMessageTtlTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker(c -> c.withMemoryPagingRatio(0.0));

    static final int BODY = 1000;
    static final int N = 3000;
    /** The promised second plus slack for a loaded 2-core machine: still far below a read-back, which never comes. */
    static final long LATE_MS = 1500;

    @BeforeAll
    static void needsItsOwnBroker() {
        assumeFalse(WarrenBroker.external(), "reads the broker's paging counters and restarts it");
    }

    private static byte[] body(int i) {
        byte[] b = new byte[BODY];
        ByteBuffer.wrap(b).putInt(i);
        return b;
    }

    private static int id(byte[] body) {
        return ByteBuffer.wrap(body).getInt();
    }

    private static long pagedOut(String q) throws Exception {
        MessageQueue mq = broker.broker().vhost("/").queue(q);
        return mq.loop().submit(mq::pagedOutCount).get();
    }

    private static int count(Channel ch, String q) throws Exception {
        return ch.queueDeclarePassive(q).getMessageCount();
    }

    /** Declares {@code dlq} and {@code q} dead-lettering to it through the default exchange. */
    private static void declare(Channel ch, String q, String dlq, boolean durable, Map<String, Object> args)
            throws Exception {
        ch.queueDeclare(dlq, durable, false, false, null);
        Map<String, Object> a = new HashMap<>(args);
        a.put("x-dead-letter-exchange", "");
        a.put("x-dead-letter-routing-key", dlq);
        ch.queueDeclare(q, durable, false, false, a);
    }

    /** Publishes 0 .. N-1 with confirms; those {@code expiring} get the expiration {@code ttl}. */
    private static void publish(Channel ch, String q, boolean persistent, java.util.function.IntPredicate expiring,
                                String ttl) throws Exception {
        ch.confirmSelect();
        for (int i = 0; i < N; i++) {
            AMQP.BasicProperties.Builder p = new AMQP.BasicProperties.Builder().deliveryMode(persistent ? 2 : 1)
                    .timestamp(new java.util.Date());
            if (expiring.test(i)) {
                p.expiration(ttl).headers(Map.of("published-at", System.currentTimeMillis()));
            }
            ch.basicPublish("", q, p.build(), body(i));
        }
        ch.waitForConfirmsOrDie(60_000);
    }

    /** Consumes {@code dlq}, recording each message's id, arrival time and properties. */
    private static Map<Integer, Object[]> watch(Channel ch, String dlq) throws Exception {
        Map<Integer, Object[]> got = new ConcurrentHashMap<>();
        Set<Integer> twice = ConcurrentHashMap.newKeySet();
        ch.basicConsume(dlq, true, new DefaultConsumer(ch) {
            @Override
            public void handleDelivery(String tag, Envelope env, AMQP.BasicProperties props, byte[] b) {
                if (got.put(id(b), new Object[] {System.currentTimeMillis(), props}) != null) {
                    twice.add(id(b));
                }
            }
        });
        got.put(-1, new Object[] {twice});
        return got;
    }

    @SuppressWarnings("unchecked")
    private static Set<Integer> twice(Map<Integer, Object[]> got) {
        return (Set<Integer>) got.get(-1)[0];
    }

    private static int dead(Map<Integer, Object[]> got) {
        return got.size() - 1;
    }

    @SuppressWarnings("unchecked")
    private static void assertExpiredDeath(AMQP.BasicProperties props, String q) {
        Object d = props.getHeaders().get("x-death");
        assertInstanceOf(List.class, d, "x-death");
        Map<String, Object> first = ((List<Map<String, Object>>) d).get(0);
        assertEquals("expired", first.get("reason").toString());
        assertEquals(q, first.get("queue").toString());
    }

    /** Takes every message of {@code q}; returns their ids (each at most once, or the test fails). */
    private static Set<Integer> drain(Channel ch, String q) throws Exception {
        Set<Integer> ids = new HashSet<>();
        GetResponse r;
        while ((r = ch.basicGet(q, true)) != null) {
            assertTrue(ids.add(id(r.getBody())), "message " + id(r.getBody()) + " twice");
        }
        return ids;
    }

    // ---- policies through the management API ------------------------------------------------

    private static HttpResponse<String> http(String method, String path, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + broker.broker().managementPort()
                        + path))
                .header("Authorization", "Basic " + Base64.getEncoder().encodeToString("guest:guest".getBytes()))
                .header("Content-Type", "application/json")
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(body));
        return HttpClient.newHttpClient().send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static void policy(String name, String q, String definition) throws Exception {
        String pattern = "^" + Pattern.quote(q).replace("\\", "\\\\") + "$";
        HttpResponse<String> r = http("PUT", "/api/policies/%2F/" + name, "{\"pattern\":\"" + pattern
                + "\",\"definition\":" + definition + ",\"priority\":0,\"apply-to\":\"queues\"}");
        assertTrue(r.statusCode() == 201 || r.statusCode() == 204, r.statusCode() + " " + r.body());
    }

    /** The management API's {@code messages} of {@code q}. */
    private static long apiMessages(String q) throws Exception {
        HttpResponse<String> r = http("GET", "/api/queues/%2F/" + URLEncoder.encode(q, StandardCharsets.UTF_8), null);
        assertEquals(200, r.statusCode(), r.body());
        Matcher m = Pattern.compile("\"messages\"\\s*:\\s*(\\d+)").matcher(r.body());
        assertTrue(m.find(), r.body());
        return Long.parseLong(m.group(1));
    }

    // ---- tests -------------------------------------------------------------------------------

    /**
     * Every 100th message from the 1,000th on carries a short expiration: they sit deep in the
     * spill, and nothing reads the spill back (no consumer), yet each reaches the DLQ within about
     * a second of its expiry, with reason expired, and the counts are exact.
     */
    @Test
    void expirationsDeepInTheSpillAreDeadLetteredWithinASecond() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = "spill-ttl-" + UUID.randomUUID();
        String dlq = q + "-dlq";
        declare(ch, q, dlq, false, Map.of());
        java.util.function.IntPredicate expiring = i -> i >= 1000 && i % 100 == 0;
        int expiringCount = (N - 1000) / 100;
        Map<Integer, Object[]> got = watch(broker.connect().createChannel(), dlq);
        publish(ch, q, false, expiring, "1200");
        assertTrue(pagedOut(q) > N / 2, "paged out only " + pagedOut(q));

        await().atMost(Duration.ofSeconds(10)).until(() -> dead(got) == expiringCount);
        long worst = Long.MIN_VALUE;
        for (Map.Entry<Integer, Object[]> e : got.entrySet()) {
            if (e.getKey() < 0) {
                continue;
            }
            assertTrue(expiring.test(e.getKey()), "message " + e.getKey() + " dead-lettered");
            AMQP.BasicProperties props = (AMQP.BasicProperties) e.getValue()[1];
            assertExpiredDeath(props, q);
            long expiry = ((Number) props.getHeaders().get("published-at")).longValue() + 1200;
            long late = (Long) e.getValue()[0] - expiry;
            worst = Math.max(worst, late);
            assertTrue(late < LATE_MS, "message " + e.getKey() + " dead-lettered " + late + " ms after its expiry");
        }
        System.out.println("paged-out expirations: " + expiringCount + " dead-lettered, the latest " + worst
                + " ms after its expiry, " + pagedOut(q) + " messages still paged out");
        // they went from the disk, not through a read-back
        assertTrue(pagedOut(q) > N / 2, "read back: " + pagedOut(q));
        assertEquals(N - expiringCount, count(ch, q));
        await().atMost(Duration.ofSeconds(10)).until(() -> apiMessages(q) == N - expiringCount);

        Set<Integer> left = drain(ch, q);
        assertEquals(N - expiringCount, left.size());
        for (int i = 0; i < N; i++) {
            assertEquals(!expiring.test(i), left.contains(i), "message " + i);
        }
        assertEquals(expiringCount, dead(got));
        assertTrue(twice(got).isEmpty(), "dead-lettered twice: " + twice(got));
    }

    /**
     * A policy shortens the TTL of a queue with a paged backlog: every message is past the new TTL,
     * so the count drops to 0 at once and the DLQ gets all of them, each once, with reason expired.
     */
    @Test
    void aShorterTtlPolicyExpiresThePagedBacklogAtOnce() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = "spill-ttl-short-" + UUID.randomUUID();
        shortenTheTtlOfAPagedBacklog(ch, q, Map.of());
        assertNull(ch.basicGet(q, true));
        await().atMost(Duration.ofSeconds(10)).until(() -> apiMessages(q) == 0);
    }

    /**
     * Declares {@code q} (with {@code args}) dead-lettering to its DLQ, pages out N messages, and
     * gives it a 1 ms TTL by policy: the count drops to 0 at once and the DLQ gets every message
     * once, with reason expired, within 3 s. The policy is gone again on return; returns the DLQ's
     * watch.
     */
    private Map<Integer, Object[]> shortenTheTtlOfAPagedBacklog(Channel ch, String q, Map<String, Object> args)
            throws Exception {
        String dlq = q + "-dlq";
        declare(ch, q, dlq, false, args);
        Map<Integer, Object[]> got = watch(broker.connect().createChannel(), dlq);
        publish(ch, q, false, i -> false, null);
        assertTrue(pagedOut(q) > N / 2, "paged out only " + pagedOut(q));
        assertEquals(N, count(ch, q));

        String p = "short-" + UUID.randomUUID();
        long set = System.currentTimeMillis();
        policy(p, q, "{\"message-ttl\":1}");
        await().atMost(Duration.ofSeconds(2)).until(() -> count(ch, q) == 0);
        await().atMost(Duration.ofSeconds(10)).until(() -> dead(got) == N);
        long last = got.values().stream().filter(v -> v[0] instanceof Long).mapToLong(v -> (Long) v[0]).max().orElse(0);
        assertTrue(last - set < 3000, "the last arrived " + (last - set) + " ms after the policy");
        for (Map.Entry<Integer, Object[]> e : got.entrySet()) {
            if (e.getKey() >= 0) {
                assertExpiredDeath((AMQP.BasicProperties) e.getValue()[1], q);
            }
        }
        assertTrue(twice(got).isEmpty(), "dead-lettered twice: " + twice(got));
        http("DELETE", "/api/policies/%2F/" + p, null);
        return got;
    }

    /**
     * A policy lengthens the TTL of a queue with a paged backlog before the old TTL ran out:
     * nothing expires at the old expiry, and the counts match what a consumer then gets.
     */
    @Test
    void aLongerTtlPolicyKeepsThePagedBacklog() throws Exception {
        longerTtlKeepsThePagedBacklog(Map.of());
    }

    /**
     * The same in a length-limited queue: its ledger, which its counts and its drops go by, is
     * re-timed too, so nothing leaves the count at the old expiry.
     */
    @Test
    void aLongerTtlPolicyKeepsALengthLimitedQueuesPagedBacklog() throws Exception {
        longerTtlKeepsThePagedBacklog(Map.of("x-max-length", N));
    }

    private void longerTtlKeepsThePagedBacklog(Map<String, Object> args) throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = "spill-ttl-long-" + UUID.randomUUID();
        String dlq = q + "-dlq";
        String p = "long-" + UUID.randomUUID();
        policy(p, q, "{\"message-ttl\":1500}");
        declare(ch, q, dlq, false, args);
        Map<Integer, Object[]> got = watch(broker.connect().createChannel(), dlq);
        long start = System.currentTimeMillis();
        publish(ch, q, false, i -> false, null);
        assertTrue(pagedOut(q) > N / 2, "paged out only " + pagedOut(q));
        policy(p, q, "{\"message-ttl\":600000}");
        assertTrue(System.currentTimeMillis() - start < 1500, "publishing took too long for this test");
        // past the old TTL (and the promised second): nothing went
        await().during(Duration.ofMillis(3000 - (System.currentTimeMillis() - start)))
                .atMost(Duration.ofSeconds(10)).until(() -> count(ch, q) == N && dead(got) == 0);
        assertEquals(N, apiMessages(q));
        Set<Integer> left = drain(ch, q);
        assertEquals(N, left.size());
        assertEquals(0, dead(got));
        http("DELETE", "/api/policies/%2F/" + p, null);
    }

    /**
     * A durable queue: scattered persistent messages expire deep in the spill and are
     * dead-lettered from there (their journal slots freed as at read-back); after a restart
     * (the spill does not survive one: the queue recovers from the journal) none of them comes
     * back or is dead-lettered again, and every other message is there once. A TTL policy
     * lengthened before the restart still holds after it.
     */
    @Test
    void aDurableQueueLosesAndDuplicatesNothingAcrossARestart() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = "spill-ttl-durable-" + UUID.randomUUID();
        String dlq = q + "-dlq";
        String p = "durable-" + UUID.randomUUID();
        policy(p, q, "{\"message-ttl\":2000}");
        declare(ch, q, dlq, true, Map.of());
        java.util.function.IntPredicate expiring = i -> i >= 500 && i % 10 == 0;
        int expiringCount = (N - 500) / 10;
        long start = System.currentTimeMillis();
        publish(ch, q, true, expiring, "300");
        assertTrue(pagedOut(q) > N / 2, "paged out only " + pagedOut(q));
        policy(p, q, "{\"message-ttl\":600000}");
        assertTrue(System.currentTimeMillis() - start < 2000, "publishing took too long for this test");
        await().atMost(Duration.ofSeconds(10)).until(() -> count(ch, dlq) == expiringCount);
        assertEquals(N - expiringCount, count(ch, q));

        broker.restart();
        Channel after = broker.connect().createChannel();
        // past the old 2 s TTL, which no longer applies
        await().during(Duration.ofMillis(Math.max(0, 3000 - (System.currentTimeMillis() - start))))
                .atMost(Duration.ofSeconds(10))
                .until(() -> count(after, q) == N - expiringCount && count(after, dlq) == expiringCount);
        Set<Integer> left = drain(after, q);
        assertEquals(N - expiringCount, left.size());
        for (int i = 0; i < N; i++) {
            assertEquals(!expiring.test(i), left.contains(i), "message " + i);
        }
        Set<Integer> dead = drain(after, dlq);
        assertEquals(expiringCount, dead.size());
        assertFalse(dead.stream().anyMatch(i -> !expiring.test(i)), "dead-lettered: " + dead);
        after.queueDelete(q);
        after.queueDelete(dlq);
        http("DELETE", "/api/policies/%2F/" + p, null);
    }

    /**
     * A priority queue pages out one spill per priority: expirations scattered in every lane are
     * dead-lettered from disk, and a shorter TTL policy empties every lane's paged backlog.
     */
    @Test
    void aPriorityQueueSweepsEveryLane() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = "spill-ttl-prio-" + UUID.randomUUID();
        String dlq = q + "-dlq";
        declare(ch, q, dlq, false, Map.of("x-max-priority", 5));
        Map<Integer, Object[]> got = watch(broker.connect().createChannel(), dlq);
        java.util.function.IntPredicate expiring = i -> i >= 600 && i % 50 == 7;
        int expiringCount = 0;
        ch.confirmSelect();
        for (int i = 0; i < N; i++) {
            AMQP.BasicProperties.Builder p = new AMQP.BasicProperties.Builder().priority(new int[] {0, 2, 5}[i % 3]);
            if (expiring.test(i)) {
                p.expiration("800").headers(Map.of("published-at", System.currentTimeMillis()));
                expiringCount++;
            }
            ch.basicPublish("", q, p.build(), body(i));
        }
        ch.waitForConfirmsOrDie(60_000);
        assertTrue(pagedOut(q) > N / 2, "paged out only " + pagedOut(q));
        int expected = expiringCount;
        await().atMost(Duration.ofSeconds(10)).until(() -> dead(got) == expected);
        for (Map.Entry<Integer, Object[]> e : got.entrySet()) {
            if (e.getKey() >= 0) {
                assertTrue(expiring.test(e.getKey()), "message " + e.getKey() + " dead-lettered");
                AMQP.BasicProperties props = (AMQP.BasicProperties) e.getValue()[1];
                assertExpiredDeath(props, q);
                long late = (Long) e.getValue()[0] - ((Number) props.getHeaders().get("published-at")).longValue() - 800;
                assertTrue(late < LATE_MS, "message " + e.getKey() + " dead-lettered " + late + " ms after its expiry");
            }
        }
        assertTrue(pagedOut(q) > N / 2, "read back: " + pagedOut(q));
        assertEquals(N - expiringCount, count(ch, q));

        String p = "prio-" + UUID.randomUUID();
        policy(p, q, "{\"message-ttl\":1}");
        await().atMost(Duration.ofSeconds(2)).until(() -> count(ch, q) == 0);
        await().atMost(Duration.ofSeconds(10)).until(() -> dead(got) == N);
        assertTrue(twice(got).isEmpty(), "dead-lettered twice: " + twice(got));
        assertNull(ch.basicGet(q, true));
        http("DELETE", "/api/policies/%2F/" + p, null);
    }

    /**
     * A length-limited queue (which keeps a ledger of its paged-out entries) dead-letters
     * expirations deep in its spill from disk too, and its limit still counts exactly.
     */
    @Test
    void aLengthLimitedQueueSweepsItsSpill() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = "spill-ttl-limited-" + UUID.randomUUID();
        String dlq = q + "-dlq";
        declare(ch, q, dlq, false, Map.of("x-max-length", N));
        java.util.function.IntPredicate expiring = i -> i >= 1000 && i % 100 == 50;
        int expiringCount = (N - 1000) / 100;
        Map<Integer, Object[]> got = watch(broker.connect().createChannel(), dlq);
        publish(ch, q, false, expiring, "800");
        assertTrue(pagedOut(q) > N / 2, "paged out only " + pagedOut(q));
        await().atMost(Duration.ofSeconds(10)).until(() -> dead(got) == expiringCount);
        assertTrue(pagedOut(q) > N / 2, "read back: " + pagedOut(q));
        assertEquals(N - expiringCount, count(ch, q));
        // room for exactly expiringCount more before drop-head drops the oldest (0, 1, ...)
        ch.confirmSelect();
        for (int i = N; i < N + expiringCount + 2; i++) {
            ch.basicPublish("", q, null, body(i));
        }
        ch.waitForConfirmsOrDie(10_000);
        await().atMost(Duration.ofSeconds(5)).until(() -> count(ch, q) == N);
        Set<Integer> left = drain(ch, q);
        assertEquals(N, left.size());
        assertFalse(left.contains(0) || left.contains(1), "the oldest two should have been dropped");
        for (int i = 2; i < N + expiringCount + 2; i++) {
            assertEquals(i >= N || !expiring.test(i), left.contains(i), "message " + i);
        }
        // the two dropped by the limit went with reason maxlen, the expired ones only once
        await().atMost(Duration.ofSeconds(5)).until(() -> dead(got) == expiringCount + 2);
        assertTrue(twice(got).isEmpty(), "dead-lettered twice: " + twice(got));
    }

    /**
     * A length-limited queue's paged backlog and a TTL policy: its ledger (the counts go by it) is
     * re-timed with its records, so a shortened TTL empties the queue's count at once and
     * dead-letters every paged-out message, and the limit still counts exactly after. (Without the
     * ledger's re-timing this case still passes, through read-backs that find every message
     * expired; aLongerTtlPolicyKeepsALengthLimitedQueuesPagedBacklog is the one that fails.)
     */
    @Test
    void aShorterTtlPolicyExpiresALengthLimitedQueuesPagedBacklog() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = "spill-ttl-limited-short-" + UUID.randomUUID();
        Map<Integer, Object[]> got = shortenTheTtlOfAPagedBacklog(ch, q, Map.of("x-max-length", N));

        // the limit counts exactly: N + 2 more (ids from 10,000), the oldest two of them dropped
        ch.confirmSelect();
        for (int i = 0; i < N + 2; i++) {
            ch.basicPublish("", q, null, body(10_000 + i));
        }
        ch.waitForConfirmsOrDie(10_000);
        await().atMost(Duration.ofSeconds(5)).until(() -> count(ch, q) == N);
        await().atMost(Duration.ofSeconds(5)).until(() -> dead(got) == N + 2);
        assertTrue(got.containsKey(10_000) && got.containsKey(10_001), "the oldest two went to the DLQ");
        await().atMost(Duration.ofSeconds(10)).until(() -> apiMessages(q) == N);
        Set<Integer> left = drain(ch, q);
        assertEquals(N, left.size());
        assertFalse(left.contains(10_000) || left.contains(10_001), "the oldest two should have been dropped");
    }

    /**
     * Sweeps race read-backs: a consumer drains the paged backlog while scattered expirations fall
     * due and a policy shortens, then lengthens, the TTL. Every message is either delivered or
     * dead-lettered, exactly once, and the queue ends empty with a count of 0.
     */
    @Test
    void sweepsAndReadBacksTogetherLoseAndDuplicateNothing() throws Exception {
        sweepsAndReadBacksRace(Map.of());
    }

    /** The same race in a length-limited queue, whose ledger is re-timed before its records. */
    @Test
    void aLengthLimitedQueuesLedgerRetimesInTheRaceToo() throws Exception {
        sweepsAndReadBacksRace(Map.of("x-max-length", N + 100));
    }

    private void sweepsAndReadBacksRace(Map<String, Object> args) throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = "spill-ttl-race-" + UUID.randomUUID();
        String dlq = q + "-dlq";
        declare(ch, q, dlq, false, args);
        Map<Integer, Object[]> got = watch(broker.connect().createChannel(), dlq);
        publish(ch, q, false, i -> i % 37 == 5, "400");
        assertTrue(pagedOut(q) > N / 2, "paged out only " + pagedOut(q));
        Channel consumer = broker.connect().createChannel();
        consumer.basicQos(20);
        Set<Integer> delivered = ConcurrentHashMap.newKeySet();
        Set<Integer> deliveredTwice = ConcurrentHashMap.newKeySet();
        consumer.basicConsume(q, false, new DefaultConsumer(consumer) {
            @Override
            public void handleDelivery(String tag, Envelope env, AMQP.BasicProperties props, byte[] b)
                    throws java.io.IOException {
                if (!delivered.add(id(b))) {
                    deliveredTwice.add(id(b));
                }
                try {
                    Thread.sleep(0, 300_000); // a slow consumer: the read-backs run for a while
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                consumer.basicAck(env.getDeliveryTag(), false);
            }
        });
        String p = "race-" + UUID.randomUUID();
        await().atMost(Duration.ofSeconds(10)).until(() -> delivered.size() > 200);
        policy(p, q, "{\"message-ttl\":600000}");
        await().atMost(Duration.ofSeconds(10)).until(() -> delivered.size() > 600);
        policy(p, q, "{\"message-ttl\":1}");
        await().atMost(Duration.ofSeconds(20)).until(() -> delivered.size() + dead(got) == N);
        await().atMost(Duration.ofSeconds(5)).until(() -> count(ch, q) == 0);
        assertTrue(deliveredTwice.isEmpty(), "delivered twice: " + deliveredTwice);
        assertTrue(twice(got).isEmpty(), "dead-lettered twice: " + twice(got));
        for (int i = 0; i < N; i++) {
            assertTrue(delivered.contains(i) != got.containsKey(i), "message " + i);
        }
        assertTrue(dead(got) > 0, "nothing expired");
        http("DELETE", "/api/policies/%2F/" + p, null);
    }
}
