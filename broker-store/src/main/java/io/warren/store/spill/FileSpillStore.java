package io.warren.store.spill;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.warren.core.message.Message;
import io.warren.core.message.QueueEntry;
import io.warren.core.store.BoundedBacklog;
import io.warren.core.store.SpillStore;
import io.warren.core.store.StoreException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * The page-out store: every queue's spill is a FIFO of segment files under one directory,
 * written and read by the one thread "warren-pager". A queue encodes the entries it pages out
 * into a 64 KiB chunk on its own loop (no allocation per message beyond the copy) and hands
 * full chunks over; a read hands the chunk in progress over first, so it sees every entry
 * appended before it. Reads come back a batch at a time, each message in an exact-size buffer
 * of its own. The heap holds nothing per paged message: a queue's spill costs its open chunk,
 * a few objects per segment, and the disk.
 *
 * <p>Why not MapDB or the journal: a queue pages out and in strictly in FIFO order, so an
 * append-only file per queue read sequentially is all it needs: no index, no per-message key,
 * no compaction (a segment is deleted once read). The earlier page-out through the journal
 * kept a heap object per paged message (~250 B: 20 GB of 1 KB messages would need 5 GB of
 * heap), and MapDB measured 2-3x slower than the journal (PageStoreBenchTest).
 *
 * <p>Nothing here survives a restart: the directory is emptied at open and at close, and
 * writes are never forced. A write that fails (disk full) keeps its chunk in memory instead,
 * so an entry is never lost while the broker runs; the disk alarm stops publishers before that.
 *
 * <p>Record: int length of the rest | long seq | long store ref | long expiry (epoch ms, Long.MAX_VALUE:
 * none; the queue drops an expired entry when it comes back) | byte flags (1 persistent,
 * 2 redelivered, 4 content in the journal only, 8 expiry from the message's own TTL, 16 swept:
 * already expired and handed out by a sweep) | long enqueue time (epoch ms) | long own TTL (ms, -1:
 * none) | short + UTF-8 exchange | short + UTF-8 routing key | int + properties | int + body (with
 * flag 4: int 0 | int body size, and no bytes). Expiry and flags sit at fixed offsets, so a sweep
 * ({@link Spill#sweep}) re-times or marks a record with one 9-byte write in place. No older
 * format needs reading: the files never outlive the process.
 */
public final class FileSpillStore implements SpillStore {
    private static final Logger log = LoggerFactory.getLogger(FileSpillStore.class);
    static final int CHUNK = 64 * 1024;
    /** What one pread fetches when reading back: large enough to amortise the call. */
    static final int BLOCK = 1 << 20;
    static final long DEFAULT_SEGMENT_SIZE = 16L << 20;
    /**
     * Chunks handed to the pager and not written yet, past which the store is overloaded and
     * publishers pause ({@link #overloaded()}) until half of it is written.
     */
    static final long DEFAULT_MAX_UNWRITTEN = 32L << 20;
    private static final int FIXED = 4 + 8 + 8 + 8 + 1 + 8 + 8 + 2 + 2 + 4 + 4;
    /** Offsets in a record of the expiry (then the flags byte) and of the enqueue time. */
    private static final int EXPIRY_AT = 4 + 8 + 8;
    private static final int FLAGS_AT = EXPIRY_AT + 8;
    private static final int ENQUEUED_AT = FLAGS_AT + 1;
    /** Disk a sweep step scans at most before it hands the thread back to reads. */
    static final long SWEEP_SCAN = 32L << 20;
    private static final int PERSISTENT = 1;
    private static final int REDELIVERED = 2;
    /** A recovered message whose content is in the journal only: no properties or body here. */
    private static final int CONTENT_IN_STORE = 4;
    /** The expiry comes from the message's own TTL ({@link QueueEntry#ownExpiry()}). */
    private static final int OWN_EXPIRY = 8;
    /** A sweep took the entry out (expired): a read brings back a content-less placeholder. */
    private static final int SWEPT = 16;

    private final Path dir;
    private final long segmentSize;
    private final Function<ByteBuf, Map<String, Object>> headersReader;
    private final ThreadPoolExecutor thread;
    private final AtomicLong ids = new AtomicLong();
    private final Set<FileSpill> open = ConcurrentHashMap.newKeySet();
    private final java.util.concurrent.atomic.LongAdder spilled = new java.util.concurrent.atomic.LongAdder();
    private final AtomicLong failedWrites = new AtomicLong();
    /** Chunks handed to the pager and not written yet. */
    private final BoundedBacklog unwritten;

    /** Pager thread only: the block reads go through. */
    private ByteBuf block;
    private long lastWriteFailureLog;

    private FileSpillStore(Path dir, long segmentSize, long maxUnwritten,
                           Function<ByteBuf, Map<String, Object>> headersReader) {
        this.dir = dir;
        this.segmentSize = segmentSize;
        this.unwritten = new BoundedBacklog(maxUnwritten);
        this.headersReader = headersReader;
        this.thread = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS, new LinkedBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "warren-pager");
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Opens the page-out store in {@code dir}, emptying it first (nothing in it outlives a
     * restart). {@code headersReader} decodes a paged message's headers table when routing
     * needs it again.
     */
    public static FileSpillStore open(Path dir, Function<ByteBuf, Map<String, Object>> headersReader) {
        return open(dir, DEFAULT_SEGMENT_SIZE, headersReader);
    }

    public static FileSpillStore open(Path dir, long segmentSize, Function<ByteBuf, Map<String, Object>> headersReader) {
        return open(dir, segmentSize, DEFAULT_MAX_UNWRITTEN, headersReader);
    }

    /** With a bound on what may wait for the pager thread (see {@link #overloaded()}). */
    public static FileSpillStore open(Path dir, long segmentSize, long maxUnwritten,
                                      Function<ByteBuf, Map<String, Object>> headersReader) {
        try {
            empty(dir);
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new StoreException("cannot empty the page-out directory " + dir + ": " + e, e);
        }
        return new FileSpillStore(dir, segmentSize, maxUnwritten, headersReader);
    }

    /** True while the chunks waiting for the pager thread are past their bound. Any thread. */
    @Override
    public boolean overloaded() {
        return unwritten.overloaded();
    }

    /** Runs {@code callback} on {@code executor} once the pager has written half of its bound, or at once. */
    @Override
    public void whenDrained(java.util.concurrent.Executor executor, Runnable callback) {
        unwritten.whenDrained(executor, callback);
    }

    /** Bytes handed to the pager and not written yet (for tests and the bound). */
    long unwritten() {
        return unwritten.bytes();
    }

    private static void empty(Path dir) throws IOException {
        if (Files.exists(dir)) {
            try (var walk = Files.walk(dir)) {
                for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }
    }

    @Override
    public Spill open(String owner) {
        FileSpill s = new FileSpill(ids.incrementAndGet(), owner);
        open.add(s);
        return s;
    }

    /** Entries paged out so far (all spills). */
    public long spilled() {
        return spilled.sum();
    }

    /** Chunks that could not be written and stayed in memory. */
    public long failedWrites() {
        return failedWrites.get();
    }

    public Path directory() {
        return dir;
    }

    @Override
    public void close() {
        try {
            thread.execute(() -> {
                for (FileSpill s : open) {
                    s.dropAll(null);
                }
                open.clear();
                if (block != null) {
                    block.release();
                    block = null;
                }
            });
        } catch (RejectedExecutionException alreadyClosed) {
            return;
        }
        thread.shutdown();
        boolean interrupted = false;
        while (true) {
            try {
                if (thread.awaitTermination(1, TimeUnit.MINUTES)) {
                    break;
                }
                log.warn("page-out store {}: still closing", dir);
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        try {
            empty(dir);
        } catch (IOException e) {
            log.warn("page-out store {}: cannot delete what is left: {}", dir, e.toString());
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** A segment: a file, or (after a failed write) a chunk kept in memory. Pager thread only. */
    private static final class Segment {
        final Path path;
        final FileChannel channel;
        final ByteBuf memory;
        /** Bytes of whole records in it. */
        long size;
        /** Takes no more writes (a write failed, or it is a memory segment). */
        boolean sealed;

        Segment(Path path, FileChannel channel) {
            this.path = path;
            this.channel = channel;
            this.memory = null;
        }

        Segment(ByteBuf memory) {
            this.path = null;
            this.channel = null;
            this.memory = memory;
            this.size = memory.readableBytes();
            this.sealed = true;
        }

        /** Reads {@code len} bytes at {@code pos} into {@code dst} (appended). */
        void read(long pos, int len, ByteBuf dst) throws IOException {
            if (memory != null) {
                dst.writeBytes(memory, memory.readerIndex() + (int) pos, len);
                return;
            }
            int end = dst.writerIndex() + len;
            while (dst.writerIndex() < end) {
                int n = dst.writeBytes(channel, pos, end - dst.writerIndex());
                if (n < 0) {
                    throw new IOException("unexpected end of " + path + " at " + pos);
                }
                pos += n;
            }
        }

        void drop() {
            if (memory != null) {
                memory.release();
                return;
            }
            try {
                channel.close();
                Files.deleteIfExists(path);
            } catch (IOException e) {
                log.warn("cannot delete page-out file {}: {}", path, e.toString());
            }
        }
    }

    private final class FileSpill implements Spill {
        private final long id;
        private final String owner;
        // ---- the queue's loop
        private ByteBuf chunk;
        // ---- the pager thread
        private final ArrayDeque<Segment> segments = new ArrayDeque<>();
        /** Read position in the head segment. */
        private long readPos;
        private int nextSegment;
        /** Where the sweep in progress stopped (null: none). */
        private Segment sweepSeg;
        private long sweepPos;
        /** Every record before it has been swept: where a sweep that re-times nothing starts. */
        private Segment cleanSeg;
        private long cleanPos;
        /** Whether every record the sweep in progress passed was swept (it moves the clean mark). */
        private boolean sweepClean;
        private final java.nio.ByteBuffer mark = java.nio.ByteBuffer.allocate(9);

        FileSpill(long id, String owner) {
            this.id = id;
            this.owner = owner;
        }

        @Override
        public void append(QueueEntry e) {
            Message m = e.message();
            boolean loaded = m.loaded();
            ByteBuf props = loaded ? m.properties() : Unpooled.EMPTY_BUFFER;
            ByteBuf body = loaded ? m.body() : Unpooled.EMPTY_BUFFER;
            int ex = ByteBufUtil.utf8Bytes(m.exchange());
            int rk = ByteBufUtil.utf8Bytes(m.routingKey());
            int size = FIXED + ex + rk + props.readableBytes() + body.readableBytes();
            if (chunk != null && chunk.writableBytes() < size) {
                flush();
            }
            if (chunk == null) {
                chunk = ByteBufAllocator.DEFAULT.directBuffer(Math.max(CHUNK, size));
            }
            chunk.writeInt(size - 4);
            chunk.writeLong(e.seq());
            chunk.writeLong(e.ref());
            chunk.writeLong(e.expiresAt());
            chunk.writeByte((m.persistent() ? PERSISTENT : 0) | (e.redelivered() ? REDELIVERED : 0)
                    | (loaded ? 0 : CONTENT_IN_STORE) | (e.ownExpiry() ? OWN_EXPIRY : 0));
            chunk.writeLong(e.enqueuedAt());
            chunk.writeLong(m.ttl());
            chunk.writeShort(ex);
            ByteBufUtil.reserveAndWriteUtf8(chunk, m.exchange(), ex);
            chunk.writeShort(rk);
            ByteBufUtil.reserveAndWriteUtf8(chunk, m.routingKey(), rk);
            chunk.writeInt(props.readableBytes());
            chunk.writeBytes(props, props.readerIndex(), props.readableBytes());
            chunk.writeInt(loaded ? body.readableBytes() : m.bodySize());
            chunk.writeBytes(body, body.readerIndex(), body.readableBytes());
            spilled.increment();
        }

        /** Hands the chunk in progress to the pager. */
        private void flush() {
            ByteBuf c = chunk;
            chunk = null;
            if (c == null) {
                return;
            }
            long bytes = c.readableBytes();
            unwritten.added(bytes);
            try {
                thread.execute(() -> {
                    try {
                        write(c);
                    } finally {
                        unwritten.done(bytes);
                    }
                });
            } catch (RejectedExecutionException closed) {
                unwritten.done(bytes);
                c.release();
            }
        }

        @Override
        public void read(int maxEntries, long maxBytes, ReadSink sink) {
            flush();
            try {
                thread.execute(() -> {
                    List<QueueEntry> out = new ArrayList<>();
                    try {
                        readInto(out, maxEntries, maxBytes);
                    } catch (IOException | RuntimeException | OutOfMemoryError e) {
                        for (QueueEntry q : out) {
                            q.message().release();
                        }
                        sink.read(List.of(), e);
                        return;
                    }
                    sink.read(out, null);
                });
            } catch (RejectedExecutionException closed) {
                sink.read(List.of(), new StoreException("page-out store " + dir + " is closed"));
            }
        }

        @Override
        public void sweep(Sweep sweep, SweepSink sink) {
            flush();
            try {
                thread.execute(() -> {
                    List<QueueEntry> out = new ArrayList<>();
                    boolean more;
                    try {
                        more = sweepInto(sweep, sink, out);
                    } catch (IOException | RuntimeException | OutOfMemoryError e) {
                        sweepSeg = null;
                        sink.swept(out, false, e); // those are marked swept: they must not be lost
                        return;
                    }
                    sink.swept(out, more, null);
                });
            } catch (RejectedExecutionException closed) {
                sink.swept(List.of(), false, new StoreException("page-out store " + dir + " is closed"));
            }
        }

        @Override
        public void clear(RefSink storeRefs) {
            flush();
            submitQuietly(() -> dropAll(storeRefs));
        }

        @Override
        public void delete() {
            if (chunk != null) {
                chunk.release();
                chunk = null;
            }
            submitQuietly(() -> {
                dropAll(null);
                open.remove(this);
            });
        }

        private void submitQuietly(Runnable task) {
            try {
                thread.execute(task);
            } catch (RejectedExecutionException closed) {
                // the store is closed: close() dropped every segment and emptied the directory
            }
        }

        // ---- pager thread ---------------------------------------------------------------

        private void write(ByteBuf c) {
            try {
                Segment tail = segments.peekLast();
                if (tail == null || tail.sealed || (tail.size > 0 && tail.size + c.readableBytes() > segmentSize)) {
                    tail = newFileSegment();
                    segments.addLast(tail);
                }
                long pos = tail.size;
                while (c.isReadable()) {
                    pos += c.readBytes(tail.channel, pos, c.readableBytes());
                }
                tail.size = pos;
                c.release();
            } catch (IOException | RuntimeException e) {
                Segment last = segments.peekLast();
                if (last != null) {
                    last.sealed = true; // its size still ends at the last whole chunk
                }
                c.readerIndex(0);
                segments.addLast(new Segment(c)); // kept in memory: nothing is lost
                failedWrites.incrementAndGet();
                long now = System.nanoTime();
                if (now - lastWriteFailureLog > TimeUnit.SECONDS.toNanos(10)) {
                    lastWriteFailureLog = now;
                    log.error("page-out store {}: cannot write for {} ({}); keeping its messages in memory",
                            dir, owner, e.toString());
                }
            }
        }

        private Segment newFileSegment() throws IOException {
            Path p = dir.resolve(id + "-" + (nextSegment++) + ".spill");
            return new Segment(p, FileChannel.open(p, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                    StandardOpenOption.WRITE));
        }

        private void readInto(List<QueueEntry> out, int maxEntries, long maxBytes) throws IOException {
            long bytes = 0;
            while (out.size() < maxEntries && (out.isEmpty() || bytes < maxBytes)) {
                Segment head = segments.peekFirst();
                if (head == null) {
                    return;
                }
                if (readPos >= head.size) {
                    if (head != segments.peekLast() || head.sealed) {
                        segments.pollFirst().drop();
                        readPos = 0;
                        continue;
                    }
                    // Everything written has been read: start the file over instead of growing it.
                    if (cleanSeg == head) {
                        cleanSeg = null;
                    }
                    if (sweepSeg == head) {
                        sweepSeg = null;
                    }
                    head.channel.truncate(0);
                    head.size = 0;
                    readPos = 0;
                    return;
                }
                int want = (int) Math.min(head.size - readPos, Math.max(BLOCK, maxBytes));
                ByteBuf b = block(want);
                head.read(readPos, want, b);
                while (b.readableBytes() >= 4 && out.size() < maxEntries && (out.isEmpty() || bytes < maxBytes)) {
                    int len = b.getInt(b.readerIndex());
                    if (len < FIXED - 4 || readPos + 4 + len > head.size) {
                        throw new IOException("page-out file " + head.path + " is corrupt at " + readPos);
                    }
                    if (b.readableBytes() < 4 + len) {
                        if (b.readerIndex() == 0) {
                            // One record larger than the block: read it whole.
                            b = block(4 + len);
                            head.read(readPos, 4 + len, b);
                            continue;
                        }
                        break;
                    }
                    QueueEntry e = decode(b);
                    out.add(e);
                    bytes += e.message().bodySize();
                    readPos += 4 + len;
                }
            }
        }

        /** One sweep step (see {@link Spill#sweep}); true when it stopped before the end. */
        private boolean sweepInto(Sweep sw, SweepSink sink, List<QueueEntry> out) throws IOException {
            Segment seg;
            long pos;
            long skip = sw.skip();
            if (skip > 0) {
                seg = segments.peekFirst();
                pos = readPos;
                sweepClean = false;
            } else if (sw.resume() && sweepSeg != null && segments.contains(sweepSeg)) {
                seg = sweepSeg;
                pos = sweepPos;
            } else if (!sw.retime() && cleanSeg != null && segments.contains(cleanSeg)) {
                seg = cleanSeg;
                pos = cleanPos;
                sweepClean = true;
            } else {
                seg = segments.peekFirst();
                pos = readPos;
                sweepClean = true;
            }
            sweepSeg = null;
            if (seg == null) {
                return false;
            }
            if (seg == segments.peekFirst()) {
                pos = Math.max(pos, readPos); // reads since took records off the head
            }
            long scanned = 0;
            long bytes = 0;
            boolean started = false;
            for (Segment s : segments) {
                if (!started) {
                    if (s != seg) {
                        continue;
                    }
                    started = true;
                } else {
                    pos = 0;
                }
                while (pos < s.size) {
                    if (out.size() >= sw.maxEntries() || (!out.isEmpty() && bytes >= sw.maxBytes())
                            || scanned >= SWEEP_SCAN) {
                        sweepSeg = s;
                        sweepPos = pos;
                        return true;
                    }
                    if (out.size() >= sw.want()) {
                        return false;
                    }
                    int want = (int) Math.min(s.size - pos, BLOCK);
                    ByteBuf b = block(want);
                    s.read(pos, want, b);
                    int advanced = 0;
                    while (b.readableBytes() >= 4 && out.size() < sw.maxEntries() && out.size() < sw.want()
                            && (out.isEmpty() || bytes < sw.maxBytes())) {
                        int at = b.readerIndex();
                        int len = b.getInt(at);
                        if (len < FIXED - 4 || pos + advanced + 4 + len > s.size) {
                            throw new IOException("page-out file " + s.path + " is corrupt at " + (pos + advanced));
                        }
                        if (b.readableBytes() < 4 + len) {
                            if (advanced == 0) {
                                b = block(4 + len); // one record larger than the block
                                s.read(pos, 4 + len, b);
                                continue;
                            }
                            break;
                        }
                        long recordAt = pos + advanced;
                        int flags = b.getByte(at + FLAGS_AT);
                        if (skip > 0) {
                            skip--;
                        } else if ((flags & SWEPT) == 0) {
                            long old = b.getLong(at + EXPIRY_AT);
                            long expiresAt = old;
                            boolean own = (flags & OWN_EXPIRY) != 0;
                            if (sw.retime()) {
                                long enqueued = b.getLong(at + ENQUEUED_AT);
                                long ownTtl = b.getLong(at + ENQUEUED_AT + 8);
                                if (old != QueueEntry.NEVER && old <= sw.retimeAt()) {
                                    expiresAt = old; // it had expired before the TTL changed
                                } else if (enqueued != QueueEntry.UNKNOWN) {
                                    expiresAt = QueueEntry.expiry(enqueued, ownTtl, sw.ttl());
                                    own = QueueEntry.ownDecides(ownTtl, sw.ttl());
                                }
                            }
                            if (expiresAt != QueueEntry.NEVER && expiresAt <= sw.now()) {
                                QueueEntry e = decode(b.slice(at, 4 + len));
                                e.expiresAt(expiresAt, own);
                                try {
                                    rewrite(s, recordAt, expiresAt,
                                            (own ? flags | OWN_EXPIRY : flags & ~OWN_EXPIRY) | SWEPT);
                                } catch (IOException | RuntimeException failed) {
                                    e.message().release(); // not marked: it stays on disk, live
                                    throw failed;
                                }
                                if (expiresAt != old) {
                                    sink.retimed(old, expiresAt, e.message().bodySize());
                                }
                                out.add(e);
                                bytes += e.message().bodySize();
                            } else {
                                sweepClean = false;
                                if (expiresAt != old) {
                                    rewrite(s, recordAt, expiresAt, own ? flags | OWN_EXPIRY : flags & ~OWN_EXPIRY);
                                    sink.retimed(old, expiresAt, bodySize(b, at));
                                }
                            }
                        }
                        b.skipBytes(4 + len);
                        advanced += 4 + len;
                        if (sweepClean) {
                            cleanSeg = s;
                            cleanPos = recordAt + 4 + len;
                        }
                    }
                    if (advanced == 0 && out.size() < sw.maxEntries() && out.size() < sw.want()
                            && (out.isEmpty() || bytes < sw.maxBytes())) {
                        throw new IOException("page-out file " + s.path + " is corrupt at " + pos);
                    }
                    pos += advanced; // (nothing when a limit stopped it: the checks above end the step)
                    scanned += advanced;
                }
            }
            return false;
        }

        /** The body size in the record at {@code at} of {@code b}. */
        private static int bodySize(ByteBuf b, int at) {
            int i = at + ENQUEUED_AT + 16;
            i += 2 + b.getUnsignedShort(i);
            i += 2 + b.getUnsignedShort(i);
            i += 4 + b.getInt(i);
            return b.getInt(i);
        }

        /** Writes a record's expiry and flags in place. */
        private void rewrite(Segment s, long recordAt, long expiresAt, int flags) throws IOException {
            if (s.memory != null) {
                int i = s.memory.readerIndex() + (int) recordAt;
                s.memory.setLong(i + EXPIRY_AT, expiresAt);
                s.memory.setByte(i + FLAGS_AT, flags);
                return;
            }
            mark.clear();
            mark.putLong(expiresAt).put((byte) flags).flip();
            long p = recordAt + EXPIRY_AT;
            while (mark.hasRemaining()) {
                p += s.channel.write(mark, p);
            }
        }

        private ByteBuf block(int capacity) {
            if (block == null || block.capacity() < capacity) {
                if (block != null) {
                    block.release();
                }
                block = ByteBufAllocator.DEFAULT.directBuffer(Math.max(capacity, BLOCK));
            }
            block.clear();
            return block;
        }

        private QueueEntry decode(ByteBuf b) {
            b.skipBytes(4);
            long seq = b.readLong();
            long ref = b.readLong();
            long expiresAt = b.readLong();
            int flags = b.readByte();
            long enqueuedAt = b.readLong();
            long ownTtl = b.readLong();
            String exchange = b.readCharSequence(b.readUnsignedShort(), StandardCharsets.UTF_8).toString();
            String routingKey = b.readCharSequence(b.readUnsignedShort(), StandardCharsets.UTF_8).toString();
            int p = b.readInt();
            int propsAt = b.readerIndex();
            b.skipBytes(p);
            int n = b.readInt();
            if ((flags & (CONTENT_IN_STORE | SWEPT)) != 0) {
                boolean swept = (flags & SWEPT) != 0;
                if (swept && (flags & CONTENT_IN_STORE) == 0) {
                    b.skipBytes(n);
                }
                Message m = Message.recovered(exchange, routingKey, n);
                m.ttl(ownTtl);
                // a swept entry's slot went with the sweep: this placeholder holds none
                QueueEntry e = new QueueEntry(m, seq, (flags & REDELIVERED) != 0, swept ? QueueEntry.NOT_STORED : ref);
                e.expiresAt(expiresAt, (flags & OWN_EXPIRY) != 0);
                e.enqueuedAt(enqueuedAt);
                if (swept) {
                    e.markSwept();
                }
                return e;
            }
            ByteBuf content = ByteBufAllocator.DEFAULT.directBuffer(p + n, p + n);
            content.writeBytes(b, propsAt, p);
            content.writeBytes(b, n);
            Message m = Message.restored(exchange, routingKey, content, p, (flags & PERSISTENT) != 0, headersReader);
            m.ttl(ownTtl);
            QueueEntry e = new QueueEntry(m, seq, (flags & REDELIVERED) != 0, ref);
            e.expiresAt(expiresAt, (flags & OWN_EXPIRY) != 0);
            e.enqueuedAt(enqueuedAt);
            return e;
        }

        /** Drops every segment, telling {@code storeRefs} the store slots of the unread entries. */
        void dropAll(RefSink storeRefs) {
            if (storeRefs != null) {
                try {
                    scanRefs(storeRefs);
                } catch (IOException | RuntimeException e) {
                    log.error("page-out store {}: cannot read the store slots of {}'s purged messages ({}); "
                            + "they come back at the next restart", dir, owner, e.toString());
                }
            }
            Segment s;
            while ((s = segments.pollFirst()) != null) {
                s.drop();
            }
            readPos = 0;
            sweepSeg = null;
            cleanSeg = null;
        }

        private void scanRefs(RefSink storeRefs) throws IOException {
            long pos = readPos;
            for (Segment s : segments) {
                while (pos < s.size) {
                    int want = (int) Math.min(s.size - pos, BLOCK);
                    ByteBuf b = block(want);
                    s.read(pos, want, b);
                    int advanced = 0;
                    while (b.readableBytes() >= FLAGS_AT + 1) {
                        int len = b.getInt(b.readerIndex());
                        long ref = b.getLong(b.readerIndex() + 4 + 8);
                        // a swept entry's slot is freed by whoever the sweep handed it to
                        if (ref != QueueEntry.NOT_STORED && (b.getByte(b.readerIndex() + FLAGS_AT) & SWEPT) == 0) {
                            storeRefs.ref(ref);
                        }
                        advanced += 4 + len;
                        if (b.readableBytes() < 4 + len) {
                            break;
                        }
                        b.skipBytes(4 + len);
                    }
                    if (advanced == 0) {
                        throw new IOException("page-out file " + s.path + " is corrupt at " + pos);
                    }
                    pos += advanced;
                }
                pos = 0;
            }
        }

        @Override
        public String toString() {
            return "spill " + id + " of " + owner;
        }
    }
}
