package io.warren.amqp.logging;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

import static io.warren.amqp.logging.LogLimiter.SUPPRESSED;
import static io.warren.amqp.logging.LogLimiter.SUPPRESSED_FIRST;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link LogLimiter} on a hand-driven clock: the budget per window, and every suppressed line reported once. */
class LogLimiterTest {
    private final AtomicLong now = new AtomicLong(1_000_000);
    private final LogLimiter limiter = new LogLimiter(3, 1_000, now::get);

    @Test
    void atMostTheBudgetPerWindowTheRestCounted() {
        List<Long> got = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            got.add(limiter.acquire("a"));
        }
        assertEquals(List.of(0L, 0L, 0L, SUPPRESSED_FIRST, SUPPRESSED, SUPPRESSED, SUPPRESSED, SUPPRESSED, SUPPRESSED,
                SUPPRESSED), got);
        now.addAndGet(999);
        assertEquals(0, limiter.takeSuppressed("a"), "the window is still open");
        now.addAndGet(1);
        assertEquals(7, limiter.takeSuppressed("a"));
        assertEquals(0, limiter.takeSuppressed("a"), "reported once");
        assertEquals(0, limiter.acquire("a"), "a new window, nothing left to report");
    }

    /** The first line of the next window carries the count when no summary was taken. */
    @Test
    void theNextLineReportsWhatWasSuppressed() {
        for (int i = 0; i < 10; i++) {
            limiter.acquire("a");
        }
        now.addAndGet(5_000);
        assertEquals(7, limiter.acquire("a"));
        assertEquals(0, limiter.takeSuppressed("a"));
        assertEquals(0, limiter.acquire("a"));
    }

    @Test
    void kindsHaveTheirOwnBudget() {
        for (int i = 0; i < 3; i++) {
            assertEquals(0, limiter.acquire("a"));
        }
        assertEquals(SUPPRESSED_FIRST, limiter.acquire("a"));
        assertEquals(0, limiter.acquire("b"));
        assertEquals(0, limiter.acquire(501));
    }

    /** Kinds are meant to be few; should they not be, the map still stops growing. */
    @Test
    void theNumberOfKindsIsBounded() {
        for (int i = 0; i < 10 * LogLimiter.MAX_KINDS; i++) {
            limiter.acquire("kind-" + i);
        }
        assertTrue(limiter.trackedKinds() <= LogLimiter.MAX_KINDS + 1, limiter.trackedKinds() + " kinds tracked");
    }

    /**
     * Several threads (like event loops) on one kind while the clock moves: every call is either
     * written or counted, and every counted one is reported exactly once; no window writes more
     * than its budget (checked as a total over the windows that passed).
     */
    @Test
    void concurrentCallersLoseNothingAndReportNothingTwice() throws Exception {
        AtomicLong clock = new AtomicLong();
        LogLimiter l = new LogLimiter(5, 1_000, clock::get);
        int threads = 4;
        int calls = 50_000;
        AtomicLong written = new AtomicLong();
        AtomicLong reported = new AtomicLong();
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> all = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            Thread th = new Thread(() -> {
                try {
                    start.await();
                } catch (InterruptedException e) {
                    return;
                }
                for (int i = 0; i < calls; i++) {
                    clock.incrementAndGet(); // every call moves time a little: windows pass during the run
                    long r = l.acquire("k");
                    if (r >= 0) {
                        written.incrementAndGet();
                        reported.addAndGet(r);
                    }
                    if (i % 97 == 0) {
                        reported.addAndGet(l.takeSuppressed("k"));
                    }
                }
            });
            th.start();
            all.add(th);
        }
        start.countDown();
        for (Thread th : all) {
            th.join();
        }
        clock.addAndGet(10_000);
        reported.addAndGet(l.takeSuppressed("k"));
        long total = (long) threads * calls;
        assertEquals(total, written.get() + reported.get(), "written + reported as suppressed = all calls");
        long windows = clock.get() / 1_000 + 1;
        assertTrue(written.get() <= 5 * windows, written.get() + " lines written in " + windows + " windows");
    }
}
