package io.warren.store.paging;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.warren.core.store.MessageStore;
import io.warren.core.store.StoreException;
import org.mapdb.DB;
import org.mapdb.DBMaker;
import org.mapdb.Serializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A page-out store on a MapDB 3.1.0 file without transactions: a {@code HTreeMap<Long, byte[]>}
 * (or a {@code BTreeMap} with values outside its nodes, see {@link #open(Path, boolean, boolean)})
 * keyed by a ref counter, in {@code <dir>/pages.mapdb}. Nothing in it outlives a restart: the
 * directory is emptied at open and the file deleted at close, and a crash loses it like a
 * transient message (MapDB without a write-ahead log is not crash-safe; that is fine here and
 * why it is not the journal, see the README's "Why not MapDB").
 *
 * <p>Record: {@code int propertiesLength | properties | body}; a load needs nothing else (no
 * recovery, so no exchange, routing key or queue ids).
 *
 * <p>Threads: callers (event loops) copy the message into a byte[] and queue it;
 * "warren-pagestore-writer" takes everything queued in one swap and puts it into the map
 * (group commit without a commit: nothing is forced), then runs the callbacks;
 * "warren-pagestore-reader" serves loads. A message stays in {@link #unwritten} until its put
 * is done, so a load never waits for the writer.
 */
public final class MapDbPageStore implements MessageStore {
    private static final Logger log = LoggerFactory.getLogger(MapDbPageStore.class);
    public static final String FILE = "pages.mapdb";

    private enum Kind { WRITE, REMOVE, SYNC }

    private record Op(Kind kind, long ref, Durable durable) {}

    private final Path dir;
    private final Path file;
    private final DB db;
    private final java.util.concurrent.ConcurrentMap<Long, byte[]> map;
    /** Appended, not yet in the map; the writer removes an entry after its put. */
    private final ConcurrentHashMap<Long, byte[]> unwritten = new ConcurrentHashMap<>();
    private final AtomicLong nextRef = new AtomicLong(1);
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition ready = lock.newCondition();
    private List<Op> queued = new ArrayList<>();
    private boolean writerWaiting;
    private boolean closing;
    private volatile boolean closed;
    private final Thread writer;
    private final ExecutorService reader;
    private volatile long batches;

    private MapDbPageStore(Path dir, boolean mmap, boolean btree) {
        this.dir = dir;
        this.file = dir.resolve(FILE);
        DBMaker.Maker maker = DBMaker.fileDB(file.toFile())
                .fileSyncDisable()         // never forced: a crash loses the page-out anyway
                .allocateIncrement(64L << 20)
                .fileLockDisable();        // the data directory's lock already guards the directory
        if (mmap) {
            maker = maker.fileMmapEnableIfSupported();
        } else {
            maker = maker.fileChannelEnable();
        }
        this.db = maker.make();
        this.map = btree
                ? db.treeMap("pages", Serializer.LONG, Serializer.BYTE_ARRAY).valuesOutsideNodesEnable().create()
                : db.hashMap("pages", Serializer.LONG, Serializer.BYTE_ARRAY).create();
        this.writer = new Thread(this::writeLoop, "warren-pagestore-writer");
        writer.setDaemon(true);
        this.reader = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS, new LinkedBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "warren-pagestore-reader");
            t.setDaemon(true);
            return t;
        });
    }

    /** Opens with a memory-mapped file where the platform supports it. */
    public static MapDbPageStore open(Path dir) {
        return open(dir, true);
    }

    /** Empties {@code dir} (nothing in it outlives a restart) and creates a fresh file in it. */
    public static MapDbPageStore open(Path dir, boolean mmap) {
        return open(dir, mmap, false);
    }

    /** {@code btree}: a {@code BTreeMap} with values outside the nodes instead of the {@code HTreeMap}. */
    public static MapDbPageStore open(Path dir, boolean mmap, boolean btree) {
        try {
            if (Files.exists(dir)) {
                try (var walk = Files.walk(dir)) {
                    for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                        Files.delete(p);
                    }
                }
            }
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new StoreException("cannot empty the page-out store " + dir + ": " + e, e);
        }
        MapDbPageStore s;
        try {
            s = new MapDbPageStore(dir, mmap, btree);
        } catch (RuntimeException e) {
            throw new StoreException("cannot create the page-out store " + dir.resolve(FILE) + ": " + e, e);
        }
        s.writer.start();
        log.info("page-out store {} (MapDB, {})", s.file, mmap ? "mmap if supported" : "file channel");
        return s;
    }

    @Override
    public long append(String exchange, String routingKey, ByteBuf properties, ByteBuf body, long[] queueIds,
                       Durable durable) {
        if (queueIds.length != 1) {
            throw new IllegalArgumentException("the page-out store holds a message for one queue, got "
                    + queueIds.length);
        }
        byte[] encoded = encode(properties, body);
        long ref = nextRef.getAndIncrement();
        unwritten.put(ref, encoded);
        if (!enqueue(new Op(Kind.WRITE, ref, durable))) {
            unwritten.remove(ref);
            fail(durable, closedException());
        }
        return ref;
    }

    @Override
    public void remove(long ref) {
        // Frees the copy at once if the write has not landed; the queued REMOVE (after the
        // WRITE, since this call follows the append) takes it out of the map otherwise.
        unwritten.remove(ref);
        if (!enqueue(new Op(Kind.REMOVE, ref, null))) {
            log.debug("page-out store {} closed: remove of {} dropped", file, ref);
        }
    }

    @Override
    public void sync(Durable durable) {
        if (!enqueue(new Op(Kind.SYNC, 0, durable))) {
            fail(durable, closedException());
        }
    }

    /** The store starts empty: nothing to visit. */
    @Override
    public void recover(RecoveryVisitor visitor) {
    }

    @Override
    public void load(long ref, LoadSink sink) {
        try {
            reader.execute(() -> loadNow(ref, sink));
        } catch (RejectedExecutionException e) {
            deliver(sink, null, null, closedException());
        }
    }

    private void loadNow(long ref, LoadSink sink) {
        ByteBuf props;
        ByteBuf body;
        try {
            // unwritten first: the writer puts into the map before it drops the entry here.
            byte[] rec = unwritten.get(ref);
            if (rec == null) {
                rec = map.get(ref);
            }
            if (rec == null) {
                deliver(sink, null, null, new StoreException("page-out store " + file + ": no stored message " + ref));
                return;
            }
            int propsLen = ByteBuffer.wrap(rec).getInt(0);
            props = Unpooled.copiedBuffer(rec, 4, propsLen);
            body = Unpooled.copiedBuffer(rec, 4 + propsLen, rec.length - 4 - propsLen);
        } catch (Throwable t) {
            deliver(sink, null, null, t instanceof StoreException ? t
                    : new StoreException("page-out store " + file + ": cannot load " + ref + ": " + t, t));
            return;
        }
        deliver(sink, props, body, null);
    }

    static byte[] encode(ByteBuf properties, ByteBuf body) {
        int propsLen = properties == null ? 0 : properties.readableBytes();
        int bodyLen = body == null ? 0 : body.readableBytes();
        if (4L + propsLen + bodyLen > Integer.MAX_VALUE - 64) {
            throw new IllegalArgumentException("message too large to page out: " + (4L + propsLen + bodyLen) + " bytes");
        }
        byte[] out = new byte[4 + propsLen + bodyLen];
        ByteBuffer.wrap(out).putInt(propsLen);
        // getBytes(index, ...) leaves the caller's reader indexes alone: the buffers are only borrowed.
        if (propsLen > 0) {
            properties.getBytes(properties.readerIndex(), out, 4, propsLen);
        }
        if (bodyLen > 0) {
            body.getBytes(body.readerIndex(), out, 4 + propsLen, bodyLen);
        }
        return out;
    }

    private boolean enqueue(Op op) {
        lock.lock();
        try {
            if (closing) {
                return false;
            }
            queued.add(op);
            if (writerWaiting) {
                writerWaiting = false;
                ready.signal();
            }
            return true;
        } finally {
            lock.unlock();
        }
    }

    /** Takes everything queued in one swap, applies it in order, then runs the callbacks. */
    private void writeLoop() {
        List<Op> spare = new ArrayList<>();
        List<Durable> done = new ArrayList<>();
        while (true) {
            List<Op> ops;
            boolean last;
            lock.lock();
            try {
                while (queued.isEmpty() && !closing) {
                    writerWaiting = true;
                    ready.awaitUninterruptibly();
                }
                ops = queued;
                queued = spare;
                last = closing;
            } finally {
                lock.unlock();
            }
            for (Op op : ops) {
                Throwable failure = null;
                try {
                    switch (op.kind) {
                        case WRITE -> {
                            byte[] rec = unwritten.get(op.ref);
                            if (rec != null) { // null: removed before its write
                                map.put(op.ref, rec);
                                unwritten.remove(op.ref);
                            }
                        }
                        case REMOVE -> map.remove(op.ref);
                        case SYNC -> { }
                    }
                } catch (Throwable t) {
                    failure = t;
                    if (op.kind == Kind.WRITE) {
                        unwritten.remove(op.ref);
                    }
                    log.warn("page-out store {}: {} of {} failed: {}", file, op.kind, op.ref, t.toString());
                }
                if (op.durable != null) {
                    if (failure != null) {
                        fail(op.durable, new StoreException("page-out store " + file + ": write failed: " + failure,
                                failure));
                    } else {
                        done.add(op.durable);
                    }
                }
            }
            batches++;
            for (Durable d : done) {
                try {
                    d.done(null);
                } catch (Throwable t) {
                    log.warn("page-out store {}: callback threw", file, t);
                }
            }
            done.clear();
            ops.clear();
            spare = ops;
            if (last) {
                lock.lock();
                try {
                    if (queued.isEmpty()) {
                        return;
                    }
                } finally {
                    lock.unlock();
                }
            }
        }
    }

    private static void fail(Durable durable, Throwable failure) {
        if (durable != null) {
            try {
                durable.done(failure);
            } catch (Throwable t) {
                log.warn("page-out store callback threw", t);
            }
        }
    }

    private static void deliver(LoadSink sink, ByteBuf props, ByteBuf body, Throwable failure) {
        try {
            sink.loaded(props, body, failure);
        } catch (Throwable t) {
            log.warn("page-out store: load sink threw", t);
        }
    }

    private StoreException closedException() {
        return new StoreException("page-out store " + file + " is closed");
    }

    /** Writer batches so far (one swap of the queue each). */
    public long batches() {
        return batches;
    }

    /** Messages in the store (written or not), by the map's count plus the unwritten ones; for tests. */
    public long size() {
        return map.size() + unwritten.size();
    }

    public Path file() {
        return file;
    }

    /**
     * Finishes queued loads and writes (their callbacks run), stops both threads, closes and
     * deletes the file; later calls fail.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        if (Thread.currentThread() == writer) {
            throw new IllegalStateException("close() from a write callback would wait for itself");
        }
        closed = true;
        reader.shutdown();
        boolean interrupted = false;
        try {
            while (!reader.awaitTermination(30, TimeUnit.SECONDS)) {
                log.warn("page-out store {}: reader still busy after 30 s", file);
            }
        } catch (InterruptedException e) {
            interrupted = true;
        }
        lock.lock();
        try {
            closing = true;
            ready.signal();
        } finally {
            lock.unlock();
        }
        while (writer.isAlive()) {
            try {
                writer.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        unwritten.clear();
        try {
            db.close();
        } catch (Throwable t) {
            log.warn("page-out store {}: close failed: {}", file, t.toString());
        }
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            log.warn("page-out store {}: cannot delete the file: {}", file, e.toString());
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
