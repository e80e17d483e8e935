package io.warren.cluster;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Three members of the metadata group in this JVM, on loopback, each with its own storage dir. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class MetadataGroupTest {
    /** Generous for a loaded 2-core machine: a leader is usually there within 2 to 3 s of a start or a stop. */
    private static final Duration BOUND = Duration.ofSeconds(15);

    @TempDir Path dir;
    private TestCluster cluster;

    @AfterEach void stop() {
        if (cluster != null) {
            cluster.close();
        }
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static long join(CompletableFuture<Long> f) throws Exception {
        return f.get(BOUND.toSeconds(), TimeUnit.SECONDS);
    }

    @Test void recordsSubmittedOnEveryMemberAreAppliedOnAllInOneOrder() throws Exception {
        cluster = new TestCluster(3, dir, RaftSettings.DEFAULT).startAll();
        int perMember = 67; // 201 records in all
        // What each submitter saw when its future completed: the record must already be applied on
        // its own member (the promise a declare-ok will rest on).
        List<String> notVisibleAtCompletion = Collections.synchronizedList(new ArrayList<>());
        Map<String, Long> indexBySubmit = new ConcurrentHashMap<>();
        ExecutorService submitters = Executors.newFixedThreadPool(3);
        try {
            List<Future<List<CompletableFuture<Long>>>> perThread = new ArrayList<>();
            for (int m = 0; m < 3; m++) {
                int member = m;
                perThread.add(submitters.submit(() -> {
                    List<CompletableFuture<Long>> futures = new ArrayList<>();
                    for (int i = 0; i < perMember; i++) {
                        String record = "n" + member + "-" + i;
                        futures.add(cluster.member(member).submit(bytes(record)).whenComplete((index, e) -> {
                            if (e == null) {
                                indexBySubmit.put(record, index);
                                if (!cluster.state(member).contains(record)) {
                                    notVisibleAtCompletion.add(record);
                                }
                            }
                        }));
                    }
                    return futures;
                }));
            }
            for (Future<List<CompletableFuture<Long>>> f : perThread) {
                for (CompletableFuture<Long> submit : f.get(BOUND.toSeconds(), TimeUnit.SECONDS)) {
                    join(submit);
                }
            }
        } finally {
            submitters.shutdownNow();
        }
        assertEquals(List.of(), notVisibleAtCompletion, "records not applied on their member when submit completed");

        int total = 3 * perMember;
        await().atMost(BOUND).until(() -> cluster.state(1).records().size() == total
                && cluster.state(2).records().size() == total && cluster.state(0).records().size() == total);
        List<RecordingState.Applied> first = cluster.state(0).applied();
        assertEquals(first, cluster.state(1).applied(), "member 1 applied another sequence than member 0");
        assertEquals(first, cluster.state(2).applied(), "member 2 applied another sequence than member 0");
        assertEquals(total, new HashSet<>(cluster.state(0).records()).size(), "a record was applied twice");
        for (RecordingState.Applied a : first) {
            assertEquals(Long.valueOf(a.index()), indexBySubmit.get(a.record()),
                    "submit reported another index for " + a.record());
        }
        // One member's records are committed in the order it submitted them.
        for (int m = 0; m < 3; m++) {
            String prefix = "n" + m + "-";
            List<String> own = first.stream().map(RecordingState.Applied::record).filter(r -> r.startsWith(prefix)).toList();
            for (int i = 0; i < perMember; i++) {
                assertEquals(prefix + i, own.get(i), "member " + m + "'s records out of order");
            }
        }
    }
}
