import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Delayed-delivery lateness: publishes COUNT messages to a durable x-delayed-message exchange,
 * each with a random x-delay in [MIN_DELAY, MIN_DELAY + SPREAD) seconds (so their due times
 * spread over SPREAD seconds, in random order), with publisher confirms in batches of 100; one
 * consumer takes them from the bound queue. The broker's due time of a message is its receipt
 * plus x-delay, somewhere between the client's send and the confirm of its batch, so the
 * lateness ({@code arrival - due}, delivery to the consumer included) is bracketed: "upper"
 * counts from the send (publish transit counted as lateness), "lower" from the confirm. An
 * arrival before send + x-delay is a message routed before its time ("early", must be 0).
 * Prints percentiles of both, the maximum, early and missing counts. Used by bench/delayed.sh.
 *
 * <p>args: host port count spreadSeconds [minDelaySeconds=5] [persistent=true]
 */
public class DelayedLateness {
    public static void main(String[] args) throws Exception {
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        int count = Integer.parseInt(args[2]);
        long spreadMs = Long.parseLong(args[3]) * 1000;
        long minDelayMs = (args.length > 4 ? Long.parseLong(args[4]) : 5) * 1000;
        boolean persistent = args.length <= 5 || Boolean.parseBoolean(args[5]);
        ConnectionFactory f = new ConnectionFactory();
        f.setHost(host);
        f.setPort(port);
        long[] sendDue = new long[count];
        long[] confirmDue = new long[count];
        long[] arrival = new long[count];
        AtomicInteger received = new AtomicInteger();
        AtomicInteger early = new AtomicInteger();
        CountDownLatch all = new CountDownLatch(count);
        try (Connection pc = f.newConnection(); Connection cc = f.newConnection()) {
            Channel ch = pc.createChannel();
            ch.exchangeDeclare("bench-delayed", "x-delayed-message", true, false, Map.of("x-delayed-type", "direct"));
            ch.queueDeclare("bench-delayed-q", true, false, false, null);
            ch.queuePurge("bench-delayed-q");
            ch.queueBind("bench-delayed-q", "bench-delayed", "k");
            Channel consumer = cc.createChannel();
            consumer.basicQos(1000);
            consumer.basicConsume("bench-delayed-q", false, new DefaultConsumer(consumer) {
                @Override public void handleDelivery(String tag, Envelope e, AMQP.BasicProperties p, byte[] body) {
                    long now = System.currentTimeMillis();
                    int id = ByteBuffer.wrap(body).getInt();
                    arrival[id] = now;
                    received.incrementAndGet();
                    try {
                        consumer.basicAck(e.getDeliveryTag(), true);
                    } catch (Exception ex) {
                        throw new RuntimeException(ex);
                    }
                    all.countDown();
                }
            });
            ch.confirmSelect();
            SplittableRandom random = new SplittableRandom(42);
            byte[] body = new byte[64];
            long t0 = System.currentTimeMillis();
            for (int i = 0; i < count; i++) {
                long delay = minDelayMs + random.nextLong(spreadMs);
                sendDue[i] = System.currentTimeMillis() + delay;
                confirmDue[i] = delay; // + the confirm time, below
                ByteBuffer.wrap(body).putInt(i);
                AMQP.BasicProperties props = new AMQP.BasicProperties.Builder().deliveryMode(persistent ? 2 : 1)
                        .headers(Map.of("x-delay", delay)).build();
                ch.basicPublish("bench-delayed", "k", props, body);
                if (i % 100 == 99 || i == count - 1) {
                    ch.waitForConfirmsOrDie(60_000);
                    long confirmed = System.currentTimeMillis();
                    for (int j = i - i % 100; j <= i; j++) {
                        confirmDue[j] += confirmed;
                    }
                }
            }
            ch.waitForConfirmsOrDie(60_000);
            long publishEnd = System.currentTimeMillis();
            long published = publishEnd - t0;
            System.out.printf("published %,d %s delayed messages in %,d ms (%,.0f/s); due over %,d s from %,d s on%n",
                    count, persistent ? "persistent" : "transient", published, count * 1000.0 / Math.max(1, published),
                    spreadMs / 1000, minDelayMs / 1000);
            boolean done = all.await(minDelayMs + spreadMs + 120_000, TimeUnit.MILLISECONDS);
            long[] upper = new long[count];
            long[] lower = new long[count];
            // Those due once publishing was over: the timer's lateness without publishes and forces competing.
            long[] quiet = new long[count];
            int n = 0;
            int q = 0;
            for (int i = 0; i < count; i++) {
                if (arrival[i] != 0) {
                    upper[n] = arrival[i] - sendDue[i];
                    lower[n] = arrival[i] - confirmDue[i];
                    if (upper[n] < 0) {
                        early.incrementAndGet();
                    }
                    if (sendDue[i] > publishEnd + 1000) {
                        quiet[q++] = upper[n];
                    }
                    n++;
                }
            }
            System.out.printf("received %,d of %,d%s; early (before send + x-delay): %d%n", n, count,
                    done ? "" : " (timed out)", early.get());
            print("lateness ms, upper (from send)   ", Arrays.copyOf(upper, n));
            print("lateness ms, lower (from confirm)", Arrays.copyOf(lower, n));
            System.out.printf("%,d were due more than 1 s after the last publish:%n", q);
            print("lateness ms, upper, those only   ", Arrays.copyOf(quiet, q));
        }
    }

    private static void print(String what, long[] values) {
        if (values.length == 0) {
            return;
        }
        Arrays.sort(values);
        System.out.printf("%s: p50 %d  p90 %d  p99 %d  p99.9 %d  max %d%n", what, pct(values, 50), pct(values, 90),
                pct(values, 99), pct(values, 99.9), values[values.length - 1]);
    }

    private static long pct(long[] sorted, double p) {
        int i = (int) Math.ceil(p / 100 * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
    }
}
