package io.warren.store.mapdb;

import io.netty.buffer.ByteBuf;
import io.warren.core.store.MessageStore;
import io.warren.core.store.StoreException;
import org.mapdb.BTreeMap;
import org.mapdb.DB;
import org.mapdb.Serializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * A {@link MessageStore} journaled by group commit in one MapDB file, {@code messages.db}.
 *
 * <p>Each commit writes everything appended since the previous one as one raw record
 * ({@link BatchRecord}: messages packed inside, one slot per queue) and updates a small index
 * entry per touched batch ({@code BTreeMap<batchId, entry>}, see {@link BatchState}) holding
 * the record's recid and its removed-slot bitmap. A batch's record and entry are freed when
 * its last slot is removed. DESIGN §5 has the measurements behind this shape: one map entry
 * or one commit per message cannot keep up with the network.
 *
 * <p>Threads: callers (any thread, typically event loops) only encode and enqueue;
 * "warren-store-committer" ({@link Committer}) writes and commits; "warren-store-reader"
 * ({@link BatchReader}) serves loads. Nothing here blocks on the disk in the caller's thread
 * except {@link #open}, {@link #recover} and {@link #close}.
 */
public final class MapDbMessageStore implements MessageStore {
    private static final Logger log = LoggerFactory.getLogger(MapDbMessageStore.class);
    public static final String FILE_NAME = "messages.db";
    static final String KIND = "warren-messages";
    static final int VERSION = 1;
    private static final String INDEX = "batches";

    private final Path file;
    private final String fileName;
    private final DB db;
    private final BTreeMap<Long, byte[]> index;
    private final ConcurrentMap<Long, BatchState> batches = new ConcurrentHashMap<>();
    private final PendingWork pending;
    private final Committer committer;
    private final Thread committerThread;
    private final BatchReader reader;
    private volatile boolean closed;

    private MapDbMessageStore(Path file, DB db) {
        this.file = file;
        this.fileName = file.toString();
        this.db = db;
        this.index = db.treeMap(INDEX, Serializer.LONG, Serializer.BYTE_ARRAY)
                // Values outside the nodes: a bitmap update rewrites its own small record,
                // not a whole BTree node of 32 entries.
                .valuesOutsideNodesEnable()
                .createOrOpen();
        long last = 0;
        for (Map.Entry<Long, byte[]> e : index.entrySet()) {
            BatchState st = BatchState.fromEntry(e.getKey(), e.getValue());
            if (st == null) {
                throw new StoreException("message store " + file + " is corrupt: index entry of batch " + e.getKey()
                        + " is malformed");
            }
            batches.put(st.batchId, st);
            last = Math.max(last, st.batchId);
        }
        db.commit(); // the index map's creation, on a new file
        this.pending = new PendingWork(fileName, last + 1);
        this.committer = new Committer(fileName, db, index, batches, pending, last);
        this.committerThread = new Thread(committer, "warren-store-committer");
        committerThread.setDaemon(true);
        this.reader = new BatchReader(fileName, db.getStore(), batches, committer, this::sync);
    }

    /** Opens (or creates) {@code dir/messages.db}; the caller holds the {@link DataDirLock}. */
    public static MapDbMessageStore open(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (java.io.IOException e) {
            throw new StoreException("cannot create data directory " + dir + ": " + e, e);
        }
        Path file = dir.resolve(FILE_NAME);
        DB db = MapDbFiles.open(file, KIND, VERSION);
        MapDbMessageStore s;
        try {
            s = new MapDbMessageStore(file, db);
        } catch (RuntimeException e) {
            MapDbFiles.closeQuietly(db);
            throw e instanceof StoreException ? e : new StoreException("cannot open " + file + ": " + e, e);
        }
        s.committerThread.start();
        log.info("message store {}: {} batches, {} live slots", file, s.batches.size(), s.liveSlots());
        return s;
    }

    @Override
    public long append(String exchange, String routingKey, ByteBuf properties, ByteBuf body, long[] queueIds,
                       Durable durable) {
        if (queueIds.length == 0 || queueIds.length >= Refs.MAX_SLOTS) {
            throw new IllegalArgumentException("a stored message needs 1.." + (Refs.MAX_SLOTS - 1) + " queues, got "
                    + queueIds.length);
        }
        byte[] encoded = MessageEncoding.encode(exchange, routingKey, properties, body, queueIds);
        return pending.append(encoded, queueIds.length, durable);
    }

    @Override
    public void remove(long ref) {
        if (!pending.remove(ref)) {
            log.debug("message store {} closed: remove of {} dropped (the message comes back at restart)",
                    fileName, Refs.format(ref));
        }
    }

    @Override
    public void sync(Durable durable) {
        pending.sync(durable);
    }

    /**
     * Visits the live slots of every batch, batches in commit order and slots in order inside
     * each batch, so every queue sees its messages in publish order (queues interleave). Reads
     * each record once and keeps no body. Call once after {@link #open}, before the first append;
     * runs on the caller's thread.
     */
    @Override
    public void recover(RecoveryVisitor visitor) {
        // Exchange names and routing keys repeat across messages: share one String per value
        // so a million recovered messages do not cost two million strings. Bounded, because
        // routing keys can be unique per message.
        Map<String, String> strings = new HashMap<>();
        for (Long id : index.keySet()) {
            BatchState st = batches.get(id);
            if (st == null || st.live() == 0) {
                continue;
            }
            BatchRecord rec = BatchReader.read(db.getStore(), fileName, st);
            if (rec.slotCount != st.slotCount) {
                throw new StoreException("message store " + fileName + " is corrupt: batch " + id + " has "
                        + rec.slotCount + " slots, its index entry " + st.slotCount);
            }
            int off = BatchRecord.HEADER;
            int slot = 0;
            for (int m = 0; m < rec.messageCount; m++, off = rec.next(off)) {
                int n = rec.queueCount(off);
                String exchange = null;
                String routingKey = null;
                int bodySize = -1;
                for (int i = 0; i < n; i++, slot++) {
                    if (!st.isLive(slot)) {
                        continue;
                    }
                    if (exchange == null) {
                        exchange = shared(strings, rec.string(rec.exchangeOffset(off)));
                        routingKey = shared(strings, rec.string(rec.routingKeyOffset(off)));
                        bodySize = rec.bodyLength(off);
                    }
                    visitor.slot(rec.queueId(off, i), new StoredMessage(Refs.ref(id, slot), exchange, routingKey, bodySize));
                }
            }
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

    /** Batches with at least one live slot (one record and one index entry each). */
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

    public Path file() {
        return file;
    }

    /** Test hook: runs on the committer just before each commit; may throw to simulate a failing disk. */
    void beforeCommit(Runnable hook) {
        committer.beforeCommit = hook;
    }

    /** Commits what is pending, completes its callbacks, then closes the file; later calls fail. */
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
            db.close();
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
