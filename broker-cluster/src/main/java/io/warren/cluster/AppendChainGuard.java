package io.warren.cluster;

import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.server.RaftServer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.lang.reflect.Field;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Keeps one failed log append on a follower from failing every append after it, and a member
 * that Ratis closed after a failure from staying closed.
 *
 * <p>Ratis 3.2.2 (and its master as of 2026-12) chains a follower's log appends, one per
 * AppendEntries request, on a single future ({@code RaftServerImpl.appendLogTermIndices}, on by
 * default: {@code raft.server.log.append-entries.compose.enabled}) so that they run one at a
 * time and in order. Each append is composed on the one before it, so once one append fails,
 * every later append of that member fails with the same exception, for as long as the server
 * runs: the member answers every AppendEntries with that error and never takes another entry.
 * The cluster soak met it (2026-12-04, {@code SOAK_LARGE_EVERY=100}): a lagging follower installed
 * the leader's snapshot while an append of entries from before that snapshot still waited in the
 * chain; that append failed its check ("Difference between entry index and RaftLog's latest
 * snapshot index ... is greater than 1"), and from then on the member was lost to its queue,
 * so when another node died next the queue had no majority and confirmed nothing for minutes.
 *
 * <p>Turning the chaining off is no way out in 3.2.2: its other path runs each append on the
 * server's executor, out of order with the next request's consistency check, so pipelined
 * appends would be refused as inconsistent. Instead this guard looks at every division's chain
 * twice a second and, when the chain's last future failed, replaces it with a completed one (a
 * compare-and-set, so an append chained meanwhile is not lost; a failed future has no append
 * still waiting behind it). The failed append itself was already answered with its error, and
 * the leader resends from where this member really is, as after any failed append. It reaches
 * Ratis' private fields by reflection; should a Ratis version rename them, {@link #active()} is
 * false, one warning is logged, and QueueGroupTest's test of this guard fails.
 *
 * <p>The same look finds a division Ratis closed while the server runs (it closes one whose log
 * worker fails) and hands it to {@link RaftNode#reopen}, which opens it again from its storage.
 */
final class AppendChainGuard implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(AppendChainGuard.class);
    static final long PERIOD_MS = 500;

    private static final Field CHAIN_HOLDER;
    private static final Field CHAIN;

    static {
        Field holder = null;
        Field chain = null;
        try {
            holder = Class.forName("org.apache.ratis.server.impl.RaftServerImpl")
                    .getDeclaredField("appendLogTermIndices");
            holder.setAccessible(true);
            chain = Class.forName("org.apache.ratis.server.impl.ServerImplUtils$NavigableIndices")
                    .getDeclaredField("future");
            chain.setAccessible(true);
            if (chain.getType() != AtomicReference.class) {
                throw new NoSuchFieldException("NavigableIndices.future is a " + chain.getType());
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            log.warn("cannot guard Ratis' follower append chain ({}): a follower whose log append fails may take no "
                    + "further entry until it restarts", e.toString());
            holder = null;
            chain = null;
        }
        CHAIN_HOLDER = holder;
        CHAIN = chain;
    }

    private final RaftServer server;
    private final ScheduledExecutorService timer;
    private final AtomicLong cleared = new AtomicLong();

    /** Hears of a division Ratis closed while the server runs (see {@link RaftNode#reopen}). */
    private final java.util.function.Consumer<RaftGroupId> closedDivision;

    AppendChainGuard(RaftServer server, String name, java.util.function.Consumer<RaftGroupId> closedDivision) {
        this.server = server;
        this.closedDivision = closedDivision;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "warren-raft-append-guard-" + name);
            t.setDaemon(true);
            return t;
        });
        timer.scheduleWithFixedDelay(this::checkAll, PERIOD_MS, PERIOD_MS, TimeUnit.MILLISECONDS);
    }

    /** Whether this Ratis version has the fields this guard mends. */
    static boolean active() {
        return CHAIN != null;
    }

    /** How many failed chains this guard cleared. */
    long cleared() {
        return cleared.get();
    }

    private void checkAll() {
        try {
            for (RaftGroupId id : server.getGroupIds()) {
                try {
                    check(id, server.getDivision(id));
                } catch (IOException e) {
                    // the group was removed meanwhile
                }
            }
        } catch (RuntimeException e) {
            log.debug("append chain check failed: {}", e.toString());
        }
    }

    private void check(RaftGroupId id, RaftServer.Division division) {
        if (down(division) && server.getLifeCycleState() == org.apache.ratis.util.LifeCycle.State.RUNNING) {
            closedDivision.accept(id);
            return;
        }
        AtomicReference<CompletableFuture<Void>> chain = chainOf(division);
        if (chain == null) {
            return;
        }
        CompletableFuture<Void> last = chain.get();
        if (last.isCompletedExceptionally() && chain.compareAndSet(last, CompletableFuture.completedFuture(null))) {
            cleared.incrementAndGet();
            Throwable cause = last.handle((v, e) -> e).join();
            while (cause instanceof java.util.concurrent.CompletionException && cause.getCause() != null) {
                cause = cause.getCause();
            }
            String message = String.valueOf(cause);
            log.warn("group {} on {}: a failed log append had stopped every later one on this member (Ratis' chained "
                    + "appends); cleared, so the leader's next append goes through. It failed with: {}", id,
                    division.getId(), message.length() > 300 ? message.substring(0, 300) + "..." : message);
        }
    }

    /** Whether Ratis closed {@code division} (or is closing it), or it failed. */
    static boolean down(RaftServer.Division division) {
        org.apache.ratis.util.LifeCycle.State st = division.getInfo().getLifeCycleState();
        return st.isClosingOrClosed() || st == org.apache.ratis.util.LifeCycle.State.EXCEPTION;
    }

    /** The division's append chain, or null (chaining off, or no such field in this Ratis). */
    @SuppressWarnings("unchecked")
    static AtomicReference<CompletableFuture<Void>> chainOf(RaftServer.Division division) {
        if (!active()) {
            return null;
        }
        try {
            Object holder = CHAIN_HOLDER.get(division);
            return holder == null ? null : (AtomicReference<CompletableFuture<Void>>) CHAIN.get(holder);
        } catch (IllegalAccessException | IllegalArgumentException e) {
            return null;
        }
    }

    @Override public void close() {
        timer.shutdownNow();
    }
}
