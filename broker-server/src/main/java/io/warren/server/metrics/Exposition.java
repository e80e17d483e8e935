package io.warren.server.metrics;

import java.nio.charset.StandardCharsets;

/**
 * Writes Prometheus' text exposition format (0.0.4) or OpenMetrics 1.0 text straight into byte
 * chunks, handing each full chunk to a {@link Sink}: no object per sample, so a scrape of
 * 100,000 queues costs a few lines of bytes per queue and nothing more (the Prometheus Java
 * client's snapshot model needs several objects per sample and sorts every family, which took
 * 1.5-5 s for 100,000 queues: see the README's Prometheus section). Not thread-safe: one scrape.
 */
final class Exposition {
    /**
     * Where full chunks go (the HTTP response); may block the rendering thread for back-pressure.
     * The bytes are only valid during the call (the buffer is reused).
     */
    interface Sink {
        void chunk(byte[] bytes, int length);
    }

    static final String PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8";
    static final String OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    static final int CHUNK = 256 * 1024;

    private final boolean openMetrics;
    private final Sink sink;
    private byte[] buf;
    private int len;
    private long total;

    Exposition(boolean openMetrics, Sink sink) {
        this(openMetrics, sink, CHUNK);
    }

    private Exposition(boolean openMetrics, Sink sink, int size) {
        this.openMetrics = openMetrics;
        this.sink = sink;
        this.buf = new byte[size];
    }

    boolean openMetrics() {
        return openMetrics;
    }

    /**
     * Starts a metric family: HELP and TYPE lines. {@code name} is the sample name; for a
     * counter it ends in {@code _total}, which OpenMetrics leaves out of the family's name.
     */
    void family(String name, String type, String help) {
        String family = name;
        if (openMetrics && type.equals("counter") && name.endsWith("_total")) {
            family = name.substring(0, name.length() - "_total".length());
        }
        ascii("# HELP ");
        ascii(family);
        put((byte) ' ');
        escaped(help, false);
        ascii("\n# TYPE ");
        ascii(family);
        put((byte) ' ');
        ascii(openMetrics && type.equals("untyped") ? "unknown" : type);
        put((byte) '\n');
    }

    /** A sample without labels. */
    void sample(String name, double value) {
        ascii(name);
        put((byte) ' ');
        number(value);
        put((byte) '\n');
    }

    /** A sample with one label. */
    void sample(String name, String label, String value, double v) {
        ascii(name);
        put((byte) '{');
        label(label, value);
        ascii("} ");
        number(v);
        put((byte) '\n');
    }

    /** A sample with two labels. */
    void sample(String name, String label1, String value1, String label2, String value2, double v) {
        ascii(name);
        put((byte) '{');
        label(label1, value1);
        put((byte) ',');
        label(label2, value2);
        ascii("} ");
        number(v);
        put((byte) '\n');
    }

    /** A sample with any number of labels: names and values alternate. */
    void sample(String name, String[] labels, double v) {
        ascii(name);
        if (labels.length > 0) {
            put((byte) '{');
            for (int i = 0; i < labels.length; i += 2) {
                if (i > 0) {
                    put((byte) ',');
                }
                label(labels[i], labels[i + 1]);
            }
            put((byte) '}');
        }
        put((byte) ' ');
        number(v);
        put((byte) '\n');
    }

    /**
     * A label set encoded once ({@code {a="x",b="y"}}, escaped, UTF-8), for objects that appear in
     * many families: a queue's labels are encoded once per scrape, not once per family.
     */
    static byte[] labels(String... pairs) {
        Exposition x = new Exposition(false, null, 64);
        x.put((byte) '{');
        for (int i = 0; i < pairs.length; i += 2) {
            if (i > 0) {
                x.put((byte) ',');
            }
            x.label(pairs[i], pairs[i + 1]);
        }
        x.put((byte) '}');
        return java.util.Arrays.copyOf(x.buf, x.len);
    }

    /** A sample with labels encoded by {@link #labels}. */
    void sample(String name, byte[] labels, double v) {
        ascii(name);
        ensure(labels.length);
        System.arraycopy(labels, 0, buf, len, labels.length);
        len += labels.length;
        put((byte) ' ');
        number(v);
        put((byte) '\n');
    }

    /** Ends the exposition (OpenMetrics' {@code # EOF}) and hands over the last chunk. */
    void finish() {
        if (openMetrics) {
            ascii("# EOF\n");
        }
        flush();
    }

    /** Bytes written so far. */
    long bytes() {
        return total + len;
    }

    private void label(String name, String value) {
        ascii(name);
        ascii("=\"");
        escaped(value == null ? "" : value, true);
        put((byte) '"');
    }

    private void number(double v) {
        if (v == (long) v && Math.abs(v) < 1e15) {
            longValue((long) v);
        } else if (Double.isNaN(v)) {
            ascii("NaN");
        } else if (Double.isInfinite(v)) {
            ascii(v > 0 ? "+Inf" : "-Inf");
        } else {
            ascii(Double.toString(v));
        }
    }

    private void longValue(long v) {
        if (v < 0) {
            put((byte) '-');
            v = -v;
        }
        if (v < 10) {
            put((byte) ('0' + v));
            return;
        }
        ensure(20);
        int start = len;
        while (v > 0) {
            buf[len++] = (byte) ('0' + v % 10);
            v /= 10;
        }
        for (int i = start, j = len - 1; i < j; i++, j--) {
            byte t = buf[i];
            buf[i] = buf[j];
            buf[j] = t;
        }
    }

    /** Names and fixed texts: ASCII by construction. */
    private void ascii(String s) {
        int n = s.length();
        ensure(n);
        for (int i = 0; i < n; i++) {
            buf[len++] = (byte) s.charAt(i);
        }
    }

    /**
     * Label values (quote, backslash and newline escaped) and HELP texts (backslash and
     * newline): any Unicode, written as UTF-8.
     */
    private void escaped(String s, boolean quote) {
        int n = s.length();
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (c == '\\') {
                put((byte) '\\');
                put((byte) '\\');
            } else if (c == '\n') {
                put((byte) '\\');
                put((byte) 'n');
            } else if (c == '"' && quote) {
                put((byte) '\\');
                put((byte) '"');
            } else if (c < 0x80) {
                put((byte) c);
            } else {
                int end = i + 1;
                while (end < n && s.charAt(end) >= 0x80) {
                    end++;
                }
                byte[] utf8 = s.substring(i, end).getBytes(StandardCharsets.UTF_8);
                ensure(utf8.length);
                System.arraycopy(utf8, 0, buf, len, utf8.length);
                len += utf8.length;
                i = end - 1;
            }
        }
    }

    private void put(byte b) {
        if (len == buf.length) {
            flush();
        }
        buf[len++] = b;
    }

    /** Room for {@code n} more bytes: the chunk goes out first when it has not. */
    private void ensure(int n) {
        if (len + n > buf.length) {
            flush();
            if (len + n > buf.length) {
                buf = java.util.Arrays.copyOf(buf, len + n);
            }
        }
    }

    private void flush() {
        if (sink == null) {
            // encoding labels (see labels()): the buffer grows instead
            buf = java.util.Arrays.copyOf(buf, buf.length * 2);
            return;
        }
        if (len > 0) {
            int n = len;
            total += n;
            len = 0;
            sink.chunk(buf, n); // the sink copies or consumes them before it returns: the buffer is reused
        }
    }
}
