package io.warren.server.cluster;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * How a starting node decides whether another node runs (ClusterNode.anyStarted): a wrong "no"
 * ends every non-durable exchange of the cluster, so a node that fails to answer without refusing
 * connections is asked again.
 */
class StartCheckTest {
    private final Map<String, AtomicInteger> asked = new ConcurrentHashMap<>();

    /** Answers {@code answer} after failing {@code failures} times with a timeout. */
    private CompletableFuture<Boolean> answer(String peer, int failures, boolean answer) {
        int n = asked.computeIfAbsent(peer, k -> new AtomicInteger()).incrementAndGet();
        return n <= failures ? CompletableFuture.failedFuture(new TimeoutException(peer + " did not answer"))
                : CompletableFuture.completedFuture(answer);
    }

    @Test
    void aNodeThatTimesOutBeforeAnsweringStartedIsAskedAgain() {
        boolean started = ClusterNode.anyStarted(List.of("a", "b"),
                p -> answer(p, p.equals("a") ? 3 : 0, p.equals("a")), p -> false, 10_000, 10);
        assertTrue(started);
        assertEquals(4, asked.get("a").get());
        assertEquals(1, asked.get("b").get(), "a node that answered is not asked again");
    }

    @Test
    void nodesThatRefuseConnectionsOrAnswerNotStartedAreNotRunningAtOnce() {
        long t0 = System.nanoTime();
        boolean started = ClusterNode.anyStarted(List.of("down", "starting"),
                p -> p.equals("down") ? answer(p, Integer.MAX_VALUE, true) : answer(p, 0, false),
                p -> p.equals("down"), 60_000, 10);
        assertFalse(started);
        assertEquals(1, asked.get("down").get());
        assertEquals(1, asked.get("starting").get());
        assertTrue(System.nanoTime() - t0 < 30_000_000_000L, "no waiting for nodes known to be down");
    }

    @Test
    void aNodeThatNeverAnswersNorRefusesCountsAsNotRunningAfterTheWait() {
        long t0 = System.nanoTime();
        boolean started = ClusterNode.anyStarted(List.of("paused"), p -> answer(p, Integer.MAX_VALUE, true),
                p -> false, 300, 20);
        assertFalse(started);
        assertTrue(System.nanoTime() - t0 >= 300_000_000L, "asked for the whole wait");
        assertTrue(asked.get("paused").get() >= 5, "asked again meanwhile: " + asked.get("paused"));
    }

    @Test
    void anAskThatThrowsIsAFailureLikeAnyOther() {
        AtomicInteger calls = new AtomicInteger();
        boolean started = ClusterNode.anyStarted(List.of("x"), p -> {
            if (calls.incrementAndGet() == 1) {
                throw new IllegalStateException("group not ready");
            }
            return CompletableFuture.completedFuture(true);
        }, p -> false, 10_000, 10);
        assertTrue(started);
        assertEquals(2, calls.get());
    }
}
