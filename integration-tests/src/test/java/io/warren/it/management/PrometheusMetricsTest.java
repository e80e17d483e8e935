package io.warren.it.management;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPInputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Prometheus endpoint through real clients: what RabbitMQ's Overview dashboard queries is
 * there, the counters follow the traffic exactly, labels are escaped, the format is one that
 * Prometheus' own tools parse, and the negotiation (OpenMetrics, gzip, 404/405/406) is RabbitMQ's.
 */
class PrometheusMetricsTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private String base() {
        return "http://127.0.0.1:" + broker.broker().prometheusPort();
    }

    private HttpResponse<byte[]> get(String path, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base() + path)).timeout(Duration.ofSeconds(30));
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return http.send(b.GET().build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    private String text(String path) throws Exception {
        HttpResponse<byte[]> r = get(path);
        assertEquals(200, r.statusCode(), path);
        return new String(r.body(), StandardCharsets.UTF_8);
    }

    /** Sample lines: the series (name and labels) to its value. */
    static Map<String, Double> samples(String body) {
        Map<String, Double> m = new HashMap<>();
        for (String line : body.split("\n")) {
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            int space = line.lastIndexOf(' ');
            m.put(line.substring(0, space), Double.parseDouble(line.substring(space + 1)));
        }
        return m;
    }

    /** Metric names that have at least one sample. */
    static Set<String> names(String body) {
        Set<String> names = new LinkedHashSet<>();
        for (String series : samples(body).keySet()) {
            int brace = series.indexOf('{');
            names.add(brace < 0 ? series : series.substring(0, brace));
        }
        return names;
    }

    static List<String> dashboardMetrics() throws IOException {
        try (InputStream in = PrometheusMetricsTest.class.getResourceAsStream("/prometheus/overview-dashboard-metrics.txt")) {
            List<String> out = new ArrayList<>();
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (!line.isBlank() && !line.startsWith("#")) {
                    out.add(line.trim());
                }
            }
            return out;
        }
    }

    @Test
    void everyMetricTheOverviewDashboardQueriesIsExposed() throws Exception {
        try (Connection c = broker.connect()) {
            Channel ch = c.createChannel();
            String q = ch.queueDeclare().getQueue();
            ch.basicPublish("", q, null, "x".getBytes());
            ch.basicConsume(q, false, (tag, d) -> { }, tag -> { });
            List<String> wanted = dashboardMetrics();
            assertEquals(49, wanted.size());
            Set<String> aggregated = names(text("/metrics"));
            Set<String> perObject = names(text("/metrics/per-object"));
            List<String> missing = new ArrayList<>();
            for (String name : wanted) {
                if (!aggregated.contains(name)) {
                    missing.add(name + " (/metrics)");
                }
                // RabbitMQ leaves the alarms out of per-object; everything the dashboard uses is there
                if (!perObject.contains(name)) {
                    missing.add(name + " (/metrics/per-object)");
                }
            }
            assertTrue(missing.isEmpty(), "missing: " + missing);
        }
    }

    private Map<String, Double> global() throws Exception {
        return samples(text("/metrics"));
    }

    private static double delta(Map<String, Double> before, Map<String, Double> after, String series) {
        assertNotNull(after.get(series), series + " not exposed");
        return after.get(series) - before.getOrDefault(series, 0.0);
    }

    @Test
    void countersFollowTheTrafficExactly() throws Exception {
        String amqp = "{protocol=\"amqp091\"}";
        String classic = "{protocol=\"amqp091\",queue_type=\"rabbit_classic_queue\"}";
        String quorum = "{protocol=\"amqp091\",queue_type=\"rabbit_quorum_queue\"}";
        Map<String, Double> before = global();
        try (Connection c = broker.connect()) {
            Channel ch = c.createChannel();
            String q = "prom-counted";
            ch.queueDeclare(q, false, false, false, null);
            ch.confirmSelect();
            for (int i = 0; i < 10; i++) {
                ch.basicPublish("", q, null, ("m" + i).getBytes());
            }
            ch.waitForConfirmsOrDie(10_000);
            ch.basicPublish("", "no-such-queue", false, null, "dropped".getBytes());
            ch.basicPublish("", "no-such-queue", true, null, "returned".getBytes());
            ch.waitForConfirmsOrDie(10_000);
            // two gets: one with auto-ack, one acked; then a consumer takes the other eight
            GetResponse auto = ch.basicGet(q, true);
            GetResponse manual = ch.basicGet(q, false);
            assertNotNull(auto);
            assertNotNull(manual);
            ch.basicAck(manual.getEnvelope().getDeliveryTag(), false);
            java.util.concurrent.LinkedBlockingQueue<Long> tags = new java.util.concurrent.LinkedBlockingQueue<>();
            ch.basicQos(8);
            String tag = ch.basicConsume(q, false, (t, d) -> tags.add(d.getEnvelope().getDeliveryTag()), t -> { });
            List<Long> got = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                got.add(tags.poll(10, TimeUnit.SECONDS));
            }
            // the first back to the queue once (a redelivery), then all acked
            ch.basicNack(got.get(0), false, true);
            Long again = tags.poll(10, TimeUnit.SECONDS);
            assertNotNull(again);
            ch.basicAck(again, true);
            ch.basicCancel(tag);
            assertEquals(null, ch.basicGet(q, true)); // get-empty
            Map<String, Double> after = global();
            assertEquals(12, delta(before, after, "rabbitmq_global_messages_received_total" + amqp));
            assertEquals(12, delta(before, after, "rabbitmq_global_messages_received_confirm_total" + amqp));
            assertEquals(12, delta(before, after, "rabbitmq_global_messages_confirmed_total" + amqp));
            assertEquals(10, delta(before, after, "rabbitmq_global_messages_routed_total" + amqp));
            assertEquals(1, delta(before, after, "rabbitmq_global_messages_unroutable_dropped_total" + amqp));
            assertEquals(1, delta(before, after, "rabbitmq_global_messages_unroutable_returned_total" + amqp));
            assertEquals(1, delta(before, after, "rabbitmq_global_messages_delivered_get_auto_ack_total" + classic));
            assertEquals(1, delta(before, after, "rabbitmq_global_messages_delivered_get_manual_ack_total" + classic));
            assertEquals(9, delta(before, after, "rabbitmq_global_messages_delivered_consume_manual_ack_total" + classic));
            assertEquals(11, delta(before, after, "rabbitmq_global_messages_delivered_total" + classic));
            assertEquals(1, delta(before, after, "rabbitmq_global_messages_redelivered_total" + classic));
            assertEquals(9, delta(before, after, "rabbitmq_global_messages_acknowledged_total" + classic));
            assertEquals(1, delta(before, after, "rabbitmq_global_messages_get_empty_total" + classic));
            assertEquals(0, delta(before, after, "rabbitmq_global_messages_delivered_total" + quorum));
            // the channel sums are the same counts under RabbitMQ's channel names
            assertEquals(12, delta(before, after, "rabbitmq_channel_messages_published_total"));
            assertEquals(9, delta(before, after, "rabbitmq_channel_messages_acked_total"));
            assertEquals(1, delta(before, after, "rabbitmq_channel_get_total"));
            assertEquals(1, delta(before, after, "rabbitmq_channel_get_ack_total"));
            assertEquals(1, delta(before, after, "rabbitmq_channel_get_empty_total"));
            assertEquals(1, delta(before, after, "rabbitmq_queues_declared_total"));
            assertEquals(1, delta(before, after, "rabbitmq_queues_created_total"));
            assertEquals(1, delta(before, after, "rabbitmq_connections_opened_total"));
            assertEquals(1, delta(before, after, "rabbitmq_channels_opened_total"));
            assertEquals(10, delta(before, after, "rabbitmq_queue_messages_published_total"));
            // this channel, per object
            Map<String, Double> perObject = samples(text("/metrics/per-object"));
            String mine = perObject.keySet().stream()
                    .filter(s -> s.startsWith("rabbitmq_channel_messages_published_total{channel=")
                            && perObject.get(s) == 12.0)
                    .findFirst().orElse(null);
            assertNotNull(mine, "a channel with 12 publishes among " + perObject.keySet());
            String label = mine.substring(mine.indexOf('{'));
            assertEquals(9.0, perObject.get("rabbitmq_channel_messages_acked_total" + label));
            assertEquals(1.0, perObject.get("rabbitmq_channel_messages_redelivered_total" + label));
            assertEquals(1.0, perObject.get("rabbitmq_channel_messages_unroutable_returned_total" + label));
            assertEquals(0.0, perObject.get("rabbitmq_channel_messages_unconfirmed" + label));
            ch.queueDelete(q);
        }
        // the broker counts the close when it has cleaned the connection up, after close-ok
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).until(() ->
                delta(before, global(), "rabbitmq_connections_closed_total") == 1);
        Map<String, Double> closed = global();
        assertEquals(1, delta(before, closed, "rabbitmq_connections_closed_total"));
        assertEquals(1, delta(before, closed, "rabbitmq_channels_closed_total"));
        assertEquals(1, delta(before, closed, "rabbitmq_queues_deleted_total"));
    }

    @Test
    void perObjectLabelsAreEscapedAndGaugesAreThere() throws Exception {
        // (AMQP names lose CR and LF, so no newline here: Exposition escapes those too)
        String name = "prom \"quoted\" \\ backslash é";
        try (Connection c = broker.connect()) {
            Channel ch = c.createChannel();
            ch.queueDeclare(name, false, false, false, null);
            ch.confirmSelect();
            for (int i = 0; i < 3; i++) {
                ch.basicPublish("", name, null, new byte[100]);
            }
            ch.waitForConfirmsOrDie(10_000);
            String series = "{vhost=\"/\",queue=\"prom \\\"quoted\\\" \\\\ backslash é\"}";
            // A transient message's confirm goes out once it is handed to its queue's loop; the
            // queue counts it when that loop has run the enqueue, a moment later.
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).until(() ->
                    Double.valueOf(3.0).equals(samples(text("/metrics/per-object")).get("rabbitmq_queue_messages_ready" + series)));
            Map<String, Double> m = samples(text("/metrics/per-object"));
            assertEquals(3.0, m.get("rabbitmq_queue_messages_ready" + series), "no " + series);
            assertEquals(0.0, m.get("rabbitmq_queue_messages_unacked" + series));
            assertEquals(3.0, m.get("rabbitmq_queue_messages" + series));
            assertEquals(3.0, m.get("rabbitmq_queue_messages_published_total" + series));
            // the aggregate counts it too
            assertTrue(samples(text("/metrics")).get("rabbitmq_queue_messages_ready") >= 3.0);
            ch.queueDelete(name);
        }
    }

    @Test
    void detailedGivesTheFamiliesAskedForAndFiltersByVhost() throws Exception {
        try (Connection c = broker.connect()) {
            Channel ch = c.createChannel();
            ch.queueDeclare("prom-detailed", false, false, true, null);
            Set<String> none = names(text("/metrics/detailed"));
            assertEquals(Set.of("rabbitmq_build_info", "rabbitmq_identity_info"), none);
            Map<String, Double> m = samples(text("/metrics/detailed?family=queue_coarse_metrics&vhost=%2F"));
            assertEquals(0.0, m.get("rabbitmq_detailed_queue_messages_ready{vhost=\"/\",queue=\"prom-detailed\"}"));
            assertFalse(names(text("/metrics/detailed?family=queue_coarse_metrics")).contains("rabbitmq_connections"));
            assertFalse(m.keySet().stream().anyMatch(s -> s.startsWith("rabbitmq_detailed_queue_consumers")));
            assertTrue(samples(text("/metrics/detailed?family=queue_coarse_metrics&vhost=other")).keySet().stream()
                    .noneMatch(s -> s.startsWith("rabbitmq_detailed_queue_messages_ready")));
            Set<String> churn = names(text("/metrics/detailed?family=connection_churn_metrics&family=no_such_family"));
            assertTrue(churn.contains("rabbitmq_detailed_connections_opened_total"), churn.toString());
            Set<String> channels = names(text("/metrics/detailed?family=channel_metrics"));
            assertTrue(channels.contains("rabbitmq_detailed_channel_consumers"), channels.toString());
            assertTrue(names(text("/metrics/detailed?family=exchange_bindings"))
                    .contains("rabbitmq_cluster_exchange_bindings"));
        }
    }

    @Test
    void negotiationIsRabbitMqsWithOpenMetricsAndGzip() throws Exception {
        HttpResponse<byte[]> plain = get("/metrics", "Accept", "text/plain");
        assertEquals(200, plain.statusCode());
        assertEquals("text/plain; version=0.0.4; charset=utf-8", plain.headers().firstValue("content-type").orElse(null));

        HttpResponse<byte[]> om = get("/metrics", "Accept",
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5");
        assertEquals(200, om.statusCode());
        assertTrue(om.headers().firstValue("content-type").orElse("").startsWith("application/openmetrics-text"));
        String omText = new String(om.body(), StandardCharsets.UTF_8);
        assertTrue(omText.endsWith("# EOF\n"));
        assertTrue(omText.contains("# TYPE rabbitmq_connections_opened counter\n"), "counter families lose _total");
        assertTrue(omText.contains("\nrabbitmq_connections_opened_total "));
        assertTrue(omText.contains("# TYPE rabbitmq_build_info unknown\n"));

        HttpResponse<byte[]> gz = get("/metrics", "Accept-Encoding", "gzip");
        assertEquals(200, gz.statusCode());
        assertEquals("gzip", gz.headers().firstValue("content-encoding").orElse(null));
        String unzipped;
        try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(gz.body()))) {
            unzipped = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        assertTrue(names(unzipped).containsAll(dashboardMetrics()));

        assertEquals(406, get("/metrics", "Accept", "text/xdvi").statusCode());
        HttpResponse<byte[]> unknown = get("/metrics/nope");
        assertEquals(404, unknown.statusCode());
        assertEquals("Unknown Registry\n", new String(unknown.body(), StandardCharsets.UTF_8));
        assertEquals(404, get("/elsewhere").statusCode());
        HttpResponse<String> post = http.send(HttpRequest.newBuilder(URI.create(base() + "/metrics"))
                .POST(HttpRequest.BodyPublishers.ofString("x")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(405, post.statusCode());
        // the connection stays usable: several scrapes over one keep-alive connection
        for (int i = 0; i < 3; i++) {
            assertEquals(200, get("/metrics").statusCode());
        }
    }

    /** prometheus.path and prometheus.return_per_object_metrics: /stats answers per object. */
    @Test
    void theKeysMoveThePathAndMakeTheMainEndpointPerObject() throws Exception {
        WarrenBroker other = new WarrenBroker(c -> c.withPrometheus(
                new io.warren.server.WarrenConfig.PrometheusConfig(true, "127.0.0.1", 0, "/stats", true)));
        other.start();
        try (Connection c = other.connect()) {
            c.createChannel().queueDeclare("per-object-by-default", false, false, true, null);
            String base = "http://127.0.0.1:" + other.broker().prometheusPort();
            HttpResponse<String> main = http.send(HttpRequest.newBuilder(URI.create(base + "/stats")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, main.statusCode());
            assertTrue(main.body().contains(
                    "\nrabbitmq_queue_messages_ready{vhost=\"/\",queue=\"per-object-by-default\"} 0\n"), main.body());
            HttpResponse<String> perObject = http.send(HttpRequest.newBuilder(URI.create(base + "/stats/per-object"))
                    .build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, perObject.statusCode());
            assertEquals(404, http.send(HttpRequest.newBuilder(URI.create(base + "/metrics")).build(),
                    HttpResponse.BodyHandlers.ofString()).statusCode());
        } finally {
            other.stop();
        }
    }

    /** Prometheus' own linter (Debian's prometheus package; .ci/run installs it) accepts every endpoint. */
    @Test
    void promtoolAcceptsTheExposition() throws Exception {
        Path promtool = Path.of("/usr/bin/promtool");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(promtool),
                "promtool missing (apt-get install prometheus); .ci/run installs it");
        try (Connection c = broker.connect()) {
            Channel ch = c.createChannel();
            ch.queueDeclare("prom-lint", false, false, true, null);
            ch.basicPublish("", "prom-lint", new AMQP.BasicProperties(), "x".getBytes());
            for (String path : List.of("/metrics", "/metrics/per-object",
                    "/metrics/detailed?family=queue_coarse_metrics&family=queue_metrics&family=channel_metrics"
                            + "&family=channel_exchange_metrics&family=channel_queue_metrics&family=connection_metrics"
                            + "&family=connection_churn_metrics&family=node_coarse_metrics&family=node_metrics"
                            + "&family=vhost_status&family=exchange_names&family=exchange_bindings")) {
                byte[] body = get(path).body();
                Process p = new ProcessBuilder(promtool.toString(), "check", "metrics").redirectErrorStream(true).start();
                p.getOutputStream().write(body);
                p.getOutputStream().close();
                String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertTrue(p.waitFor(30, TimeUnit.SECONDS));
                assertEquals(0, p.exitValue(), path + ": " + out);
                assertEquals("", out.trim(), path);
            }
        }
    }
}
