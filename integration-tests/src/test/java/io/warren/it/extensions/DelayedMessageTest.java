package io.warren.it.extensions;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.Return;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;

import static io.warren.it.support.AmqpAssertions.assertClose;
import static io.warren.it.support.AmqpAssertions.channelError;
import static io.warren.it.support.AmqpAssertions.connectionError;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The x-delayed-message exchange (the community rabbitmq-delayed-message-exchange plugin's,
 * built in): messages with a positive x-delay wait and are routed at their due time by the
 * x-delayed-type's rules; persistent ones on a durable exchange survive a restart.
 */
class DelayedMessageTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private static final long TIMEOUT = Duration.ofSeconds(10).toMillis();
    private static final ObjectMapper JSON = new ObjectMapper();

    private static String unique(String prefix) {
        return prefix + "-" + UUID.randomUUID();
    }

    private static Map<String, Object> delayedType(String type) {
        return Map.of("x-delayed-type", type);
    }

    private static AMQP.BasicProperties delay(Object ms, boolean persistent) {
        Map<String, Object> headers = new HashMap<>();
        headers.put("x-delay", ms);
        return new AMQP.BasicProperties.Builder().headers(headers).deliveryMode(persistent ? 2 : 1).build();
    }

    private static void publish(Channel ch, String x, String key, AMQP.BasicProperties props, String body)
            throws Exception {
        ch.basicPublish(x, key, props, body.getBytes(StandardCharsets.UTF_8));
        ch.waitForConfirmsOrDie(TIMEOUT);
    }

    private static String get(Channel ch, String q) throws Exception {
        GetResponse r = ch.basicGet(q, true);
        return r == null ? null : new String(r.getBody(), StandardCharsets.UTF_8);
    }

    /** A delivery and when it arrived. */
    record Arrival(String body, long atMillis, String exchange, String routingKey) {}

    private static List<Arrival> consume(Channel ch, String q) throws Exception {
        List<Arrival> got = new CopyOnWriteArrayList<>();
        ch.basicConsume(q, true, new DefaultConsumer(ch) {
            @Override public void handleDelivery(String tag, Envelope e, AMQP.BasicProperties p, byte[] body) {
                got.add(new Arrival(new String(body, StandardCharsets.UTF_8), System.currentTimeMillis(),
                        e.getExchange(), e.getRoutingKey()));
            }
        });
        return got;
    }

    private static Channel confirming(Connection c) throws Exception {
        Channel ch = c.createChannel();
        ch.confirmSelect();
        return ch;
    }

    @Test
    void aMessageIsNotDeliveredBeforeItsDelayAndIsDeliveredAfter() throws Exception {
        Channel ch = confirming(broker.connect());
        String x = unique("delayed");
        ch.exchangeDeclare(x, "x-delayed-message", false, true, delayedType("direct"));
        String q = ch.queueDeclare().getQueue();
        ch.queueBind(q, x, "k");
        // The server-named queue is exclusive: consume on the same connection.
        List<Arrival> got = consume(ch.getConnection().createChannel(), q);

        long before = System.currentTimeMillis();
        publish(ch, x, "k", delay(1500, false), "later");
        long confirmed = System.currentTimeMillis();
        assertTrue(got.isEmpty(), "confirmed but not routed yet");

        await().atMost(Duration.ofSeconds(10)).until(() -> got.size() == 1);
        Arrival a = got.get(0);
        assertEquals("later", a.body());
        assertEquals(x, a.exchange(), "delivered from the delayed exchange");
        assertEquals("k", a.routingKey());
        assertTrue(a.atMillis() - before >= 1500, "arrived " + (a.atMillis() - before) + " ms after the publish");
        assertTrue(confirmed - before < 1500, "the confirm does not wait for the due time");
    }

    @Test
    void messagesComeOutInDueTimeOrderNotPublishOrder() throws Exception {
        Channel ch = confirming(broker.connect());
        String x = unique("delayed");
        ch.exchangeDeclare(x, "x-delayed-message", false, true, delayedType("fanout"));
        String q = ch.queueDeclare().getQueue();
        ch.queueBind(q, x, "");
        List<Arrival> got = consume(ch.getConnection().createChannel(), q);

        publish(ch, x, "", delay(3000, false), "third");
        publish(ch, x, "", delay(1000, false), "first");
        publish(ch, x, "", delay(2000, false), "second");
        publish(ch, x, "", delay(2000, false), "second-b"); // a later due time by the publish's transit

        await().atMost(Duration.ofSeconds(10)).until(() -> got.size() == 4);
        assertEquals(List.of("first", "second", "second-b", "third"), got.stream().map(Arrival::body).toList());
    }

    @Test
    void topicRulesApplyAtDueTime() throws Exception {
        Channel ch = confirming(broker.connect());
        String x = unique("delayed");
        ch.exchangeDeclare(x, "x-delayed-message", false, true, delayedType("topic"));
        String ab = ch.queueDeclare().getQueue();
        String z = ch.queueDeclare().getQueue();
        ch.queueBind(ab, x, "a.*");
        ch.queueBind(z, x, "#.z");
        Channel c2 = ch.getConnection().createChannel();
        List<Arrival> gotAb = consume(c2, ab);
        List<Arrival> gotZ = consume(c2, z);

        publish(ch, x, "a.b", delay(300, false), "ab");
        publish(ch, x, "a.z", delay(300, false), "az");
        publish(ch, x, "q.r.z", delay(300, false), "qrz");
        publish(ch, x, "nomatch", delay(300, false), "none");

        await().atMost(Duration.ofSeconds(10)).until(() -> gotAb.size() == 2 && gotZ.size() == 2);
        assertEquals(List.of("ab", "az"), gotAb.stream().map(Arrival::body).sorted().toList());
        assertEquals(List.of("az", "qrz"), gotZ.stream().map(Arrival::body).sorted().toList());
    }

    @Test
    void headersRulesApplyAtDueTime() throws Exception {
        Channel ch = confirming(broker.connect());
        String x = unique("delayed");
        ch.exchangeDeclare(x, "x-delayed-message", false, true, delayedType("headers"));
        String q = ch.queueDeclare().getQueue();
        ch.queueBind(q, x, "", Map.of("x-match", "all", "kind", "a"));
        // 2 s: two publishes that each wait for their confirm, then a get, must all fit in the
        // delay for the "not yet" check (200 ms did not once, in a CI run on a busy 2-core VM)
        Map<String, Object> h = new HashMap<>(Map.of("x-delay", 2000, "kind", "a"));
        publish(ch, x, "", new AMQP.BasicProperties.Builder().headers(h).build(), "match");
        h.put("kind", "b");
        publish(ch, x, "", new AMQP.BasicProperties.Builder().headers(h).build(), "nomatch");
        assertNull(get(ch, q));
        await().atMost(Duration.ofSeconds(10)).until(() -> "match".equals(get(ch, q)));
        assertNull(get(ch, q));
    }

    @Test
    void withoutAPositiveIntegerDelayAMessageIsRoutedAtOnce() throws Exception {
        Channel ch = confirming(broker.connect());
        String x = unique("delayed");
        ch.exchangeDeclare(x, "x-delayed-message", false, true, delayedType("direct"));
        String q = ch.queueDeclare().getQueue();
        ch.queueBind(q, x, "k");

        publish(ch, x, "k", null, "no-header");
        publish(ch, x, "k", delay(-5000, false), "negative");
        publish(ch, x, "k", delay(0, false), "zero");
        publish(ch, x, "k", delay("5000", false), "string");
        publish(ch, x, "k", delay(5000.0, false), "double");
        List<String> got = new ArrayList<>();
        await().atMost(Duration.ofSeconds(5)).until(() -> {
            String m = get(ch, q);
            if (m != null) {
                got.add(m);
            }
            return got.size() == 5;
        });
        assertEquals(List.of("no-header", "negative", "zero", "string", "double"), got);
    }

    @Test
    void aMissingOrInvalidDelayedTypeIsRefusedAsThePluginRefusesIt() throws Exception {
        Connection c = broker.connect();
        AMQP.Channel.Close missing = channelError(() ->
                c.createChannel().exchangeDeclare(unique("d"), "x-delayed-message", false, true, null));
        assertClose(406, "PRECONDITION_FAILED - Invalid argument, 'x-delayed-type' must be an existing exchange type",
                missing);
        AMQP.Channel.Close number = channelError(() ->
                c.createChannel().exchangeDeclare(unique("d"), "x-delayed-message", false, true,
                        Map.of("x-delayed-type", 5)));
        assertEquals(406, number.getReplyCode());
        AMQP.Channel.Close self = channelError(() ->
                c.createChannel().exchangeDeclare(unique("d"), "x-delayed-message", false, true,
                        delayedType("x-delayed-message")));
        assertEquals(406, self.getReplyCode());
        AMQP.Connection.Close unknown = connectionError(() ->
                broker.connect().createChannel().exchangeDeclare(unique("d"), "x-delayed-message", false, true,
                        delayedType("nonesuch")));
        assertClose(503, "COMMAND_INVALID - unknown exchange type 'nonesuch'", unknown);
        // Still usable after the errors.
        Channel ch = broker.connect().createChannel();
        ch.exchangeDeclare(unique("d"), "x-delayed-message", false, true, delayedType("fanout"));
    }

    @Test
    void mandatoryReturnsWhatNoQueueWouldTakeNowAndSchedulesTheRest() throws Exception {
        Connection c = broker.connect();
        Channel ch = confirming(c);
        List<Return> returns = new CopyOnWriteArrayList<>();
        ch.addReturnListener(returns::add);
        String x = unique("delayed");
        ch.exchangeDeclare(x, "x-delayed-message", false, true, delayedType("direct"));
        String q = ch.queueDeclare().getQueue();
        ch.queueBind(q, x, "k");

        ch.basicPublish(x, "other", true, delay(200, false), "nowhere".getBytes());
        ch.basicPublish(x, "k", true, delay(200, false), "somewhere".getBytes());
        ch.waitForConfirmsOrDie(TIMEOUT);
        assertEquals(1, returns.size());
        assertEquals(312, returns.get(0).getReplyCode());
        assertEquals("nowhere", new String(returns.get(0).getBody()));
        await().atMost(Duration.ofSeconds(10)).until(() -> "somewhere".equals(get(ch, q)));
        assertEquals(1, returns.size());
    }

    @Test
    void waitingMessagesAreCountedPerExchangeInTheManagementApi() throws Exception {
        Channel ch = confirming(broker.connect());
        String x = unique("delayed");
        ch.exchangeDeclare(x, "x-delayed-message", false, true, delayedType("direct"));
        String q = ch.queueDeclare().getQueue();
        ch.queueBind(q, x, "k");
        for (int i = 0; i < 3; i++) {
            publish(ch, x, "k", delay(6000, false), "m" + i); // long enough to be counted on a busy machine
        }
        JsonNode show = http("/api/exchanges/%2F/" + x);
        assertEquals("x-delayed-message", show.path("type").asText());
        assertEquals(3, show.path("messages_delayed").asLong());
        JsonNode row = null;
        for (JsonNode n : http("/api/warren/delayed/%2F")) {
            if (x.equals(n.path("name").asText())) {
                row = n;
            }
        }
        assertNotNull(row, "listed in /api/warren/delayed");
        assertEquals(3, row.path("messages_delayed").asLong());
        assertEquals("direct", row.path("delayed_type").asText());

        await().atMost(Duration.ofSeconds(20)).until(() -> http("/api/exchanges/%2F/" + x)
                .path("messages_delayed").asLong() == 0);
        for (int i = 0; i < 3; i++) {
            assertNotNull(get(ch, q));
        }
    }

    @Test
    void aTransactionCommitsDelayedAndImmediatePublishesTogether() throws Exception {
        Channel ch = broker.connect().createChannel();
        String x = unique("delayed");
        ch.exchangeDeclare(x, "x-delayed-message", false, true, delayedType("direct"));
        String q = ch.queueDeclare().getQueue();
        ch.queueBind(q, x, "k");
        ch.txSelect();
        ch.basicPublish(x, "k", delay(1000, true), "delayed".getBytes());
        ch.basicPublish(x, "k", null, "now".getBytes());
        assertNull(get(ch, q), "nothing before the commit");
        ch.txCommit();
        assertEquals("now", get(ch, q));
        assertNull(get(ch, q));
        await().atMost(Duration.ofSeconds(10)).until(() -> "delayed".equals(get(ch, q)));
        ch.txRollback();
    }

    @Test
    void deletingTheExchangeDropsItsWaitingMessages() throws Exception {
        Channel ch = confirming(broker.connect());
        String x = unique("delayed");
        ch.exchangeDeclare(x, "x-delayed-message", false, false, delayedType("direct"));
        String q = ch.queueDeclare().getQueue();
        ch.queueBind(q, x, "k");
        publish(ch, x, "k", delay(600, false), "old");
        ch.exchangeDelete(x);
        // Declared again with the same name and binding: the old message must not come through it.
        ch.exchangeDeclare(x, "x-delayed-message", false, false, delayedType("direct"));
        ch.queueBind(q, x, "k");
        publish(ch, x, "k", delay(900, false), "new");
        await().atMost(Duration.ofSeconds(10)).until(() -> "new".equals(get(ch, q)));
        assertNull(get(ch, q));
    }

    @Test
    void persistentMessagesOnADurableExchangeSurviveARestartTransientOnesDoNot() throws Exception {
        String x = unique("delayed-durable");
        String q = unique("delayed-q");
        long due;
        try (Connection c = broker.connect()) {
            Channel ch = confirming(c);
            ch.exchangeDeclare(x, "x-delayed-message", true, false, delayedType("direct"));
            ch.queueDeclare(q, true, false, false, null);
            ch.queueBind(q, x, "k");
            due = System.currentTimeMillis() + 2500;
            publish(ch, x, "k", delay(2500, true), "persistent");
            publish(ch, x, "k", delay(2500, false), "transient");
            publish(ch, x, "k", delay(700, true), "due-while-down");
        }
        broker.stop();
        // Stay down past the due time of the short one: it is routed right after the start.
        long shortDue = due - 2500 + 700;
        await().atMost(Duration.ofSeconds(5)).until(() -> System.currentTimeMillis() > shortDue + 100);
        broker.start();

        Channel ch = broker.connect().createChannel();
        await().atMost(Duration.ofSeconds(5)).until(() -> "due-while-down".equals(get(ch, q)));
        if (System.currentTimeMillis() < due) {
            assertNull(get(ch, q), "not before its due time");
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> "persistent".equals(get(ch, q)));
        assertTrue(System.currentTimeMillis() >= due);
        // The transient one is not coming: give it past its due time.
        await().pollDelay(Duration.ofMillis(500)).atMost(Duration.ofSeconds(2)).until(() -> true);
        assertNull(get(ch, q));
        ch.queueDelete(q);
        ch.exchangeDelete(x);
    }

    private static JsonNode http(String path) throws Exception {
        HttpClient client = HttpClient.newHttpClient();
        String auth = "Basic " + Base64.getEncoder().encodeToString("guest:guest".getBytes(StandardCharsets.UTF_8));
        HttpResponse<String> r = client.send(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + broker.broker().managementPort() + path))
                .header("authorization", auth).GET().build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        return JSON.readTree(r.body());
    }
}
