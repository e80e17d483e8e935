package io.warren.it.extensions;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * The combinations users hit: dead-lettering by a length limit (drop-head and
 * reject-publish-dlx, reason {@code maxlen}) and by a delivery limit (reason
 * {@code delivery_limit}, on a quorum queue and on a classic one), each with its x-death entry.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class DeadLetterReasonsTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private static final Duration WAIT = Duration.ofSeconds(10);

    private static String unique(String prefix) {
        return prefix + "-" + UUID.randomUUID();
    }

    private static Map<String, Object> args(Object... kv) {
        Map<String, Object> m = new HashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    private static void publish(Channel ch, String q, String body) throws Exception {
        ch.basicPublish("", q, null, body.getBytes(StandardCharsets.UTF_8));
    }

    private static String text(GetResponse r) {
        return new String(r.getBody(), StandardCharsets.UTF_8);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> death(GetResponse r) {
        List<Map<String, Object>> deaths = (List<Map<String, Object>>) r.getProps().getHeaders().get("x-death");
        assertNotNull(deaths, "x-death");
        return deaths.get(0);
    }

    private static List<GetResponse> drain(Channel ch, String q, int n) throws Exception {
        List<GetResponse> got = new ArrayList<>();
        await().atMost(WAIT).until(() -> {
            GetResponse r;
            while ((r = ch.basicGet(q, true)) != null) {
                got.add(r);
            }
            return got.size() >= n;
        });
        return got;
    }

    @Test
    void dropHeadDeadLettersTheOldestWithReasonMaxlen() throws Exception {
        try (Connection c = broker.connect()) {
            Channel ch = c.createChannel();
            String dlq = ch.queueDeclare().getQueue();
            String q = unique("maxlen");
            ch.queueDeclare(q, false, false, true, args("x-max-length", 2, "x-dead-letter-exchange", "",
                    "x-dead-letter-routing-key", dlq));
            for (int i = 0; i < 5; i++) {
                publish(ch, q, "m" + i);
            }
            List<GetResponse> dead = drain(ch, dlq, 3);
            assertEquals(List.of("m0", "m1", "m2"), dead.stream().map(DeadLetterReasonsTest::text).toList());
            assertEquals("maxlen", death(dead.get(0)).get("reason").toString());
            assertEquals(q, death(dead.get(0)).get("queue").toString());
            assertEquals("m3", text(ch.basicGet(q, true)));
            assertEquals("m4", text(ch.basicGet(q, true)));
        }
    }

    @Test
    void rejectPublishDlxNacksAndDeadLetters() throws Exception {
        try (Connection c = broker.connect()) {
            Channel ch = c.createChannel();
            String dlq = ch.queueDeclare().getQueue();
            String q = unique("rpdlx");
            ch.queueDeclare(q, false, false, true, args("x-max-length", 1, "x-overflow", "reject-publish-dlx",
                    "x-dead-letter-exchange", "", "x-dead-letter-routing-key", dlq));
            ch.confirmSelect();
            publish(ch, q, "kept");
            publish(ch, q, "refused");
            assertFalse(ch.waitForConfirms(10_000), "the refused publish is nacked");
            List<GetResponse> dead = drain(ch, dlq, 1);
            assertEquals("refused", text(dead.get(0)));
            assertEquals("maxlen", death(dead.get(0)).get("reason").toString());
            assertEquals("kept", text(ch.basicGet(q, true)));
            assertNull(ch.basicGet(q, true));
        }
    }

    @Test
    void deliveryLimitDeadLettersWithReasonDeliveryLimit() throws Exception {
        for (boolean quorum : new boolean[] {true, false}) {
            try (Connection c = broker.connect()) {
                Channel ch = c.createChannel();
                String dlq = unique("dl-dlq");
                ch.queueDeclare(dlq, true, false, false, null);
                String q = unique("dl");
                Map<String, Object> a = args("x-delivery-limit", 0, "x-dead-letter-exchange", "",
                        "x-dead-letter-routing-key", dlq);
                if (quorum) {
                    a.put("x-queue-type", "quorum");
                }
                ch.queueDeclare(q, true, false, false, a);
                ch.basicPublish("", q, new AMQP.BasicProperties.Builder().deliveryMode(2).build(),
                        "poison".getBytes(StandardCharsets.UTF_8));
                GetResponse[] got = new GetResponse[1];
                await().atMost(WAIT).until(() -> (got[0] = ch.basicGet(q, false)) != null);
                ch.basicReject(got[0].getEnvelope().getDeliveryTag(), true); // one return > limit 0
                List<GetResponse> dead = drain(ch, dlq, 1);
                assertEquals("poison", text(dead.get(0)));
                assertEquals("delivery_limit", death(dead.get(0)).get("reason").toString(), "quorum " + quorum);
                assertNull(ch.basicGet(q, true));
                ch.queueDelete(q);
                ch.queueDelete(dlq);
            }
        }
    }
}
