package io.warren.server.cluster;

import io.warren.store.definitions.ReplicatedDefinitionStore;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * Tells when the other nodes have applied the metadata log up to an index: a topology
 * reply waits for it, so that a client's next step through any node finds what the reply
 * confirmed. Each node is asked one question at a time, for the highest index waited for, so a
 * burst of declares costs one round trip per node, not one per declare. Every other node of
 * the cluster is asked, also one the probes last found down (they run every few seconds: a node
 * back from a restart or a partition serves clients before they find it up), but that one for
 * {@value #DOWN_NODE_WAIT_MS} ms at most (a node that is down refuses at once). A node that
 * cannot be asked (down, cut off, stopped) is not waited for; one that answers "not yet" (each
 * answer waits about a second for the apply) is asked again, for up to
 * {@value #SLOW_NODE_WAIT_MS} ms. Before, only the nodes found up were asked, once: a slow node,
 * or one not yet found up again, had not got a queue when a publisher, told declare-ok,
 * published to it there, and the messages, routed nowhere, were confirmed and dropped (the
 * cluster test lost 160 confirmed messages so).
 */
final class AppliedEverywhere implements ReplicatedDefinitionStore.Spread {
    /** Asks a node whether it applied the log up to an index (MetadataGroup#applied). */
    @FunctionalInterface
    interface Asker {
        /** True once applied, false after about a second without; fails when the node cannot be asked. */
        CompletableFuture<Boolean> applied(String memberId, long index);
    }

    private final Asker group;
    /** The Raft member ids of the other nodes of the cluster. */
    private final Supplier<List<String>> others;
    /** Whether the probes last found the node with this member id up. */
    private final java.util.function.Predicate<String> up;
    private final Map<String, Peer> peers = new ConcurrentHashMap<>();
    /** How long a node that answers "not yet" is waited for. */
    static final long SLOW_NODE_WAIT_MS = 10_000;
    /** How long a node the probes found down is waited for, unless it answers. */
    static final long DOWN_NODE_WAIT_MS = 1_500;

    AppliedEverywhere(Asker group, Supplier<List<String>> others, java.util.function.Predicate<String> up) {
        this.group = group;
        this.others = others;
        this.up = up;
    }

    @Override public CompletableFuture<?> appliedEverywhere(long index) {
        List<String> ids = others.get();
        if (ids.isEmpty()) {
            return CompletableFuture.completedFuture(null);
        }
        List<CompletableFuture<Void>> all = new ArrayList<>(ids.size());
        for (String id : ids) {
            all.add(peers.computeIfAbsent(id, Peer::new).await(index));
        }
        return CompletableFuture.allOf(all.toArray(CompletableFuture[]::new));
    }

    private final class Peer {
        private final String id;
        /** Index -> who waits for it. Guarded by this. */
        private final NavigableMap<Long, CompletableFuture<Void>> waiting = new TreeMap<>();
        private boolean asking;
        /** The highest index this node answered for (yes, or given up on). */
        private long answered;

        Peer(String id) {
            this.id = id;
        }

        synchronized CompletableFuture<Void> await(long index) {
            if (index <= answered) {
                return CompletableFuture.completedFuture(null);
            }
            CompletableFuture<Void> f = waiting.computeIfAbsent(index, i -> new CompletableFuture<>());
            if (!asking) {
                askNext();
            }
            return f;
        }

        /** Holding the lock: asks for the highest index waited for. */
        private void askNext() {
            ask(waiting.lastKey(), System.nanoTime() + java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(
                    SLOW_NODE_WAIT_MS));
        }

        private void ask(long target, long deadline) {
            asking = true;
            CompletableFuture<Boolean> answer = group.applied(id, target);
            if (!up.test(id)) {
                answer = answer.orTimeout(DOWN_NODE_WAIT_MS, java.util.concurrent.TimeUnit.MILLISECONDS);
            }
            answer.whenComplete((yes, e) -> {
                if (e == null && !yes && System.nanoTime() - deadline < 0 && others.get().contains(id)) {
                    // again a little later (a "no" that came at once must not spin), for the highest index then
                    CompletableFuture.delayedExecutor(100, java.util.concurrent.TimeUnit.MILLISECONDS).execute(() -> {
                        synchronized (this) {
                            ask(Math.max(target, waiting.isEmpty() ? target : waiting.lastKey()), deadline);
                        }
                    });
                } else {
                    answered(target);
                }
            });
        }

        private void answered(long target) {
            List<CompletableFuture<Void>> done;
            synchronized (this) {
                answered = Math.max(answered, target);
                NavigableMap<Long, CompletableFuture<Void>> due = waiting.headMap(target, true);
                done = new ArrayList<>(due.values());
                due.clear();
                asking = false;
                if (!waiting.isEmpty()) {
                    askNext();
                }
            }
            done.forEach(f -> f.complete(null));
        }
    }
}
