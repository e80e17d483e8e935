package io.warren.it.extensions;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.BuiltinExchangeType;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.MessageProperties;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;

import static io.warren.it.support.AmqpAssertions.assertClose;
import static io.warren.it.support.AmqpAssertions.channelError;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Dead-lettering as RabbitMQ 3.10's "Dead Letter Exchanges" page describes it: messages rejected
 * without requeue or expired leave their queue for its {@code x-dead-letter-exchange}, with the
 * original routing keys or {@code x-dead-letter-routing-key}, carrying {@code x-death}.
 *
 * <p>Header layout, compared once with the reference RabbitMQ 3.10.8 through pika (2026-12-01):
 * the headers table comes out sorted by name; a first death writes {@code x-first-death-reason /
 * queue / exchange} and an {@code x-death} entry {@code count, reason, queue, time, exchange,
 * routing-keys[, original-expiration]}; later deaths put their (queue, reason) entry first,
 * fields sorted, and only bump the count of an existing one; 3.10 writes no
 * {@code x-last-death-*} headers; {@code CC} is removed when a dead-letter routing key is set.
 */
class DeadLetterTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private static final Duration WAIT = Duration.ofSeconds(10);

    private static String unique(String prefix) {
        return prefix + "-" + UUID.randomUUID();
    }

    private static Map<String, Object> dlx(String exchange, String routingKey) {
        Map<String, Object> args = new HashMap<>();
        args.put("x-dead-letter-exchange", exchange);
        if (routingKey != null) {
            args.put("x-dead-letter-routing-key", routingKey);
        }
        return args;
    }

    /** A fanout DLX with one queue bound: returns {dlx, dlq}. */
    private static String[] deadLetterTarget(Channel ch) throws IOException {
        String x = unique("dlx");
        String q = unique("dlq");
        ch.exchangeDeclare(x, BuiltinExchangeType.FANOUT, false, true, null);
        ch.queueDeclare(q, false, false, true, null);
        ch.queueBind(q, x, "");
        return new String[] {x, q};
    }

    private static GetResponse awaitGet(Channel ch, String q) {
        return awaitGet(ch, q, true);
    }

    private static GetResponse awaitGet(Channel ch, String q, boolean autoAck) {
        GetResponse[] got = new GetResponse[1];
        await().atMost(WAIT).until(() -> (got[0] = ch.basicGet(q, autoAck)) != null);
        return got[0];
    }

    private static void publish(Channel ch, String x, String key, AMQP.BasicProperties props, String body)
            throws Exception {
        ch.basicPublish(x, key, props, body.getBytes(StandardCharsets.UTF_8));
        ch.waitForConfirmsOrDie(WAIT.toMillis());
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> deaths(GetResponse r) {
        Map<String, Object> h = r.getProps().getHeaders();
        assertNotNull(h, "no headers on a dead-lettered message");
        Object d = h.get("x-death");
        assertInstanceOf(List.class, d, "x-death is an array");
        return (List<Map<String, Object>>) d;
    }

    private static String str(Object v) {
        return v == null ? null : v.toString();
    }

    private static List<String> strings(Object list) {
        List<String> out = new ArrayList<>();
        for (Object o : (List<?>) list) {
            out.add(o.toString());
        }
        return out;
    }

    private static void assertDeath(Map<String, Object> d, long count, String reason, String queue, String exchange,
                                    List<String> keys) {
        assertEquals(count, d.get("count"), "count");
        assertEquals(reason, str(d.get("reason")));
        assertEquals(queue, str(d.get("queue")));
        assertEquals(exchange, str(d.get("exchange")));
        assertEquals(keys, strings(d.get("routing-keys")));
        assertInstanceOf(Date.class, d.get("time"), "time is a timestamp");
    }

    @Test
    void rejectAndNackWithoutRequeueDeadLetterWithXDeath() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        ch.confirmSelect();
        String[] t = deadLetterTarget(ch);
        String work = unique("work");
        ch.queueDeclare(work, false, false, true, dlx(t[0], null));
        for (int i = 0; i < 3; i++) {
            publish(ch, "", work, new AMQP.BasicProperties.Builder().headers(Map.of("app", "a")).build(), "m" + i);
        }
        ch.basicReject(ch.basicGet(work, false).getEnvelope().getDeliveryTag(), false);
        ch.basicGet(work, false);
        long last = ch.basicGet(work, false).getEnvelope().getDeliveryTag();
        ch.basicNack(last, true, false);

        for (int i = 0; i < 3; i++) {
            GetResponse r = awaitGet(ch, t[1]);
            assertEquals("m" + i, new String(r.getBody(), StandardCharsets.UTF_8));
            assertEquals(t[0], r.getEnvelope().getExchange());
            assertEquals(work, r.getEnvelope().getRoutingKey(), "the original routing key");
            List<Map<String, Object>> deaths = deaths(r);
            assertEquals(1, deaths.size());
            assertDeath(deaths.get(0), 1, "rejected", work, "", List.of(work));
            Map<String, Object> h = r.getProps().getHeaders();
            assertEquals("rejected", str(h.get("x-first-death-reason")));
            assertEquals(work, str(h.get("x-first-death-queue")));
            assertEquals("", str(h.get("x-first-death-exchange")));
            assertEquals("a", str(h.get("app")), "other headers are kept");
            assertFalse(h.containsKey("x-last-death-reason"), "RabbitMQ 3.10 writes no x-last-death-*");
        }
        assertEquals(0, ch.messageCount(work));
        // A reject with requeue, and an ack, do not dead-letter.
        publish(ch, "", work, null, "kept");
        ch.basicReject(ch.basicGet(work, false).getEnvelope().getDeliveryTag(), true);
        ch.basicAck(ch.basicGet(work, false).getEnvelope().getDeliveryTag(), false);
        ch.queueDeclarePassive(work); // a round trip after the ack
        assertEquals(0, ch.messageCount(t[1]));
        c.close();
    }

    @Test
    void expiredMessagesAreDeadLetteredWithoutTheirExpiration() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        ch.confirmSelect();
        String[] t = deadLetterTarget(ch);
        String work = unique("work");
        ch.queueDeclare(work, false, false, true, dlx(t[0], null));
        publish(ch, "", work, new AMQP.BasicProperties.Builder().expiration("50").build(), "short");
        Map<String, Object> ttl = dlx(t[0], null);
        ttl.put("x-message-ttl", 50);
        String ttlQueue = unique("ttl");
        ch.queueDeclare(ttlQueue, false, false, true, ttl);
        publish(ch, "", ttlQueue, null, "queue-ttl");

        List<GetResponse> got = List.of(awaitGet(ch, t[1]), awaitGet(ch, t[1]));
        for (GetResponse r : got) {
            String body = new String(r.getBody(), StandardCharsets.UTF_8);
            assertNull(r.getProps().getExpiration(), "the expiration property is removed");
            Map<String, Object> d = deaths(r).get(0);
            if (body.equals("short")) {
                assertDeath(d, 1, "expired", work, "", List.of(work));
                assertEquals("50", str(d.get("original-expiration")));
            } else {
                assertEquals("queue-ttl", body);
                assertDeath(d, 1, "expired", ttlQueue, "", List.of(ttlQueue));
                assertFalse(d.containsKey("original-expiration"));
            }
        }
        c.close();
    }

    /**
     * The retry-with-delay pattern: the work queue dead-letters rejected messages to a retry queue
     * whose TTL sends them back; each round bumps the counts of the two x-death entries.
     */
    @Test
    void retryLoopThroughATtlQueueCountsEachDeath() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        ch.confirmSelect();
        String work = unique("work");
        String retry = unique("retry");
        ch.queueDeclare(work, false, false, true, dlx("", retry));
        Map<String, Object> retryArgs = dlx("", work);
        retryArgs.put("x-message-ttl", 20);
        ch.queueDeclare(retry, false, false, true, retryArgs);
        publish(ch, "", work, null, "job");

        for (int round = 1; round <= 3; round++) {
            GetResponse r = awaitGet(ch, work, false);
            if (round == 1) {
                assertNull(r.getProps().getHeaders());
            } else {
                List<Map<String, Object>> deaths = deaths(r);
                assertEquals(2, deaths.size(), "one entry per (queue, reason)");
                assertDeath(deaths.get(0), round - 1, "expired", retry, "", List.of(retry));
                assertDeath(deaths.get(1), round - 1, "rejected", work, "", List.of(work));
                assertEquals("rejected", str(r.getProps().getHeaders().get("x-first-death-reason")));
                assertEquals(work, str(r.getProps().getHeaders().get("x-first-death-queue")));
            }
            // off to the retry queue; a rejection is in the loop, so it is not a cycle
            ch.basicReject(r.getEnvelope().getDeliveryTag(), false);
        }
        c.close();
    }

    @Test
    void retryLoopWithRejectsKeepsCircling() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String work = unique("work");
        String retry = unique("retry");
        ch.queueDeclare(work, false, false, true, dlx("", retry));
        Map<String, Object> retryArgs = dlx("", work);
        retryArgs.put("x-message-ttl", 10);
        ch.queueDeclare(retry, false, false, true, retryArgs);
        ch.basicPublish("", work, null, "job".getBytes(StandardCharsets.UTF_8));
        AtomicInteger rounds = new AtomicInteger();
        List<Long> counts = new java.util.concurrent.CopyOnWriteArrayList<>();
        ch.basicConsume(work, false, new DefaultConsumer(ch) {
            @Override public void handleDelivery(String tag, Envelope env, AMQP.BasicProperties props, byte[] body)
                    throws IOException {
                if (props.getHeaders() != null) {
                    counts.add((Long) deaths(props).get(0).get("count"));
                }
                rounds.incrementAndGet();
                getChannel().basicReject(env.getDeliveryTag(), false);
            }
        });
        await().atMost(WAIT).until(() -> rounds.get() >= 5);
        // a copy first: the loop goes on circling, and a sub-list of the live list fails when it grows
        assertEquals(List.of(1L, 2L, 3L, 4L), List.copyOf(counts).subList(0, 4));
        c.close();
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> deaths(AMQP.BasicProperties props) {
        return (List<Map<String, Object>>) props.getHeaders().get("x-death");
    }

    @Test
    void deadLetterRoutingKeyReplacesTheOriginalKeysAndDropsCc() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        ch.confirmSelect();
        String x = unique("dlx");
        ch.exchangeDeclare(x, BuiltinExchangeType.DIRECT, false, true, null);
        String byOriginal = unique("orig");
        String byCc = unique("cc");
        String byNew = unique("new");
        for (String q : List.of(byOriginal, byCc, byNew)) {
            ch.queueDeclare(q, false, false, true, null);
        }
        ch.queueBind(byOriginal, x, "k");
        ch.queueBind(byCc, x, "cc-key");
        ch.queueBind(byNew, x, "other");
        String withKey = unique("work-rk");
        String withoutKey = unique("work");
        ch.queueDeclare(withKey, false, false, true, dlx(x, "other"));
        ch.queueDeclare(withoutKey, false, false, true, dlx(x, null));
        ch.queueBind(withKey, "amq.direct", "k");
        ch.queueBind(withoutKey, "amq.direct", "k");
        Map<String, Object> headers = new HashMap<>();
        headers.put("CC", List.of("cc-key"));
        headers.put("BCC", List.of("bcc-key"));
        publish(ch, "amq.direct", "k", new AMQP.BasicProperties.Builder().headers(headers).build(), "m");
        ch.basicReject(ch.basicGet(withKey, false).getEnvelope().getDeliveryTag(), false);

        GetResponse r = awaitGet(ch, byNew);
        assertEquals("other", r.getEnvelope().getRoutingKey());
        Map<String, Object> h = r.getProps().getHeaders();
        assertNull(h.get("CC"), "CC is removed with a dead-letter routing key");
        assertNull(h.get("BCC"));
        assertDeath(deaths(r).get(0), 1, "rejected", withKey, "amq.direct", List.of("k", "cc-key"));

        // Without a dead-letter routing key: the original keys, CC ones included.
        ch.basicReject(ch.basicGet(withoutKey, false).getEnvelope().getDeliveryTag(), false);
        GetResponse o = awaitGet(ch, byOriginal);
        assertEquals("k", o.getEnvelope().getRoutingKey());
        assertEquals(List.of("cc-key"), strings(o.getProps().getHeaders().get("CC")));
        assertNotNull(awaitGet(ch, byCc));
        assertEquals(0, ch.messageCount(byOriginal) + ch.messageCount(byCc) + ch.messageCount(byNew));
        c.close();
    }

    @Test
    void aMissingDeadLetterExchangeDropsTheMessageSilently() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        ch.confirmSelect();
        String x = unique("not-yet");
        String work = unique("work");
        ch.queueDeclare(work, false, false, true, dlx(x, null));
        publish(ch, "", work, null, "lost");
        ch.basicReject(ch.basicGet(work, false).getEnvelope().getDeliveryTag(), false);
        ch.queueDeclarePassive(work);
        assertEquals(0, ch.messageCount(work));
        assertTrue(ch.isOpen());

        // Once the exchange exists, dead letters go there.
        ch.exchangeDeclare(x, BuiltinExchangeType.FANOUT, false, true, null);
        String dlq = unique("dlq");
        ch.queueDeclare(dlq, false, false, true, null);
        ch.queueBind(dlq, x, "");
        publish(ch, "", work, null, "found");
        ch.basicReject(ch.basicGet(work, false).getEnvelope().getDeliveryTag(), false);
        assertEquals("found", new String(awaitGet(ch, dlq).getBody(), StandardCharsets.UTF_8));
        assertEquals(0, ch.messageCount(dlq), "the first one was dropped, not kept somewhere");
        c.close();
    }

    @Test
    void anExpiryCycleIsDroppedARejectionCycleIsNot() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        ch.confirmSelect();
        // A queue dead-lettering expired messages to itself: dropped (RabbitMQ's deadLetterSelf).
        String self = unique("self");
        Map<String, Object> args = dlx("amq.direct", self);
        args.put("x-message-ttl", 10);
        ch.queueDeclare(self, false, false, true, args);
        ch.queueBind(self, "amq.direct", self);
        for (int i = 0; i < 10; i++) {
            publish(ch, "amq.direct", self, null, "m" + i);
        }
        await().atMost(WAIT).until(() -> ch.messageCount(self) == 0);
        // Two queues expiring into each other: the copy dies when it would return to the first.
        String a = unique("a");
        String b = unique("b");
        Map<String, Object> aArgs = dlx("", b);
        aArgs.put("x-message-ttl", 10);
        Map<String, Object> bArgs = dlx("", a);
        bArgs.put("x-message-ttl", 10);
        ch.queueDeclare(a, false, false, true, aArgs);
        ch.queueDeclare(b, false, false, true, bArgs);
        publish(ch, "", a, null, "loop");
        // a circling copy would come back within a few 10 ms periods: both stay empty for 300 ms
        await().atMost(WAIT).during(Duration.ofMillis(300))
                .until(() -> ch.messageCount(a) == 0 && ch.messageCount(b) == 0);

        // With a rejection in the loop it keeps going (RabbitMQ's deadLetterCycle).
        String q1 = unique("q1");
        String q2 = unique("q2");
        ch.queueDeclare(q1, false, false, true, dlx("", q2));
        ch.queueDeclare(q2, false, false, true, dlx("", q1));
        publish(ch, "", q1, null, "x");
        Channel consumerCh = c.createChannel();
        AtomicInteger seen = new AtomicInteger();
        for (String q : List.of(q1, q2)) {
            consumerCh.basicConsume(q, false, new DefaultConsumer(consumerCh) {
                @Override public void handleDelivery(String tag, Envelope env, AMQP.BasicProperties p, byte[] body)
                        throws IOException {
                    seen.incrementAndGet();
                    getChannel().basicReject(env.getDeliveryTag(), false);
                }
            });
        }
        await().atMost(WAIT).until(() -> seen.get() >= 10);
        c.close();
    }

    @Test
    void badArgumentsAreRefusedWithRabbitMqsTexts() throws Exception {
        Connection c = broker.connect();
        String q = unique("bad");
        Map<String, Object> intDlx = new HashMap<>();
        intDlx.put("x-dead-letter-exchange", 133);
        assertClose(406, "PRECONDITION_FAILED - invalid type 'signedint' for arg 'x-dead-letter-exchange' in queue '"
                + q + "' in vhost '/'", channelError(() -> c.createChannel().queueDeclare(q, false, false, true, intDlx)));
        assertClose(406, "PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for queue '" + q
                + "' in vhost '/': routing_key_but_no_dlx_defined", channelError(() -> c.createChannel()
                .queueDeclare(q, false, false, true, Map.of("x-dead-letter-routing-key", "k"))));
        Map<String, Object> intKey = dlx("amq.direct", null);
        intKey.put("x-dead-letter-routing-key", 144);
        assertClose(406, "PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for queue '" + q
                + "' in vhost '/': {unacceptable_type,signedint}",
                channelError(() -> c.createChannel().queueDeclare(q, false, false, true, intKey)));
        // Redeclaring with another DLX or key is inequivalent; the same one is fine.
        Channel ch = c.createChannel();
        ch.queueDeclare(q, false, false, true, dlx("x1", "k1"));
        ch.queueDeclare(q, false, false, true, dlx("x1", "k1"));
        assertEquals(406, channelError(() -> c.createChannel().queueDeclare(q, false, false, true, dlx("x2", "k1")))
                .getReplyCode());
        assertEquals(406, channelError(() -> c.createChannel().queueDeclare(q, false, false, true, dlx("x1", "k2")))
                .getReplyCode());
        c.close();
    }

    /**
     * As RabbitMQ 3.10's queue.declare: a queue with a DLX needs read permission on itself and
     * write permission on the DLX (the texts, without a permission word, are RabbitMQ's).
     */
    @Test
    void declaringADeadLetterExchangeNeedsReadOnTheQueueAndWriteOnTheExchange() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeFalse(WarrenBroker.external(), "creates a user in-process");
        String user = unique("dlx-user");
        broker.broker().access().putUser(user, "p", List.of());
        broker.broker().access().setPermissions(user, "/", ".*", "^dlxu-.*", "^dlxu-.*");
        com.rabbitmq.client.ConnectionFactory f = broker.factory();
        f.setUsername(user);
        f.setPassword("p");
        try (Connection c = f.newConnection()) {
            assertClose(403, "ACCESS_REFUSED - access to exchange 'forbidden' in vhost '/' refused for user '" + user
                    + "'", channelError(() -> c.createChannel().queueDeclare("dlxu-q", false, false, true,
                    dlx("forbidden", null))));
            assertClose(403, "ACCESS_REFUSED - access to queue 'other-q' in vhost '/' refused for user '" + user
                    + "'", channelError(() -> c.createChannel().queueDeclare("other-q", false, false, true,
                    dlx("dlxu-x", null))));
            Channel ch = c.createChannel();
            ch.queueDeclare("dlxu-q", false, false, true, dlx("dlxu-x", null));
            ch.queueDelete("dlxu-q");
        }
    }

    /** A backlog expiring at once all arrives, in order (paging keeps memory bounded). */
    @Test
    void aLargeExpiredBacklogIsDeadLetteredInOrder() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String[] t = deadLetterTarget(ch);
        String work = unique("work");
        Map<String, Object> args = dlx(t[0], null);
        args.put("x-message-ttl", 300);
        ch.queueDeclare(work, false, false, true, args);
        int n = 10_000;
        ch.confirmSelect();
        byte[] body = new byte[100];
        for (int i = 0; i < n; i++) {
            body[0] = (byte) i;
            ch.basicPublish("", work, null, body);
        }
        ch.waitForConfirmsOrDie(WAIT.toMillis());
        await().atMost(Duration.ofSeconds(30)).until(() -> ch.messageCount(t[1]) == n);
        assertEquals(0, ch.messageCount(work));
        for (int i = 0; i < 5; i++) {
            GetResponse r = ch.basicGet(t[1], true);
            assertEquals((byte) i, r.getBody()[0]);
        }
        c.close();
    }

    /**
     * A backlog larger than the page-out bound (64 MiB) expires while paged out (a policy gives it
     * a 1 ms TTL): it is dead-lettered a batch at a time, in order, and the dead-letter queue pages
     * out in turn, so neither queue holds more than its bound in memory.
     */
    @Test
    void aPagedOutBacklogIsDeadLetteredInBoundedMemory() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeFalse(WarrenBroker.external(), "reads the broker's paging counters");
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String[] t = deadLetterTarget(ch);
        String work = unique("work");
        // No TTL while publishing: a queue TTL would race the publisher (on a slow machine the
        // first messages expired before the backlog passed the paging bound). A policy sets one
        // once the backlog is paged out, and every message is due at once.
        ch.queueDeclare(work, false, false, true, dlx(t[0], null));
        io.warren.core.queue.Paging paging = broker.broker().paging();
        long pagedBefore = paging.pagedOut();
        int n = 80;
        byte[] body = new byte[1 << 20];
        ch.confirmSelect();
        for (int i = 0; i < n; i++) {
            body[0] = (byte) i;
            ch.basicPublish("", work, null, body);
        }
        ch.waitForConfirmsOrDie(WAIT.toMillis());
        assertTrue(paging.pagedOut() > pagedBefore, "the backlog was paged out");
        String policy = unique("paged-ttl");
        io.warren.core.vhost.VirtualHost vhost = broker.broker().vhost("/");
        vhost.putPolicy(io.warren.core.policy.PolicyValidator.policy("/", policy,
                "^" + java.util.regex.Pattern.quote(work) + "$", "queues", 0, Map.of("message-ttl", 1L), false), false);
        await().atMost(Duration.ofSeconds(60)).until(() -> ch.messageCount(t[1]) == n);
        assertEquals(0, ch.messageCount(work));
        io.warren.core.queue.MessageQueue dlq = broker.broker().vhost("/").queue(t[1]);
        long inMemory = dlq.loop().submit(dlq::inMemoryBytes).get();
        assertTrue(inMemory <= paging.queueBound() + 2 * body.length, "dead-letter queue holds " + inMemory);
        for (int i = 0; i < n; i++) {
            GetResponse r = ch.basicGet(t[1], true);
            assertEquals((byte) i, r.getBody()[0], "in order");
            assertEquals(body.length, r.getBody().length);
        }
        vhost.deletePolicy(policy, false);
        c.close();
    }

    /**
     * A recovered message has no headers reader of its own: its dead-lettered copies still carry
     * one, so an expiry cycle between durable queues is still detected after a restart.
     */
    @Test
    void anExpiryCycleOfRecoveredMessagesIsStillDropped() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        ch.confirmSelect();
        String a = unique("cycle-a");
        String b = unique("cycle-b");
        Map<String, Object> aArgs = dlx("", b);
        aArgs.put("x-message-ttl", 1000);
        Map<String, Object> bArgs = dlx("", a);
        bArgs.put("x-message-ttl", 10);
        ch.queueDeclare(a, true, false, false, aArgs);
        ch.queueDeclare(b, true, false, false, bArgs);
        publish(ch, "", a, MessageProperties.PERSISTENT_TEXT_PLAIN, "circling");
        c.close();

        broker.restart();

        Connection c2 = broker.connect();
        Channel ch2 = c2.createChannel();
        await().atMost(WAIT).until(() -> ch2.messageCount(a) == 0 && ch2.messageCount(b) == 0);
        // back in a within a few ms if the cycle were missed, and held there for a second
        await().atMost(WAIT).during(Duration.ofMillis(500))
                .until(() -> ch2.messageCount(a) == 0 && ch2.messageCount(b) == 0);
        ch2.queueDelete(a);
        ch2.queueDelete(b);
        c2.close();
    }

    @Test
    void persistentDeadLettersInDurableQueuesSurviveARestart() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        ch.confirmSelect();
        String x = unique("dlx-durable");
        String dlq = unique("dlq-durable");
        String work = unique("work-durable");
        ch.exchangeDeclare(x, BuiltinExchangeType.FANOUT, true);
        ch.queueDeclare(dlq, true, false, false, null);
        ch.queueBind(dlq, x, "");
        ch.queueDeclare(work, true, false, false, dlx(x, null));
        publish(ch, "", work, MessageProperties.PERSISTENT_TEXT_PLAIN, "rejected");
        Map<String, Object> ttl = dlx(x, null);
        ttl.put("x-message-ttl", 50);
        String expiring = unique("expiring-durable");
        ch.queueDeclare(expiring, true, false, false, ttl);
        publish(ch, "", expiring, MessageProperties.PERSISTENT_TEXT_PLAIN, "expired");
        ch.basicReject(ch.basicGet(work, false).getEnvelope().getDeliveryTag(), false);
        await().atMost(WAIT).until(() -> ch.messageCount(dlq) == 2);
        // One that expires only after the restart: recovered with its content still on disk.
        Map<String, Object> later = dlx(x, null);
        later.put("x-message-ttl", 1500);
        String expiresLater = unique("later-durable");
        ch.queueDeclare(expiresLater, true, false, false, later);
        publish(ch, "", expiresLater, MessageProperties.PERSISTENT_TEXT_PLAIN, "expired-after-restart");
        c.close();

        broker.restart();

        Connection c2 = broker.connect();
        Channel ch2 = c2.createChannel();
        assertEquals(0, ch2.messageCount(work));
        assertEquals(0, ch2.messageCount(expiring));
        await().atMost(WAIT).until(() -> ch2.messageCount(dlq) == 3);
        assertEquals(0, ch2.messageCount(expiresLater));
        Map<String, String> reasons = new HashMap<>();
        for (int i = 0; i < 3; i++) {
            GetResponse r = ch2.basicGet(dlq, true);
            assertEquals(2, r.getProps().getDeliveryMode());
            Map<String, Object> d = deaths(r).get(0);
            reasons.put(new String(r.getBody(), StandardCharsets.UTF_8), str(d.get("reason")));
        }
        assertEquals(Map.of("rejected", "rejected", "expired", "expired", "expired-after-restart", "expired"), reasons);
        ch2.queueDelete(expiresLater);
        ch2.queueDelete(work);
        ch2.queueDelete(expiring);
        ch2.queueDelete(dlq);
        ch2.exchangeDelete(x);
        c2.close();
    }
}
