package io.warren.it.extensions;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.MessageProperties;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static io.warren.it.support.AmqpAssertions.assertClose;
import static io.warren.it.support.AmqpAssertions.channelError;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * At-least-once dead-lettering (RabbitMQ 3.10's x-dead-letter-strategy at-least-once, quorum
 * queues with x-overflow reject-publish): a dead-lettered message stays in its source queue,
 * counted in messages_dlx and toward the source's length limit, never delivered, until every
 * target has taken its copy; a missing DLX, a DLX that routes nowhere and a target that refuses
 * (its own reject-publish limit) keep it there and it is retried; a policy switches the strategy
 * both ways; another overflow falls back to at-most-once. Through the Java client and the
 * management API; every test uses its own uniquely named queues and exchanges.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class AtLeastOnceDeadLetterTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    /** Retries back off to 5 s: a drained target is found within that plus slack. */
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    private Connection c;
    private Channel ch;

    @BeforeEach
    void open() throws Exception {
        c = broker.connect();
        ch = c.createChannel();
    }

    @AfterEach
    void close() throws Exception {
        if (c.isOpen()) {
            c.close();
        }
    }

    private static String unique(String prefix) {
        return prefix + "-" + UUID.randomUUID();
    }

    /** A quorum queue that dead-letters at least once to {@code dlx} with routing key {@code key}. */
    private static Map<String, Object> atLeastOnce(String dlx, String key, Object... more) {
        Map<String, Object> args = new HashMap<>();
        args.put("x-queue-type", "quorum");
        args.put("x-dead-letter-strategy", "at-least-once");
        args.put("x-overflow", "reject-publish");
        args.put("x-dead-letter-exchange", dlx);
        args.put("x-dead-letter-routing-key", key);
        for (int i = 0; i < more.length; i += 2) {
            args.put((String) more[i], more[i + 1]);
        }
        return args;
    }

    private void publish(String q, String body) throws Exception {
        ch.basicPublish("", q, MessageProperties.PERSISTENT_TEXT_PLAIN, body.getBytes(StandardCharsets.UTF_8));
    }

    /** Takes the head of {@code q} and rejects it without requeue: it is dead-lettered. */
    private void rejectOne(String q) throws Exception {
        GetResponse r = awaitGet(q);
        ch.basicReject(r.getEnvelope().getDeliveryTag(), false);
    }

    private GetResponse awaitGet(String q) {
        GetResponse[] got = new GetResponse[1];
        await().atMost(WAIT).until(() -> (got[0] = ch.basicGet(q, false)) != null);
        return got[0];
    }

    private int ready(String q) throws Exception {
        return ch.queueDeclarePassive(q).getMessageCount();
    }

    /** The management API's view of queue {@code q}. */
    private static JsonNode queueJson(String q) throws Exception {
        String auth = Base64.getEncoder().encodeToString("guest:guest".getBytes(StandardCharsets.UTF_8));
        HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + broker.broker().managementPort()
                + "/api/queues/%2F/" + URLEncoder.encode(q, StandardCharsets.UTF_8).replace("+", "%20")))
                .header("authorization", "Basic " + auth).GET().build();
        HttpResponse<String> r = HTTP.send(req, HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        return JSON.readTree(r.body());
    }

    private static long dlxCount(String q) throws Exception {
        return queueJson(q).path("messages_dlx").asLong(-1);
    }

    private static HttpResponse<String> putPolicy(String name, String pattern, String definition) throws Exception {
        String auth = Base64.getEncoder().encodeToString("guest:guest".getBytes(StandardCharsets.UTF_8));
        String body = "{\"pattern\":" + JSON.writeValueAsString(pattern) + ",\"definition\":" + definition
                + ",\"apply-to\":\"queues\"}";
        HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + broker.broker().managementPort()
                + "/api/policies/%2F/" + URLEncoder.encode(name, StandardCharsets.UTF_8)))
                .header("authorization", "Basic " + auth).header("content-type", "application/json")
                .PUT(HttpRequest.BodyPublishers.ofString(body)).build();
        return HTTP.send(req, HttpResponse.BodyHandlers.ofString());
    }

    private static void deletePolicy(String name) throws Exception {
        String auth = Base64.getEncoder().encodeToString("guest:guest".getBytes(StandardCharsets.UTF_8));
        HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + broker.broker().managementPort()
                + "/api/policies/%2F/" + URLEncoder.encode(name, StandardCharsets.UTF_8)))
                .header("authorization", "Basic " + auth).DELETE().build();
        assertEquals(204, HTTP.send(req, HttpResponse.BodyHandlers.ofString()).statusCode());
    }

    private static String exactly(String name) {
        return "^" + java.util.regex.Pattern.quote(name) + "$";
    }

    @SuppressWarnings("unchecked")
    private static String reason(GetResponse r) {
        List<Map<String, Object>> deaths = (List<Map<String, Object>>) r.getProps().getHeaders().get("x-death");
        return deaths.get(0).get("reason").toString();
    }

    @Test
    void aMissingDlxKeepsTheMessageUntilTheTopologyRoutesIt() throws Exception {
        String src = unique("alo-src");
        String dlx = unique("alo-dlx");
        String target = unique("alo-target");
        ch.queueDeclare(src, true, false, false, atLeastOnce(dlx, "dead", "x-delivery-limit", 0));
        publish(src, "rejected");
        publish(src, "expired-and-limited");
        publish(src, "stays");
        rejectOne(src);
        // delivery_limit 0: the first return dead-letters it
        GetResponse limited = awaitGet(src);
        ch.basicNack(limited.getEnvelope().getDeliveryTag(), false, true);
        AMQP.BasicProperties expiring = new AMQP.BasicProperties.Builder().deliveryMode(2).expiration("0").build();
        ch.basicPublish("", src, expiring, "expired".getBytes(StandardCharsets.UTF_8));

        // No DLX: all three stay in the source, out of the ready count, in messages_dlx.
        await().atMost(WAIT).until(() -> dlxCount(src) == 3);
        JsonNode q = queueJson(src);
        assertEquals(1, q.path("messages_ready").asInt());
        assertEquals(("rejected" + "expired-and-limited" + "expired").length(), q.path("message_bytes_dlx").asLong());
        assertEquals(1, ready(src));

        // The exchange alone routes nowhere: they still stay.
        ch.exchangeDeclare(dlx, "direct", true);
        ch.queueDeclare(target, true, false, false, null);
        assertEquals(3, dlxCount(src));
        assertEquals(0, ready(target));

        // The binding is the topology change that lets them go: at once, not at the next retry.
        ch.queueBind(target, dlx, "dead");
        await().atMost(WAIT).until(() -> ready(target) == 3);
        await().atMost(WAIT).until(() -> dlxCount(src) == 0);
        Map<String, String> reasons = new HashMap<>();
        for (int i = 0; i < 3; i++) {
            GetResponse r = awaitGet(target);
            reasons.put(new String(r.getBody(), StandardCharsets.UTF_8), reason(r));
        }
        assertEquals(Map.of("rejected", "rejected", "expired-and-limited", "delivery_limit", "expired", "expired"),
                reasons);
        assertEquals("stays", new String(awaitGet(src).getBody(), StandardCharsets.UTF_8));
    }

    @Test
    void aTargetThatRefusesGetsTheMessageOnceItHasRoom() throws Exception {
        String src = unique("alo-src");
        String dlx = unique("alo-dlx");
        String target = unique("alo-full");
        ch.exchangeDeclare(dlx, "fanout", true);
        ch.queueDeclare(target, true, false, false, Map.of("x-max-length", 1, "x-overflow", "reject-publish"));
        ch.queueBind(target, dlx, "");
        ch.basicPublish("", target, null, "filler".getBytes(StandardCharsets.UTF_8));
        ch.queueDeclare(src, true, false, false, atLeastOnce(dlx, "any"));
        publish(src, "refused-at-first");
        rejectOne(src);

        // The target is full and refuses: the message stays in the source's backlog.
        await().atMost(WAIT).until(() -> dlxCount(src) == 1);
        assertEquals(1, ready(target));
        assertEquals(0, ready(src));

        // Drained: the next retry gets it there, and the source lets it go.
        GetResponse filler = awaitGet(target);
        assertEquals("filler", new String(filler.getBody(), StandardCharsets.UTF_8));
        ch.basicAck(filler.getEnvelope().getDeliveryTag(), false);
        GetResponse r = awaitGet(target);
        assertEquals("refused-at-first", new String(r.getBody(), StandardCharsets.UTF_8));
        assertEquals("rejected", reason(r));
        await().atMost(WAIT).until(() -> dlxCount(src) == 0);
    }

    @Test
    void theBacklogCountsTowardTheSourceLimit() throws Exception {
        String src = unique("alo-src");
        String dlx = unique("alo-dlx");
        String target = unique("alo-target");
        ch.queueDeclare(src, true, false, false, atLeastOnce(dlx, "dead", "x-max-length", 2));
        ch.confirmSelect();
        publish(src, "a");
        publish(src, "b");
        assertTrue(ch.waitForConfirms(10_000));
        rejectOne(src);
        await().atMost(WAIT).until(() -> dlxCount(src) == 1);
        assertEquals(1, ready(src));

        // One ready plus one dead-lettered is the limit of 2: reject-publish nacks the next one.
        publish(src, "c");
        assertFalse(ch.waitForConfirms(10_000), "the backlog counts toward x-max-length");
        assertEquals(1, ready(src));

        // Once the backlog went to its target there is room again.
        ch.exchangeDeclare(dlx, "direct", true);
        ch.queueDeclare(target, true, false, false, null);
        ch.queueBind(target, dlx, "dead");
        await().atMost(WAIT).until(() -> dlxCount(src) == 0);
        publish(src, "d");
        assertTrue(ch.waitForConfirms(10_000));
        assertEquals(2, ready(src));
        assertEquals(1, ready(target));
    }

    /**
     * Past 256 waiting entries the backlog lets go of the content the journal holds and loads it
     * again for each attempt: a large backlog sits on disk, not in the heap, and still arrives.
     */
    @Test
    void aLargeBacklogIsLoadedBackFromTheJournal() throws Exception {
        String src = unique("alo-large");
        String dlx = unique("alo-dlx");
        String target = unique("alo-target");
        int n = 1000;
        ch.queueDeclare(src, true, false, false, atLeastOnce(dlx, "dead", "x-message-ttl", 50));
        ch.confirmSelect();
        byte[] body = new byte[1024];
        for (int i = 0; i < n; i++) {
            body[0] = (byte) i;
            body[1] = (byte) (i >> 8);
            ch.basicPublish("", src, MessageProperties.PERSISTENT_BASIC, body);
        }
        assertTrue(ch.waitForConfirms(10_000));
        await().atMost(WAIT).until(() -> dlxCount(src) == n);
        assertEquals((long) n * body.length, queueJson(src).path("message_bytes_dlx").asLong());
        ch.exchangeDeclare(dlx, "direct", true);
        ch.queueDeclare(target, true, false, false, null);
        ch.queueBind(target, dlx, "dead");
        await().atMost(WAIT).until(() -> ready(target) == n);
        await().atMost(WAIT).until(() -> dlxCount(src) == 0);
        java.util.Set<Integer> seen = new java.util.HashSet<>();
        GetResponse r;
        while ((r = ch.basicGet(target, true)) != null) {
            seen.add((r.getBody()[0] & 0xff) | (r.getBody()[1] & 0xff) << 8);
        }
        assertEquals(n, seen.size());
    }

    /**
     * A queue that dead-letters expired messages back to itself: RabbitMQ's is_cycle finds the
     * queue in the copy's x-death (its death there included) and drops the copy, which settles
     * the backlog: not kept, not retried for ever, not circling.
     */
    @Test
    void aCycleIsDroppedNotRetried() throws Exception {
        String src = unique("alo-cycle");
        ch.queueDeclare(src, true, false, false, atLeastOnce("", src, "x-message-ttl", 20));
        publish(src, "round");
        // Only the publish itself came in, the backlog is empty, and it stays so: no copy circles.
        await().atMost(WAIT).during(Duration.ofMillis(300)).until(() -> queueJson(src).path("message_stats")
                .path("publish").asLong() == 1 && dlxCount(src) == 0 && ready(src) == 0);
    }

    @Test
    void anotherOverflowFallsBackToAtMostOnce() throws Exception {
        Logger queueLog = (Logger) LoggerFactory.getLogger("io.warren.core.queue.MessageQueue");
        ListAppender<ILoggingEvent> warnings = new ListAppender<>();
        warnings.start();
        queueLog.addAppender(warnings);
        try {
            fallsBackToAtMostOnce(warnings);
        } finally {
            queueLog.detachAppender(warnings);
        }
    }

    private void fallsBackToAtMostOnce(ListAppender<ILoggingEvent> warnings) throws Exception {
        String src = unique("alo-src");
        String dlx = unique("alo-dlx");
        String target = unique("alo-target");
        Map<String, Object> args = atLeastOnce(dlx, "dead");
        args.put("x-overflow", "drop-head"); // RabbitMQ logs a warning and dead-letters at most once
        ch.queueDeclare(src, true, false, false, args);
        ch.queueDeclare(src, true, false, false, args); // a redeclare does not log again either
        publish(src, "lost");
        rejectOne(src);
        // Dropped at once (no DLX yet), not kept: nothing waits in the source.
        await().atMost(WAIT).until(() -> dlxCount(src) == 0 && ready(src) == 0);
        List<String> warned = new java.util.ArrayList<>();
        for (ILoggingEvent ev : warnings.list) {
            if (ev.getLevel() == Level.WARN && ev.getFormattedMessage().contains("'" + src + "'")) {
                warned.add(ev.getFormattedMessage());
            }
        }
        assertEquals(List.of("Falling back to dead-letter-strategy at-most-once for queue '" + src + "' in vhost '/'"
                + " because configured dead-letter-strategy at-least-once is incompatible with effective overflow"
                + " strategy drop-head. To enable dead-letter-strategy at-least-once, set overflow strategy to"
                + " reject-publish."), warned);
        ch.exchangeDeclare(dlx, "direct", true);
        ch.queueDeclare(target, true, false, false, null);
        ch.queueBind(target, dlx, "dead");
        // With the topology in place, at most once still dead-letters.
        publish(src, "delivered");
        rejectOne(src);
        GetResponse r = awaitGet(target);
        assertEquals("delivered", new String(r.getBody(), StandardCharsets.UTF_8));
        assertNull(ch.basicGet(target, true), "the first one was dropped, never retried");
    }

    @Test
    void aPolicySwitchesTheStrategyBothWays() throws Exception {
        String src = unique("alo-pol");
        String dlx = unique("alo-dlx");
        String target = unique("alo-target");
        String policy = unique("alo-policy");
        ch.queueDeclare(src, true, false, false, Map.of("x-queue-type", "quorum", "x-overflow", "reject-publish"));
        HttpResponse<String> bad = putPolicy(policy, exactly(src), "{\"dead-letter-strategy\":\"foo\"}");
        assertEquals(400, bad.statusCode());
        assertEquals("Validation failed\n\n<<\"foo\">> is not a valid dead letter strategy\n",
                JSON.readTree(bad.body()).path("reason").asText());
        HttpResponse<String> ok = putPolicy(policy, exactly(src), "{\"dead-letter-strategy\":\"at-least-once\","
                + "\"dead-letter-exchange\":" + JSON.writeValueAsString(dlx) + ",\"dead-letter-routing-key\":\"dead\"}");
        assertTrue(ok.statusCode() == 201 || ok.statusCode() == 204, ok.body());
        await().atMost(WAIT).until(() -> {
            publish(src, "held");
            rejectOne(src);
            return dlxCount(src) > 0; // the policy reached the queue: held, not dropped
        });
        long held = dlxCount(src);

        // Back to at-most-once: the backlog is dropped, as RabbitMQ drops it.
        ok = putPolicy(policy, exactly(src), "{\"dead-letter-strategy\":\"at-most-once\","
                + "\"dead-letter-exchange\":" + JSON.writeValueAsString(dlx) + ",\"dead-letter-routing-key\":\"dead\"}");
        assertTrue(ok.statusCode() == 201 || ok.statusCode() == 204, ok.body());
        await().atMost(WAIT).until(() -> dlxCount(src) == 0);
        ch.exchangeDeclare(dlx, "direct", true);
        ch.queueDeclare(target, true, false, false, null);
        ch.queueBind(target, dlx, "dead");
        publish(src, "once");
        rejectOne(src);
        GetResponse r = awaitGet(target);
        assertEquals("once", new String(r.getBody(), StandardCharsets.UTF_8));
        assertNull(ch.basicGet(target, true), held + " dropped message(s) must not come back");
        deletePolicy(policy);
    }

    @Test
    void classicQueuesRefuseTheStrategyAndQuorumQueuesAcceptIt() throws Exception {
        String cq = unique("alo-classic");
        AMQP.Channel.Close close = channelError(() -> ch.queueDeclare(cq, true, false, false,
                Map.of("x-dead-letter-strategy", "at-least-once")));
        assertClose(406, "PRECONDITION_FAILED - invalid arg 'x-dead-letter-strategy' for queue '" + cq
                + "' in vhost '/' of queue type rabbit_classic_queue", close);
        ch = c.createChannel();
        String qq = unique("alo-quorum");
        assertNotNull(ch.queueDeclare(qq, true, false, false, atLeastOnce("x", "k")));
        assertEquals(0, queueJson(qq).path("messages_dlx").asInt(-1));
    }

    @Test
    void aBacklogComesBackInTheBacklogAfterARestart() throws Exception {
        String src = unique("alo-restart");
        String dlx = unique("alo-dlx");
        String target = unique("alo-target");
        ch.queueDeclare(src, true, false, false, atLeastOnce(dlx, "dead"));
        ch.confirmSelect();
        publish(src, "rejected");
        AMQP.BasicProperties expiring = new AMQP.BasicProperties.Builder().deliveryMode(2).expiration("300").build();
        ch.basicPublish("", src, expiring, "expired".getBytes(StandardCharsets.UTF_8));
        assertTrue(ch.waitForConfirms(10_000));
        rejectOne(src);
        await().atMost(WAIT).until(() -> dlxCount(src) == 2);
        // A confirmed publish after the backlog formed: its journal commit comes after the
        // backlog's own (the slots a stuck message moves to), so the stop finds them on disk.
        publish(src, "ready");
        assertTrue(ch.waitForConfirms(10_000));
        c.close();

        broker.restart();
        c = broker.connect();
        ch = c.createChannel();
        // Both come back dead-lettered, not ready, and go once the topology routes them.
        await().atMost(WAIT).until(() -> dlxCount(src) == 2);
        assertEquals(1, ready(src));
        ch.exchangeDeclare(dlx, "direct", true);
        ch.queueDeclare(target, true, false, false, null);
        ch.queueBind(target, dlx, "dead");
        Map<String, String> reasons = new HashMap<>();
        for (int i = 0; i < 2; i++) {
            GetResponse r = awaitGet(target);
            reasons.put(new String(r.getBody(), StandardCharsets.UTF_8), reason(r));
        }
        assertEquals(Map.of("rejected", "rejected", "expired", "expired"), reasons);
        await().atMost(WAIT).until(() -> dlxCount(src) == 0);
        assertNull(ch.basicGet(target, true), "no duplicate");
        assertEquals("ready", new String(awaitGet(src).getBody(), StandardCharsets.UTF_8));
    }
}
