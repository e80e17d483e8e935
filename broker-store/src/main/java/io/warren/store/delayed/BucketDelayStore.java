package io.warren.store.delayed;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.warren.core.message.Message;
import io.warren.core.store.DelayStore;
import io.warren.core.store.MessageStore;
import io.warren.core.store.StoreException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Function;

/**
 * The delayed-message schedule as time buckets on disk: a message due at {@code t} is appended
 * to the file of bucket {@code t / BUCKET_MS} ({@code <bucket>.dly} in its directory), so the
 * heap holds only the buckets due within {@link #LOOKAHEAD_MS} (a priority queue by due time,
 * then arrival) and a counter per bucket and per exchange; millions of waiting messages cost
 * the heap nothing each. A bucket's file is deleted once every message in it was routed and
 * is as safe as it will be in its queues.
 *
 * <p>Two threads. The timer ("warren-delayed") appends new messages (one write per bucket touched
 * per batch, into the page cache), loads the next bucket ahead of time and routes due messages:
 * it parks until the earlier of the next due message and the next bucket to load, and is
 * unparked by new work. One timer for the node, none per message. The forcer
 * ("warren-delayed-sync") makes the appended files durable by group commit (one force per file
 * touched since its last round, then the callbacks: a publisher confirm follows the force), so a
 * slow disk delays confirms, never routing (measured: with forces on the timer thread a busy
 * disk made messages 100+ ms late). No caller (an event loop) ever waits for a disk.
 *
 * <p>Crash safety: records are length-prefixed and checksummed; start-up reads every bucket,
 * cuts a torn tail, and keeps the durable records (persistent messages of durable exchanges)
 * of exchanges that still exist; the others (transient, or of a non-durable exchange) were
 * written only to keep memory bounded and are skipped. A message routed shortly before a crash
 * whose bucket was not yet deleted is routed again after the restart (at least once).
 */
public final class BucketDelayStore implements DelayStore {
    private static final Logger log = LoggerFactory.getLogger(BucketDelayStore.class);

    /** Width of a time bucket: one file per second of due times (600 files for a 10 minute spread). */
    static final long BUCKET_MS = 1000;
    /** A bucket is read into memory this long before it starts, so loading never makes a message late. */
    static final long LOOKAHEAD_MS = 1000;
    /**
     * Messages held in memory before loading the next bucket waits (a backlog that came due
     * during a long downtime is loaded bucket by bucket as it drains, not all at once).
     */
    static final int MAX_LOADED = 200_000;
    /** Schedules written per batch (one group commit), so routing gets the thread between batches. */
    static final int BATCH = 20_000;
    /** Messages routed per turn before new schedules are written again. */
    static final int ROUTE_QUANTUM = 5_000;
    /** Schedules waiting for their write past which publishers are paused ({@link #overloaded}). */
    static final int BACKLOG_BOUND = 50_000;

    private static final String SUFFIX = ".dly";

    private final Path dir;
    private final Function<ByteBuf, Map<String, Object>> headersReader;
    private final ConcurrentLinkedQueue<Object> ops = new ConcurrentLinkedQueue<>();
    private final AtomicInteger backlog = new AtomicInteger();
    private final List<Runnable> drainWaiters = new ArrayList<>();
    /** Waiting messages per exchange ({@link #key}); any thread reads. */
    private final ConcurrentHashMap<String, AtomicLong> counts = new ConcurrentHashMap<>();
    /** Strictly increasing write stamps (µs since the epoch): a record older than its exchange's deletion is dropped. */
    private final AtomicLong lastStamp = new AtomicLong();
    /** Records stamped before this are from before the start: only durable ones count. */
    private final long openedStamp;
    private final Thread thread;
    private final Thread forcer;
    /** Durable appends waiting for their force, in order; the forcer's queue. */
    private final ConcurrentLinkedQueue<Force> forces = new ConcurrentLinkedQueue<>();
    private volatile boolean running = true;
    private volatile boolean forcing = true;
    private volatile Router router;

    // ---- owned by the thread (and by start() before the thread runs)
    private final TreeMap<Long, Bucket> buckets = new TreeMap<>();
    private final PriorityQueue<Entry> due = new PriorityQueue<>();
    /** Every bucket up to this one is in memory: new records for it go to {@link #due} as well. */
    private long loadedThrough = Long.MIN_VALUE;
    private long seq;
    /**
     * Bucket files kept open for appends, least recently used first: a batch of messages with
     * delays spread over minutes touches many buckets, and an open + close per bucket per batch
     * is most of the cost of a write. Bounded well below the usual open-file limit.
     */
    private final LinkedHashMap<Long, FileChannel> open = new LinkedHashMap<>(16, 0.75f, true) {
        @Override protected boolean removeEldestEntry(Map.Entry<Long, FileChannel> eldest) {
            if (size() > MAX_OPEN) {
                closeQuietly(eldest.getValue());
                return true;
            }
            return false;
        }
    };
    static final int MAX_OPEN = 128;
    /** Buckets whose file was created and whose directory entry has not been forced yet. */
    private final Set<Long> newFiles = new HashSet<>();
    /**
     * Routing lateness (ms past the due time when routed) of the current minute, per ms up to
     * {@code LATENESS_SLOTS - 1} (the last slot: that or more); logged once a minute when
     * anything was routed, so an operator (and bench/delayed.sh) sees the timer's own lateness,
     * apart from delivery to consumers.
     */
    private final long[] lateness = new long[LATENESS_SLOTS];
    static final int LATENESS_SLOTS = 1001;
    private long latenessSince = System.currentTimeMillis();
    private long latenessMax;
    /** Exchange key to the stamp of its deletion: older records of that key are dropped when due. */
    private final Map<String, Long> tombstones = new HashMap<>();

    private BucketDelayStore(Path dir, Function<ByteBuf, Map<String, Object>> headersReader) {
        this.dir = dir;
        this.headersReader = headersReader;
        this.openedStamp = stamp();
        this.thread = new Thread(this::run, "warren-delayed");
        thread.setDaemon(true);
        this.forcer = new Thread(this::runForcer, "warren-delayed-sync");
        forcer.setDaemon(true);
    }

    /** Opens (creates) the schedule in {@code dir}; {@link #start} recovers it and starts the timer. */
    public static BucketDelayStore open(Path dir, Function<ByteBuf, Map<String, Object>> headersReader) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new StoreException("cannot create " + dir + ": " + e.getMessage(), e);
        }
        return new BucketDelayStore(dir, headersReader);
    }

    private long stamp() {
        long now = System.currentTimeMillis() * 1000;
        return lastStamp.updateAndGet(last -> Math.max(last + 1, now));
    }

    static String key(String vhost, String exchange) {
        return vhost + '\u0000' + exchange;
    }

    // ---- the SPI: any thread -------------------------------------------------------------

    @Override public void schedule(String vhost, String exchange, Message message, long dueAt, boolean durable,
                                   MessageStore.Durable done) {
        ByteBuf record = DelayRecords.encode(vhost, exchange, message, dueAt, durable, stamp());
        backlog.incrementAndGet();
        ops.add(new Schedule(Math.floorDiv(dueAt, BUCKET_MS), dueAt, durable, key(vhost, exchange), record, done));
        LockSupport.unpark(thread);
    }

    @Override public void sync(MessageStore.Durable done) {
        // Through the timer's queue: it passes the request to the forcer after the appends before it.
        ops.add(new Sync(done));
        LockSupport.unpark(thread);
    }

    @Override public boolean overloaded() {
        return backlog.get() > BACKLOG_BOUND;
    }

    @Override public void whenDrained(Executor executor, Runnable callback) {
        synchronized (drainWaiters) {
            if (overloaded()) {
                drainWaiters.add(() -> executor.execute(callback));
                return;
            }
        }
        executor.execute(callback);
    }

    @Override public long waiting(String vhost, String exchange) {
        AtomicLong n = counts.get(key(vhost, exchange));
        return n == null ? 0 : Math.max(0, n.get());
    }

    @Override public Map<String, Map<String, Long>> waiting() {
        Map<String, Map<String, Long>> out = new TreeMap<>();
        counts.forEach((k, n) -> {
            long v = n.get();
            if (v > 0) {
                int i = k.indexOf('\u0000');
                out.computeIfAbsent(k.substring(0, i), x -> new TreeMap<>()).put(k.substring(i + 1), v);
            }
        });
        return out;
    }

    @Override public void exchangeDeleted(String vhost, String exchange) {
        ops.add(new Deleted(key(vhost, exchange), stamp()));
        LockSupport.unpark(thread);
    }

    @Override public void start(Router r) {
        this.router = r;
        recover();
        forcer.start();
        thread.start();
    }

    @Override public void close() {
        running = false;
        LockSupport.unpark(thread);
        if (thread.isAlive()) {
            try {
                thread.join(TimeUnit.SECONDS.toMillis(30));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        } else {
            failPending(new StoreException("delayed-message store closed"));
        }
        forcing = false; // after the timer: its last appends are forced before the forcer stops
        LockSupport.unpark(forcer);
        if (forcer.isAlive()) {
            try {
                forcer.join(TimeUnit.SECONDS.toMillis(30));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (Entry e : due) {
            e.payload.release();
        }
        due.clear();
    }

    private Path file(long bucket) {
        return dir.resolve(bucket + SUFFIX);
    }

    // ---- recovery (start-up, before the thread runs) ---------------------------------------

    private void recover() {
        List<Path> files = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*" + SUFFIX)) {
            ds.forEach(files::add);
        } catch (IOException e) {
            throw new StoreException("cannot list " + dir + ": " + e.getMessage(), e);
        }
        long recovered = 0;
        Map<String, Boolean> exists = new HashMap<>();
        for (Path f : files) {
            String name = f.getFileName().toString();
            long key;
            try {
                key = Long.parseLong(name.substring(0, name.length() - SUFFIX.length()));
            } catch (NumberFormatException e) {
                log.warn("ignoring {}: not a delayed-message bucket", f);
                continue;
            }
            ByteBuf content;
            try {
                content = Unpooled.wrappedBuffer(Files.readAllBytes(f));
            } catch (IOException e) {
                throw new StoreException("cannot read " + f + ": " + e.getMessage(), e);
            }
            Bucket b = new Bucket(key);
            int valid = DelayRecords.scan(content, payload -> {
                DelayRecords.Head h = DelayRecords.head(payload);
                if (!h.durable()) {
                    return; // transient or of a non-durable exchange: gone with the restart
                }
                b.live++;
                String k = h.key();
                if (exists.computeIfAbsent(k, x -> router.exists(h.vhost(), h.exchange()))) {
                    counts.computeIfAbsent(k, x -> new AtomicLong()).incrementAndGet();
                } else {
                    tombstones.put(k, openedStamp); // its exchange is gone: dropped when due
                }
            });
            if (valid < content.writerIndex()) {
                log.warn("{}: cutting {} bytes of a torn or corrupt tail after the last whole record", f,
                        content.writerIndex() - valid);
                try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
                    ch.truncate(valid);
                    ch.force(true);
                } catch (IOException e) {
                    throw new StoreException("cannot truncate " + f + ": " + e.getMessage(), e);
                }
            }
            content.release();
            if (b.live == 0) {
                delete(f);
            } else {
                buckets.put(key, b);
                recovered += b.live;
            }
        }
        if (recovered > 0) {
            log.info("recovered {} delayed messages in {} time buckets", recovered, buckets.size());
        }
    }

    private static void closeQuietly(FileChannel ch) {
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException e) {
                log.warn("cannot close a delayed-message bucket file: {}", e.toString());
            }
        }
    }

    private static void delete(Path f) {
        try {
            Files.deleteIfExists(f);
        } catch (IOException e) {
            log.warn("cannot delete {}: {}", f, e.toString());
        }
    }

    // ---- the thread ------------------------------------------------------------------------

    private void run() {
        try {
            while (true) {
                boolean stopping = !running;
                int done = processOps();
                long now = System.currentTimeMillis();
                int routed = routeDue(now);
                loadBuckets(now);
                sweep(now);
                if (stopping && ops.isEmpty()) {
                    break;
                }
                if (done > 0 || routed >= ROUTE_QUANTUM || !ops.isEmpty()) {
                    continue;
                }
                long next = nextWake();
                now = System.currentTimeMillis();
                if (next <= now) {
                    continue;
                }
                if (!running) {
                    continue;
                }
                // Millisecond due times: park until the millisecond starts (never wake early and route late).
                LockSupport.parkNanos(this, next == Long.MAX_VALUE ? TimeUnit.SECONDS.toNanos(10)
                        : TimeUnit.MILLISECONDS.toNanos(next - now));
            }
        } catch (Throwable t) {
            log.error("the delayed-message thread failed; delayed messages are no longer routed", t);
        }
        logLateness(System.currentTimeMillis()); // the last, partial minute
        failPending(new StoreException("delayed-message store closed"));
        open.values().forEach(BucketDelayStore::closeQuietly);
        open.clear();
    }

    /** When there is something to do next: the first due message, or the next bucket to load. */
    private long nextWake() {
        long next = Long.MAX_VALUE;
        Entry first = due.peek();
        if (first != null) {
            next = first.due;
        }
        Map.Entry<Long, Bucket> unloaded = buckets.higherEntry(loadedThrough);
        if (unloaded != null && due.size() < MAX_LOADED) {
            next = Math.min(next, unloaded.getKey() * BUCKET_MS - LOOKAHEAD_MS);
        }
        return next;
    }

    private void failPending(Throwable failure) {
        Object op;
        while ((op = ops.poll()) != null) {
            if (op instanceof Schedule s) {
                s.record.release();
                backlog.decrementAndGet();
                s.done.done(failure);
            } else if (op instanceof Sync s) {
                s.done.done(failure);
            }
        }
    }

    /** Writes up to {@link #BATCH} new messages as one group commit; applies the other requests. Returns how many ops. */
    private int processOps() {
        List<Schedule> batch = new ArrayList<>();
        List<MessageStore.Durable> syncs = new ArrayList<>();
        int n = 0;
        Object op;
        while (batch.size() < BATCH && (op = ops.poll()) != null) {
            n++;
            if (op instanceof Schedule s) {
                batch.add(s);
            } else if (op instanceof Sync s) {
                syncs.add(s.done);
            } else if (op instanceof Settled s) {
                settle(s.bucket);
            } else if (op instanceof Deleted d) {
                // Here, in order with the writes: those before were counted, those after are not.
                tombstones.put(d.key, d.stamp);
                counts.remove(d.key);
            }
        }
        if (!batch.isEmpty()) {
            write(batch);
        }
        if (!syncs.isEmpty()) {
            // Completed by the forcer after the forces of everything appended before.
            forces.add(new Force(Set.of(), false, List.of(), syncs));
            LockSupport.unpark(forcer);
        }
        if (n > 0) {
            drained();
        }
        return n;
    }

    /** Runs the {@link #whenDrained} callbacks once the backlog is under its bound. */
    private void drained() {
        if (overloaded()) {
            return;
        }
        List<Runnable> waiters;
        synchronized (drainWaiters) {
            waiters = new ArrayList<>(drainWaiters);
            drainWaiters.clear();
        }
        waiters.forEach(Runnable::run);
    }

    private void write(List<Schedule> batch) {
        Map<Long, List<Schedule>> byBucket = new LinkedHashMap<>();
        for (Schedule s : batch) {
            byBucket.computeIfAbsent(s.bucket, k -> new ArrayList<>()).add(s);
        }
        boolean newDurableFile = false;
        List<Schedule> written = new ArrayList<>(batch.size());
        Set<Path> toForce = new HashSet<>();
        for (Map.Entry<Long, List<Schedule>> e : byBucket.entrySet()) {
            List<Schedule> group = e.getValue();
            Path f = file(e.getKey());
            boolean durable = group.stream().anyMatch(s -> s.durable);
            long before = -1;
            try {
                FileChannel ch = open.get(e.getKey());
                if (ch == null) {
                    if (!Files.exists(f)) {
                        newFiles.add(e.getKey());
                    }
                    ch = FileChannel.open(f, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                            StandardOpenOption.APPEND);
                    open.put(e.getKey(), ch);
                }
                before = ch.size();
                ByteBuffer[] bufs = new ByteBuffer[group.size()];
                long total = 0;
                for (int i = 0; i < bufs.length; i++) {
                    bufs[i] = group.get(i).record.nioBuffer();
                    total += bufs[i].remaining();
                }
                while (total > 0) {
                    total -= ch.write(bufs);
                }
                // The first durable record of a new file needs the directory entry forced too.
                newDurableFile |= durable && newFiles.remove(e.getKey());
                if (durable) {
                    toForce.add(f);
                }
                written.addAll(group);
            } catch (IOException | RuntimeException ex) {
                log.error("cannot write delayed messages to {}", f, ex);
                closeQuietly(open.remove(e.getKey()));
                if (before >= 0) {
                    // A partial record in the middle of the file would hide the records after it.
                    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
                        ch.truncate(before);
                    } catch (IOException again) {
                        log.error("cannot cut the partial write off {}", f, again);
                    }
                }
                for (Schedule s : group) {
                    s.record.release();
                    backlog.decrementAndGet();
                    s.done.done(ex);
                }
            }
        }
        List<Schedule> durable = new ArrayList<>();
        for (Schedule s : written) {
            Bucket b = buckets.computeIfAbsent(s.bucket, Bucket::new);
            if (s.bucket <= loadedThrough) {
                b.loaded = true;
            }
            b.live++;
            Long tomb = tombstones.get(s.key);
            if (tomb == null || DelayRecords.stampOf(s.record) > tomb) {
                counts.computeIfAbsent(s.key, k -> new AtomicLong()).incrementAndGet();
            }
            if (b.loaded) {
                due.add(new Entry(s.due, seq++, b, DelayRecords.payload(s.record)));
            }
            s.record.release();
            if (s.durable) {
                durable.add(s);
            } else {
                backlog.decrementAndGet();
                s.done.done(null); // not to be kept across a restart: written is enough
            }
        }
        if (!durable.isEmpty()) {
            forces.add(new Force(toForce, newDurableFile, durable, List.of()));
            LockSupport.unpark(forcer);
        }
    }

    // ---- the forcer ------------------------------------------------------------------------

    /**
     * Group commit: takes every force request waiting, forces each file they name once (and the
     * directory when a file is new: its entry must be durable too), then completes them in order.
     * A file deleted meanwhile held only messages already routed and safe: nothing to force.
     */
    private void runForcer() {
        while (true) {
            List<Force> round = new ArrayList<>();
            Force f;
            while ((f = forces.poll()) != null) {
                round.add(f);
            }
            if (round.isEmpty()) {
                if (!forcing && !thread.isAlive()) {
                    return;
                }
                LockSupport.parkNanos(this, TimeUnit.MILLISECONDS.toNanos(100));
                continue;
            }
            Set<Path> files = new HashSet<>();
            boolean dirToo = false;
            for (Force r : round) {
                files.addAll(r.files);
                dirToo |= r.newFile;
            }
            Throwable failure = null;
            for (Path p : files) {
                try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
                    ch.force(false);
                } catch (java.nio.file.NoSuchFileException gone) {
                    // routed, safe and deleted meanwhile
                } catch (IOException | RuntimeException e) {
                    log.error("cannot force {}", p, e);
                    failure = e;
                }
            }
            if (dirToo) {
                try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
                    d.force(true);
                } catch (IOException e) {
                    log.error("cannot force directory {}", dir, e);
                    failure = e;
                }
            }
            for (Force r : round) {
                for (Schedule s : r.schedules) {
                    backlog.decrementAndGet();
                    s.done.done(failure);
                }
                for (MessageStore.Durable d : r.syncs) {
                    d.done(failure);
                }
            }
            drained();
        }
    }

    /** Routes the messages due by {@code now} (at most a quantum). */
    private int routeDue(long now) {
        int n = 0;
        Entry e;
        while (n < ROUTE_QUANTUM && (e = due.peek()) != null && e.due <= now) {
            due.poll();
            n++;
            long late = System.currentTimeMillis() - e.due;
            lateness[(int) Math.min(LATENESS_SLOTS - 1, Math.max(0, late))]++;
            latenessMax = Math.max(latenessMax, late);
            route(e);
        }
        if (now - latenessSince >= 60_000) {
            logLateness(now);
        }
        return n;
    }

    /** The minute's routing lateness, as one log line; then a new minute. */
    private void logLateness(long now) {
        long total = 0;
        for (long c : lateness) {
            total += c;
        }
        if (total > 0) {
            log.info("routed {} delayed messages in {} s; lateness ms p50 {} p99 {} p99.9 {} max {}, {} waiting",
                    total, (now - latenessSince) / 1000, percentile(total, 0.50), percentile(total, 0.99),
                    percentile(total, 0.999), latenessMax, counts.values().stream().mapToLong(AtomicLong::get).sum());
        }
        java.util.Arrays.fill(lateness, 0);
        latenessMax = 0;
        latenessSince = now;
    }

    private long percentile(long total, double p) {
        long rank = (long) Math.ceil(p * total);
        long seen = 0;
        for (int i = 0; i < LATENESS_SLOTS; i++) {
            seen += lateness[i];
            if (seen >= rank) {
                return i;
            }
        }
        return LATENESS_SLOTS - 1;
    }

    private void route(Entry e) {
        DelayRecords.Head h = DelayRecords.head(e.payload);
        String k = h.key();
        Long tomb = tombstones.get(k);
        if (tomb != null && h.stamp() <= tomb) {
            e.payload.release(); // its exchange was deleted after it was scheduled
            settle(e.bucket);
            return;
        }
        AtomicLong count = counts.get(k);
        if (count != null) {
            count.decrementAndGet();
        }
        Message m = DelayRecords.message(e.payload, headersReader);
        e.payload.release();
        Bucket b = e.bucket;
        try {
            router.route(h.vhost(), h.exchange(), m, failure -> {
                if (failure != null) {
                    // Routed, but not journaled: the bucket stays on disk, to be routed again after a restart.
                    log.error("a delayed message routed from exchange '{}' in vhost '{}' could not be journaled",
                            h.exchange(), h.vhost(), failure);
                } else if (Thread.currentThread() == thread) {
                    settle(b);
                } else {
                    ops.add(new Settled(b));
                    LockSupport.unpark(thread);
                }
            });
        } catch (RuntimeException ex) {
            log.error("cannot route a delayed message from exchange '{}' in vhost '{}'; dropped", h.exchange(),
                    h.vhost(), ex);
            settle(b);
        }
    }

    private void settle(Bucket b) {
        b.live--;
    }

    /** Reads the buckets that start within the look-ahead into memory, in order. */
    private void loadBuckets(long now) {
        long horizon = Math.floorDiv(now + LOOKAHEAD_MS, BUCKET_MS);
        while (due.size() < MAX_LOADED) {
            Map.Entry<Long, Bucket> next = buckets.higherEntry(loadedThrough);
            if (next == null || next.getKey() > horizon) {
                loadedThrough = Math.max(loadedThrough, horizon);
                return;
            }
            load(next.getValue());
            loadedThrough = next.getKey();
        }
    }

    private void load(Bucket b) {
        Path f = file(b.key);
        ByteBuf content;
        try {
            content = Unpooled.wrappedBuffer(Files.readAllBytes(f));
        } catch (IOException e) {
            log.error("cannot read delayed messages from {}; they stay on disk until the next start", f, e);
            b.loaded = true;
            b.live = Integer.MIN_VALUE / 2; // never deleted in this run
            return;
        }
        DelayRecords.scan(content, payload -> {
            DelayRecords.Head h = DelayRecords.head(payload);
            if (h.durable() || h.stamp() >= openedStamp) {
                due.add(new Entry(h.due(), seq++, b, payload.retainedSlice()));
            }
        });
        content.release();
        b.loaded = true;
    }

    /**
     * Deletes the files of loaded buckets whose messages are all routed and safe (a clean stop
     * then leaves nothing to route twice). A later message for such a bucket creates its file
     * again, and goes straight to memory as the bucket is within what is loaded.
     */
    private void sweep(long now) {
        if (loadedThrough == Long.MIN_VALUE) {
            return;
        }
        Iterator<Map.Entry<Long, Bucket>> it = buckets.headMap(loadedThrough, true).entrySet().iterator();
        while (it.hasNext()) {
            Bucket b = it.next().getValue();
            if (b.loaded && b.live == 0) {
                it.remove();
                newFiles.remove(b.key);
                closeQuietly(open.remove(b.key));
                delete(file(b.key));
            }
        }
    }

    // ---- state -------------------------------------------------------------------------------

    /** One time bucket: its file's messages not yet routed and safe. Owner: the thread. */
    private static final class Bucket {
        final long key;
        int live;
        boolean loaded;

        Bucket(long key) {
            this.key = key;
        }
    }

    /** A message in memory, due soon: ordered by due time, then by arrival. */
    private record Entry(long due, long seq, Bucket bucket, ByteBuf payload) implements Comparable<Entry> {
        @Override public int compareTo(Entry o) {
            int c = Long.compare(due, o.due);
            return c != 0 ? c : Long.compare(seq, o.seq);
        }
    }

    private record Schedule(long bucket, long due, boolean durable, String key, ByteBuf record,
                            MessageStore.Durable done) {}

    private record Sync(MessageStore.Durable done) {}

    /** Appends to make durable (their files), then their callbacks; or only callbacks (a sync). */
    private record Force(Set<Path> files, boolean newFile, List<Schedule> schedules,
                         List<MessageStore.Durable> syncs) {}

    private record Settled(Bucket bucket) {}

    private record Deleted(String key, long stamp) {}
}
