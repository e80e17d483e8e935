package io.warren.store.journal;

import io.warren.core.store.MessageStore.Durable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentNavigableMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32C;

/**
 * The group-commit loop, on the one thread "warren-store-committer": wake on the first pending
 * write, take everything pending, write it as ONE journal frame (new batches, removes, and
 * compaction copies), force once, then install the new state and complete every waiting
 * callback. Frame payload:
 * <pre>
 * payload := int batchCount | (int recordLength | record)*          (record: {@link BatchRecord})
 *            | int groupCount | (long batchId | int n | int slot * n)*
 * </pre>
 * A batch record of an id already known (a compaction copy) moves that batch; the remove groups
 * apply after the frame's records, so a copy carries its whole removed bitmap as one group.
 *
 * <p>Owner: the committer thread owns the journal writes, the bitmaps in {@link BatchState}
 * and the segment counters; {@code batches} is shared with the reader, which only looks up
 * locations.
 */
final class Committer implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(Committer.class);
    /** At most this many bytes of compaction copies ride on one commit (at least one batch). */
    static final long COPY_BUDGET = 8 << 20;

    private final String name;
    private final Journal journal;
    private final ConcurrentNavigableMap<Long, BatchState> batches;
    private final PendingWork pending;
    private final AtomicLong commits = new AtomicLong();
    private final AtomicLong copiedBatches = new AtomicLong();
    private final AtomicLong emptyCommits = new AtomicLong();
    /** Compaction starts when the oldest segment's live record bytes fall below this share of it (of a full segment at least). */
    private final double compactBelow;
    /** Highest batch id whose commit has finished (ok or failed): loads above it wait for a commit. */
    private volatile long committedThrough;
    /** Test hook, run just before the frame is written; may throw to simulate a failing disk. */
    volatile Runnable beforeCommit;
    private ByteBuffer frameBuffer = ByteBuffer.allocateDirect(1 << 20);

    Committer(String name, Journal journal, ConcurrentNavigableMap<Long, BatchState> batches, PendingWork pending,
              long committedThrough, double compactBelow) {
        this.name = name;
        this.journal = journal;
        this.batches = batches;
        this.pending = pending;
        this.committedThrough = committedThrough;
        this.compactBelow = compactBelow;
    }

    long commits() {
        return commits.get();
    }

    long copiedBatches() {
        return copiedBatches.get();
    }

    /** Commits that had nothing to write: every new message acked before it, nothing else changed. */
    long emptyCommits() {
        return emptyCommits.get();
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
                log.error("message store {}: unexpected committer failure", name, t);
            } finally {
                // Written or failed, its bytes are no longer waiting: publishers paused on the
                // backlog may resume.
                pending.committed(take.bytes());
            }
        }
    }

    /** One batch's bitmap as this commit will leave it. */
    private static final class Change {
        final long batchId;
        final PendingBatch fresh;   // set for a batch written by this commit
        final BatchState existing;  // set for a batch committed earlier
        final long[] base;          // removed bits already durable (all zero for a fresh batch)
        final long[] removed;
        int live;
        byte[] copy;                // compaction: the record rewritten at the head by this commit
        long recordOffset;          // where this commit wrote the record (fresh or copy)

        Change(PendingBatch fresh) {
            this.batchId = fresh.batchId;
            this.fresh = fresh;
            this.existing = null;
            this.removed = BatchState.emptyBitmap(fresh.slotCount);
            this.base = BatchState.emptyBitmap(fresh.slotCount);
            this.live = fresh.slotCount;
        }

        Change(BatchState existing) {
            this.batchId = existing.batchId;
            this.fresh = null;
            this.existing = existing;
            this.removed = existing.removedCopy();
            this.base = removed.clone();
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

        /** Slots this frame must list: new removes, or every removed slot for a batch written by this frame. */
        int[] slotsToLog() {
            boolean whole = fresh != null || copy != null;
            int n = 0;
            for (int w = 0; w < removed.length; w++) {
                n += Long.bitCount(whole ? removed[w] : removed[w] & ~base[w]);
            }
            int[] out = new int[n];
            int k = 0;
            for (int w = 0; w < removed.length; w++) {
                long bits = whole ? removed[w] : removed[w] & ~base[w];
                while (bits != 0) {
                    out[k++] = w * 64 + Long.numberOfTrailingZeros(bits);
                    bits &= bits - 1;
                }
            }
            return out;
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
            log.debug("message store {}: {} removes of unknown refs ignored", name, unknown);
        }
        long maxFresh = take.batches().isEmpty() ? committedThrough : take.batches().get(take.batches().size() - 1).batchId;
        List<Change> copies = compactionCopies(touched);
        Segment head;
        try {
            Runnable hook = beforeCommit;
            if (hook != null) {
                hook.run();
            }
            journal.rollIfFull(maxFresh + 1);
            head = journal.head();
            ByteBuffer frame = frame(fresh.values(), touched.values(), copies);
            // Nothing to write when every new message was acked before its commit (a consumer
            // with auto-ack took it at once) and no older one changed: its confirm needs no
            // fsync, as in RabbitMQ, and every earlier frame is already forced.
            boolean empty = frame.remaining() == Journal.FRAME_HEADER + Journal.MIN_PAYLOAD;
            long start = empty ? 0 : journal.write(frame);
            if (empty) {
                emptyCommits.incrementAndGet();
            }
            for (Change c : fresh.values()) {
                c.recordOffset += start;
            }
            for (Change c : copies) {
                c.recordOffset += start;
            }
        } catch (Throwable failure) {
            log.error("message store {}: commit failed, its new batches are dropped and their publishers told", name,
                    failure);
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
                        name, n);
            }
            committedThrough = maxFresh;
            complete(take.waiters(), failure);
            return;
        }
        // Durable: install the new state.
        for (Change c : fresh.values()) {
            if (c.live > 0) {
                int len = (int) c.fresh.recordLength();
                batches.put(c.batchId, new BatchState(c.batchId, c.fresh.slotCount, c.removed,
                        new BatchState.Location(head, c.recordOffset, len)));
                head.liveBatches++;
                head.liveBytes += len;
            }
        }
        for (Change c : touched.values()) {
            BatchState.Location old = c.existing.location();
            if (c.live == 0) {
                batches.remove(c.batchId);
                old.segment().liveBatches--;
                old.segment().liveBytes -= old.length();
            } else {
                c.existing.install(c.removed, c.live);
                if (c.copy != null) {
                    old.segment().liveBatches--;
                    old.segment().liveBytes -= old.length();
                    c.existing.moveTo(new BatchState.Location(head, c.recordOffset, old.length()));
                    head.liveBatches++;
                    head.liveBytes += old.length();
                    copiedBatches.incrementAndGet();
                }
            }
        }
        committedThrough = maxFresh;
        commits.incrementAndGet();
        complete(take.waiters(), null);
        // Only now that the copies are durable may the segments they came from go.
        int deleted = journal.deleteDeadSegments();
        if (deleted > 0) {
            log.debug("message store {}: {} dead segments deleted", name, deleted);
        }
    }

    /**
     * When the oldest segment is mostly dead and not the head, its live batches are copied to
     * the head by this commit (same batch id, current bitmap: refs stay valid), so one long
     * unacked message cannot pin every segment behind it.
     */
    private List<Change> compactionCopies(Map<Long, Change> touched) {
        List<Change> copies = new ArrayList<>();
        if (journal.segmentCount() < 2) {
            return copies;
        }
        Segment oldest = journal.oldest();
        // Measured against at least a full segment: a short one (rolled early onto a preallocated
        // spare) that holds one long-lived message must still move, or nothing behind it is deleted.
        long span = Math.max(oldest.end, journal.segmentTarget) - Journal.HEADER;
        if (oldest == journal.head() || oldest.liveBatches == 0 || oldest.liveBytes >= compactBelow * span) {
            return copies;
        }
        long bytes = 0;
        for (BatchState st : batches.values()) {
            BatchState.Location loc = st.location();
            if (loc.segment() != oldest) {
                continue;
            }
            Change c = touched.get(st.batchId);
            if (c != null && c.live == 0) {
                continue; // dies with this commit anyway
            }
            if (!copies.isEmpty() && bytes + loc.length() > COPY_BUDGET) {
                break;
            }
            byte[] rec;
            try {
                rec = oldest.read(loc.offset(), loc.length());
                BatchRecord.parse(rec, st.batchId);
            } catch (Exception e) {
                log.error("message store {}: cannot copy batch {} out of {} for compaction; the segment stays", name,
                        st.batchId, oldest.path, e);
                return copies;
            }
            if (c == null) {
                c = new Change(st);
                touched.put(st.batchId, c);
            }
            c.copy = rec;
            copies.add(c);
            bytes += rec.length;
        }
        return copies;
    }

    /** Builds the frame; sets each written record's offset relative to the frame's start. */
    private ByteBuffer frame(Iterable<Change> fresh, Iterable<Change> touched, List<Change> copies) {
        long size = Journal.FRAME_HEADER + 4L + 4L;
        int batchCount = 0;
        List<Change> groups = new ArrayList<>();
        List<int[]> groupSlots = new ArrayList<>();
        for (Change c : fresh) {
            if (c.live > 0) {
                size += 4 + c.fresh.recordLength();
                batchCount++;
            }
        }
        for (Change c : copies) {
            size += 4 + c.copy.length;
            batchCount++;
        }
        for (Iterable<Change> it : List.of(fresh, touched)) {
            for (Change c : it) {
                if (c.fresh != null && c.live == 0) {
                    continue; // every slot acked before it reached the disk: nothing to write
                }
                int[] slots = c.slotsToLog();
                if (slots.length > 0) {
                    groups.add(c);
                    groupSlots.add(slots);
                    size += 12 + 4L * slots.length;
                }
            }
        }
        if (size > Integer.MAX_VALUE - 64) {
            throw new IllegalStateException("commit of " + size + " bytes is too large for one frame");
        }
        if (frameBuffer.capacity() < size) {
            frameBuffer = ByteBuffer.allocateDirect((int) Math.min(Integer.MAX_VALUE - 64, Math.max(size, frameBuffer.capacity() * 2L)));
        }
        ByteBuffer b = frameBuffer.clear();
        b.putInt(Journal.FRAME_MAGIC).putInt((int) size - Journal.FRAME_HEADER).putInt(0);
        b.putInt(batchCount);
        for (Change c : fresh) {
            if (c.live > 0) {
                b.putInt((int) c.fresh.recordLength());
                c.recordOffset = b.position();
                c.fresh.writeRecord(b);
            }
        }
        for (Change c : copies) {
            b.putInt(c.copy.length);
            c.recordOffset = b.position();
            b.put(c.copy);
        }
        b.putInt(groups.size());
        for (int i = 0; i < groups.size(); i++) {
            int[] slots = groupSlots.get(i);
            b.putLong(groups.get(i).batchId).putInt(slots.length);
            for (int s : slots) {
                b.putInt(s);
            }
        }
        if (b.position() != size) {
            throw new IllegalStateException("frame size mismatch: " + b.position() + " != " + size);
        }
        b.flip();
        CRC32C crc = new CRC32C();
        crc.update(b.duplicate().position(Journal.FRAME_HEADER));
        b.putInt(8, (int) crc.getValue());
        // A rare huge commit must not pin its buffer for ever.
        ByteBuffer out = b;
        if (frameBuffer.capacity() > 64 << 20) {
            frameBuffer = ByteBuffer.allocateDirect(1 << 20);
        }
        return out;
    }

    private void complete(List<Durable> waiters, Throwable failure) {
        for (Durable d : waiters) {
            try {
                d.done(failure);
            } catch (Throwable t) {
                // A broken callback must not stop the others, nor the committer.
                log.warn("message store {}: durable callback threw", name, t);
            }
        }
    }
}
