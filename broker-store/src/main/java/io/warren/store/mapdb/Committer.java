package io.warren.store.mapdb;

import io.warren.core.store.MessageStore.Durable;
import org.mapdb.BTreeMap;
import org.mapdb.DB;
import org.mapdb.Serializer;
import org.mapdb.Store;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The group-commit loop, on the one thread "warren-store-committer": wake on the first
 * pending write, take everything pending, write each new batch as one record, apply the
 * removes to the batch bitmaps, commit once, then complete every waiting callback.
 *
 * <p>Owner: the committer thread owns the MapDB writes and the bitmaps in {@link BatchState};
 * {@code batches} is shared with the reader, which only looks up recids.
 */
final class Committer implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(Committer.class);

    private final String fileName;
    private final DB db;
    private final Store store;
    private final BTreeMap<Long, byte[]> index;
    private final ConcurrentMap<Long, BatchState> batches;
    private final PendingWork pending;
    private final AtomicLong commits = new AtomicLong();
    /** Highest batch id whose commit has finished (ok or failed): loads above it wait for a commit. */
    private volatile long committedThrough;
    /** Test hook, run just before {@code db.commit()}; may throw to simulate a failing disk. */
    volatile Runnable beforeCommit;

    Committer(String fileName, DB db, BTreeMap<Long, byte[]> index, ConcurrentMap<Long, BatchState> batches,
              PendingWork pending, long committedThrough) {
        this.fileName = fileName;
        this.db = db;
        this.store = db.getStore();
        this.index = index;
        this.batches = batches;
        this.pending = pending;
        this.committedThrough = committedThrough;
    }

    long commits() {
        return commits.get();
    }

    long committedThrough() {
        return committedThrough;
    }

    @Override
    public void run() {
        PendingWork.Take take;
        while ((take = pending.await()) != null) {
            try {
                commit(take);
            } catch (Throwable t) {
                // commit() already reports to the callbacks; this keeps the thread alive regardless.
                log.error("message store {}: unexpected committer failure", fileName, t);
            }
        }
    }

    /** One batch's bitmap as this commit will leave it. */
    private static final class Change {
        final long batchId;
        final PendingBatch fresh;   // set for a batch written by this commit
        final BatchState existing;  // set for a batch committed earlier
        final long[] removed;
        int live;

        Change(PendingBatch fresh) {
            this.batchId = fresh.batchId;
            this.fresh = fresh;
            this.existing = null;
            this.removed = BatchState.emptyBitmap(fresh.slotCount);
            this.live = fresh.slotCount;
        }

        Change(BatchState existing) {
            this.batchId = existing.batchId;
            this.fresh = null;
            this.existing = existing;
            this.removed = existing.removedCopy();
            this.live = existing.live();
        }

        int slotCount() {
            return fresh != null ? fresh.slotCount : existing.slotCount;
        }

        void remove(int slot) {
            if (slot < slotCount() && !BatchState.isSet(removed, slot)) {
                removed[slot >>> 6] |= 1L << slot;
                live--;
            }
        }
    }

    private void commit(PendingWork.Take take) {
        if (!take.writes()) {
            // Only syncs: every earlier write was committed (or failed) by an earlier take.
            complete(take.waiters(), null);
            return;
        }
        Map<Long, Change> fresh = new LinkedHashMap<>();
        for (PendingBatch b : take.batches()) {
            fresh.put(b.batchId, new Change(b));
        }
        Map<Long, Change> touched = new HashMap<>();
        int unknown = 0;
        for (int i = 0; i < take.removeCount(); i++) {
            long ref = take.removes()[i];
            long id = Refs.batchId(ref);
            Change c = fresh.get(id);
            if (c == null) {
                c = touched.get(id);
            }
            if (c == null) {
                BatchState st = batches.get(id);
                if (st == null) {
                    unknown++;
                    continue;
                }
                c = new Change(st);
                touched.put(id, c);
            }
            c.remove(Refs.slot(ref));
        }
        if (unknown > 0) {
            log.debug("message store {}: {} removes of unknown refs ignored", fileName, unknown);
        }
        long maxFresh = take.batches().isEmpty() ? committedThrough : take.batches().get(take.batches().size() - 1).batchId;
        List<BatchState> created = new ArrayList<>();
        try {
            for (Change c : fresh.values()) {
                if (c.live == 0) {
                    continue; // every slot acked before it reached the disk: nothing to write
                }
                long recid = store.put(c.fresh, PendingBatch.SERIALIZER);
                index.put(c.batchId, BatchState.entry(recid, c.fresh.slotCount, c.removed));
                created.add(new BatchState(c.batchId, recid, c.fresh.slotCount, c.removed));
            }
            for (Change c : touched.values()) {
                if (c.live == 0) {
                    store.delete(c.existing.recid, Serializer.BYTE_ARRAY_NOSIZE);
                    index.remove(c.batchId);
                } else {
                    index.put(c.batchId, BatchState.entry(c.existing.recid, c.existing.slotCount, c.removed));
                }
            }
            Runnable hook = beforeCommit;
            if (hook != null) {
                hook.run();
            }
            db.commit();
        } catch (Throwable failure) {
            rollback(failure);
            // Removes of older batches are retried by the next commit; the new batches are gone
            // and their publishers learn it from the callbacks below.
            long[] retry = new long[take.removeCount()];
            int n = 0;
            for (int i = 0; i < take.removeCount(); i++) {
                if (!fresh.containsKey(Refs.batchId(take.removes()[i]))) {
                    retry[n++] = take.removes()[i];
                }
            }
            if (!pending.requeueRemoves(retry, n) && n > 0) {
                log.warn("message store {} closing: {} removes dropped after the failed commit (redelivered at restart)",
                        fileName, n);
            }
            committedThrough = maxFresh;
            complete(take.waiters(), failure);
            return;
        }
        for (BatchState st : created) {
            batches.put(st.batchId, st);
        }
        for (Change c : touched.values()) {
            if (c.live == 0) {
                batches.remove(c.batchId);
            } else {
                c.existing.install(c.removed, c.live);
            }
        }
        committedThrough = maxFresh;
        commits.incrementAndGet();
        complete(take.waiters(), null);
    }

    private void rollback(Throwable failure) {
        log.error("message store {}: commit failed, rolling back the batch", fileName, failure);
        try {
            db.rollback();
        } catch (Throwable t) {
            failure.addSuppressed(t);
            log.error("message store {}: rollback failed too", fileName, t);
        }
    }

    private void complete(List<Durable> waiters, Throwable failure) {
        for (Durable d : waiters) {
            try {
                d.done(failure);
            } catch (Throwable t) {
                // A broken callback must not stop the others, nor the committer.
                log.warn("message store {}: durable callback threw", fileName, t);
            }
        }
    }
}
