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
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

    /** How a node learns another's AMQP listener: it asks that member itself, leader or not, with no log entry. */
    @Test void aMemberAnswersWhatItWasToldToAnswerAndADownMemberFailsTheQuestion() throws Exception {
        cluster = new TestCluster(3, dir, RaftSettings.DEFAULT).startAll();
        for (int i = 0; i < 3; i++) {
            int member = i;
            cluster.member(i).answer(question -> bytes("listener of n" + member));
        }
        // A member answers once it has committed something (a stale read at index 1): the first record.
        long first = join(cluster.member(0).submit(bytes("first")));
        for (int i = 0; i < 3; i++) {
            int member = i;
            await().atMost(BOUND).until(() -> cluster.member(member).appliedIndex() >= first);
        }
        for (int i = 0; i < 3; i++) {
            for (int j = 0; j < 3; j++) {
                byte[] answer = cluster.member(i).ask(cluster.memberAt(j).id()).get(BOUND.toSeconds(), TimeUnit.SECONDS);
                assertEquals("listener of n" + j, new String(answer, StandardCharsets.UTF_8), i + " asking " + j);
            }
        }
        long applied = cluster.member(0).appliedIndex();
        cluster.member(1).ask(cluster.memberAt(2).id()).get(BOUND.toSeconds(), TimeUnit.SECONDS);
        assertEquals(applied, cluster.member(0).appliedIndex(), "a question writes nothing to the log");
        cluster.stop(2);
        ExecutionException down = assertThrows(ExecutionException.class,
                () -> cluster.member(0).ask(cluster.memberAt(2).id()).get(BOUND.toSeconds(), TimeUnit.SECONDS));
        assertTrue(down.getCause() != null, "fails with a cause: " + down);
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
        // a record past RaftSettings.MAX_RECORD_BYTES is refused at once (an entry past 1 MiB could
        // keep a member from starting again)
        ExecutionException tooLarge = assertThrows(ExecutionException.class,
                () -> cluster.member(1).submit(new byte[RaftSettings.MAX_RECORD_BYTES + 1]).get());
        assertTrue(tooLarge.getCause() instanceof IllegalArgumentException
                && tooLarge.getCause().getMessage().contains("larger than a log entry may carry"), tooLarge.toString());
    }

    @Test void aStoppedMemberCatchesUpFromTheLeadersSnapshotWhenItReturns() throws Exception {
        // A snapshot every 20 entries and 1 KiB log segments: the 100 records written while a
        // member is down are purged from the others' logs, so it can only catch up by a snapshot.
        cluster = new TestCluster(3, dir, RaftSettings.DEFAULT.withSnapshotEvery(20, 1024)).startAll();
        for (int i = 0; i < 5; i++) {
            join(cluster.member(i % 3).submit(bytes("before-" + i)));
        }
        await().atMost(BOUND).until(() -> cluster.leader().isPresent());
        int down = (cluster.leader().get() + 1) % 3;
        await().atMost(BOUND).until(() -> cluster.state(down).records().size() == 5);
        assertEquals(-1, cluster.state(down).lastRestoredIndex(), "no snapshot before the member went down");
        cluster.stop(down);

        int up1 = (down + 1) % 3;
        int up2 = (down + 2) % 3;
        List<CompletableFuture<Long>> submits = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            submits.add(cluster.member(i % 2 == 0 ? up1 : up2).submit(bytes("while-down-" + i)));
        }
        for (CompletableFuture<Long> f : submits) {
            join(f); // two of three members still commit
        }
        await().atMost(BOUND).until(() -> cluster.state(up1).snapshotsTaken() > 0 && cluster.state(up2).snapshotsTaken() > 0);

        cluster.start(down);
        List<String> expected = cluster.state(up1).records();
        assertEquals(105, expected.size());
        await().atMost(BOUND).until(() -> cluster.state(down).records().equals(expected));
        assertTrue(cluster.state(down).lastRestoredIndex() > 5,
                "the returning member caught up without the leader's snapshot (restored index "
                        + cluster.state(down).lastRestoredIndex() + ")");
        assertEquals(cluster.state(up1).applied(), cluster.state(down).applied());

        // It is a full member again: its own submit commits and is applied everywhere.
        long index = join(cluster.member(down).submit(bytes("after")));
        await().atMost(BOUND).until(() -> cluster.state(up1).contains("after") && cluster.state(up2).contains("after"));
        assertTrue(cluster.state(down).contains("after"), "submit completed before its own member applied it");
        for (int m = 0; m < 3; m++) {
            assertEquals(List.of(index), cluster.state(m).applied().stream().filter(a -> a.record().equals("after"))
                    .map(RecordingState.Applied::index).toList(), "member " + m);
        }
    }

    @Test void whenTheLeaderStopsANewOneIsElectedAndNothingCommittedIsLost() throws Exception {
        cluster = new TestCluster(3, dir, RaftSettings.DEFAULT).startAll();
        for (int i = 0; i < 30; i++) {
            join(cluster.member(i % 3).submit(bytes("old-" + i)));
        }
        await().atMost(BOUND).until(() -> cluster.leader().isPresent());
        int oldLeader = cluster.leader().get();
        List<String> committed = cluster.state(oldLeader).records();
        assertEquals(30, committed.size());
        cluster.stop(oldLeader);

        long stoppedAt = System.nanoTime();
        await().atMost(BOUND).until(() -> cluster.leader().isPresent());
        int newLeader = cluster.leader().get();
        int other = 3 - oldLeader - newLeader;
        // Both survivors get their submits through, the follower's by way of the new leader.
        join(cluster.member(other).submit(bytes("new-from-follower")));
        join(cluster.member(newLeader).submit(bytes("new-from-leader")));
        Duration failover = Duration.ofNanos(System.nanoTime() - stoppedAt);
        assertTrue(failover.compareTo(BOUND) < 0, "fail-over took " + failover);

        for (int survivor : new int[] {newLeader, other}) {
            int s = survivor;
            await().atMost(BOUND).until(() -> cluster.state(s).records().size() == 32);
            assertEquals(committed, cluster.state(s).records().subList(0, 30), "member " + s + " lost committed records");
        }
        // The old leader comes back as a follower and gets what it missed.
        cluster.start(oldLeader);
        List<RecordingState.Applied> expected = cluster.state(newLeader).applied();
        await().atMost(BOUND).until(() -> cluster.state(oldLeader).applied().equals(expected));
    }

    /**
     * forget_cluster_node: a stopped member is removed from the configuration through any member;
     * every remaining member's configuration drops it, and the two go on committing (a majority
     * of two is both). Removing an absent member changes nothing.
     */
    @Test void aStoppedMemberIsRemovedFromTheConfiguration() throws Exception {
        cluster = new TestCluster(3, dir, RaftSettings.DEFAULT).startAll();
        join(cluster.member(0).submit(bytes("before")));
        java.util.Set<String> all = cluster.member(0).memberIds();
        assertEquals(3, all.size());
        String gone = cluster.member(2).self().id();
        cluster.stop(2);
        await().atMost(BOUND).until(() -> cluster.leader().isPresent());
        cluster.member(1).removeMember(gone);
        for (int i = 0; i < 2; i++) {
            int m = i;
            await().atMost(BOUND).until(() -> !cluster.member(m).memberIds().contains(gone)
                    && cluster.member(m).memberIds().size() == 2);
        }
        join(cluster.member(0).submit(bytes("after")));
        await().atMost(BOUND).until(() -> cluster.state(1).contains("after"));
        cluster.member(0).removeMember(gone); // already out: a no-op
        assertEquals(2, cluster.member(0).memberIds().size());
    }

    /**
     * join_cluster: a member that joins a running group starts knowing only the others and waits,
     * however long the group takes to take it in, then catches up and serves as a member. Started
     * with itself in the configuration, it stood for election before the leader knew of it, and
     * the leader's answer to a stranger with an empty log shut it down.
     */
    @Test void aJoiningMemberWaitsForTheGroupToTakeItIn() throws Exception {
        // a group of 0, 1 and 2 that forgot 2 (its configuration is a log entry now, as a cluster's after forget_cluster_node)
        cluster = new TestCluster(4, dir, RaftSettings.DEFAULT);
        List<Member> three = cluster.members().subList(0, 3);
        for (int i = 0; i < 3; i++) {
            cluster.startAmong(i, three);
        }
        join(cluster.member(0).submit(bytes("before")));
        String gone = cluster.memberAt(2).id();
        cluster.stop(2);
        await().atMost(BOUND).until(() -> cluster.leader().isPresent());
        cluster.member(0).removeMember(gone);
        await().atMost(BOUND).until(() -> cluster.member(0).memberIds().size() == 2
                && cluster.member(1).memberIds().size() == 2);
        List<Member> joined = List.of(cluster.memberAt(0), cluster.memberAt(1), cluster.memberAt(3));
        MetadataGroup joining = cluster.startJoining(3, joined);
        // a slow join: two election timeouts pass before the group is asked to take the member in
        Thread.sleep(2 * RaftSettings.DEFAULT.electionTimeoutMax().toMillis());
        joining.addSelf(joined);
        await().atMost(BOUND).until(() -> cluster.state(3).contains("before"));
        join(joining.submit(bytes("through-the-new-member")));
        for (int i : new int[] {0, 1, 3}) {
            await().atMost(BOUND).until(() -> cluster.state(i).contains("through-the-new-member")
                    && cluster.member(i).memberIds().size() == 3);
        }
        assertEquals(List.of("before", "through-the-new-member"), cluster.state(3).records());
    }

    @Test void withoutAMajorityASubmitIsNeverConfirmed() throws Exception {
        cluster = new TestCluster(3, dir, RaftSettings.DEFAULT.withSubmitTimeout(Duration.ofSeconds(3))).startAll();
        await().atMost(BOUND).until(() -> cluster.leader().isPresent()); // the first election may outlast 3 s
        join(cluster.member(0).submit(bytes("with-majority")));
        cluster.stop(1);
        cluster.stop(2);

        CompletableFuture<Long> alone = cluster.member(0).submit(bytes("without-majority"));
        ExecutionException e = assertThrows(ExecutionException.class, () -> alone.get(BOUND.toSeconds(), TimeUnit.SECONDS));
        assertInstanceOf(TimeoutException.class, e.getCause());
        assertFalse(cluster.state(0).contains("without-majority"), "applied without a majority");

        // The outcome of a timed-out submit is unknown, not "failed": the member's client kept
        // the record, and once a majority is back it is committed, once.
        cluster.start(1);
        await().atMost(BOUND).until(() -> cluster.state(0).contains("without-majority")
                && cluster.state(1).contains("without-majority"));
        assertEquals(List.of("with-majority", "without-majority"), cluster.state(0).records());
        assertEquals(cluster.state(0).applied(), cluster.state(1).applied());
    }

    @Test void aMemberWithAnotherSecretNeitherJoinsNorHoldsTheOthersUp() throws Exception {
        // Member 2 has the right member list and ports but not the cluster's secret.
        cluster = new TestCluster(3, dir, RaftSettings.DEFAULT.withSubmitTimeout(Duration.ofSeconds(4)))
                .withSecret(2, ClusterSecret.of(bytes("a secret from another cluster")))
                .startAll();
        CompletableFuture<Long> fromOutsider = cluster.member(2).submit(bytes("from-outsider"));
        // The two members with the secret are a majority: they elect and commit without it. (The
        // election is awaited first: on a busy machine it can take longer than the submit timeout.)
        await().atMost(BOUND).until(() -> cluster.leader().isPresent());
        for (int i = 0; i < 10; i++) {
            join(cluster.member(i % 2).submit(bytes("inside-" + i)));
        }
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> fromOutsider.get(BOUND.toSeconds(), TimeUnit.SECONDS));
        assertInstanceOf(TimeoutException.class, e.getCause(), "the outsider's submit did not time out");

        // After its submit gave up, the majority still works, and never heard of the outsider's record.
        for (int i = 10; i < 20; i++) {
            join(cluster.member(i % 2).submit(bytes("inside-" + i)));
        }
        await().atMost(BOUND).until(() -> cluster.state(0).records().size() == 20
                && cluster.state(1).records().size() == 20);
        assertEquals(cluster.state(0).applied(), cluster.state(1).applied());
        assertFalse(cluster.state(0).contains("from-outsider"), "the outsider's record was committed");
        int leader = cluster.leader().orElseThrow();
        assertTrue(leader == 0 || leader == 1, "the outsider leads");
        // The leader sent its whole log to every member for seconds; the outsider got none of it.
        assertEquals(List.of(), cluster.state(2).records(), "the outsider applied records of the cluster");
        assertEquals(-1, cluster.member(2).appliedIndex(), "the outsider applied an entry of the cluster's log");
    }
}
