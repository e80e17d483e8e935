package io.warren.it.management;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import io.warren.it.support.Processes;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A real Prometheus (Debian's prometheus package; .ci/run installs it) scrapes warren every
 * second while messages flow, and answers the queries RabbitMQ's Overview dashboard is made of:
 * each metric the dashboard reads, joined to rabbitmq_identity_info on the instance and filtered
 * by the cluster the dashboard's variable offers, has a value, and the message-rate panels'
 * rates are above zero. That is what a Grafana pointed at this Prometheus would show.
 */
class PrometheusScrapeTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private static final Path PROMETHEUS = Path.of("/usr/bin/prometheus");
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void theOverviewDashboardsQueriesHaveValuesInARealPrometheus() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(PROMETHEUS),
                "prometheus missing (apt-get install prometheus); .ci/run installs it");
        Path dir = Files.createTempDirectory("warren-prometheus");
        int port = Processes.freePort();
        Files.writeString(dir.resolve("prometheus.yml"), "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                + "scrape_configs:\n  - job_name: warren\n    static_configs:\n      - targets: ['127.0.0.1:"
                + broker.broker().prometheusPort() + "']\n");
        Process prometheus = new ProcessBuilder(PROMETHEUS.toString(), "--config.file=" + dir.resolve("prometheus.yml"),
                "--storage.tsdb.path=" + dir.resolve("data"), "--web.listen-address=127.0.0.1:" + port,
                "--log.level=warn").redirectErrorStream(true).redirectOutput(dir.resolve("prometheus.log").toFile())
                .start();
        AtomicBoolean stop = new AtomicBoolean();
        Thread traffic = new Thread(() -> flow(stop), "traffic");
        try {
            traffic.start();
            String api = "http://127.0.0.1:" + port + "/api/v1/";
            // the dashboard's variable: label_values(rabbitmq_identity_info, rabbitmq_cluster)
            await().atMost(60, TimeUnit.SECONDS).pollInterval(Duration.ofMillis(500)).ignoreExceptions()
                    .until(() -> get(api + "label/rabbitmq_cluster/values?match[]=rabbitmq_identity_info")
                            .path("data").size() == 1);
            String cluster = get(api + "label/rabbitmq_cluster/values?match[]=rabbitmq_identity_info")
                    .path("data").get(0).asText();
            assertTrue(cluster.startsWith("warren@"), cluster);
            String join = " * on(instance) group_left(rabbitmq_cluster, rabbitmq_node) rabbitmq_identity_info"
                    + "{rabbitmq_cluster=\"" + cluster + "\", namespace=\"\"}";
            // a few scrapes with traffic, so that rate() over them has something to say
            await().atMost(60, TimeUnit.SECONDS).pollInterval(Duration.ofMillis(500)).ignoreExceptions()
                    .until(() -> value(api, "sum(rate(rabbitmq_global_messages_received_total[60s])" + join + ")") > 0);
            List<String> empty = new ArrayList<>();
            for (String metric : PrometheusMetricsTest.dashboardMetrics()) {
                if (get(api + "query?query=" + enc("sum(" + metric + join + ") by(rabbitmq_node)")).path("data")
                        .path("result").size() != 1) {
                    empty.add(metric);
                }
            }
            assertTrue(empty.isEmpty(), "no value in Prometheus for " + empty);
            // the message-rate panels, both versions of the dashboard
            for (String rate : List.of("rabbitmq_global_messages_received_total", "rabbitmq_global_messages_routed_total",
                    "rabbitmq_global_messages_confirmed_total", "rabbitmq_global_messages_delivered_consume_manual_ack_total",
                    "rabbitmq_global_messages_acknowledged_total", "rabbitmq_channel_messages_published_total",
                    "rabbitmq_channel_messages_confirmed_total", "rabbitmq_channel_messages_delivered_ack_total",
                    "rabbitmq_channel_messages_acked_total", "rabbitmq_queue_messages_published_total")) {
                double v = value(api, "sum(rate(" + rate + "[60s])" + join + ")");
                assertTrue(v > 0, rate + " rate " + v);
            }
            // single stats: connections and queues, memory left before publishers are blocked
            assertEquals(1.0, value(api, "sum(rabbitmq_queues" + join + ")"));
            assertTrue(value(api, "sum(rabbitmq_connections" + join + ")") >= 1);
            assertTrue(value(api, "sum(rabbitmq_resident_memory_limit_bytes" + join + ") - sum(rabbitmq_process_resident_memory_bytes"
                    + join + ")") > 0);
            assertEquals(1.0, value(api, "sum(rabbitmq_build_info" + join + ")")); // the "Nodes" panel
        } finally {
            stop.set(true);
            traffic.join(10_000);
            prometheus.destroy();
            if (!prometheus.waitFor(10, TimeUnit.SECONDS)) {
                prometheus.destroyForcibly();
            }
        }
    }

    /** Publishes with confirms and consumes with acks until {@code stop}. */
    private static void flow(AtomicBoolean stop) {
        try (Connection c = broker.connect()) {
            Channel pub = c.createChannel();
            pub.queueDeclare("scraped", false, false, false, null);
            pub.confirmSelect();
            Channel sub = c.createChannel();
            sub.basicQos(100);
            sub.basicConsume("scraped", false, (tag, d) -> sub.basicAck(d.getEnvelope().getDeliveryTag(), false),
                    tag -> { });
            while (!stop.get()) {
                for (int i = 0; i < 20; i++) {
                    pub.basicPublish("", "scraped", null, new byte[64]);
                }
                pub.waitForConfirmsOrDie(10_000);
                Thread.sleep(20);
            }
            pub.queueDelete("scraped");
        } catch (Exception e) {
            if (!stop.get()) {
                throw new AssertionError(e);
            }
        }
    }

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    private JsonNode get(String url) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10))
                .GET().build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), url + ": " + r.body());
        return JSON.readTree(r.body());
    }

    /** An instant query's single value (NaN when it has none). */
    private double value(String api, String query) throws Exception {
        JsonNode result = get(api + "query?query=" + enc(query)).path("data").path("result");
        if (result.size() != 1) {
            return Double.NaN;
        }
        return Double.parseDouble(result.get(0).path("value").get(1).asText());
    }
}
