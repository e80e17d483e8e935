import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;

import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Arrays;

/**
 * The Prometheus endpoint at scale (bench/prometheus-scale.sh):
 * <pre>
 *   setup HOST PORT PROM_PORT COUNT   declares COUNT queues (one message in every 10th), waits for /metrics to count them
 *   time PROM_PORT ROUNDS             times full scrapes of /metrics/per-object (plain and gzip) and /metrics
 *   loop PROM_PORT SECONDS EVERY_MS   scrapes /metrics/per-object (gzip) every EVERY_MS for SECONDS
 * </pre>
 */
public class ScrapeScale {
    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "setup" -> setup(args[1], Integer.parseInt(args[2]), Integer.parseInt(args[3]), Integer.parseInt(args[4]));
            case "time" -> time(Integer.parseInt(args[1]), Integer.parseInt(args[2]));
            case "loop" -> loop(Integer.parseInt(args[1]), Integer.parseInt(args[2]), Integer.parseInt(args[3]));
            default -> throw new IllegalArgumentException(args[0]);
        }
    }

    static void setup(String host, int port, int prom, int count) throws Exception {
        ConnectionFactory f = new ConnectionFactory();
        f.setHost(host);
        f.setPort(port);
        long t0 = System.nanoTime();
        try (Connection c = f.newConnection(); Channel ch = c.createChannel()) {
            for (int i = 0; i < count; i++) {
                String q = "scale-" + i;
                ch.queueDeclareNoWait(q, false, false, false, null);
                if (i % 10 == 0) {
                    ch.basicPublish("", q, null, new byte[100]);
                }
            }
            ch.queueDeclare("scale-last", false, false, false, null); // waits for all of the above
        }
        while (true) {
            String body = new String(scrape(prom, "/metrics", false), java.nio.charset.StandardCharsets.UTF_8);
            int i = body.indexOf("\nrabbitmq_queues ");
            long n = Long.parseLong(body.substring(i + 17, body.indexOf('\n', i + 1)).trim());
            if (n >= count) {
                break;
            }
            Thread.sleep(200);
        }
        System.out.printf("declared %,d queues (every 10th holding a message) in %,d ms%n", count,
                (System.nanoTime() - t0) / 1_000_000);
    }

    static byte[] scrape(int prom, String path, boolean gzip) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + prom + path))
                .timeout(Duration.ofSeconds(120));
        if (gzip) {
            b.header("Accept-Encoding", "gzip");
        }
        HttpResponse<byte[]> r = HTTP.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
        if (r.statusCode() != 200) {
            throw new IllegalStateException(path + ": " + r.statusCode());
        }
        return r.body();
    }

    static void time(int prom, int rounds) throws Exception {
        for (String[] s : new String[][] {{"/metrics/per-object", "plain"}, {"/metrics/per-object", "gzip"},
                {"/metrics", "plain"}}) {
            long[] ms = new long[rounds];
            long bytes = 0;
            for (int i = 0; i < rounds; i++) {
                long t0 = System.nanoTime();
                bytes = scrape(prom, s[0], s[1].equals("gzip")).length;
                ms[i] = (System.nanoTime() - t0) / 1_000_000;
            }
            long[] sorted = ms.clone();
            Arrays.sort(sorted);
            System.out.printf("%s (%s): %,d bytes; ms per scrape %s: median %d, max %d%n", s[0], s[1], bytes,
                    Arrays.toString(ms), sorted[rounds / 2], sorted[rounds - 1]);
        }
    }

    static void loop(int prom, int seconds, int everyMs) throws Exception {
        long end = System.nanoTime() + seconds * 1_000_000_000L;
        int n = 0;
        long worst = 0;
        while (System.nanoTime() < end) {
            long t0 = System.nanoTime();
            scrape(prom, "/metrics/per-object", true);
            long took = (System.nanoTime() - t0) / 1_000_000;
            worst = Math.max(worst, took);
            n++;
            Thread.sleep(Math.max(0, everyMs - took));
        }
        System.out.printf("scraped /metrics/per-object %d times, slowest %d ms%n", n, worst);
    }
}
