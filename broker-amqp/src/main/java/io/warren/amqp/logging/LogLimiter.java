package io.warren.amqp.logging;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongSupplier;

/**
 * Decides whether a log line of some kind may be written now: at most {@code linesPerWindow}
 * lines of each kind per window, the rest counted and reported once, as a number, with the
 * next line of that kind or by {@link #takeSuppressed} after the window ended.
 *
 * <p>Safe from any thread without locks: each kind's state is an immutable record swapped by
 * compare-and-set, and nothing is logged here (the caller logs after deciding). Kinds must come
 * from a small fixed set (reply codes, exception classes), never from client input; past
 * {@link #MAX_KINDS} distinct kinds every further kind shares one budget, so the map stays
 * bounded whatever happens.
 */
public final class LogLimiter {
    /** {@link #acquire}: suppress this line; the first one suppressed in its window. */
    public static final long SUPPRESSED_FIRST = -1;
    /** {@link #acquire}: suppress this line; others were suppressed before it in this window. */
    public static final long SUPPRESSED = -2;
    /** Distinct kinds tracked before they share one budget. */
    static final int MAX_KINDS = 256;
    private static final String OVERFLOW_KIND = "(other)";

    private record State(long windowStart, int logged, long suppressed) {}

    private final int linesPerWindow;
    private final long windowNanos;
    private final LongSupplier clock;
    private final ConcurrentHashMap<Object, AtomicReference<State>> kinds = new ConcurrentHashMap<>();

    /**
     * @param linesPerWindow lines of one kind written per window
     * @param windowNanos the window
     * @param nanoClock a monotonic clock, {@code System::nanoTime} outside tests
     */
    public LogLimiter(int linesPerWindow, long windowNanos, LongSupplier nanoClock) {
        if (linesPerWindow < 1 || windowNanos < 1) {
            throw new IllegalArgumentException("linesPerWindow and windowNanos must be positive");
        }
        this.linesPerWindow = linesPerWindow;
        this.windowNanos = windowNanos;
        this.clock = nanoClock;
    }

    public long windowNanos() {
        return windowNanos;
    }

    /**
     * One line of {@code kind} wants to be written. Returns the number (0 or more) of lines of
     * this kind suppressed since the last report, which the caller reports before writing its
     * line; or {@link #SUPPRESSED_FIRST} / {@link #SUPPRESSED} when the line must be dropped.
     */
    public long acquire(Object kind) {
        AtomicReference<State> ref = state(kind);
        long now = clock.getAsLong();
        while (true) {
            State s = ref.get();
            State next;
            long result;
            if (s == null || now - s.windowStart() >= windowNanos) {
                next = new State(now, 1, 0);
                result = s == null ? 0 : s.suppressed();
            } else if (s.logged() < linesPerWindow) {
                // nothing is suppressed while the window still has lines left
                next = new State(s.windowStart(), s.logged() + 1, 0);
                result = 0;
            } else {
                next = new State(s.windowStart(), s.logged(), s.suppressed() + 1);
                result = s.suppressed() == 0 ? SUPPRESSED_FIRST : SUPPRESSED;
            }
            if (ref.compareAndSet(s, next)) {
                return result;
            }
        }
    }

    /**
     * Takes, for a summary line, the count of lines of {@code kind} suppressed in a window that
     * has ended; 0 while the window is still open or when nothing was suppressed (or the next
     * {@link #acquire} already reported it). Each suppressed line is reported exactly once.
     */
    public long takeSuppressed(Object kind) {
        AtomicReference<State> ref = state(kind);
        long now = clock.getAsLong();
        while (true) {
            State s = ref.get();
            if (s == null || s.suppressed() == 0 || now - s.windowStart() < windowNanos) {
                return 0;
            }
            if (ref.compareAndSet(s, new State(s.windowStart(), s.logged(), 0))) {
                return s.suppressed();
            }
        }
    }

    /** How many kinds are tracked (for tests of the bound). */
    int trackedKinds() {
        return kinds.size();
    }

    private AtomicReference<State> state(Object kind) {
        AtomicReference<State> ref = kinds.get(kind);
        if (ref != null) {
            return ref;
        }
        if (kinds.size() >= MAX_KINDS) {
            return kinds.computeIfAbsent(OVERFLOW_KIND, k -> new AtomicReference<>());
        }
        return kinds.computeIfAbsent(kind, k -> new AtomicReference<>());
    }
}
