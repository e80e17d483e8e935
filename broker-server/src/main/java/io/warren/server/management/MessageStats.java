package io.warren.server.management;

import io.netty.util.concurrent.EventExecutor;
import io.warren.core.exchange.Exchange;
import io.warren.core.queue.MessageQueue;
import io.warren.core.vhost.VirtualHost;

import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * RabbitMQ's message_stats: the counters come from the queues and exchanges themselves (kept on
 * the hot path without locks, see MessageQueue and Exchange); the rates are computed here, from
 * samples taken every {@link #INTERVAL_MS} (RabbitMQ's default collect_statistics_interval): the
 * rate is the difference of the last two samples over the time between them. Owner: the
 * management event loop (one thread), where the sampler and every endpoint run, so the sample
 * maps need no locking.
 */
final class MessageStats {
    static final long INTERVAL_MS = 5_000;

    static final String[] QUEUE_FIELDS = {"publish", "deliver_get", "ack", "redeliver"};
    static final String[] EXCHANGE_FIELDS = {"publish_in", "publish_out"};
    static final String[] OVERVIEW_FIELDS = {"publish", "deliver_get", "ack", "redeliver"};

    /** The last sample of one object's counters and the rates it gave. */
    private static final class Sample {
        final long[] last;
        final double[] rate;
        long seen;

        Sample(long[] now) {
            last = now;
            rate = new double[now.length];
        }
    }

    private final java.util.function.Supplier<List<VirtualHost>> vhosts;
    private final Map<Object, Sample> samples = new IdentityHashMap<>();
    private static final Object OVERVIEW = new Object();
    private long round;
    private long lastAt;

    MessageStats(java.util.function.Supplier<List<VirtualHost>> vhosts) {
        this.vhosts = vhosts;
    }

    /** Starts sampling on {@code loop}, the management loop. */
    void start(EventExecutor loop) {
        loop.execute(this::sample);
        loop.scheduleAtFixedRate(this::sample, INTERVAL_MS, INTERVAL_MS, TimeUnit.MILLISECONDS);
    }

    /** Takes one sample of every queue and exchange; forgets objects that are gone. */
    void sample() {
        long now = System.nanoTime();
        double seconds = lastAt == 0 ? 0 : (now - lastAt) / 1e9;
        lastAt = now;
        round++;
        long[] totals = new long[OVERVIEW_FIELDS.length];
        for (VirtualHost v : vhosts.get()) {
            for (MessageQueue q : v.queues()) {
                long[] c = counters(q);
                for (int i = 1; i < c.length; i++) {
                    totals[i] += c[i]; // deliver_get, ack, redeliver (publish is the exchanges')
                }
                update(q, c, seconds);
            }
            for (Exchange x : v.exchanges()) {
                long[] c = counters(x);
                totals[0] += c[0];
                update(x, c, seconds);
            }
        }
        update(OVERVIEW, totals, seconds);
        for (Iterator<Sample> it = samples.values().iterator(); it.hasNext(); ) {
            if (it.next().seen != round) {
                it.remove();
            }
        }
    }

    private void update(Object key, long[] now, double seconds) {
        Sample s = samples.get(key);
        if (s == null) {
            s = new Sample(now);
            samples.put(key, s);
        } else {
            for (int i = 0; i < now.length; i++) {
                // Totals can shrink when an object is deleted: no negative rates.
                s.rate[i] = seconds <= 0 ? 0 : Math.max(0, (now[i] - s.last[i]) / seconds);
            }
            System.arraycopy(now, 0, s.last, 0, now.length);
        }
        s.seen = round;
    }

    static long[] counters(MessageQueue q) {
        return new long[] {q.publishCount(), q.deliverGetCount(), q.ackCount(), q.redeliverCount()};
    }

    static long[] counters(Exchange x) {
        return new long[] {x.publishIn(), x.publishOut()};
    }

    /** A queue's message_stats object: counts as of now, rates as of the last sample. */
    Map<String, Object> queue(MessageQueue q) {
        return view(QUEUE_FIELDS, counters(q), samples.get(q));
    }

    Map<String, Object> exchange(Exchange x) {
        return view(EXCHANGE_FIELDS, counters(x), samples.get(x));
    }

    /** /api/overview's message_stats: publish over the exchanges, the rest over the queues (live ones). */
    Map<String, Object> overview(List<VirtualHost> vs) {
        long[] totals = new long[OVERVIEW_FIELDS.length];
        for (VirtualHost v : vs) {
            for (MessageQueue q : v.queues()) {
                long[] c = counters(q);
                for (int i = 1; i < c.length; i++) {
                    totals[i] += c[i];
                }
            }
            for (Exchange x : v.exchanges()) {
                totals[0] += x.publishIn();
            }
        }
        return view(OVERVIEW_FIELDS, totals, samples.get(OVERVIEW));
    }

    private static Map<String, Object> view(String[] fields, long[] counts, Sample s) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < fields.length; i++) {
            m.put(fields[i], counts[i]);
            double rate = s == null ? 0.0 : s.rate[i];
            // RabbitMQ prints rates with one decimal
            m.put(fields[i] + "_details", Map.of("rate", Math.round(rate * 10) / 10.0));
        }
        return m;
    }
}
