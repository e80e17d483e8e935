package io.warren.cluster;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;

/**
 * Three in-process nodes (loopback, temp dirs) for the quorum queue group tests, beside the metadata
 * group: one cluster serves every test of a class (starting three nodes and their first TLS channels
 * costs seconds); each test uses its own group names, and finds all three nodes running. The tests are
 * in two classes ({@link QueueGroupTest}, {@link QueueGroupSnapshotTest}) so that two test JVMs run
 * them side by side: they mostly wait for elections, stops and timeouts.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class QueueGroupCluster {
    static final Duration BOUND = Duration.ofSeconds(15);

    @TempDir static Path dir;
    TestCluster cluster;

    @BeforeAll void startCluster() throws Exception {
        // Elections within 0.5 to 1 s (the default's 1 to 2 s, times six new groups and a
        // fail-over, would double this class's time); a snapshot every 20 entries and 1 KiB
        // segments, so that a member that misses 60 entries can only catch up by the leader's snapshot.
        RaftSettings d = RaftSettings.DEFAULT;
        RaftSettings settings = new RaftSettings(Duration.ofMillis(500), Duration.ofMillis(1000), d.requestTimeout(),
                d.retryInterval(), d.submitTimeout(), 20, 1024);
        cluster = new TestCluster(3, dir, settings).startAll();
    }

    @BeforeEach void everyNodeRuns() throws Exception {
        for (int i = 0; i < 3; i++) {
            if (cluster.member(i) == null) {
                cluster.start(i);
            }
        }
    }

    @AfterAll void stop() {
        // In parallel: a Ratis server takes about a second to stop.
        if (cluster != null) {
            for (CompletableFuture<Void> f : java.util.stream.IntStream.range(0, 3)
                    .mapToObj(i -> CompletableFuture.runAsync(() -> {
                        if (cluster.member(i) != null) {
                            cluster.stop(i);
                        }
                    })).toList()) {
                f.join();
            }
        }
    }

    /** What a listener heard, as strings: "index key value local", "ready", "lost X", "restored N". */
    static final class Recorder implements QueueGroup.Listener {
        final List<String> applied = Collections.synchronizedList(new ArrayList<>());
        final List<String> events = Collections.synchronizedList(new ArrayList<>());

        @Override public void applied(long index, long key, byte[] value, boolean local) {
            applied.add(index + " " + key + " " + (value == null ? "-" : new String(value, StandardCharsets.UTF_8))
                    + " " + local);
        }

        @Override public void restored(long index) {
            events.add("restored " + index);
        }

        @Override public void leaderReady() {
            events.add("ready");
        }

        @Override public void leaderLost(String newLeaderId) {
            events.add("lost " + newLeaderId);
        }

        /** The applied calls without the local flag: the same on every member. */
        List<String> sequence() {
            synchronized (applied) {
                return applied.stream().map(s -> s.substring(0, s.lastIndexOf(' '))).toList();
            }
        }

        String lastEvent() {
            synchronized (events) {
                return events.isEmpty() ? null : events.get(events.size() - 1);
            }
        }
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static long join(CompletableFuture<Long> f) throws Exception {
        return f.get(BOUND.toSeconds(), TimeUnit.SECONDS);
    }

    static Map<Long, String> asMap(List<Map.Entry<Long, byte[]>> entries) {
        Map<Long, String> m = new LinkedHashMap<>();
        entries.forEach(e -> m.put(e.getKey(), new String(e.getValue(), StandardCharsets.UTF_8)));
        return m;
    }

    RaftNode node(int i) {
        return cluster.member(i).node();
    }

    QueueGroup[] joinAll(String name) throws Exception {
        QueueGroup[] groups = new QueueGroup[3];
        for (int i = 0; i < 3; i++) {
            groups[i] = node(i).joinQueueGroup(name, cluster.members());
        }
        return groups;
    }

    static int leaderOf(QueueGroup[] groups) {
        await().atMost(BOUND).until(() -> java.util.Arrays.stream(groups).anyMatch(g -> g != null && g.isLeader()));
        for (int i = 0; i < groups.length; i++) {
            if (groups[i] != null && groups[i].isLeader()) {
                return i;
            }
        }
        throw new AssertionError("no leader");
    }

    /** A check of one member ({@code i}: its node). */
    @FunctionalInterface
    interface MemberCheck {
        void check(int i, QueueGroup g) throws Exception;
    }

    /** Runs {@code check} on each member of {@code groups} (null: stopped) once it has applied {@code index}. */
    static void onEachMember(QueueGroup[] groups, long index, MemberCheck check) throws Exception {
        for (int i = 0; i < groups.length; i++) {
            QueueGroup g = groups[i];
            if (g != null) {
                await().atMost(BOUND).until(() -> g.appliedIndex() >= index);
                check.check(i, g);
            }
        }
    }

    /** The leader's sender to one follower (Ratis keeps them in package-private classes: reflection, for these tests). */
    static WarrenRpcType.Appender sender(org.apache.ratis.server.RaftServer.Division leader, String followerId)
            throws Exception {
        java.lang.reflect.Method getRole = leader.getClass().getDeclaredMethod("getRole");
        getRole.setAccessible(true);
        Object role = getRole.invoke(leader);
        java.lang.reflect.Method getLeaderState = role.getClass().getDeclaredMethod("getLeaderState");
        getLeaderState.setAccessible(true);
        Object state = ((java.util.Optional<?>) getLeaderState.invoke(role)).orElseThrow();
        java.lang.reflect.Method getLogAppenders = state.getClass().getDeclaredMethod("getLogAppenders");
        getLogAppenders.setAccessible(true);
        @SuppressWarnings("unchecked")
        java.util.stream.Stream<org.apache.ratis.server.leader.LogAppender> appenders =
                (java.util.stream.Stream<org.apache.ratis.server.leader.LogAppender>) getLogAppenders.invoke(state);
        return (WarrenRpcType.Appender) appenders.filter(a -> a.getFollowerId().toString().equals(followerId))
                .findFirst().orElseThrow();
    }
}
