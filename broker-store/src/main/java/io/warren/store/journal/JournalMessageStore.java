package io.warren.store.journal;

import io.netty.buffer.ByteBuf;
import io.warren.core.store.MessageStore;
import io.warren.core.store.StoreException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentNavigableMap;
import java.util.concurrent.ConcurrentSkipListMap;

/**
 * A crash-safe {@link MessageStore}: an append-only journal of segment files under
 * {@code <dataDir>/journal/} written by group commit, one CRC-checked frame and one
 * {@code force} per commit (see {@link Journal}, {@link Committer}). Nothing is ever
 * overwritten in place: a crash can only leave a torn last frame, which the next open cuts off.
 *
 * <p>Memory: per batch with a live slot, its location and removed-slot bitmap; bodies stay on
 * disk. Space: segments are deleted oldest first once nothing live remains in them; a mostly
 * dead oldest segment has its live batches copied to the head (same batch id, refs stay valid)
 * so one long-unacked message cannot pin the journal.
 *
 * <p>Threads: callers (any thread, typically event loops) only encode and enqueue;
 * "warren-store-committer" writes and forces; "warren-store-reader" serves loads. Only
 * {@link #open}, {@link #recover} and {@link #close} block their caller on the disk.
 */
public final class JournalMessageStore implements MessageStore {
    private static final Logger log = LoggerFactory.getLogger(JournalMessageStore.class);
    public static final long DEFAULT_SEGMENT_SIZE = 64L << 20;
    public static final double DEFAULT_COMPACT_BELOW = 0.25;
    /**
     * Bytes of appended, not yet committed messages past which the store reports itself
     * {@link #overloaded()} so publishers pause (it resumes them at half of it). 64 MiB: a
     * commit of that size takes ~0.1-0.3 s at 200-500 MB/s, which bounds what the backlog adds
     * to confirm latency; the encoded copies it holds are 6% of the default 1 GiB heap; and the
     * committer's direct frame buffer, sized to one commit, stays at most about that big (it is
     * dropped after a commit above 64 MiB). Far above what one commit gathers while the disk
     * keeps up (a few MiB at 70k msg/s x 1 KB with 5 ms fsyncs), so it only bites when the disk
     * is really slower than the publishers.
     */
    public static final long DEFAULT_MAX_BACKLOG = 64L << 20;

    private final String name;
    private final Journal journal;
    private final ConcurrentNavigableMap<Long, BatchState> batches;
    private final PendingWork pending;
    private final Committer committer;
    private final Thread committerThread;
    private final BatchReader reader;
    private volatile boolean closed;

    private JournalMessageStore(Journal journal, ConcurrentNavigableMap<Long, BatchState> batches, long lastBatchId,
                                double compactBelow, long maxBacklog) {
        this.journal = journal;
        this.name = journal.dir.toString();
        this.batches = batches;
        this.pending = new PendingWork(name, lastBatchId + 1, maxBacklog);
        this.committer = new Committer(name, journal, batches, pending, lastBatchId, compactBelow);
        this.committerThread = new Thread(committer, "warren-store-committer");
        committerThread.setDaemon(true);
        this.reader = new BatchReader(name, batches, committer, this::sync);
    }

    /** Opens (or creates) {@code dataDir/journal/}; the caller holds the data directory's lock. */
    public static JournalMessageStore open(Path dataDir) {
        return open(dataDir, DEFAULT_SEGMENT_SIZE, DEFAULT_COMPACT_BELOW);
    }

    /** With a segment target size and compaction threshold (share of live bytes in the oldest segment). */
    public static JournalMessageStore open(Path dataDir, long segmentSize, double compactBelow) {
        return open(dataDir, segmentSize, compactBelow, DEFAULT_MAX_BACKLOG);
    }

    /** With a bound on the uncommitted backlog too (see {@link #DEFAULT_MAX_BACKLOG}). */
    public static JournalMessageStore open(Path dataDir, long segmentSize, double compactBelow, long maxBacklog) {
        return open(dataDir, segmentSize, compactBelow, maxBacklog, true);
    }

    /**
     * With segment preallocation on or off: on, the next segment is zero-filled in the background
     * and a confirm's fdatasync overwrites blocks already on disk (measured about 1.5 times as
     * fast as one that appends, whose new file size must be committed too).
     */
    public static JournalMessageStore open(Path dataDir, long segmentSize, double compactBelow, long maxBacklog,
                                           boolean preallocate) {
        try {
            Files.createDirectories(dataDir);
        } catch (IOException e) {
            throw new StoreException("cannot create data directory " + dataDir + ": " + e, e);
        }
        long t0 = System.nanoTime();
        ConcurrentNavigableMap<Long, BatchState> batches = new ConcurrentSkipListMap<>();
        ReplayState replay = new ReplayState(batches);
        Journal journal = Journal.open(dataDir, segmentSize, preallocate, replay);
        long last = replay.maxBatchId;
        for (Segment s : journal.segments()) {
            last = Math.max(last, s.nextBatchId - 1);
        }
        try {
            journal.ensureHead(last + 1);
        } catch (IOException e) {
            journal.close();
            throw new StoreException("cannot create the first segment of message journal " + journal.dir + ": " + e, e);
        }
        JournalMessageStore s = new JournalMessageStore(journal, batches, last, compactBelow, maxBacklog);
        s.committerThread.start();
        log.info("message store {}: {} segments, {} batches, {} live slots, opened in {} ms", s.name,
                journal.segmentCount(), batches.size(), s.liveSlots(), (System.nanoTime() - t0) / 1_000_000);
        return s;
    }

    /** Applies replayed frames to the in-memory index, in journal order. */
    private static final class ReplayState implements Journal.Replay {
        final ConcurrentNavigableMap<Long, BatchState> batches;
        long maxBatchId;

        ReplayState(ConcurrentNavigableMap<Long, BatchState> batches) {
            this.batches = batches;
        }

        @Override
        public void batch(Segment segment, long recordOffset, int recordLength, long batchId, int slotCount) {
            maxBatchId = Math.max(maxBatchId, batchId);
            BatchState.Location loc = new BatchState.Location(segment, recordOffset, recordLength);
            BatchState st = batches.get(batchId);
            if (st != null) {
                // A compaction copy: the batch moves, its bitmap stays (the copy's frame lists it again).
                if (st.slotCount != slotCount) {
                    throw new StoreException("message journal file " + segment.path + " is corrupt at offset "
                            + recordOffset + ": copy of batch " + batchId + " has " + slotCount + " slots, the original "
                            + st.slotCount);
                }
                BatchState.Location old = st.location();
                old.segment().liveBatches--;
                old.segment().liveBytes -= old.length();
                st.moveTo(loc);
            } else {
                batches.put(batchId, new BatchState(batchId, slotCount, BatchState.emptyBitmap(slotCount), loc));
            }
            segment.liveBatches++;
            segment.liveBytes += recordLength;
        }

        @Override
        public void remove(long batchId, int slot) {
            BatchState st = batches.get(batchId);
            if (st == null || !st.removeInPlace(slot)) {
                return; // its batch died earlier (its segment may be gone): nothing to do
            }
            if (st.live() == 0) {
                batches.remove(batchId);
                BatchState.Location loc = st.location();
                loc.segment().liveBatches--;
                loc.segment().liveBytes -= loc.length();
            }
        }
    }

    @Override
    public long append(String exchange, String routingKey, ByteBuf properties, ByteBuf body, long[] queueIds,
                       Durable durable) {
        return append(exchange, routingKey, properties, body, queueIds, -1, -1, durable);
    }

    @Override
    public long append(String exchange, String routingKey, ByteBuf properties, ByteBuf body, long[] queueIds,
                       long publishedAt, long ttl, Durable durable) {
        if (queueIds.length == 0 || queueIds.length >= Refs.MAX_SLOTS) {
            throw new IllegalArgumentException("a stored message needs 1.." + (Refs.MAX_SLOTS - 1) + " queues, got "
                    + queueIds.length);
        }
        byte[] encoded = MessageEncoding.encode(exchange, routingKey, properties, body, queueIds, publishedAt, ttl);
        return pending.append(encoded, queueIds.length, durable);
    }

    @Override
    public void remove(long ref) {
        if (!pending.remove(ref)) {
            log.debug("message store {} closed: remove of {} dropped (the message comes back at restart)",
                    name, Refs.format(ref));
        }
    }

    @Override
    public void sync(Durable durable) {
        pending.sync(durable);
    }

    @Override
    public boolean overloaded() {
        return pending.overloaded();
    }

    @Override
    public void whenDrained(java.util.concurrent.Executor executor, Runnable callback) {
        pending.whenDrained(executor, callback);
    }

    /**
     * Visits the live slots of every batch, batches in id (= publish) order and slots in order
     * inside each batch, so every queue sees its messages in publish order (queues interleave).
     * Reads each record once and keeps no body. Call once after {@link #open}, before the first
     * append; runs on the caller's thread.
     */
    /**
     * Reads a message's priority from its raw properties (the store knows no protocol: the
     * broker's wiring gives it the protocol's reader); null: every recovered message has 0.
     */
    private volatile java.util.function.ToIntFunction<io.netty.buffer.ByteBuf> priorityReader;

    /** Tells {@link #recover} how to read the priority of a stored message from its properties. */
    public void priorityReader(java.util.function.ToIntFunction<io.netty.buffer.ByteBuf> reader) {
        this.priorityReader = reader;
    }

    @Override
    public long recoverableSlots() {
        long n = 0;
        for (BatchState st : batches.values()) {
            n += st.live();
        }
        return n;
    }

    @Override
    public void recover(RecoveryVisitor visitor) {
        java.util.function.ToIntFunction<io.netty.buffer.ByteBuf> priorities = priorityReader;
        // Exchange names and routing keys repeat across messages: share one String per value
        // so a million recovered messages do not cost two million strings. Bounded, because
        // routing keys can be unique per message.
        Map<String, String> strings = new HashMap<>();
        for (BatchState st : batches.values()) {
            if (st.live() == 0) {
                continue;
            }
            long id = st.batchId;
            BatchRecord rec = BatchReader.read(name, st);
            if (rec.slotCount != st.slotCount) {
                throw new StoreException("message store " + name + " is corrupt: batch " + id + " has "
                        + rec.slotCount + " slots, its index entry " + st.slotCount);
            }
            int off = BatchRecord.HEADER;
            int slot = 0;
            for (int m = 0; m < rec.messageCount; m++, off = rec.next(off)) {
                int n = rec.queueCount(off);
                String exchange = null;
                String routingKey = null;
                int bodySize = -1;
                long publishedAt = -1;
                long ttl = -1;
                int priority = 0;
                for (int i = 0; i < n; i++, slot++) {
                    if (!st.isLive(slot)) {
                        continue;
                    }
                    if (exchange == null) {
                        exchange = shared(strings, rec.string(rec.exchangeOffset(off)));
                        routingKey = shared(strings, rec.string(rec.routingKeyOffset(off)));
                        bodySize = rec.bodyLength(off);
                        publishedAt = rec.publishedAt(off);
                        ttl = rec.ttl(off);
                        priority = priority(priorities, rec, off);
                    }
                    visitor.slot(rec.queueId(off, i), new StoredMessage(Refs.ref(id, slot), exchange, routingKey,
                            bodySize, priority, publishedAt, ttl));
                }
            }
        }
    }

    /** The priority of the message at {@code off}, read from its properties where they lie; 0 when unreadable. */
    private static int priority(java.util.function.ToIntFunction<io.netty.buffer.ByteBuf> reader, BatchRecord rec,
                                int off) {
        int len = rec.propertiesLength(off);
        if (reader == null || len < 2) {
            return 0;
        }
        try {
            return reader.applyAsInt(io.netty.buffer.Unpooled.wrappedBuffer(rec.data, rec.propertiesField(off) + 4, len));
        } catch (RuntimeException malformed) {
            return 0; // the properties were checked when published; a reader that disagrees costs only the order
        }
    }

    private static String shared(Map<String, String> strings, String s) {
        String known = strings.get(s);
        if (known != null) {
            return known;
        }
        if (strings.size() < 10_000) {
            strings.put(s, s);
        }
        return s;
    }

    @Override
    public void load(long ref, LoadSink sink) {
        reader.load(ref, sink);
    }

    /** Commits done so far; group commit keeps this far below the number of appends. */
    public long commits() {
        return committer.commits();
    }

    /** Batches moved to the head segment by compaction so far. */
    public long compactedBatches() {
        return committer.copiedBatches();
    }

    /** For tests: commits that wrote nothing (every new message acked before it was written). */
    long emptyCommits() {
        return committer.emptyCommits();
    }

    /** Batches with at least one live slot. */
    public int batchCount() {
        return batches.size();
    }

    public long liveSlots() {
        long n = 0;
        for (BatchState st : batches.values()) {
            n += st.live();
        }
        return n;
    }

    /** The journal directory, {@code <dataDir>/journal}. */
    public Path directory() {
        return journal.dir;
    }

    /** For tests: where the head segment's next frame goes (its file may be preallocated past it). */
    long headEnd() {
        return journal.head().end;
    }

    /** Test hook: runs on the committer just before each frame is built; may throw to simulate a failing disk. */
    void beforeCommit(Runnable hook) {
        committer.beforeCommit = hook;
    }

    /** Test hook: runs just before each frame is written, with the channel; may write part of it and throw. */
    void beforeWrite(Journal.WriteHook hook) {
        journal.writeHook = hook;
    }

    /** Commits what is pending, completes its callbacks, then syncs and closes the files; later calls fail. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        if (Thread.currentThread() == committerThread) {
            throw new IllegalStateException("close() from a durable callback would wait for itself");
        }
        closed = true;
        reader.close();
        pending.close();
        boolean interrupted = false;
        while (committerThread.isAlive()) {
            try {
                committerThread.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        try {
            journal.close();
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
