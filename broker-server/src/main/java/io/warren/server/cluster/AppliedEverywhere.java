package io.warren.server.cluster;

import io.warren.cluster.MetadataGroup;
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
 * Tells when the other running nodes have applied the metadata log up to an index: a topology
 * reply waits for it, so that a client's next step through any node finds what the reply
 * confirmed. Each node is asked one question at a time, for the highest index waited for, so a
 * burst of declares costs one round trip per node, not one per declare. A node that does not
 * answer yes within about a second (slow, cut off, just gone) is not waited for longer.
 */
final class AppliedEverywhere implements ReplicatedDefinitionStore.Spread {
    private final MetadataGroup group;
    /** The Raft member ids of the other nodes that are up now. */
    private final Supplier<List<String>> others;
    private final Map<String, Peer> peers = new ConcurrentHashMap<>();

    AppliedEverywhere(MetadataGroup group, Supplier<List<String>> others) {
        this.group = group;
        this.others = others;
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
            long target = waiting.lastKey();
            asking = true;
            group.applied(id, target).whenComplete((yes, e) -> answered(target));
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
