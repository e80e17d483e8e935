package io.warren.it.management;

import com.fasterxml.jackson.databind.JsonNode;
import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Policies and operator policies through the management API, seen by AMQP clients: a policy
 * changes live queues (messages already queued too) and exchanges at once; the highest priority
 * matching policy wins; apply-to; x-arguments against policies; operator policies cap; policies
 * survive a restart and travel in definitions; bad policies are refused with RabbitMQ's texts.
 * Every test matches only its own uniquely named queues and exchanges.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class PoliciesTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();
    /** A fresh broker for the definitions import. */
    @RegisterExtension
    static WarrenBroker target = new WarrenBroker();

    /** Expiry plus the promised second plus slack for a loaded machine. */
    static final Duration GONE = Duration.ofSeconds(5);

    private Connection c;
    private Channel ch;
    private Http api;

    @BeforeEach
    void open() throws Exception {
        c = broker.connect();
        ch = c.createChannel();
        api = http(broker);
    }

    @AfterEach
    void close() throws Exception {
        if (c.isOpen()) {
            c.close();
        }
    }

    private static Http http(WarrenBroker b) {
        return new Http("127.0.0.1", b.broker().managementPort(), "guest", "guest");
    }

    private static String unique(String prefix) {
        return prefix + "-" + UUID.randomUUID();
    }

    private void setPolicy(Http h, String kind, String name, String pattern, String definition, int priority,
                           String applyTo) {
        Http.Response r = h.put("/api/" + kind + "/%2F/" + Http.enc(name), "{\"pattern\":" + json(pattern)
                + ",\"definition\":" + definition + ",\"priority\":" + priority + ",\"apply-to\":\"" + applyTo + "\"}");
        assertTrue(r.status() == 201 || r.status() == 204, r.status() + " " + r.body());
    }

    private void policy(String name, String pattern, String definition) {
        setPolicy(api, "policies", name, pattern, definition, 0, "all");
    }

    private static String json(String s) {
        try {
            return Http.JSON.writeValueAsString(s);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    private static String exactly(String name) {
        return "^" + java.util.regex.Pattern.quote(name) + "$";
    }

    private void publish(String exchange, String key, String body) throws Exception {
        ch.basicPublish(exchange, key, null, body.getBytes(StandardCharsets.UTF_8));
    }

    private int count(String q) throws Exception {
        return ch.queueDeclarePassive(q).getMessageCount();
    }

    private String get(String q) throws Exception {
        GetResponse r = ch.basicGet(q, true);
        return r == null ? null : new String(r.getBody(), StandardCharsets.UTF_8);
    }

    private JsonNode queueView(String q) {
        Http.Response r = api.get("/api/queues/%2F/" + Http.enc(q));
        assertEquals(200, r.status(), r.body());
        return r.json();
    }

    @Test
    void aMessageTtlPolicyExpiresMessagesAlreadyQueuedAndNewOnes() throws Exception {
        String q = unique("pol-ttl");
        ch.queueDeclare(q, false, false, true, null);
        for (int i = 0; i < 3; i++) {
            publish("", q, "before" + i);
        }
        assertEquals(3, count(q));
        String p = unique("ttl");
        policy(p, exactly(q), "{\"message-ttl\":300}");
        await().atMost(GONE).until(() -> count(q) == 0);
        assertNull(get(q));
        JsonNode v = queueView(q);
        assertEquals(p, v.path("policy").asText());
        assertEquals(300, v.path("effective_policy_definition").path("message-ttl").asInt());
        assertTrue(v.path("operator_policy").isNull(), v.toString());
        publish("", q, "after");
        await().atMost(GONE).until(() -> count(q) == 0);

        // Cleared: messages stay again.
        assertEquals(204, api.delete("/api/policies/%2F/" + Http.enc(p)).status());
        publish("", q, "kept");
        assertEquals("kept", get(q));
        assertTrue(queueView(q).path("policy").isNull());
        assertEquals(404, api.delete("/api/policies/%2F/" + Http.enc(p)).status());
    }

    @Test
    void raisingTheTtlKeepsQueuedMessagesLonger() throws Exception {
        String q = unique("pol-raise");
        ch.queueDeclare(q, false, false, true, null);
        String p = unique("ttl");
        policy(p, exactly(q), "{\"message-ttl\":1500}");
        publish("", q, "m");
        policy(p, exactly(q), "{\"message-ttl\":600000}");
        // The queue's TTL, replaced before the message's 1.5 s were up, no longer applies to it.
        await().during(Duration.ofMillis(2500)).atMost(GONE).until(() -> count(q) == 1);
        assertEquals("m", get(q));
    }

    /** A max-length policy trims a live queue at once (drop-head) and keeps trimming it; reject-publish nacks. */
    @Test
    void lengthLimitPoliciesApplyToALiveQueue() throws Exception {
        String q = unique("pol-len");
        ch.queueDeclare(q, false, false, true, null);
        for (int i = 0; i < 5; i++) {
            publish("", q, "m" + i);
        }
        assertEquals(5, count(q));
        String p = unique("len");
        policy(p, exactly(q), "{\"max-length\":2}");
        await().atMost(GONE).until(() -> count(q) == 2);
        assertEquals("m3", peekFirst(q)); // the oldest went
        publish("", q, "m5");
        await().atMost(GONE).until(() -> "m4".equals(peekFirst(q)));
        assertEquals(2, count(q));

        // Overflow from the policy refuses publishes past the limit.
        policy(p, exactly(q), "{\"max-length\":2,\"overflow\":\"reject-publish\"}");
        Channel confirming = c.createChannel();
        confirming.confirmSelect();
        confirming.basicPublish("", q, null, "refused".getBytes(StandardCharsets.UTF_8));
        assertTrue(!confirming.waitForConfirms(10_000), "a publish past the policy's limit is nacked");
        assertEquals("m4", get(q));
        assertEquals("m5", get(q));
        assertNull(get(q));
        assertEquals(204, api.delete("/api/policies/%2F/" + Http.enc(p)).status());
        for (int i = 0; i < 4; i++) {
            publish("", q, "free" + i);
        }
        await().atMost(GONE).until(() -> count(q) == 4);
    }

    /** A dead-letter-exchange policy sends a live queue's rejected messages to the DLX; the argument wins over it. */
    @Test
    void aDeadLetterPolicyAppliesAndTheArgumentWins() throws Exception {
        String q = unique("pol-dlx");
        String dlq = unique("pol-dlq");
        String argDlq = unique("pol-arg-dlq");
        ch.queueDeclare(q, false, false, true, null);
        ch.queueDeclare(dlq, false, false, true, null);
        ch.queueDeclare(argDlq, false, false, true, null);
        String p = unique("dlx");
        policy(p, "^pol-dlx-", "{\"dead-letter-exchange\":\"\",\"dead-letter-routing-key\":\"" + dlq + "\"}");
        publish("", q, "bad");
        GetResponse r = null;
        for (int k = 0; k < 200 && r == null; k++) {
            r = ch.basicGet(q, false);
            if (r == null) {
                Thread.sleep(10);
            }
        }
        assertTrue(r != null);
        ch.basicReject(r.getEnvelope().getDeliveryTag(), false);
        await().atMost(GONE).until(() -> count(dlq) == 1);
        GetResponse dead = ch.basicGet(dlq, true);
        @SuppressWarnings("unchecked")
        java.util.List<Map<String, Object>> deaths = (java.util.List<Map<String, Object>>) dead.getProps().getHeaders()
                .get("x-death");
        assertEquals("rejected", deaths.get(0).get("reason").toString());
        assertEquals(q, deaths.get(0).get("queue").toString());

        // A queue with its own dead-letter arguments keeps them.
        String own = "pol-dlx-own-" + UUID.randomUUID();
        ch.queueDeclare(own, false, false, true, Map.of("x-dead-letter-exchange", "",
                "x-dead-letter-routing-key", argDlq));
        publish("", own, "bad2");
        GetResponse r2 = null;
        for (int k = 0; k < 200 && r2 == null; k++) {
            r2 = ch.basicGet(own, false);
            if (r2 == null) {
                Thread.sleep(10);
            }
        }
        ch.basicNack(r2.getEnvelope().getDeliveryTag(), false, false);
        await().atMost(GONE).until(() -> count(argDlq) == 1);
        assertEquals(0, count(dlq));
        assertEquals(204, api.delete("/api/policies/%2F/" + Http.enc(p)).status());
    }

    /** The head of {@code q} without taking it (get, then nack with requeue). */
    private String peekFirst(String q) throws Exception {
        GetResponse r = ch.basicGet(q, false);
        if (r == null) {
            return null;
        }
        ch.basicNack(r.getEnvelope().getDeliveryTag(), false, true);
        return new String(r.getBody(), StandardCharsets.UTF_8);
    }

    /** A delivery-limit policy drops a message returned too often, and deliveries then carry x-delivery-count. */
    @Test
    void aDeliveryLimitPolicyDropsPoisonMessages() throws Exception {
        String q = unique("pol-dl");
        ch.queueDeclare(q, false, false, true, null);
        String p = unique("dl");
        policy(p, exactly(q), "{\"delivery-limit\":1}");
        // the policy reaches the queue on its own loop: a get before it came without x-delivery-count
        await().atMost(GONE).until(() -> queueView(q).path("effective_policy_definition").path("delivery-limit")
                .asInt() == 1);
        publish("", q, "poison");
        for (int i = 0; i < 2; i++) {
            GetResponse r = null;
            for (int k = 0; k < 200 && r == null; k++) {
                r = ch.basicGet(q, false);
                if (r == null) {
                    Thread.sleep(10);
                }
            }
            assertTrue(r != null, "delivery " + i);
            assertEquals((long) i, r.getProps().getHeaders().get("x-delivery-count"));
            ch.basicReject(r.getEnvelope().getDeliveryTag(), true);
        }
        await().atMost(GONE).until(() -> count(q) == 0);
        assertNull(get(q));
    }

    @Test
    void theHighestPriorityPolicyWins() throws Exception {
        String q = unique("pol-prio");
        ch.queueDeclare(q, false, false, true, null);
        publish("", q, "m");
        String low = unique("low");
        String high = unique("high");
        setPolicy(api, "policies", low, exactly(q), "{\"message-ttl\":200}", 1, "queues");
        setPolicy(api, "policies", high, "^pol-prio-", "{\"message-ttl\":600000}", 5, "all");
        await().atMost(GONE).until(() -> high.equals(queueView(q).path("policy").asText()));
        assertEquals(600000, queueView(q).path("effective_policy_definition").path("message-ttl").asInt());
        assertEquals(1, count(q));
        // The high one goes: the low one applies, and the message expires.
        assertEquals(204, api.delete("/api/policies/%2F/" + Http.enc(high)).status());
        await().atMost(GONE).until(() -> count(q) == 0);
        assertEquals(low, queueView(q).path("policy").asText());
    }

    @Test
    void applyToChoosesQueuesOrExchanges() throws Exception {
        String name = unique("pol-apply");
        ch.queueDeclare(name, false, false, true, null);
        ch.exchangeDeclare(name, "direct", false, true, null);
        String ae = unique("pol-ae");
        ch.exchangeDeclare(ae, "fanout", false, true, null);
        String aeQueue = unique("pol-aeq");
        ch.queueDeclare(aeQueue, false, false, true, null);
        ch.queueBind(aeQueue, ae, "");
        ch.queueBind(name, name, "k"); // keeps the auto-delete exchange alive

        String p = unique("apply");
        setPolicy(api, "policies", p, exactly(name), "{\"message-ttl\":200,\"alternate-exchange\":" + json(ae) + "}", 0,
                "exchanges");
        JsonNode x = api.get("/api/exchanges/%2F/" + Http.enc(name)).json();
        assertEquals(p, x.path("policy").asText());
        assertTrue(queueView(name).path("policy").isNull());
        publish("", name, "queue-ttl-not-applied");
        publish(name, "unroutable", "to-ae");
        await().atMost(GONE).until(() -> count(aeQueue) == 1);
        assertEquals("to-ae", get(aeQueue));

        setPolicy(api, "policies", p, exactly(name), "{\"message-ttl\":200,\"alternate-exchange\":" + json(ae) + "}", 0,
                "queues");
        await().atMost(GONE).until(() -> count(name) == 0);
        assertTrue(api.get("/api/exchanges/%2F/" + Http.enc(name)).json().path("policy").isNull());
        publish(name, "unroutable", "dropped");
        assertEquals(0, count(aeQueue)); // the publish is ordered before this declare on the channel
    }

    @Test
    void theSmallerOfArgumentAndPolicyTtlWinsAndTheAlternateExchangeArgumentWins() throws Exception {
        String argShort = unique("pol-args");
        ch.queueDeclare(argShort, false, false, true, Map.of("x-message-ttl", 200));
        String argLong = unique("pol-args");
        ch.queueDeclare(argLong, false, false, true, Map.of("x-message-ttl", 600000));
        String p = unique("args");
        setPolicy(api, "policies", p, "^(" + java.util.regex.Pattern.quote(argShort) + "|"
                + java.util.regex.Pattern.quote(argLong) + ")$", "{\"message-ttl\":100000}", 0, "queues");
        await().atMost(GONE).until(() -> p.equals(queueView(argLong).path("policy").asText()));
        publish("", argShort, "a");
        publish("", argLong, "b");
        await().atMost(GONE).until(() -> count(argShort) == 0);
        assertEquals(1, count(argLong)); // the policy's 100 s, not the argument's 600 s, nor gone

        String aeArg = unique("pol-aearg");
        String aePolicy = unique("pol-aepol");
        for (String ae : new String[] {aeArg, aePolicy}) {
            ch.exchangeDeclare(ae, "fanout", false, true, null);
            ch.queueDeclare(ae, false, false, true, null);
            ch.queueBind(ae, ae, "");
        }
        String x = unique("pol-x");
        ch.exchangeDeclare(x, "direct", false, false, Map.of("alternate-exchange", aeArg));
        String xp = unique("aepol");
        setPolicy(api, "policies", xp, exactly(x), "{\"alternate-exchange\":" + json(aePolicy) + "}", 0, "exchanges");
        publish(x, "nowhere", "m");
        await().atMost(GONE).until(() -> count(aeArg) == 1);
        assertEquals(0, count(aePolicy));

        String y = unique("pol-y");
        ch.exchangeDeclare(y, "direct", false, false, null);
        setPolicy(api, "policies", xp, "^(" + java.util.regex.Pattern.quote(x) + "|" + java.util.regex.Pattern.quote(y)
                + ")$", "{\"alternate-exchange\":" + json(aePolicy) + "}", 0, "exchanges");
        publish(y, "nowhere", "m");
        await().atMost(GONE).until(() -> count(aePolicy) == 1);
        ch.exchangeDelete(x);
        ch.exchangeDelete(y);
    }

    @Test
    void anOperatorPolicyCapsThePolicy() throws Exception {
        String q = unique("pol-op");
        ch.queueDeclare(q, false, false, true, null);
        String p = unique("user");
        String op = unique("op");
        policy(p, exactly(q), "{\"message-ttl\":600000,\"alternate-exchange\":\"nothing\"}");
        publish("", q, "m");
        setPolicy(api, "operator-policies", op, exactly(q), "{\"message-ttl\":300,\"expires\":600000}", 0, "all");
        await().atMost(GONE).until(() -> count(q) == 0);
        JsonNode v = queueView(q);
        assertEquals(p, v.path("policy").asText());
        assertEquals(op, v.path("operator_policy").asText());
        assertEquals(300, v.path("effective_policy_definition").path("message-ttl").asInt());
        assertEquals(600000, v.path("effective_policy_definition").path("expires").asInt());
        assertEquals("nothing", v.path("effective_policy_definition").path("alternate-exchange").asText());
        JsonNode listed = api.get("/api/operator-policies/%2F/" + Http.enc(op)).json();
        assertEquals(300, listed.path("definition").path("message-ttl").asInt());
        assertEquals("all", listed.path("apply-to").asText());

        // A larger operator value does not raise the policy's.
        setPolicy(api, "operator-policies", op, exactly(q), "{\"message-ttl\":900000}", 0, "all");
        await().atMost(GONE).until(() -> queueView(q).path("effective_policy_definition").path("message-ttl")
                .asInt() == 600000);
        assertEquals(204, api.delete("/api/operator-policies/%2F/" + Http.enc(op)).status());
    }

    @Test
    void anExpiresPolicyDeletesAnUnusedQueue() throws Exception {
        String q = unique("pol-exp");
        ch.queueDeclare(q, false, false, false, null);
        policy(unique("exp"), exactly(q), "{\"expires\":300}");
        await().atMost(GONE).until(() -> api.get("/api/queues/%2F/" + Http.enc(q)).status() == 404);
    }

    @Test
    void clearingAnExpiresPolicyKeepsTheQueue() throws Exception {
        String q = unique("pol-keep");
        ch.queueDeclare(q, false, false, false, null);
        String p = unique("keep");
        policy(p, exactly(q), "{\"expires\":1500}");
        assertEquals(204, api.delete("/api/policies/%2F/" + Http.enc(p)).status());
        await().during(Duration.ofMillis(2500)).atMost(GONE)
                .until(() -> api.get("/api/queues/%2F/" + Http.enc(q)).status() == 200);
        // With its own x-expires, the argument applies again once a longer policy goes.
        String q2 = unique("pol-keep-arg");
        ch.queueDeclare(q2, false, false, false, Map.of("x-expires", 1000));
        policy(p, exactly(q2), "{\"expires\":600000}");
        policy(p, "^nothing-at-all$", "{\"expires\":600000}");
        await().atMost(GONE).until(() -> api.get("/api/queues/%2F/" + Http.enc(q2)).status() == 404);
        ch.queueDelete(q);
    }

    /** Without the match budget this pattern backtracks for hours on such a name, in a declare and in the PUT. */
    @Test
    void aCatastrophicPatternCannotStallDeclaresOrPolicyChanges() throws Exception {
        String q = "a".repeat(60) + "-" + UUID.randomUUID().toString().replace("-", "");
        ch.queueDeclare(q.replaceAll("[^a]", "a"), false, false, true, null);
        String p = unique("hostile");
        policy(p, "(.*a){25}b", "{\"message-ttl\":1}");
        ch.queueDeclare(q, false, false, true, null);
        assertTrue(queueView(q).path("policy").isNull());
        publish("", q, "kept");
        assertEquals("kept", get(q));
        assertEquals(204, api.delete("/api/policies/%2F/" + Http.enc(p)).status());
    }

    @Test
    void aNewQueueGetsThePolicyAtOnce() throws Exception {
        String prefix = unique("pol-new");
        policy(unique("new"), "^" + java.util.regex.Pattern.quote(prefix), "{\"message-ttl\":200}");
        String q = prefix + "-q";
        ch.queueDeclare(q, false, false, true, null);
        publish("", q, "m");
        await().atMost(GONE).until(() -> count(q) == 0);
    }

    private void refused(String kind, String body, String reason) {
        Http.Response r = api.put("/api/" + kind + "/%2F/" + unique("bad"), body);
        assertEquals(400, r.status(), r.body());
        assertEquals("bad_request", r.json().path("error").asText());
        assertEquals(reason, r.json().path("reason").asText());
    }

    @Test
    void badPoliciesAreRefusedWithRabbitMqsTexts() {
        refused("policies", "{\"pattern\":\".*\",\"definition\":{\"foo\":1}}",
                "Validation failed\n\n[{<<\"foo\">>,1}] are not recognised policy settings\n");
        refused("policies", "{\"pattern\":\".*\",\"definition\":{\"max-priority\":3}}",
                "Validation failed\n\n[{<<\"max-priority\">>,3}] are not recognised policy settings\n");
        refused("policies", "{\"pattern\":\".*\",\"definition\":{\"message-ttl\":\"x\"}}",
                "Validation failed\n\n<<\"x\">> is not a valid message TTL\n");
        refused("policies", "{\"pattern\":\".*\",\"definition\":{\"expires\":0}}",
                "Validation failed\n\n0 is not a valid queue expiry\n");
        refused("policies", "{\"pattern\":\".*\",\"definition\":{\"alternate-exchange\":3}}",
                "Validation failed\n\n3 is not a valid alternate exchange name\n");
        refused("policies", "{\"pattern\":\".*\",\"definition\":{}}", "Validation failed\n\nno policy provided\n");
        refused("policies", "{\"pattern\":\".*\",\"apply-to\":\"foo\",\"definition\":{\"message-ttl\":1}}",
                "Validation failed\n\napply-to 'foo' unrecognised; should be 'queues', 'exchanges' or 'all'\n");
        refused("operator-policies", "{\"pattern\":\".*\",\"definition\":{\"alternate-exchange\":\"x\"}}",
                "Validation failed\n\n[{<<\"alternate-exchange\">>,<<\"x\">>}] are not recognised policy settings\n");
        Http.Response r = api.put("/api/policies/%2F/bad", "{\"pattern\":\"[\",\"definition\":{\"message-ttl\":1}}");
        assertEquals(400, r.status());
        assertTrue(r.json().path("reason").asText().startsWith(
                "Validation failed\n\npattern should be regular expression but is invalid"), r.body());
        assertEquals(404, api.put("/api/policies/no-such-vhost/p",
                "{\"pattern\":\".*\",\"definition\":{\"message-ttl\":1}}").status());
        assertEquals(404, api.get("/api/policies/%2F/no-such-policy").status());
    }

    @Test
    void policiesAreForPolicymakersAndOperatorPoliciesForAdministrators() {
        String user = unique("pm");
        assertEquals(201, api.put("/api/users/" + user, "{\"password\":\"pw\",\"tags\":\"policymaker\"}").status());
        assertEquals(201, api.put("/api/permissions/%2F/" + user, "{\"configure\":\".*\",\"write\":\".*\","
                + "\"read\":\".*\"}").status());
        String watcher = unique("mgmt");
        assertEquals(201, api.put("/api/users/" + watcher, "{\"password\":\"pw\",\"tags\":\"management\"}").status());
        assertEquals(201, api.put("/api/permissions/%2F/" + watcher, "{\"configure\":\".*\",\"write\":\".*\","
                + "\"read\":\".*\"}").status());
        Http pm = new Http("127.0.0.1", broker.broker().managementPort(), user, "pw");
        Http mg = new Http("127.0.0.1", broker.broker().managementPort(), watcher, "pw");
        String p = unique("pm");
        String body = "{\"pattern\":\"^nothing$\",\"definition\":{\"message-ttl\":1}}";
        assertEquals(201, pm.put("/api/policies/%2F/" + p, body).status());
        assertEquals(403, mg.put("/api/policies/%2F/" + p, body).status());
        assertEquals(403, mg.get("/api/policies").status());
        assertEquals(403, pm.put("/api/operator-policies/%2F/" + p, body).status());
        assertEquals(204, pm.delete("/api/policies/%2F/" + p).status());
        api.delete("/api/users/" + user);
        api.delete("/api/users/" + watcher);
    }

    @Test
    void keysWarrenDoesNotHonourAreRefusedNotIgnored() {
        refused("operator-policies", "{\"pattern\":\"^nothing$\",\"definition\":{\"max-in-memory-length\":1}}",
                "Validation failed\n\npolicy key 'max-in-memory-length' is not supported by warren (quorum queues only)\n");
        refused("policies", "{\"pattern\":\"^nothing$\",\"definition\":{\"ha-mode\":\"all\"}}",
                "Validation failed\n\npolicy key 'ha-mode' is not supported by warren (no mirrored queues)\n");
        // Nothing was set.
        for (JsonNode p : api.get("/api/policies/%2F").json()) {
            assertFalse(p.path("pattern").asText().equals("^nothing$"), p.toString());
        }
    }

    @Test
    void policiesSurviveARestartAndApplyToRecoveredQueues() throws Exception {
        String q = unique("pol-durable");
        ch.queueDeclare(q, true, false, false, null);
        String p = unique("durable");
        String op = unique("durable-op");
        setPolicy(api, "policies", p, exactly(q), "{\"message-ttl\":400000,\"queue-mode\":\"lazy\"}", 7, "queues");
        setPolicy(api, "operator-policies", op, exactly(q), "{\"message-ttl\":2000}", 0, "all");
        c.close();
        broker.restart();
        c = broker.connect();
        ch = c.createChannel();
        api = http(broker);
        JsonNode got = api.get("/api/policies/%2F/" + Http.enc(p)).json();
        assertEquals(exactly(q), got.path("pattern").asText());
        assertEquals(7, got.path("priority").asInt());
        assertEquals("queues", got.path("apply-to").asText());
        assertEquals("lazy", got.path("definition").path("queue-mode").asText());
        assertEquals(200, api.get("/api/operator-policies/%2F/" + Http.enc(op)).status());
        JsonNode v = queueView(q);
        assertEquals(p, v.path("policy").asText());
        assertEquals(op, v.path("operator_policy").asText());
        ch.basicPublish("", q, new AMQP.BasicProperties.Builder().deliveryMode(2).build(), new byte[1]);
        await().atMost(GONE).until(() -> count(q) == 0);
        ch.queueDelete(q);
        api.delete("/api/policies/%2F/" + Http.enc(p));
        api.delete("/api/operator-policies/%2F/" + Http.enc(op));
    }

    @Test
    void definitionsCarryPoliciesBothWays() throws Exception {
        Http.Response vh = api.put("/api/vhosts/pol-defs", "{}");
        assertTrue(vh.status() == 201 || vh.status() == 204);
        assertEquals(201, api.put("/api/policies/pol-defs/ttl", "{\"pattern\":\"^orders\\\\.\",\"priority\":3,"
                + "\"apply-to\":\"queues\",\"definition\":{\"message-ttl\":200,\"expires\":900000}}").status());
        assertEquals(201, api.put("/api/operator-policies/pol-defs/cap", "{\"pattern\":\".*\","
                + "\"definition\":{\"message-ttl\":100}}").status());
        JsonNode doc = api.get("/api/definitions").json();
        JsonNode exported = null;
        for (JsonNode p : doc.path("policies")) {
            if (p.path("vhost").asText().equals("pol-defs")) {
                exported = p;
            }
        }
        assertNotNull(exported, doc.toString());
        assertEquals(Http.JSON.readTree("{\"vhost\":\"pol-defs\",\"name\":\"ttl\",\"pattern\":\"^orders\\\\.\","
                + "\"apply-to\":\"queues\",\"definition\":{\"expires\":900000,\"message-ttl\":200},\"priority\":3}"),
                exported);

        Http t = http(target);
        Http.Response imported = t.post("/api/definitions", doc.toString());
        assertEquals(204, imported.status(), imported.body());
        assertEquals(api.get("/api/policies/pol-defs").json(), t.get("/api/policies/pol-defs").json());
        assertEquals(api.get("/api/operator-policies/pol-defs").json(), t.get("/api/operator-policies/pol-defs").json());
        // And they apply there.
        com.rabbitmq.client.ConnectionFactory f = target.factory();
        f.setVirtualHost("pol-defs");
        try (Connection tc = f.newConnection()) {
            Channel tch = tc.createChannel();
            tch.queueDeclare("orders.eu", false, false, true, null);
            tch.basicPublish("", "orders.eu", null, new byte[1]);
            await().atMost(GONE).until(() -> tch.queueDeclarePassive("orders.eu").getMessageCount() == 0);
        }
        // Vhost-scoped: the same policies without their vhost field, imported into another vhost.
        JsonNode scoped = api.get("/api/definitions/pol-defs").json();
        assertEquals(1, scoped.path("policies").size(), scoped.toString());
        assertTrue(scoped.path("policies").get(0).path("vhost").isMissingNode(), scoped.toString());
        assertEquals(201, t.put("/api/vhosts/pol-defs2", "{}").status());
        assertEquals(204, t.post("/api/definitions/pol-defs2", scoped.toString()).status());
        JsonNode copied = t.get("/api/policies/pol-defs2/ttl").json();
        assertEquals("pol-defs2", copied.path("vhost").asText());
        assertEquals("^orders\\.", copied.path("pattern").asText());
        // A policy the import would refuse refuses the whole document.
        String bad = "{\"policies\":[{\"vhost\":\"pol-defs\",\"name\":\"x\",\"pattern\":\".*\",\"apply-to\":\"all\","
                + "\"definition\":{\"ha-mode\":\"all\"},\"priority\":0}],\"queues\":[{\"vhost\":\"pol-defs\",\"name\":"
                + "\"never\",\"durable\":true,\"auto_delete\":false,\"arguments\":{}}]}";
        Http.Response r = t.post("/api/definitions", bad);
        assertEquals(400, r.status(), r.body());
        assertTrue(r.json().path("reason").asText().contains("policy key 'ha-mode' is not supported by warren (no mirrored queues)"),
                r.body());
        assertEquals(404, t.get("/api/queues/pol-defs/never").status());
        api.delete("/api/vhosts/pol-defs");
    }
}
