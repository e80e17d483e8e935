package io.warren.it.model;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.math.BigDecimal;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import static io.warren.it.model.ModelAssertions.assertChannelError;
import static io.warren.it.model.ModelAssertions.routedTo;
import static io.warren.it.model.ModelAssertions.unique;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** How direct, fanout, topic and headers exchanges route. */
class ExchangeRoutingTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    /** Declares an auto-delete exchange and one server-named queue per binding key (label = key). */
    private static Map<String, String> bindEach(Channel ch, String x, String type, List<String> keys)
            throws Exception {
        ch.exchangeDeclare(x, type, false, true, null);
        Map<String, String> queues = new LinkedHashMap<>();
        for (String key : keys) {
            String q = ch.queueDeclare().getQueue();
            ch.queueBind(q, x, key);
            queues.put(key, q);
        }
        return queues;
    }

    @Test
    void directRoutesOnEqualKeys() throws Exception {
        Channel ch = broker.connect().createChannel();
        String x = unique("direct");
        Map<String, String> qs = bindEach(ch, x, "direct", List.of("a", "b", "", "a.b", "A"));
        // A second queue on the same key, and one queue bound twice under different keys.
        String shared = ch.queueDeclare().getQueue();
        ch.queueBind(shared, x, "a");
        ch.queueBind(shared, x, "b");
        qs.put("shared", shared);

        assertEquals(Set.of("a", "shared"), routedTo(ch, x, "a", null, qs));
        assertEquals(Set.of("b", "shared"), routedTo(ch, x, "b", null, qs));
        assertEquals(Set.of(""), routedTo(ch, x, "", null, qs));
        assertEquals(Set.of("a.b"), routedTo(ch, x, "a.b", null, qs));
        assertEquals(Set.of("A"), routedTo(ch, x, "A", null, qs), "keys are case-sensitive");
        assertEquals(Set.of(), routedTo(ch, x, "c", null, qs));
        assertEquals(Set.of(), routedTo(ch, x, "*", null, qs), "no wildcards in direct exchanges");
    }

    @Test
    void bindingTheSameKeyTwiceIsOneBinding() throws Exception {
        Channel ch = broker.connect().createChannel();
        String x = unique("direct-dup");
        Map<String, String> qs = bindEach(ch, x, "direct", List.of("k", "keeps-the-auto-delete-exchange"));
        ch.queueBind(qs.get("k"), x, "k");
        assertEquals(Set.of("k"), routedTo(ch, x, "k", null, qs));
        ch.queueUnbind(qs.get("k"), x, "k");
        assertEquals(Set.of(), routedTo(ch, x, "k", null, qs), "one unbind removes it");
    }

    @Test
    void fanoutIgnoresTheRoutingKey() throws Exception {
        Channel ch = broker.connect().createChannel();
        String x = unique("fanout");
        Map<String, String> qs = bindEach(ch, x, "fanout", List.of("one", "two", ""));
        assertEquals(Set.of("one", "two", ""), routedTo(ch, x, "anything", null, qs));
        assertEquals(Set.of("one", "two", ""), routedTo(ch, x, "", null, qs));
        ch.queueUnbind(qs.get("two"), x, "two");
        assertEquals(Set.of("one", ""), routedTo(ch, x, "x", null, qs));
    }

    @Test
    void topicWildcards() throws Exception {
        Channel ch = broker.connect().createChannel();
        String x = unique("topic");
        List<String> patterns = List.of("a.b.c", "a.*.c", "a.#", "#", "*", "a.#.c", "#.c", "*.*", "a.*", "a..c",
                "a.*.*.c", "#.b.#", "", "*.b.#");
        Map<String, String> qs = bindEach(ch, x, "topic", patterns);

        Map<String, Set<String>> expected = new LinkedHashMap<>();
        expected.put("a.b.c", Set.of("a.b.c", "a.*.c", "a.#", "#", "a.#.c", "#.c", "#.b.#", "*.b.#"));
        expected.put("a", Set.of("a.#", "#", "*"));
        // '#' matches zero words: "a.#.c" matches "a.c", "#.c" matches "c".
        expected.put("a.c", Set.of("a.#", "#", "a.#.c", "#.c", "*.*", "a.*"));
        expected.put("c", Set.of("#", "*", "#.c"));
        expected.put("a.x.y.c", Set.of("a.#", "#", "a.#.c", "#.c", "a.*.*.c"));
        expected.put("b", Set.of("#", "*", "#.b.#"));
        expected.put("x.b", Set.of("#", "*.*", "#.b.#", "*.b.#"));
        // Empty words are words: "a..c" is three words, the middle one empty.
        expected.put("a..c", Set.of("a..c", "a.*.c", "a.#", "#", "a.#.c", "#.c"));
        // The empty routing key has no words: only "#" and the empty binding key match it.
        expected.put("", Set.of("#", ""));
        expected.put(".", Set.of("#", "*.*"));
        expected.put("a.", Set.of("a.#", "#", "*.*", "a.*"));
        expected.put("A.B.C", Set.of("#")); // words are case-sensitive
        expected.put("a.b.c.d", Set.of("a.#", "#", "#.b.#", "*.b.#"));
        for (Map.Entry<String, Set<String>> e : expected.entrySet()) {
            assertEquals(new TreeSet<>(e.getValue()), routedTo(ch, x, e.getKey(), null, qs),
                    "routing key '" + e.getKey() + "'");
        }
    }

    @Test
    void topicWithManyBindings() throws Exception {
        Channel ch = broker.connect().createChannel();
        String x = unique("topic-many");
        ch.exchangeDeclare(x, "topic", false, true, null);
        String q1 = ch.queueDeclare().getQueue();
        String q2 = ch.queueDeclare().getQueue();
        for (int i = 0; i < 500; i++) {
            ch.queueBind(q1, x, "stock." + i + ".*");
            ch.queueBind(q2, x, "#." + i);
        }
        Map<String, String> qs = Map.of("q1", q1, "q2", q2);
        assertEquals(Set.of("q1"), routedTo(ch, x, "stock.17.nyse", null, qs));
        assertEquals(Set.of("q1", "q2"), routedTo(ch, x, "stock.499.499", null, qs));
        assertEquals(Set.of("q2"), routedTo(ch, x, "anything.at.all.250", null, qs));
        assertEquals(Set.of(), routedTo(ch, x, "stock.500.nyse", null, qs));
        for (int i = 0; i < 500; i++) {
            ch.queueUnbind(q1, x, "stock." + i + ".*");
        }
        assertEquals(Set.of("q2"), routedTo(ch, x, "stock.499.499", null, qs));
    }

    private static AMQP.BasicProperties headers(Map<String, Object> h) {
        return new AMQP.BasicProperties.Builder().headers(h).build();
    }

    private static Map<String, Object> map(Object... kv) {
        Map<String, Object> m = new HashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    @Test
    void headersAllAndAny() throws Exception {
        Channel ch = broker.connect().createChannel();
        String x = unique("headers");
        ch.exchangeDeclare(x, "headers", false, true, null);
        Map<String, Map<String, Object>> bindings = new LinkedHashMap<>();
        bindings.put("all", map("x-match", "all", "format", "pdf", "type", "report"));
        bindings.put("any", map("x-match", "any", "format", "pdf", "type", "report"));
        bindings.put("default-all", map("format", "pdf", "type", "report"));
        bindings.put("empty-all", map("x-match", "all"));
        bindings.put("empty-any", map("x-match", "any"));
        Map<String, String> qs = new LinkedHashMap<>();
        for (Map.Entry<String, Map<String, Object>> b : bindings.entrySet()) {
            String q = ch.queueDeclare().getQueue();
            ch.queueBind(q, x, "", b.getValue());
            qs.put(b.getKey(), q);
        }
        assertEquals(Set.of("all", "any", "default-all", "empty-all"),
                routedTo(ch, x, "", headers(map("format", "pdf", "type", "report", "extra", 1)), qs));
        assertEquals(Set.of("any", "empty-all"), routedTo(ch, x, "", headers(map("format", "pdf")), qs));
        assertEquals(Set.of("any", "empty-all"),
                routedTo(ch, x, "", headers(map("format", "zip", "type", "report")), qs));
        assertEquals(Set.of("empty-all"), routedTo(ch, x, "", headers(map("format", "zip")), qs));
        assertEquals(Set.of("empty-all"), routedTo(ch, x, "", null, qs), "no headers at all");
        assertEquals(Set.of("empty-all"), routedTo(ch, x, "ignored-key", headers(Map.of()), qs));
    }

    @Test
    void headersCompareNumbersByValueAndStringsByContent() throws Exception {
        Channel ch = broker.connect().createChannel();
        String x = unique("headers-values");
        ch.exchangeDeclare(x, "headers", false, true, null);
        Map<String, String> qs = new LinkedHashMap<>();
        String qInt = ch.queueDeclare().getQueue();
        ch.queueBind(qInt, x, "", map("x-match", "all", "n", 42));
        qs.put("int", qInt);
        String qLong = ch.queueDeclare().getQueue();
        ch.queueBind(qLong, x, "", map("x-match", "all", "n", 42L));
        qs.put("long", qLong);
        String qString = ch.queueDeclare().getQueue();
        ch.queueBind(qString, x, "", map("x-match", "all", "n", "42"));
        qs.put("string", qString);
        String qBool = ch.queueDeclare().getQueue();
        ch.queueBind(qBool, x, "", map("x-match", "any", "flag", true));
        qs.put("bool", qBool);

        Set<String> numeric = Set.of("int", "long");
        assertEquals(numeric, routedTo(ch, x, "", headers(map("n", 42)), qs));
        assertEquals(numeric, routedTo(ch, x, "", headers(map("n", 42L)), qs));
        assertEquals(numeric, routedTo(ch, x, "", headers(map("n", (short) 42)), qs));
        assertEquals(numeric, routedTo(ch, x, "", headers(map("n", (byte) 42)), qs));
        assertEquals(Set.of("string"), routedTo(ch, x, "", headers(map("n", "42")), qs));
        assertEquals(Set.of(), routedTo(ch, x, "", headers(map("n", 43)), qs));
        assertEquals(Set.of(), routedTo(ch, x, "", headers(map("n", "42 ")), qs));
        assertEquals(Set.of("bool"), routedTo(ch, x, "", headers(map("flag", true)), qs));
        assertEquals(Set.of(), routedTo(ch, x, "", headers(map("flag", false)), qs));
        assertEquals(Set.of(), routedTo(ch, x, "", headers(map("flag", "true")), qs));
    }

    @Test
    void headersIgnoreXArgumentsOfTheBinding() throws Exception {
        Channel ch = broker.connect().createChannel();
        String x = unique("headers-x");
        ch.exchangeDeclare(x, "headers", false, true, null);
        String q = ch.queueDeclare().getQueue();
        ch.queueBind(q, x, "", map("x-match", "all", "x-extra", "ignored", "k", "v"));
        Map<String, String> qs = Map.of("q", q);
        assertEquals(Set.of("q"), routedTo(ch, x, "", headers(map("k", "v")), qs));
        assertEquals(Set.of(), routedTo(ch, x, "", headers(map("x-extra", "ignored")), qs));
    }

    @Test
    void headersUnbindNeedsTheSameArguments() throws Exception {
        Channel ch = broker.connect().createChannel();
        String x = unique("headers-unbind");
        ch.exchangeDeclare(x, "headers", false, true, null);
        String q = ch.queueDeclare().getQueue();
        String keep = ch.queueDeclare().getQueue(); // keeps the auto-delete exchange
        ch.queueBind(keep, x, "", map("x-match", "all", "never", "set"));
        Map<String, Object> args = map("x-match", "any", "a", 1, "b", "two");
        ch.queueBind(q, x, "", args);
        Map<String, String> qs = Map.of("q", q);
        ch.queueUnbind(q, x, "", map("x-match", "any", "a", 1)); // not that binding
        assertEquals(Set.of("q"), routedTo(ch, x, "", headers(map("b", "two")), qs));
        ch.queueUnbind(q, x, "", args);
        assertEquals(Set.of(), routedTo(ch, x, "", headers(map("b", "two")), qs));
    }

    @Test
    void xMatchMustBeAllOrAny() throws Exception {
        Connection c = broker.connect();
        Channel setup = c.createChannel();
        String q = setup.queueDeclare().getQueue();
        Channel ch = c.createChannel();
        assertChannelError(ch, 406, "PRECONDITION_FAILED - Invalid x-match field value <<\"some\">>; expected all,"
                + " any, all-with-x, or any-with-x", "queue.bind",
                () -> ch.queueBind(q, "amq.headers", "", map("x-match", "some", "k", "v")));
        Channel ch2 = c.createChannel();
        assertChannelError(ch2, 406, "PRECONDITION_FAILED - Invalid x-match field type signedint (value 1);"
                + " expected longstr", "queue.bind",
                () -> ch2.queueBind(q, "amq.headers", "", map("x-match", 1, "k", "v")));
        // Only headers exchanges look at x-match.
        setup.queueBind(q, "amq.direct", q, map("x-match", "some"));
        setup.queueUnbind(q, "amq.direct", q, map("x-match", "some"));
        // The -with-x variants are accepted.
        setup.queueBind(q, "amq.headers", "", map("x-match", "any-with-x", "k", "v"));
        setup.queueUnbind(q, "amq.headers", "", map("x-match", "any-with-x", "k", "v"));
    }

    @Test
    void decimalsAndAmqMatch() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = ch.queueDeclare().getQueue();
        String tag = unique("tag");
        ch.queueBind(q, "amq.match", "", map("x-match", "all", "price", new BigDecimal("1.50"), "tag", tag));
        Map<String, String> qs = Map.of("q", q);
        assertEquals(Set.of("q"), routedTo(ch, "amq.match", "", headers(map("price", new BigDecimal("1.50"),
                "tag", tag)), qs));
        assertEquals(Set.of(), routedTo(ch, "amq.match", "", headers(map("price", new BigDecimal("1.51"),
                "tag", tag)), qs));
        ch.queueUnbind(q, "amq.match", "", map("x-match", "all", "price", new BigDecimal("1.50"), "tag", tag));
    }
}
