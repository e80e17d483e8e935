package io.warren.amqp.logging;

import io.netty.util.concurrent.GlobalEventExecutor;
import org.slf4j.Logger;

import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * Log lines that clients can cause (protocol errors, refused logins, timeouts) and internal
 * errors, rate-limited per kind with a {@link LogLimiter}: a burst (a fuzzer, a broken client
 * reconnecting in a loop) writes at most {@link #LINES_PER_SECOND} lines a second of each kind
 * and then one line "suppressed K similar messages (kind)" once its second is over, instead of
 * one line (or one stack trace) per connection. An 8-minute fuzz run grew the log by 17.6 MB of
 * stack traces before (issue 10). Safe from every event loop at once; nothing is formatted for
 * a suppressed line, no lock is held while logging.
 */
public final class RateLimitedLog {
    /**
     * Lines of one kind per second. Enough to show what a handful of misbehaving clients do; a
     * flood beyond it says nothing new, and its size is in the summary line.
     */
    public static final int LINES_PER_SECOND = 10;

    /** Runs the summary of a window after it ended. */
    public interface Scheduler {
        void schedule(Runnable task, long delayNanos);
    }

    private final LogLimiter limiter;
    private final Scheduler scheduler;

    /** {@link #LINES_PER_SECOND} per kind, summaries on Netty's global executor. */
    public RateLimitedLog() {
        this(new LogLimiter(LINES_PER_SECOND, TimeUnit.SECONDS.toNanos(1), System::nanoTime),
                (task, delay) -> GlobalEventExecutor.INSTANCE.schedule(task, delay, TimeUnit.NANOSECONDS));
    }

    public RateLimitedLog(LogLimiter limiter, Scheduler scheduler) {
        this.limiter = limiter;
        this.scheduler = scheduler;
    }

    /** A warning of {@code kind} (one line, no stack trace), SLF4J formatting. */
    public void warn(Logger log, String kind, String format, Object... args) {
        if (log.isWarnEnabled() && admit(log, kind)) {
            log.warn(format, args);
        }
    }

    /** An unexpected internal error of {@code kind}, with its stack trace. */
    public void error(Logger log, String kind, String message, Throwable t) {
        if (log.isErrorEnabled() && admit(log, kind)) {
            log.error(message, t);
        }
    }

    /**
     * Whether a line of {@code kind} at {@code level} may be written now, for callers that build
     * the line themselves (structured fields); counts it as written when it may.
     */
    public boolean admit(Logger log, org.slf4j.event.Level level, String kind) {
        return log.isEnabledForLevel(level) && admit(log, kind);
    }

    private boolean admit(Logger log, String kind) {
        long r = limiter.acquire(kind);
        if (r >= 0) {
            summary(log, kind, r);
            return true;
        }
        if (r == LogLimiter.SUPPRESSED_FIRST) {
            // The window ends at most one window from now; report what it suppressed then,
            // unless a line of this kind comes first and reports it itself.
            try {
                scheduler.schedule(() -> summary(log, kind, limiter.takeSuppressed(kind)),
                        limiter.windowNanos() + TimeUnit.MILLISECONDS.toNanos(1));
            } catch (RejectedExecutionException e) {
                // shutting down: the count goes with the next line of this kind, if any
            }
        }
        return false;
    }

    private static void summary(Logger log, String kind, long suppressed) {
        if (suppressed > 0) {
            log.warn("suppressed {} similar messages ({})", suppressed, kind);
        }
    }
}
