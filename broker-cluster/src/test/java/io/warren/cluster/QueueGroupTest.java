package io.warren.cluster;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Quorum queue groups: puts and removes in one order everywhere, fail-over, batching and spacing,
 * values in parts, membership changes, timeouts and the Ratis faults warren works around (snapshots,
 * restarts and spilling: {@link QueueGroupSnapshotTest}).
 */
class QueueGroupTest extends QueueGroupCluster {
    @Test void putsAndRemovesFromEveryMemberAreAppliedInOneOrderEverywhere() throws Exception {
        String Q1 = "vhost/order/1";
        QueueGroup[] groups = joinAll(Q1);
        assertSame(groups[0], node(0).joinQueueGroup(Q1, cluster.members()), "a second join returns the member joined");
        Recorder[] heard = new Recorder[3];
        for (int i = 0; i < 3; i++) {
            heard[i] = new Recorder();
            assertEquals(List.of(), groups[i].listen(heard[i]));
        }
        // Keys m*1000+i from member m: 30 puts each, issued all at once (past no bound: 64), then
        // from each member a replace of its first key and a remove of its second and third.
        List<String> notVisible = Collections.synchronizedList(new ArrayList<>());
        List<CompletableFuture<Long>> all = new ArrayList<>();
        for (int m = 0; m < 3; m++) {
            for (int i = 0; i < 30; i++) {
                long key = m * 1000L + i;
                QueueGroup g = groups[m];
                all.add(g.put(key, bytes("v" + key)).whenComplete((index, e) -> {
                    // Applied here by then (the key itself may be gone already: some are removed).
                    if (e == null && g.appliedIndex() < index) {
                        notVisible.add("put " + key + " at " + index);
                    }
                }));
            }
        }
        for (int m = 0; m < 3; m++) {
            all.add(groups[m].put(m * 1000L, bytes("replaced" + m)));
            all.add(groups[m].remove(new long[] {m * 1000L + 1, m * 1000L + 2, 99_999}));
        }
        for (CompletableFuture<Long> f : all) {
            join(f);
        }
        assertEquals(List.of(), notVisible, "puts not applied on their member when their future completed");

        int total = 3 * 30 + 3 + 3 * 2; // puts, replaces, removes of present keys
        await().atMost(BOUND).until(() -> heard[0].applied.size() == total && heard[1].applied.size() == total
                && heard[2].applied.size() == total);
        List<String> sequence = heard[0].sequence();
        assertEquals(sequence, heard[1].sequence(), "member 1 applied another sequence");
        assertEquals(sequence, heard[2].sequence(), "member 2 applied another sequence");
        Map<Long, String> expected = asMap(groups[0].entries());
        assertEquals(expected, asMap(groups[1].entries()));
        assertEquals(expected, asMap(groups[2].entries()));
        assertEquals(List.copyOf(expected.keySet()), groups[1].entries().stream().map(Map.Entry::getKey).toList(),
                "entries are not in the same order");
        assertEquals(84, groups[0].size());
        for (int m = 0; m < 3; m++) {
            assertEquals("replaced" + m, expected.get(m * 1000L));
            assertFalse(expected.containsKey(m * 1000L + 1));
        }
        // A replace keeps the key's place: member 0's first key is still before its fourth.
        List<Long> keys = List.copyOf(expected.keySet());
        assertTrue(keys.indexOf(0L) < keys.indexOf(3L), "a replaced key moved: " + keys);
        // Each member's records in call order; local exactly for its own.
        for (int m = 0; m < 3; m++) {
            long base = m * 1000L;
            List<Long> ownPuts = heard[0].applied.stream().map(s -> s.split(" "))
                    .filter(p -> Long.parseLong(p[1]) / 1000 == base / 1000 && p[2].startsWith("v"))
                    .map(p -> Long.parseLong(p[1])).toList();
            assertEquals(java.util.stream.LongStream.range(base, base + 30).boxed().toList(), ownPuts,
                    "member " + m + "'s puts out of order");
            for (int member = 0; member < 3; member++) {
                for (String s : heard[member].applied) {
                    String[] p = s.split(" ");
                    boolean fromMember = Long.parseLong(p[1]) / 1000 == member;
                    assertEquals(String.valueOf(fromMember), p[3], "local flag on member " + member + ": " + s);
                }
            }
        }
        int leader = leaderOf(groups);
        assertEquals("ready", heard[leader].lastEvent());
        for (int i = 0; i < 3; i++) {
            assertEquals(cluster.members(), groups[i].members());
            assertEquals(cluster.memberAt(leader).id(), groups[i].leaderId());
        }
        // The metadata group works alongside.
        join(cluster.member(1).submit(bytes("metadata")));
        assertTrue(cluster.state(1).contains("metadata"));
    }

    @Test void whenTheQueueLeaderStopsANewLeaderIsReadyWithEveryConfirmedPut() throws Exception {
        String Q1 = "vhost/failover/2";
        QueueGroup[] groups = joinAll(Q1);
        Recorder[] heard = new Recorder[3];
        for (int i = 0; i < 3; i++) {
            heard[i] = new Recorder();
            groups[i].listen(heard[i]);
        }
        int oldLeader = leaderOf(groups);
        await().atMost(BOUND).until(() -> "ready".equals(heard[oldLeader].lastEvent()));
        List<Long> confirmed = Collections.synchronizedList(new ArrayList<>());
        List<CompletableFuture<Long>> puts = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            long key = i;
            puts.add(groups[i % 3].put(key, bytes("m" + i)).whenComplete((index, e) -> {
                if (e == null) {
                    confirmed.add(key);
                }
            }));
        }
        for (CompletableFuture<Long> f : puts) {
            join(f);
        }
        cluster.stop(oldLeader);
        assertEquals("lost null", heard[oldLeader].lastEvent(), "the stopped leader's listener");

        int a = (oldLeader + 1) % 3;
        int b = (oldLeader + 2) % 3;
        await().atMost(BOUND).until(() -> "ready".equals(heard[a].lastEvent()) || "ready".equals(heard[b].lastEvent()));
        int newLeader = "ready".equals(heard[a].lastEvent()) ? a : b;
        int follower = newLeader == a ? b : a;
        assertTrue(groups[newLeader].isLeader());
        Map<Long, String> onNewLeader = asMap(groups[newLeader].entries());
        for (long key : List.copyOf(confirmed)) {
            assertTrue(onNewLeader.containsKey(key), "confirmed put " + key + " missing on the new leader");
        }
        assertEquals(40, onNewLeader.size());
        // The follower saw the new leader, and both survivors take writes.
        await().atMost(BOUND).until(() -> cluster.memberAt(newLeader).id().equals(groups[follower].leaderId()));
        join(groups[follower].put(100, bytes("after")));
        join(groups[newLeader].remove(new long[] {0}));
        await().atMost(BOUND).until(() -> asMap(groups[follower].entries()).equals(asMap(groups[newLeader].entries())));
        assertEquals(40, groups[follower].size());
    }

    @Test void putsThatWaitTogetherShareALogEntryAndApplyInCallOrderEverywhere() throws Exception {
        String Q1 = "vhost/batch/6";
        QueueGroup[] groups = joinAll(Q1);
        Recorder[] heard = new Recorder[3];
        for (int i = 0; i < 3; i++) {
            heard[i] = new Recorder();
            groups[i].listen(heard[i]);
        }
        // 2,000 puts and a remove from one follower at once: far more than MAX_IN_FLIGHT entries, so
        // most wait and go out as batches; each future completes with its batch's index.
        int follower = (leaderOf(groups) + 1) % 3;
        int n = 2000;
        List<CompletableFuture<Long>> futures = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            futures.add(groups[follower].put(i, bytes("b" + i)));
        }
        futures.add(groups[follower].remove(new long[] {0, 1}));
        java.util.TreeSet<Long> indexes = new java.util.TreeSet<>();
        long last = 0;
        for (CompletableFuture<Long> f : futures) {
            long index = join(f);
            assertTrue(index >= last, "a later record committed at an earlier index: " + index + " < " + last);
            last = index;
            indexes.add(index);
        }
        assertTrue(indexes.size() < n / 4, "2,000 puts made at once took " + indexes.size() + " log entries");
        await().atMost(BOUND).until(() -> heard[0].applied.size() == n + 2 && heard[1].applied.size() == n + 2
                && heard[2].applied.size() == n + 2);
        List<String> expected = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            expected.add("b" + i);
        }
        for (int i = 0; i < 3; i++) {
            assertEquals(heard[0].sequence(), heard[i].sequence(), "member " + i + " applied another sequence");
            assertEquals(expected.subList(2, n), groups[i].entries().stream()
                    .map(e -> new String(e.getValue(), StandardCharsets.UTF_8)).toList());
        }
        for (String a : heard[follower].applied) {
            assertTrue(a.endsWith(" true"), "the sender's own records are local: " + a);
        }
    }

    /**
     * Ratis refuses a log entry past its byte limit (1 MiB and 64 KiB here), with every record in it: a value
     * larger than an entry may hold goes in parts (one entry each) and is put whole on every
     * member; a large record that would take a batch of small
     * ones past the limit goes in the next entry, so the small ones beside it are not refused
     * with it (they were, when 900 kB of small puts and a 3.5 MB one waited together, with 4 MiB
     * entries; 800 kB here, 1 MiB entries); and a
     * remove of more keys than an entry holds (a purge of a long queue) is split.
     */
    @Test void noRecordsMakeAnEntryRatisRefuses() throws Exception {
        QueueGroup[] groups = joinAll("vhost/large/12");
        QueueGroup g = groups[(leaderOf(groups) + 1) % 3]; // through a follower: Ratis' client
        byte[] huge = new byte[2 * QueueGroup.MAX_RECORD_BYTES + 12_345];
        new java.util.Random(1).nextBytes(huge);
        long at = join(g.put(1, huge));
        for (QueueGroup member : groups) {
            await().atMost(BOUND).until(() -> member.get(1) != null);
            assertTrue(java.util.Arrays.equals(huge, member.get(1)), "the whole value on every member");
        }
        join(g.remove(new long[] {1}));
        assertTrue(at > 0);
        List<CompletableFuture<Long>> small = new ArrayList<>();
        for (int i = 0; i < 90; i++) {
            small.add(g.putLater(10 + i, new byte[10_000]));
        }
        CompletableFuture<Long> large = g.putLater(200, new byte[800_000]); // one record, not in parts
        for (int i = 0; i < 10; i++) {
            small.add(g.putLater(300 + i, bytes("after" + i)));
        }
        g.flush();
        for (CompletableFuture<Long> f : small) {
            join(f);
        }
        assertTrue(join(large) > join(small.get(89)), "the large record left after the small ones before it");
        await().atMost(BOUND).until(() -> groups[0].size() == 101 && groups[1].size() == 101 && groups[2].size() == 101);
        long[] keys = new long[QueueGroup.MAX_REMOVE_KEYS + 1000];
        for (int i = 0; i < keys.length; i++) {
            keys[i] = 100_000 + i; // none of these is in the queue
        }
        for (int i = 0; i < 90; i++) {
            keys[i] = 10 + i;
        }
        keys[keys.length - 1] = 200;
        join(g.remove(keys));
        for (QueueGroup member : groups) {
            await().atMost(BOUND).until(() -> member.size() == 10);
            assertEquals(java.util.stream.IntStream.range(0, 10).mapToObj(i -> "after" + i).toList(),
                    member.entries().stream().map(e -> new String(e.getValue(), StandardCharsets.UTF_8)).toList());
        }
    }

    /**
     * A value in parts whose put is interrupted by a leader change is put whole on every member or
     * on none, and its future succeeds only in the first case (never a confirm for a value that is
     * not there); the members end with the same state either way, and small puts go on.
     */
    @Test void aValueInPartsIsPutWholeOrNotAtAllAcrossALeaderChange() throws Exception {
        QueueGroup[] groups = joinAll("vhost/parts/13");
        int leader = leaderOf(groups);
        QueueGroup g = groups[(leader + 1) % 3]; // through a follower: Ratis' client
        for (int round = 0; round < 4; round++) {
            int r = round;
            byte[] value = new byte[6 * QueueGroup.MAX_PART_BYTES];
            java.util.Arrays.fill(value, (byte) round);
            long key = 100 + round;
            CompletableFuture<Long> f = g.put(key, value);
            // the lead moves while the parts are on their way
            int now = leaderOf(groups);
            groups[now].transferLeadership(node((now + 2) % 3).self().id(), java.time.Duration.ofSeconds(5));
            boolean ok;
            try {
                f.get(BOUND.toSeconds(), TimeUnit.SECONDS);
                ok = true;
            } catch (java.util.concurrent.ExecutionException e) {
                ok = false;
            }
            join(g.put(1000 + round, bytes("small" + round))); // every member has applied what came before
            for (QueueGroup member : groups) {
                await().atMost(BOUND).until(() -> member.get(1000 + r) != null);
                byte[] got = member.get(key);
                if (ok) {
                    assertTrue(java.util.Arrays.equals(value, got), "confirmed: the whole value on every member");
                }
                assertTrue(got == null || java.util.Arrays.equals(value, got), "whole or absent, never a part");
                assertEquals(groups[0].get(key) == null, got == null, "the members agree on round " + round);
            }
        }
        byte[] last = new byte[3 * QueueGroup.MAX_PART_BYTES];
        join(g.put(7, last)); // no leader change: it goes through
        for (QueueGroup member : groups) {
            await().atMost(BOUND).until(() -> member.get(7) != null);
        }
    }

    /**
     * A snapshot taken between the parts of a large value holds the parts so far: a member that
     * was down and installs that snapshot from the leader completes the value with the parts
     * after it, as the others do (without them in the snapshot it would drop the rest, and the
     * members' states would part ways).
     */
    @Test void aSnapshotBetweenThePartsOfALargeValueCarriesThePartsSoFar() throws Exception {
        // With one member stopped, the leader steps down when its one follower has not answered
        // for the election timeout (1 s here): a stall of this JVM on a busy 2-core machine did
        // that once in a CI run, and the puts failed with NotLeaderException. Such a leader change
        // is not what this test looks at: it tries again, on a new group, at most three times.
        for (int attempt = 1; ; attempt++) {
            try {
                snapshotBetweenParts("vhost/parts-snapshot/14-" + attempt);
                return;
            } catch (java.util.concurrent.ExecutionException e) {
                if (!(e.getCause() instanceof org.apache.ratis.protocol.exceptions.NotLeaderException) || attempt == 3) {
                    throw e;
                }
                if (cluster.member(2) == null) {
                    cluster.start(2);
                }
            }
        }
    }

    private void snapshotBetweenParts(String name) throws Exception {
        QueueGroup[] groups = joinAll(name);
        int leader = leaderOf(groups);
        if (leader == 2) {
            groups[2].transferLeadership(node(0).self().id(), Duration.ofSeconds(5));
            leader = leaderOf(groups);
        }
        QueueGroup g = groups[leader];
        join(g.put(1, bytes("first")));
        cluster.stop(2);
        org.apache.ratis.statemachine.StateMachine sm = node(leader).server().getDivision(g.groupId()).getStateMachine();
        // small puts, one at a time, until the next snapshot (every 20 entries; Ratis' own
        // entries come between them) is 2 to 4 entries away
        int k = 2;
        while (sm.getLatestSnapshot() == null || g.appliedIndex() < sm.getLatestSnapshot().getIndex() + 16
                || g.appliedIndex() > sm.getLatestSnapshot().getIndex() + 18) {
            join(g.put(k, bytes("small" + k)));
            k++;
            assertTrue(k < 500, "no snapshot where expected: at " + g.appliedIndex() + ", snapshot "
                    + sm.getLatestSnapshot());
        }
        long before = g.appliedIndex();
        byte[] value = new byte[5 * QueueGroup.MAX_PART_BYTES + 1_000]; // six parts, six entries or more
        new java.util.Random(3).nextBytes(value);
        long last = join(g.put(500, value));
        await().atMost(BOUND).until(() -> sm.getLatestSnapshot().getIndex() > before);
        long snapshot = sm.getLatestSnapshot().getIndex();
        assertTrue(snapshot < last, "the snapshot (" + snapshot + ") fell between the parts (" + before + " to "
                + last + ")");

        cluster.start(2);
        QueueGroup back = node(2).queueGroups().get(name);
        Recorder heard = new Recorder();
        back.listen(heard);
        await().atMost(BOUND).until(() -> back.appliedIndex() >= last);
        assertTrue(heard.events.stream().anyMatch(e -> e.startsWith("restored ")),
                "node 2 caught up through the leader's snapshot: " + heard.events);
        assertTrue(java.util.Arrays.equals(value, back.get(500)), "the value whole on the member restored");
        assertEquals(asMap(g.entries()).keySet(), asMap(back.entries()).keySet());
    }

    /**
     * After an entry of many records (a busy group) the next entry waits out the spacing, taking
     * what came meanwhile; after an entry of one record, a record leaves at once. The spacing is
     * 5 s here so that "held" and "not held" cannot be mistaken for a slow commit.
     */
    @Test void aBusyGroupsNextEntryWaitsOutTheSpacingAndTakesWhatCameMeanwhile() throws Exception {
        QueueGroup[] groups = joinAll("vhost/spaced/9");
        QueueGroup g = groups[leaderOf(groups)];
        long spacing = QueueGroup.spacingNanos;
        QueueGroup.spacingNanos = TimeUnit.SECONDS.toNanos(5);
        try {
            List<CompletableFuture<Long>> burst = new ArrayList<>();
            for (int i = 0; i < QueueGroup.SPACED_AFTER_RECORDS * 4; i++) {
                burst.add(g.putLater(i, bytes("burst" + i)));
            }
            g.flush();
            long burstIndex = join(burst.get(0));
            for (CompletableFuture<Long> f : burst) {
                assertEquals(burstIndex, join(f), "the burst went as one entry");
            }
            // Committed: nothing is in flight, yet the next record waits for the spacing to end.
            CompletableFuture<Long> x = g.put(1000, bytes("x"));
            Thread.sleep(300);
            assertFalse(x.isDone(), "a record right after a busy entry left before the spacing was over");
            CompletableFuture<Long> y = g.put(1001, bytes("y"));
            long xIndex = join(x);
            assertEquals(xIndex, join(y), "the records that waited out the spacing went as one entry");
            assertTrue(xIndex > burstIndex);
            // That entry had two records: the group is not busy, so the next one leaves at once.
            CompletableFuture<Long> z = g.put(1002, bytes("z"));
            await().atMost(Duration.ofSeconds(3)).until(z::isDone);
            assertTrue(join(z) > xIndex);
            onEachMember(groups, join(z), (i, m) -> assertArrayEquals(bytes("z"), m.get(1002), "member " + i));
        } finally {
            QueueGroup.spacingNanos = spacing;
        }
    }

    /**
     * A quorum queue's leader writes no commit markers (Ratis' metadata entries): one put after
     * another takes one log index after another, where a marker took every second index. The
     * metadata group's leader keeps writing them (a restarted node applies its definitions up to
     * the last commit it knew; see CommitMarkers).
     */
    @Test void aQueueLeaderWritesNoCommitMarkersTheMetadataLeaderDoes() throws Exception {
        QueueGroup[] groups = joinAll("vhost/markers/11");
        int l = leaderOf(groups);
        QueueGroup g = groups[l];
        org.apache.ratis.server.RaftServer.Division d = node(l).server().getDivision(g.groupId());
        await().atMost(BOUND).until(() -> Boolean.FALSE.equals(CommitMarkers.on(d)));
        long previous = join(g.put(1, bytes("v1")));
        for (int i = 2; i <= 10; i++) {
            long index = join(g.put(i, bytes("v" + i)));
            assertEquals(previous + 1, index, "put " + i + " took the next index: no marker between");
            previous = index;
        }
        long last = previous;
        onEachMember(groups, last, (i, m) -> assertArrayEquals(bytes("v10"), m.get(10), "member " + i));
        await().atMost(BOUND).until(() -> java.util.stream.IntStream.range(0, 3).anyMatch(i -> {
            try {
                return node(i).server().getDivision(MetadataGroup.GROUP_ID).getInfo().isLeader();
            } catch (java.io.IOException e) {
                return false;
            }
        }));
        for (int i = 0; i < 3; i++) {
            org.apache.ratis.server.RaftServer.Division m = node(i).server().getDivision(MetadataGroup.GROUP_ID);
            if (m.getInfo().isLeader()) {
                assertEquals(Boolean.TRUE, CommitMarkers.on(m), "the metadata leader on node " + i);
            }
        }
    }

    /**
     * In a busy group, removes alone (acks) wait out their own, longer spacing (5 s here); a put
     * that comes meanwhile waits out only the put spacing and takes them with it. A remove counts
     * by its keys: an entry of one remove of 80 keys leaves the group busy, so the next remove
     * waits again.
     */
    @Test void removesAloneWaitOutTheirLongerSpacingAndGoWithTheNextPut() throws Exception {
        QueueGroup[] groups = joinAll("vhost/acks-spaced/10");
        QueueGroup g = groups[leaderOf(groups)];
        long removeSpacing = QueueGroup.removeSpacingNanos;
        QueueGroup.removeSpacingNanos = TimeUnit.SECONDS.toNanos(5);
        try {
            List<CompletableFuture<Long>> burst = new ArrayList<>();
            for (int i = 0; i < 100; i++) {
                burst.add(g.putLater(i, bytes("m" + i)));
            }
            g.flush();
            long burstIndex = join(burst.get(burst.size() - 1));
            long[] acks = new long[80];
            for (int i = 0; i < acks.length; i++) {
                acks[i] = i;
            }
            CompletableFuture<Long> removed = g.remove(acks);
            Thread.sleep(300);
            assertFalse(removed.isDone(), "a remove alone after a busy entry left before its spacing was over");
            CompletableFuture<Long> put = g.put(1000, bytes("x"));
            long index = join(put);
            assertEquals(index, join(removed), "the put took the waiting remove with it");
            assertTrue(index > burstIndex);
            // that entry carried 81 keys and records: still busy, so a remove alone waits again
            CompletableFuture<Long> more = g.remove(new long[] {80, 81});
            Thread.sleep(300);
            assertFalse(more.isDone(), "a remove after an entry of one 80-key remove and a put left at once");
            long last = join(more);
            assertTrue(last > index);
            onEachMember(groups, last, (i, m) -> {
                assertNull(m.get(0), "member " + i);
                assertNull(m.get(81), "member " + i);
                assertArrayEquals(bytes("m82"), m.get(82), "member " + i);
                assertArrayEquals(bytes("x"), m.get(1000), "member " + i);
            });
        } finally {
            QueueGroup.removeSpacingNanos = removeSpacing;
        }
    }

    /**
     * add_member and delete_member underneath: a member added to a running group of two starts
     * knowing only the others (so it waits for the leader rather than standing for election),
     * is taken in (ADD mode) and caught up with every entry; a member removed through a node
     * that holds none (compare-and-set of the leader's configuration) is dropped, the group goes
     * on committing with the two left, and a second removal is no change.
     */
    @Test void aMemberAddedToARunningGroupCatchesUpAndOneRemovedByAnotherNodeIsDropped() throws Exception {
        String Q1 = "vhost/members/1";
        List<Member> all = cluster.members();
        List<Member> two = all.subList(0, 2);
        QueueGroup[] groups = new QueueGroup[3];
        groups[0] = node(0).joinQueueGroup(Q1, two);
        groups[1] = node(1).joinQueueGroup(Q1, two);
        long last = 0;
        for (int i = 0; i < 30; i++) {
            last = join(groups[i % 2].put(i, bytes("v" + i)));
        }
        groups[2] = node(2).joinQueueGroup(Q1, all, true);
        // it waits: no election of its own however long the leader takes to hear of it
        Thread.sleep(1500);
        assertTrue(!groups[2].isLeader() && groups[2].memberIds().stream().noneMatch(all.get(2).id()::equals),
                groups[2].memberIds().toString());
        groups[2].addSelf(all);
        QueueGroup added = groups[2];
        long committed = last;
        await().atMost(BOUND).until(() -> added.appliedIndex() >= committed);
        assertEquals(asMap(groups[0].entries()), asMap(added.entries()));
        java.util.Set<String> ids = java.util.Set.of(all.get(0).id(), all.get(1).id(), all.get(2).id());
        for (QueueGroup g : groups) {
            await().atMost(BOUND).until(() -> g.memberIds().equals(ids));
        }
        added.addSelf(all); // a member already: no change

        // node 2 removes node 0's member (the leader's or not); the other two go on
        node(2).removeFromQueueGroup(Q1, all, all.get(0).id());
        java.util.Set<String> left = java.util.Set.of(all.get(1).id(), all.get(2).id());
        for (int i = 1; i < 3; i++) {
            QueueGroup g = groups[i];
            await().atMost(BOUND).until(() -> g.memberIds().equals(left));
        }
        long after = join(added.put(100, bytes("after")));
        await().atMost(BOUND).until(() -> groups[1].appliedIndex() >= after);
        assertEquals("after", asMap(groups[1].entries()).get(100L));
        node(1).removeFromQueueGroup(Q1, all, all.get(0).id()); // not a member any more: no change
        assertEquals(left, groups[1].memberIds());
        for (int i = 0; i < 3; i++) {
            node(i).leaveQueueGroup(Q1);
        }
    }

    @Test void leavingOnEveryMemberDeletesTheStorageAndAJoinAfterStartsEmpty() throws Exception {
        String Q1 = "vhost/leave/5";
        QueueGroup[] groups = joinAll(Q1);
        for (int i = 0; i < 5; i++) {
            join(groups[i % 3].put(i, bytes("x" + i)));
        }
        String uuid = RaftNode.queueGroupId(Q1).getUuid().toString();
        for (int i = 0; i < 3; i++) {
            assertTrue(Files.isDirectory(cluster.storageDir(i).resolve(uuid)));
            assertEquals(Q1, Files.readString(cluster.storageDir(i).resolve(uuid).resolve(QueueGroup.NAME_FILE)));
        }
        // In parallel: Ratis takes most of a second to shut a group's member down.
        List<CompletableFuture<Void>> leaves = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            RaftNode n = node(i);
            leaves.add(CompletableFuture.runAsync(() -> {
                try {
                    n.leaveQueueGroup(Q1);
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }));
        }
        for (CompletableFuture<Void> f : leaves) {
            f.get(BOUND.toSeconds(), TimeUnit.SECONDS);
        }
        for (int i = 0; i < 3; i++) {
            assertFalse(Files.exists(cluster.storageDir(i).resolve(uuid)), "node " + i + " kept the group's dir");
            assertFalse(node(i).queueGroups().containsKey(Q1));
        }
        node(0).leaveQueueGroup(Q1); // not a member: nothing happens

        QueueGroup[] again = joinAll(Q1);
        for (int i = 0; i < 3; i++) {
            assertEquals(0, again[i].size(), "node " + i + " rejoined with old entries");
        }
        long index = join(again[1].put(7, bytes("new")));
        assertNotNull(again[1].entries().get(0));
        for (int i = 0; i < 3; i++) {
            QueueGroup g = again[i];
            await().atMost(BOUND).until(() -> g.appliedIndex() >= index);
            assertEquals(Map.of(7L, "new"), asMap(g.entries()));
        }
    }

    /**
     * Records that cannot commit (two of three members stopped) fail with a TimeoutException once
     * the submit timeout has passed, those in flight and those still waiting behind them alike,
     * and not before.
     */
    @Test void putsThatCannotCommitFailWithATimeoutAfterTheSubmitTimeout() throws Exception {
        QueueGroup[] groups = joinAll("vhost/timeout/1");
        join(groups[leaderOf(groups)].put(1, bytes("committed")));
        // The leader all three agree on (a new group may hold a second election just after its
        // first, and the survivor must not be the one that won it: it would fail its puts with
        // NotLeaderException when it steps down, not time out).
        await().atMost(BOUND).until(() -> {
            String id = groups[0].leaderId();
            return id != null && id.equals(groups[1].leaderId()) && id.equals(groups[2].leaderId())
                    && java.util.Arrays.stream(groups).filter(QueueGroup::isLeader).count() == 1;
        });
        int leader = leaderOf(groups);
        int survivor = (leader + 1) % 3;
        // The other follower first: with the leader stopped first, the survivor could win an
        // election with that follower's vote while it still ran (a stop takes about a second),
        // then lead without a majority and fail its puts with NotLeaderException.
        cluster.stop((leader + 2) % 3);
        cluster.stop(leader);
        long timeout = cluster.member(survivor).node().settings().submitTimeout().toMillis();
        long start = System.nanoTime();
        List<CompletableFuture<Long>> puts = new ArrayList<>();
        for (int i = 0; i < 6; i++) { // apart, so that some go in flight as entries of their own and the rest wait
            puts.add(groups[survivor].put(10 + i, bytes("never")));
            Thread.sleep(50);
        }
        for (CompletableFuture<Long> f : puts) {
            java.util.concurrent.ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(
                    java.util.concurrent.ExecutionException.class, () -> f.get(timeout + 5_000, TimeUnit.MILLISECONDS));
            assertTrue(e.getCause() instanceof java.util.concurrent.TimeoutException, "failed with " + e.getCause());
        }
        long elapsed = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertTrue(elapsed >= timeout, "failed after " + elapsed + " ms, before the " + timeout + " ms timeout");
        assertTrue(elapsed <= timeout + 2_500, "failed after " + elapsed + " ms, past the timeout and a sweep");
    }

    /**
     * A follower one of whose log appends failed takes the next entries (AppendChainGuard): in
     * Ratis 3.2.2 every later append is chained on the failed one and fails with it, for as long
     * as the server runs (the cluster soak lost a member to a queue that way). The test puts a
     * failed future at the end of a follower's chain, as that failed append left it, then puts
     * three values; they stay below index 20, so no snapshot is taken yet (one every 20 entries
     * here) and the follower can only have them through appends. Without the guard it never has
     * them (checked by hand: this test then fails at its 15 s bound), with it it has them and the
     * guard counted the clearing.
     */
    @Test void aFollowerWhoseLogAppendFailedTakesTheNextEntries() throws Exception {
        assertTrue(AppendChainGuard.active(), "this Ratis has the append chain the guard mends");
        QueueGroup[] groups = joinAll("vhost/append-chain/1");
        int leader = leaderOf(groups);
        join(groups[leader].put(1, bytes("before")));
        int follower = (leader + 1) % 3;
        await().atMost(BOUND).until(() -> groups[follower].get(1) != null);
        org.apache.ratis.server.RaftServer.Division division = node(follower).server().getDivision(groups[follower].groupId());
        java.util.concurrent.atomic.AtomicReference<CompletableFuture<Void>> chain = AppendChainGuard.chainOf(division);
        assertNotNull(chain, "the follower's append chain");
        long clearedBefore = node(follower).appendChainGuard().cleared();
        chain.set(CompletableFuture.failedFuture(new IllegalStateException("an append failed (test)")));
        long last = 0;
        for (int i = 2; i <= 4; i++) {
            last = join(groups[leader].put(i, bytes("after" + i)));
        }
        assertTrue(last < 20, "no snapshot yet: the last put is at index " + last);
        await().atMost(BOUND).until(() -> groups[follower].get(4) != null);
        assertEquals("after4", new String(groups[follower].get(4), StandardCharsets.UTF_8));
        assertTrue(node(follower).appendChainGuard().cleared() > clearedBefore, "the guard cleared the failed chain");
    }

    /**
     * A member whose division Ratis closed while its node runs is opened again from its storage
     * ({@link RaftNode#reopen}): Ratis closes a division whose log worker fails, and until the
     * node restarted such a member took nothing more, so the queue ran on two members with no
     * redundancy left. The test closes a follower's division as that failure does, then sees the
     * same QueueGroup object hold the value put before and the values put after (one through
     * itself), and the group commit with that member and the leader alone once the third
     * member's node is stopped. Without the reopening it fails at its first bound (checked by hand).
     */
    @Test void aMemberWhoseDivisionRatisClosedIsOpenedAgainAndCountsForTheMajority() throws Exception {
        QueueGroup[] groups = joinAll("vhost/reopen/1");
        int leader = leaderOf(groups);
        join(groups[leader].put(1, bytes("before")));
        int follower = (leader + 1) % 3;
        int third = (leader + 2) % 3;
        await().atMost(BOUND).until(() -> groups[follower].get(1) != null);
        long reopenedBefore = node(follower).reopened();
        node(follower).server().getDivision(groups[follower].groupId()).close();
        await().atMost(BOUND).until(() -> node(follower).reopened() > reopenedBefore
                && !groups[follower].divisionDown());
        assertEquals(groups[follower], node(follower).queueGroups().get("vhost/reopen/1"), "the same QueueGroup");
        join(groups[leader].put(2, bytes("after")));
        join(groups[follower].put(3, bytes("through the reopened member")));
        await().atMost(BOUND).until(() -> groups[follower].get(2) != null);
        assertEquals("before", new String(groups[follower].get(1), StandardCharsets.UTF_8));
        assertEquals("through the reopened member", new String(groups[follower].get(3), StandardCharsets.UTF_8));
        cluster.stop(third);
        join(groups[leader].put(4, bytes("a majority of two")));
        await().atMost(BOUND).until(() -> groups[follower].get(4) != null);
    }

    /**
     * A follower whose next entry is the first of the leader's log while the leader's snapshot
     * lies past it (the log was purged up to a snapshot in the middle of a segment, so the entry
     * before that next one is in neither) is asked first whether it has the snapshot's last
     * entry, and one that has it gets the entries after it, no snapshot
     * ({@link WarrenRpcType.Appender}). Ratis' own appender failed an assertion there and stopped
     * for good (bench/quorum.sh with 5 MB messages met it); sending the snapshot to a follower
     * whose log went past it breaks Ratis' follower log. The test makes the leader take the next
     * index of a follower that has everything back to its log's first index, then puts more: the
     * follower has them, and no snapshot went.
     */
    @Test void aFollowerWhosePreviousEntryWasPurgedIsAskedForTheSnapshotsLastEntryFirst() throws Exception {
        QueueGroup[] groups = joinAll("vhost/purged-previous/1");
        int leader = leaderOf(groups);
        int follower = (leader + 1) % 3;
        org.apache.ratis.server.RaftServer.Division division = node(leader).server().getDivision(groups[leader].groupId());
        org.apache.ratis.server.raftlog.RaftLog raftLog = division.getRaftLog();
        long finalKey = putUntilAPurgeEndsMidSegment(groups[leader], division);
        await().atMost(BOUND).until(() -> groups[follower].get(finalKey) != null);
        long reopened = node(follower).reopened();
        WarrenRpcType.Appender appender = sender(division, cluster.members().get(follower).id());
        long questions = appender.questions();
        long snapshots = appender.snapshotsForPurgedPrevious();
        org.apache.ratis.server.leader.FollowerInfo info = appender.getFollower();
        // no reply still on its way that would move the next index up again
        await().atMost(BOUND).until(() -> info.getMatchIndex() == raftLog.getNextIndex() - 1);
        // under the sender's own lock, as Ratis changes it: a request being built reads it twice
        try (org.apache.ratis.util.AutoCloseableLock ignored = senderLock(appender)) {
            info.setNextIndex(raftLog.getStartIndex());
        }
        for (int i = 1; i <= 3; i++) {
            join(groups[leader].put(finalKey + i, bytes("after" + i)));
        }
        await().atMost(BOUND).until(() -> groups[follower].get(finalKey + 3) != null);
        assertEquals("after3", new String(groups[follower].get(finalKey + 3), StandardCharsets.UTF_8));
        assertTrue(appender.questions() > questions, "the leader asked");
        assertEquals(snapshots, appender.snapshotsForPurgedPrevious(), "no snapshot went");
        assertEquals(reopened, node(follower).reopened(), "the follower's member was not closed");
    }

    /** Puts of 300 bytes (1 KiB segments, a snapshot every 20 entries here) until the log's first index is at or below its snapshot's; the last key. */
    private static long putUntilAPurgeEndsMidSegment(QueueGroup leader, org.apache.ratis.server.RaftServer.Division division)
            throws Exception {
        org.apache.ratis.server.raftlog.RaftLog raftLog = division.getRaftLog();
        byte[] value = new byte[300];
        long key = 0;
        while (true) {
            join(leader.put(++key, value));
            org.apache.ratis.statemachine.SnapshotInfo snapshot = division.getStateMachine().getLatestSnapshot();
            if (snapshot != null && raftLog.getStartIndex() > 1 && snapshot.getIndex() >= raftLog.getStartIndex()) {
                return key;
            }
            assertTrue(key < 500, "no purge ended mid-segment in 500 puts");
        }
    }

    /**
     * A leader's sender to a follower goes on after a round fails: the test moves the follower's
     * next index back without the sender's lock, as a reply handled on a gRPC thread does, while
     * puts run, until a request being built read two different next indexes and failed Ratis'
     * check that its entries follow its previous entry. Ratis 3.2.2 does not replace a sender that
     * failed ({@link WarrenRpcType.Appender#run}): without going on, the follower got nothing more
     * from that leader and the await for the last put failed (checked by hand).
     */
    @Test void aLeadersSenderThatFailsARoundGoesOn() throws Exception {
        QueueGroup[] groups = joinAll("vhost/sender-fails/1");
        int leader = leaderOf(groups);
        int follower = (leader + 1) % 3;
        join(groups[leader].put(0, bytes("first")));
        org.apache.ratis.server.RaftServer.Division division = node(leader).server().getDivision(groups[leader].groupId());
        org.apache.ratis.server.raftlog.RaftLog raftLog = division.getRaftLog();
        WarrenRpcType.Appender sender = sender(division, cluster.members().get(follower).id());
        org.apache.ratis.server.leader.FollowerInfo info = sender.getFollower();
        long before = sender.failuresSurvived();
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.atomic.AtomicLong key = new java.util.concurrent.atomic.AtomicLong();
        java.util.concurrent.atomic.AtomicReference<Exception> putFailed = new java.util.concurrent.atomic.AtomicReference<>();
        Thread putter = new Thread(() -> {
            byte[] value = new byte[300];
            while (!stop.get() && putFailed.get() == null) {
                try {
                    join(groups[leader].put(key.incrementAndGet(), value));
                } catch (Exception e) {
                    putFailed.set(e);
                }
            }
        }, "putter");
        putter.start();
        try {
            long deadline = System.nanoTime() + Duration.ofSeconds(8).toNanos();
            while (sender.failuresSurvived() == before && System.nanoTime() < deadline) {
                info.setNextIndex(Math.max(raftLog.getStartIndex(), info.getNextIndex() - 3));
                Thread.sleep(1);
            }
        } finally {
            stop.set(true);
            putter.join();
        }
        assertNull(putFailed.get(), "puts went on");
        long last = key.get() + 1;
        join(groups[leader].put(last, bytes("last")));
        await().atMost(BOUND).until(() -> groups[follower].get(last) != null);
        assertEquals("last", new String(groups[follower].get(last), StandardCharsets.UTF_8));
        assertTrue(sender.failuresSurvived() > before, "a round of this sender failed within 8 s");
    }

    /** The write lock under which Ratis' gRPC sender builds requests and changes its follower's next index. */
    private static org.apache.ratis.util.AutoCloseableLock senderLock(WarrenRpcType.Appender appender)
            throws Exception {
        java.lang.reflect.Field f = org.apache.ratis.grpc.server.GrpcLogAppender.class.getDeclaredField("lock");
        f.setAccessible(true);
        return ((org.apache.ratis.util.AutoCloseableReadWriteLock) f.get(appender)).writeLock(null, message -> { });
    }

    /**
     * A member restarts from a log whose open segment holds the largest entry a put makes, as a
     * kill -9 leaves it (the segment file preallocated past its last entry, zeros). Ratis' segment
     * reader grows its buffer by doubling and, at the zeros that end such a segment, reads a whole
     * buffer beyond a mark it set for one entry at most: once an entry past the largest power of two
     * below Ratis' entry limit had grown the buffer to that limit, the mark was gone and the start
     * failed ("Resetting to invalid mark"; the cluster soak's node 3 could not restart after a
     * kill -9). Records are capped so that no entry passes 1 MiB ({@link RaftSettings#MAX_RECORD_BYTES}).
     */
    @Test void aMemberRestartsFromAnOpenSegmentHoldingTheLargestEntry() throws Exception {
        // a group of one on a node of its own, with the default 4 MiB segments (this class's are
        // 1 KiB: every large entry would sit in a segment of its own)
        TestCluster solo = new TestCluster(1, dir.resolve("largest-entry"), RaftSettings.DEFAULT).startAll();
        try {
            QueueGroup g = solo.member(0).node().joinQueueGroup("vhost/largest-entry/1", solo.members());
            await().atMost(BOUND).until(g::isLeader);
            byte[] largest = new byte[QueueGroup.MAX_RECORD_BYTES - 1 - 8]; // one put record: type, key, value
            new java.util.Random(3).nextBytes(largest);
            join(g.put(1, largest));
            join(g.put(2, bytes("small")));
            String group = g.groupId().getUuid().toString();
            solo.stop(0);
            // the open segment as a kill -9 leaves it: preallocated zeros after its last entry
            Path current = solo.storageDir(0).resolve(group).resolve("current");
            List<Path> open;
            try (var files = Files.list(current)) {
                open = files.filter(f -> f.getFileName().toString().startsWith("log_inprogress_")).toList();
            }
            assertEquals(1, open.size(), "one open segment in " + current);
            long size = Files.size(open.get(0));
            try (var channel = java.nio.channels.FileChannel.open(open.get(0), java.nio.file.StandardOpenOption.WRITE)) {
                channel.write(java.nio.ByteBuffer.allocate(2 << 20), size);
            }
            solo.start(0);
            QueueGroup again = solo.member(0).node().joinQueueGroup("vhost/largest-entry/1", solo.members());
            await().atMost(BOUND).until(() -> again.get(2) != null);
            assertArrayEquals(largest, again.get(1), "the largest entry read back at the restart");
        } finally {
            if (solo.member(0) != null) {
                solo.stop(0);
            }
        }
    }
}
