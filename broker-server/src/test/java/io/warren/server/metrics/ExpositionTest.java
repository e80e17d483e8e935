package io.warren.server.metrics;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ExpositionTest {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private int chunks;

    private Exposition exposition(boolean openMetrics) {
        return new Exposition(openMetrics, (b, n) -> {
            out.write(b, 0, n);
            chunks++;
        });
    }

    private String text() {
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void prometheusTextWithEscapedLabelsAndHelp() {
        Exposition x = exposition(false);
        x.family("rabbitmq_queue_messages_ready", "gauge", "Messages ready\\to be\ndelivered");
        x.sample("rabbitmq_queue_messages_ready", "vhost", "/", "queue", "a\"b\\c\nd é €", 3);
        x.family("rabbitmq_build_info", "untyped", "info");
        x.sample("rabbitmq_build_info", new String[] {"a", "1", "b", ""}, 1);
        x.family("rabbitmq_connections_opened_total", "counter", "opened");
        x.sample("rabbitmq_connections_opened_total", 12345678901L);
        x.sample("warren_uptime_seconds", 1.5);
        x.sample("negative", -42);
        x.finish();
        assertEquals("# HELP rabbitmq_queue_messages_ready Messages ready\\\\to be\\ndelivered\n"
                + "# TYPE rabbitmq_queue_messages_ready gauge\n"
                + "rabbitmq_queue_messages_ready{vhost=\"/\",queue=\"a\\\"b\\\\c\\nd é €\"} 3\n"
                + "# HELP rabbitmq_build_info info\n"
                + "# TYPE rabbitmq_build_info untyped\n"
                + "rabbitmq_build_info{a=\"1\",b=\"\"} 1\n"
                + "# HELP rabbitmq_connections_opened_total opened\n"
                + "# TYPE rabbitmq_connections_opened_total counter\n"
                + "rabbitmq_connections_opened_total 12345678901\n"
                + "warren_uptime_seconds 1.5\n"
                + "negative -42\n", text());
    }

    @Test
    void openMetricsNamesCounterFamiliesWithoutTotalAndEnds() {
        Exposition x = exposition(true);
        x.family("rabbitmq_connections_opened_total", "counter", "opened");
        x.sample("rabbitmq_connections_opened_total", 2);
        x.family("rabbitmq_build_info", "untyped", "info");
        x.sample("rabbitmq_build_info", 1);
        x.finish();
        assertEquals("# HELP rabbitmq_connections_opened opened\n"
                + "# TYPE rabbitmq_connections_opened counter\n"
                + "rabbitmq_connections_opened_total 2\n"
                + "# HELP rabbitmq_build_info info\n"
                + "# TYPE rabbitmq_build_info unknown\n"
                + "rabbitmq_build_info 1\n"
                + "# EOF\n", text());
    }

    @Test
    void largeOutputIsHandedOverInChunksWithNothingLostAtTheSeams() {
        Exposition x = exposition(false);
        StringBuilder expected = new StringBuilder();
        for (int i = 0; i < 40_000; i++) {
            String q = "queue-" + i + (i % 7 == 0 ? "-é€😀" : "");
            x.sample("rabbitmq_queue_messages_ready", "vhost", "/", "queue", q, i);
            expected.append("rabbitmq_queue_messages_ready{vhost=\"/\",queue=\"").append(q).append("\"} ").append(i)
                    .append('\n');
        }
        x.finish();
        assertTrue(chunks > 4, "chunks: " + chunks);
        assertEquals(expected.toString(), text());
        assertEquals(expected.toString().getBytes(StandardCharsets.UTF_8).length, x.bytes());
    }

    @Test
    void labelsEncodedOnceAreTheSameAsInline() {
        String longName = "q-" + "é\"\\".repeat(500);
        Exposition x = exposition(false);
        x.sample("a", "vhost", "/", "queue", longName, 1);
        x.sample("a", Exposition.labels("vhost", "/", "queue", longName), 1);
        x.finish();
        String[] lines = text().split("\n");
        assertEquals(2, lines.length);
        assertEquals(lines[0], lines[1]);
    }
}
