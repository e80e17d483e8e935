package io.warren.core.log;

import org.slf4j.Logger;

import java.util.concurrent.TimeUnit;

/**
 * Progress of long work (store recovery, a definitions import) as log lines at most every
 * {@link #DEFAULT_INTERVAL_MS} ms: {@code WHAT: DONE of TOTAL (P%), S s so far}, or
 * {@code WHAT: DONE so far, S s} when the total is not known. Nothing is logged for work that
 * ends within the first interval. The final line (counts and time) is the caller's. One thread.
 *
 * <p>The system property {@value #INTERVAL_PROPERTY} (milliseconds) shortens the interval; it
 * is for tests only, which need progress lines from a store small enough to build quickly.
 */
public final class ProgressLog {
    public static final long DEFAULT_INTERVAL_MS = 5000;
    /** Test-only: the interval in ms instead of 5000. */
    public static final String INTERVAL_PROPERTY = "warren.test.progress_interval_ms";
    /** Units of work between two looks at the clock. */
    private static final int CHECK_EVERY = 1024;

    private final Logger log;
    private final String what;
    private final long total;
    private final long start = System.nanoTime();
    private final long interval;
    private long next;
    private long sinceCheck;

    /** {@code total}: -1 when unknown. */
    public ProgressLog(Logger log, String what, long total) {
        this.log = log;
        this.what = what;
        this.total = total;
        this.interval = TimeUnit.MILLISECONDS.toNanos(intervalMs());
        this.next = start + interval;
    }

    static long intervalMs() {
        String p = System.getProperty(INTERVAL_PROPERTY);
        if (p != null) {
            try {
                return Math.max(0, Long.parseLong(p.strip()));
            } catch (NumberFormatException e) {
                // test-only property: a typo keeps the default
            }
        }
        return DEFAULT_INTERVAL_MS;
    }

    /** {@code done} units are done; logs when the interval has passed (the clock is read every 1024 calls). */
    public void advance(long done) {
        if (++sinceCheck < CHECK_EVERY) {
            return;
        }
        sinceCheck = 0;
        check(done);
    }

    /** Like {@link #advance} for coarse steps (each may be slow): reads the clock every call. */
    public void step(long done) {
        check(done);
    }

    private void check(long done) {
        long now = System.nanoTime();
        if (now - next < 0) {
            return;
        }
        next = now + interval;
        String secs = String.format(java.util.Locale.ROOT, "%.1f", (now - start) / 1e9);
        if (total >= 0) {
            long pct = total == 0 ? 100 : Math.min(100, done * 100 / total);
            log.atInfo().addKeyValue("done", done).addKeyValue("total", total)
                    .log("{}: {} of {} ({}%), {} s so far", what, done, total, pct, secs);
        } else {
            log.atInfo().addKeyValue("done", done).log("{}: {} so far, {} s", what, done, secs);
        }
    }

    /** Milliseconds since this was made. */
    public long elapsedMs() {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    }
}
