package io.warren.store.journal;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.warren.core.store.MessageStore;
import io.warren.core.store.MessageStore.LoadSink;
import io.warren.core.store.StoreException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Loads message bodies on the one thread "warren-store-reader" by positional reads of the
 * batch record in its segment, so no event loop ever waits on the disk. Consecutive loads
 * usually come from the same batch (a queue pages its messages in publish order), so the last
 * few parsed records are cached.
 *
 * <p>Owner: the reader thread owns the cache. A batch may move (compaction) and its old
 * segment be deleted while a read is under way: a failed read is retried once at the new place.
 */
final class BatchReader {
    private static final Logger log = LoggerFactory.getLogger(BatchReader.class);
    /** 4 records of at most 4 MiB ({@link PendingBatch#MAX_BYTES}): a 16 MiB ceiling. */
    private static final int CACHED_RECORDS = 4;

    private final String name;
    private final ConcurrentMap<Long, BatchState> batches;
    private final Committer committer;
    /** {@code sync} of the store: a load of a batch not yet on disk waits for the commit. */
    private final Consumer<MessageStore.Durable> sync;
    private final ExecutorService thread;
    private final Map<Long, BatchRecord> cache = new LinkedHashMap<>(8, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Long, BatchRecord> eldest) {
            return size() > CACHED_RECORDS;
        }
    };

    BatchReader(String name, ConcurrentMap<Long, BatchState> batches, Committer committer,
                Consumer<MessageStore.Durable> sync) {
        this.name = name;
        this.batches = batches;
        this.committer = committer;
        this.sync = sync;
        this.thread = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS, new LinkedBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "warren-store-reader");
            t.setDaemon(true);
            return t;
        });
    }

    void load(long ref, LoadSink sink) {
        submit(() -> load(ref, sink, true), sink);
    }

    private void submit(Runnable task, LoadSink sink) {
        try {
            thread.execute(task);
        } catch (RejectedExecutionException e) {
            deliver(sink, null, null, new StoreException("message store " + name + " is closed"));
        }
    }

    private void load(long ref, LoadSink sink, boolean mayWait) {
        long id = Refs.batchId(ref);
        BatchState st = batches.get(id);
        if (st == null && mayWait && id > committer.committedThrough()) {
            // Appended but not committed yet: retry once after the commit that covers it.
            try {
                sync.accept(failure -> {
                    if (failure != null) {
                        deliver(sink, null, null, failure);
                    } else {
                        submit(() -> load(ref, sink, false), sink);
                    }
                });
            } catch (StoreException closed) {
                deliver(sink, null, null, closed);
            }
            return;
        }
        int slot = Refs.slot(ref);
        if (st == null || slot >= st.slotCount) {
            deliver(sink, null, null, new StoreException("message store " + name + ": no stored message "
                    + Refs.format(ref)));
            return;
        }
        ByteBuf props;
        ByteBuf body;
        try {
            BatchRecord rec = record(st);
            int off = rec.messageOffset(slot);
            // Copies, not slices of the cached record: a loaded message may stay unacked for a
            // long time and must not pin a 4 MiB record (DESIGN §4, exact-size parked buffers).
            int p = rec.propertiesField(off);
            props = Unpooled.copiedBuffer(rec.data, p + 4, rec.propertiesLength(off));
            int b = rec.bodyField(off);
            body = Unpooled.copiedBuffer(rec.data, b + 4, rec.bodyLength(off));
        } catch (Throwable t) {
            deliver(sink, null, null, t instanceof StoreException ? t
                    : new StoreException("message store " + name + ": cannot load " + Refs.format(ref) + ": " + t, t));
            return;
        }
        deliver(sink, props, body, null);
    }

    private BatchRecord record(BatchState st) {
        BatchRecord rec = cache.get(st.batchId);
        if (rec == null) {
            rec = read(name, st);
            cache.put(st.batchId, rec);
        }
        return rec;
    }

    /** Reads and checks one record; also used by recovery. */
    static BatchRecord read(String name, BatchState st) {
        BatchState.Location loc = st.location();
        byte[] data;
        try {
            data = loc.segment().read(loc.offset(), loc.length());
        } catch (Exception e) {
            BatchState.Location now = st.location();
            if (now == loc) {
                throw new StoreException("message store " + name + ": cannot read batch " + st.batchId + " at offset "
                        + loc.offset() + " of " + loc.segment().path + ": " + e, e);
            }
            // Moved by compaction while we read, its old segment deleted: read the new copy.
            return read(name, st);
        }
        try {
            return BatchRecord.parse(data, st.batchId);
        } catch (BatchRecord.CorruptRecordException e) {
            throw new StoreException("message journal file " + loc.segment().path + " is corrupt at offset "
                    + loc.offset() + ": " + e.getMessage(), e);
        }
    }

    private void deliver(LoadSink sink, ByteBuf props, ByteBuf body, Throwable failure) {
        try {
            sink.loaded(props, body, failure);
        } catch (Throwable t) {
            log.warn("message store {}: load sink threw", name, t);
        }
    }

    /** Finishes queued loads and stops; never interrupts (that would close the journal's FileChannels). */
    void close() {
        thread.shutdown();
        try {
            if (!thread.awaitTermination(30, TimeUnit.SECONDS)) {
                log.warn("message store {}: reader still busy after 30 s", name);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
