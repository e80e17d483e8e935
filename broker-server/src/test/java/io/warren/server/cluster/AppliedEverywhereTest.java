package io.warren.server.cluster;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which nodes a declare's reply waits for, and how long, over scripted answers. */
class AppliedEverywhereTest {
    /** Answers as scripted per node: "no" a number of times, then "yes"; or fails; or never answers. */
    private static final class Script implements AppliedEverywhere.Asker {
        final Map<String, AtomicInteger> noes = new ConcurrentHashMap<>();
        final Set<String> failing = ConcurrentHashMap.newKeySet();
        final Set<String> silent = ConcurrentHashMap.newKeySet();
        final Map<String, AtomicInteger> asked = new ConcurrentHashMap<>();

        @Override public CompletableFuture<Boolean> applied(String memberId, long index) {
            asked.computeIfAbsent(memberId, k -> new AtomicInteger()).incrementAndGet();
            if (failing.contains(memberId)) {
                return CompletableFuture.failedFuture(new java.io.IOException("connection refused"));
            }
            if (silent.contains(memberId)) {
                return new CompletableFuture<>();
            }
            AtomicInteger n = noes.get(memberId);
            return CompletableFuture.completedFuture(n == null || n.getAndDecrement() <= 0);
        }

        int asked(String id) {
            AtomicInteger n = asked.get(id);
            return n == null ? 0 : n.get();
        }
    }

    @Test
    void aNodeThatAnswersNotYetIsAskedAgainUntilItHasApplied() throws Exception {
        Script s = new Script();
        s.noes.put("b", new AtomicInteger(3));
        AppliedEverywhere a = new AppliedEverywhere(s, () -> List.of("b", "c"), id -> true);
        a.appliedEverywhere(7).get(5, TimeUnit.SECONDS);
        assertEquals(4, s.asked("b"), "three times not yet, then yes");
        assertEquals(1, s.asked("c"));
        // what a node answered for is not asked again
        a.appliedEverywhere(7).get(1, TimeUnit.SECONDS);
        assertEquals(4, s.asked("b"));
    }

    @Test
    void aNodeFoundDownIsAskedTooAndWaitedForWhenItAnswers() throws Exception {
        Script s = new Script();
        s.noes.put("b", new AtomicInteger(2));
        // b: the probes found it down (back from a restart, not found up yet), but it answers
        CompletableFuture<?> f = new AppliedEverywhere(s, () -> List.of("b"), id -> false).appliedEverywhere(3);
        f.get(5, TimeUnit.SECONDS);
        assertEquals(3, s.asked("b"), "asked until it had applied");
    }

    @Test
    void aNodeThatCannotBeAskedIsNotWaitedFor() throws Exception {
        Script s = new Script();
        s.failing.add("b");
        new AppliedEverywhere(s, () -> List.of("b"), id -> true).appliedEverywhere(3).get(1, TimeUnit.SECONDS);
        assertEquals(1, s.asked("b"));
    }

    @Test
    void aSilentNodeFoundDownIsWaitedForBriefly() throws Exception {
        Script s = new Script();
        s.silent.add("b");
        long start = System.nanoTime();
        CompletableFuture<?> f = new AppliedEverywhere(s, () -> List.of("b"), id -> false).appliedEverywhere(3);
        Thread.sleep(500);
        assertFalse(f.isDone(), "not given up on at once");
        f.get(5, TimeUnit.SECONDS);
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertTrue(ms >= AppliedEverywhere.DOWN_NODE_WAIT_MS - 50, "waited " + ms + " ms");
    }
}
