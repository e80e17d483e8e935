package io.warren.store.definitions;

import io.warren.core.store.DefinitionStore;
import io.warren.core.store.StoreException;
import io.warren.store.definitions.SnapshotFile.Snapshot;

import io.warren.core.store.MessageStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import io.warren.core.store.DefinitionStore.AccessDefinitions;
import io.warren.core.store.DefinitionStore.PermissionDef;
import io.warren.core.store.DefinitionStore.PolicyDef;
import io.warren.core.store.DefinitionStore.TopicPermissionDef;
import io.warren.core.store.DefinitionStore.UserDef;
import io.warren.core.store.DefinitionStore.VhostDef;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

/**
 * Durable exchanges, queues and bindings, and access control: a snapshot file, {@code definitions.dat}
 * ({@link SnapshotFile}), plus a log of the changes made since, {@code definitions.log}
 * ({@link ChangeLog}). A change updates the in-memory set and queues one log record; it never
 * touches the disk on the caller's thread (an event loop). The thread "warren-definitions"
 * appends what is queued and forces it once per batch (group commit), then completes the
 * {@link #sync} callbacks waiting for it: the broker sends declare-ok and friends from those.
 * Once the log outgrows the snapshot (and 64 KiB), the writer replaces the snapshot with the
 * current set and empties the log, so a change costs O(1) amortized whatever the number of
 * definitions (the snapshot-only store rewrote and fsynced the whole set on every declare:
 * O(n) per declare, O(n^2) for n).
 *
 * <p>Crash safety: the snapshot is replaced atomically (tmp, fsync, rename, directory fsync);
 * log records are CRC-checked and a torn tail is cut off at open. Replaying a log over a newer
 * snapshot (a crash between the snapshot's rename and the log's truncation) changes nothing:
 * each record sets or removes one entry, so a replayed sequence ends where the snapshot is.
 * A write that fails (disk full) fails the callbacks of its batch and is retried with the next
 * change or after a second; memory keeps the change.
 *
 * <p>Queue ids are reserved in blocks: the snapshot and the log hold a ceiling, and at open
 * every id up to it counts as handed out; the ceiling's record precedes any queue using an id
 * under it, so a queue that is on disk always has its id reserved.
 *
 * <p>Threads: methods are synchronized on the store and cheap; the writer takes the queued
 * records under the lock and writes outside it. The caller holds the data-dir lock.
 */
public final class SnapshotDefinitionStore implements DefinitionStore {
    private static final Logger log = LoggerFactory.getLogger(SnapshotDefinitionStore.class);
    /** The file of the MapDB store this one replaces. */
    static final String OLD_MAPDB_FILE = "definitions.db";
    static final int ID_BLOCK = 1_000;
    /** The log is folded into a new snapshot once it is larger than the snapshot and this. */
    static final long MIN_COMPACT_BYTES = 64 << 10;

    private final Path dir;
    private final Path file;
    private final State state;
    /** The last id handed out (or reserved by an earlier run); ids up to state.idCeiling are reserved. */
    private long lastId;
    private boolean closed;
    private final ChangeLog changes;
    /** Records queued for the writer, in order, and the callbacks waiting for them. Guarded by this. */
    private List<byte[]> queued = new ArrayList<>();
    private List<MessageStore.Durable> waiting = new ArrayList<>();
    /** The writer holds records it has not written yet (a batch in flight, or one that failed). */
    private boolean writing;
    private long snapshotBytes;
    private final Thread writer;
    private long commits;

    /** Encoded entries: exchanges and queues by {@link DefinitionEncoding#key}, bindings by their bytes. */
    private record State(long[] idCeiling, TreeMap<String, byte[]> exchanges, TreeMap<String, byte[]> queues,
                         TreeSet<byte[]> bindings, TreeMap<String, byte[]> access) {
        Snapshot snapshot() {
            return new Snapshot(idCeiling[0], new ArrayList<>(exchanges.values()), new ArrayList<>(queues.values()),
                    new ArrayList<>(bindings), new ArrayList<>(access.values()));
        }
    }

    private SnapshotDefinitionStore(Path dir, State state, ChangeLog changes, long snapshotBytes) {
        this.dir = dir;
        this.file = dir.resolve(SnapshotFile.DATA);
        this.state = state;
        this.changes = changes;
        this.snapshotBytes = snapshotBytes;
        this.lastId = state.idCeiling()[0];
        this.writer = new Thread(this::writeLoop, "warren-definitions");
        writer.setDaemon(true);
        writer.start();
    }

    /**
     * Opens {@code dataDir/definitions.dat} and replays {@code definitions.log}, or creates an
     * empty store if the directory has no definitions yet. A damaged, foreign or older file, or
     * a MapDB {@code definitions.db} from before this layout, is refused with a
     * {@link StoreException} naming the file.
     */
    public static SnapshotDefinitionStore open(Path dataDir) {
        try {
            Files.createDirectories(dataDir);
        } catch (IOException e) {
            throw new StoreException("cannot create data directory " + dataDir + ": " + e, e);
        }
        Path file = dataDir.resolve(SnapshotFile.DATA);
        Path tmp = dataDir.resolve(SnapshotFile.TMP);
        try {
            // A leftover tmp file is a snapshot whose rename never happened: not committed.
            Files.deleteIfExists(tmp);
        } catch (IOException e) {
            throw new StoreException("cannot delete the unfinished snapshot " + tmp + ": " + e, e);
        }
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            bytes = null;
        } catch (IOException e) {
            throw new StoreException("cannot read definition store " + file + ": " + e, e);
        }
        State st;
        if (bytes == null) {
            Path old = dataDir.resolve(OLD_MAPDB_FILE);
            if (Files.exists(old)) {
                throw new StoreException("definition store " + old + " is an older layout (MapDB) that this broker "
                        + "does not read: it keeps definitions in " + file + "; there is no migration");
            }
            st = new State(new long[] {0}, new TreeMap<>(), new TreeMap<>(), new TreeSet<>(Arrays::compare),
                    new TreeMap<>());
            bytes = SnapshotFile.encode(st.snapshot());
            try {
                // The file exists from now on: its absence later is not "a new broker".
                SnapshotFile.write(dataDir, bytes);
            } catch (IOException e) {
                throw new StoreException("definition store " + file + ": write failed: " + e, e);
            }
        } else {
            st = validate(file, SnapshotFile.decode(file, bytes));
        }
        ChangeLog changes = ChangeLog.open(dataDir, record -> apply(st, record));
        try {
            checkIds(file, st);
        } catch (StoreException e) {
            changes.close();
            throw e;
        }
        return new SnapshotDefinitionStore(dataDir, st, changes, bytes.length);
    }

    private static void checkIds(Path file, State st) {
        java.util.Set<Long> ids = new java.util.HashSet<>();
        for (byte[] e : st.queues().values()) {
            QueueDef d = DefinitionEncoding.queue(e);
            if (!ids.add(d.id())) {
                throw new StoreException("definition store " + file + " is corrupt: queue id " + d.id()
                        + " is used twice");
            }
            if (d.id() > st.idCeiling()[0]) {
                throw new StoreException("definition store " + file + " is corrupt: queue '" + d.name() + "' has id "
                        + d.id() + ", above the reserved ceiling " + st.idCeiling()[0]);
            }
        }
    }

    /** Decodes every entry once at open, so that damage stops start-up instead of a later load(). */
    private static State validate(Path file, Snapshot s) {
        String corrupt = "definition store " + file + " is corrupt: ";
        try {
            TreeMap<String, byte[]> exchanges = new TreeMap<>();
            for (byte[] e : s.exchanges()) {
                ExchangeDef d = DefinitionEncoding.exchange(e);
                if (exchanges.put(DefinitionEncoding.key(d.vhost(), d.name()), e) != null) {
                    throw new StoreException(corrupt + "exchange '" + d.name() + "' in vhost '" + d.vhost()
                            + "' is stored twice");
                }
            }
            TreeMap<String, byte[]> queues = new TreeMap<>();
            java.util.Set<Long> ids = new java.util.HashSet<>();
            for (byte[] e : s.queues()) {
                QueueDef d = DefinitionEncoding.queue(e);
                if (queues.put(DefinitionEncoding.key(d.vhost(), d.name()), e) != null) {
                    throw new StoreException(corrupt + "queue '" + d.name() + "' in vhost '" + d.vhost()
                            + "' is stored twice");
                }
                if (!ids.add(d.id())) {
                    throw new StoreException(corrupt + "queue id " + d.id() + " is used twice");
                }
                if (d.id() > s.idCeiling()) {
                    throw new StoreException(corrupt + "queue '" + d.name() + "' has id " + d.id()
                            + ", above the reserved ceiling " + s.idCeiling());
                }
            }
            TreeSet<byte[]> bindings = new TreeSet<>(Arrays::compare);
            for (byte[] e : s.bindings()) {
                DefinitionEncoding.binding(e);
                if (!bindings.add(e)) {
                    throw new StoreException(corrupt + "a binding is stored twice");
                }
            }
            if (s.idCeiling() < 0) {
                throw new StoreException(corrupt + "negative queue-id ceiling " + s.idCeiling());
            }
            TreeMap<String, byte[]> access = new TreeMap<>();
            for (byte[] e : s.access()) {
                if (access.put(DefinitionEncoding.accessKey(DefinitionEncoding.access(e)), e) != null) {
                    throw new StoreException(corrupt + "an access control entry is stored twice");
                }
            }
            return new State(new long[] {s.idCeiling()}, exchanges, queues, bindings, access);
        } catch (DefinitionEncoding.CorruptDefinitionException e) {
            throw new StoreException(corrupt + e.getMessage(), e);
        }
    }

    /** Applies one log record to {@code st} (at open: replay; afterwards: the change itself). */
    private static void apply(State st, ChangeLog.Record r) {
        switch (r.type()) {
            case ChangeLog.PUT_EXCHANGE -> {
                ExchangeDef d = DefinitionEncoding.exchange(r.data());
                st.exchanges().put(DefinitionEncoding.key(d.vhost(), d.name()), r.data());
            }
            case ChangeLog.REMOVE_EXCHANGE -> st.exchanges().remove(r.key());
            case ChangeLog.PUT_QUEUE -> {
                QueueDef d = DefinitionEncoding.queue(r.data());
                st.queues().put(DefinitionEncoding.key(d.vhost(), d.name()), r.data());
            }
            case ChangeLog.REMOVE_QUEUE -> st.queues().remove(r.key());
            case ChangeLog.PUT_BINDING -> {
                DefinitionEncoding.binding(r.data());
                st.bindings().add(r.data());
            }
            case ChangeLog.REMOVE_BINDING -> st.bindings().remove(r.data());
            case ChangeLog.ID_CEILING -> st.idCeiling()[0] = Math.max(st.idCeiling()[0], r.ceiling());
            case ChangeLog.PUT_ACCESS -> st.access().put(DefinitionEncoding.accessKey(DefinitionEncoding.access(r.data())),
                    r.data());
            case ChangeLog.REMOVE_ACCESS -> st.access().remove(r.key());
            default -> throw new StoreException("unknown definitions log record type " + r.type());
        }
    }

    @Override
    public synchronized void putExchange(ExchangeDef d) {
        byte[] e = DefinitionEncoding.exchange(d);
        String key = DefinitionEncoding.key(d.vhost(), d.name());
        if (!Arrays.equals(open().exchanges().get(key), e)) {
            state.exchanges().put(key, e);
            queue(ChangeLog.encode(ChangeLog.PUT_EXCHANGE, e));
        }
    }

    @Override
    public synchronized void removeExchange(String vhost, String name) {
        String key = DefinitionEncoding.key(vhost, name);
        if (open().exchanges().remove(key) != null) {
            queue(ChangeLog.encodeKey(ChangeLog.REMOVE_EXCHANGE, key));
        }
    }

    @Override
    public synchronized void putQueue(QueueDef d) {
        byte[] e = DefinitionEncoding.queue(d);
        String key = DefinitionEncoding.key(d.vhost(), d.name());
        if (!Arrays.equals(open().queues().get(key), e)) {
            if (d.id() > state.idCeiling()[0]) {
                // An id that did not come from nextQueueId() must not be handed out later either.
                reserve(d.id());
            }
            state.queues().put(key, e);
            queue(ChangeLog.encode(ChangeLog.PUT_QUEUE, e));
            lastId = Math.max(lastId, d.id());
        }
    }

    @Override
    public synchronized void removeQueue(String vhost, String name) {
        String key = DefinitionEncoding.key(vhost, name);
        if (open().queues().remove(key) != null) {
            queue(ChangeLog.encodeKey(ChangeLog.REMOVE_QUEUE, key));
        }
    }

    @Override
    public synchronized void putBinding(BindingDef d) {
        byte[] e = DefinitionEncoding.binding(d);
        if (open().bindings().add(e)) {
            queue(ChangeLog.encode(ChangeLog.PUT_BINDING, e));
        }
    }

    @Override
    public synchronized void removeBinding(BindingDef d) {
        byte[] e = DefinitionEncoding.binding(d);
        if (open().bindings().remove(e)) {
            queue(ChangeLog.encode(ChangeLog.REMOVE_BINDING, e));
        }
    }

    // ---- access control ------------------------------------------------------------------------

    private void putAccess(Object d) {
        byte[] e = DefinitionEncoding.access(d);
        String key = DefinitionEncoding.accessKey(d);
        if (!Arrays.equals(open().access().get(key), e)) {
            state.access().put(key, e);
            queue(ChangeLog.encode(ChangeLog.PUT_ACCESS, e));
        }
    }

    private void removeAccess(String key) {
        if (open().access().remove(key) != null) {
            queue(ChangeLog.encodeKey(ChangeLog.REMOVE_ACCESS, key));
        }
    }

    @Override public synchronized void putVhost(VhostDef d) {
        putAccess(d);
    }

    @Override public synchronized void removeVhost(String name) {
        removeAccess(DefinitionEncoding.vhostKey(name));
    }

    @Override public synchronized void putUser(UserDef d) {
        putAccess(d);
    }

    @Override public synchronized void removeUser(String name) {
        removeAccess(DefinitionEncoding.userKey(name));
    }

    @Override public synchronized void putPermission(PermissionDef d) {
        putAccess(d);
    }

    @Override public synchronized void removePermission(String user, String vhost) {
        removeAccess(DefinitionEncoding.permissionKey(user, vhost));
    }

    @Override public synchronized void putTopicPermission(TopicPermissionDef d) {
        putAccess(d);
    }

    @Override public synchronized void removeTopicPermission(String user, String vhost, String exchange) {
        removeAccess(DefinitionEncoding.topicPermissionKey(user, vhost, exchange));
    }

    @Override public synchronized void putPolicy(PolicyDef d) {
        putAccess(d);
    }

    @Override public synchronized void removePolicy(String vhost, String name, boolean operator) {
        removeAccess(DefinitionEncoding.policyKey(vhost, name, operator));
    }

    @Override public synchronized List<PolicyDef> loadPolicies() {
        return DefinitionEncoding.policies(open().access().values());
    }

    @Override public synchronized void markSeeded() {
        putAccess(DefinitionEncoding.SEEDED_ENTRY);
    }

    @Override public synchronized AccessDefinitions loadAccess() {
        return DefinitionEncoding.accessDefinitions(open().access().values());
    }

    @Override
    public synchronized long nextQueueId() {
        open();
        long id = lastId + 1;
        if (id > state.idCeiling()[0]) {
            reserve(lastId + ID_BLOCK);
        }
        lastId = id;
        return id;
    }

    private void reserve(long ceiling) {
        state.idCeiling()[0] = ceiling;
        queue(ChangeLog.encodeCeiling(ceiling));
    }

    /**
     * Calls {@code done} once every change made before is on disk, or failed to get there. At
     * once, on this thread, when nothing is waiting to be written; else on the writer thread.
     */
    @Override
    public void sync(MessageStore.Durable done) {
        synchronized (this) {
            if (!closed && (writing || !queued.isEmpty())) {
                waiting.add(done);
                return;
            }
        }
        done.done(closed ? new StoreException("definition store " + file + " is closed") : null);
    }

    /** Exchanges by (vhost, name), queues by id (their creation order), bindings by their encoded bytes. */
    @Override
    public synchronized Definitions load() {
        open();
        List<ExchangeDef> ex = new ArrayList<>();
        state.exchanges().values().forEach(e -> ex.add(DefinitionEncoding.exchange(e)));
        ex.sort(Comparator.comparing(ExchangeDef::vhost).thenComparing(ExchangeDef::name));
        List<QueueDef> qs = new ArrayList<>();
        state.queues().values().forEach(e -> qs.add(DefinitionEncoding.queue(e)));
        qs.sort(Comparator.comparingLong(QueueDef::id));
        List<BindingDef> bs = new ArrayList<>();
        state.bindings().forEach(e -> bs.add(DefinitionEncoding.binding(e)));
        return new Definitions(ex, qs, bs);
    }

    public Path file() {
        return file;
    }

    /** Batches written so far (each one force). */
    public synchronized long commits() {
        return commits;
    }

    /** Writes what is queued, then stops the writer and folds the log into the snapshot; later changes fail. */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            notifyAll();
        }
        boolean interrupted = false;
        while (writer.isAlive()) {
            try {
                writer.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (changes.size() > 0) {
            // A clean stop leaves one file, the snapshot: the log is for crashes.
            try {
                byte[] bytes;
                synchronized (this) {
                    bytes = SnapshotFile.encode(state.snapshot());
                }
                SnapshotFile.write(dir, bytes);
                changes.truncate();
            } catch (IOException | RuntimeException e) {
                log.warn("definition store {}: cannot fold the log into the snapshot at close ({}); it is replayed at "
                        + "the next start", file, e.toString());
            }
        }
        changes.close();
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private State open() {
        if (closed) {
            throw new StoreException("definition store " + file + " is closed");
        }
        return state;
    }

    private void queue(byte[] record) {
        queued.add(record);
        if (queued.size() == 1) {
            notifyAll();
        }
    }

    // ---- the writer thread ------------------------------------------------------------------

    private void writeLoop() {
        List<byte[]> batch = new ArrayList<>();
        List<MessageStore.Durable> done;
        boolean failedLast = false;
        boolean abandoned = false;
        while (true) {
            Snapshot snapshot = null;
            synchronized (this) {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
                while (queued.isEmpty() && waiting.isEmpty() && !(failedLast && !batch.isEmpty()) && !closed) {
                    waitQuietly(TimeUnit.SECONDS.toMillis(1));
                }
                while (failedLast && !closed && queued.isEmpty() && System.nanoTime() < deadline) {
                    // After a failure, retry with the next change or after a second.
                    waitQuietly(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
                }
                if (closed && queued.isEmpty() && batch.isEmpty()) {
                    break;
                }
                batch.addAll(queued);
                queued = new ArrayList<>();
                done = waiting;
                waiting = new ArrayList<>();
                writing = true;
                if (changes.size() > Math.max(MIN_COMPACT_BYTES, snapshotBytes)) {
                    // Everything queued is in the state: the snapshot covers the batch.
                    snapshot = state.snapshot();
                }
            }
            Throwable failure = null;
            try {
                if (snapshot != null) {
                    byte[] bytes = SnapshotFile.encode(snapshot);
                    SnapshotFile.write(dir, bytes);
                    changes.truncate();
                    synchronized (this) {
                        snapshotBytes = bytes.length;
                    }
                } else if (!batch.isEmpty()) {
                    changes.append(batch);
                }
                batch.clear();
                failedLast = false;
            } catch (IOException | RuntimeException e) {
                failure = new StoreException("definition store " + file + ": write failed: " + e, e);
                if (!failedLast) {
                    log.error("definition store {}: write failed (retried with the next change): {}", file,
                            e.toString());
                }
                failedLast = true;
            }
            synchronized (this) {
                if (failure == null) {
                    commits++;
                }
                writing = !batch.isEmpty();
            }
            for (MessageStore.Durable d : done) {
                try {
                    d.done(failure);
                } catch (RuntimeException e) {
                    log.error("definition store callback failed", e);
                }
            }
            synchronized (this) {
                if (closed && failedLast && queued.isEmpty()) {
                    // Closing with a disk that keeps failing: give up rather than hang the stop.
                    log.error("definition store {}: {} changes could not be written before close", file, batch.size());
                    batch.clear();
                    writing = false;
                    abandoned = true;
                }
            }
        }
        List<MessageStore.Durable> left;
        synchronized (this) {
            left = waiting;
            waiting = new ArrayList<>();
            writing = false;
        }
        Throwable lost = abandoned ? new StoreException("definition store " + file + ": closed before changes "
                + "could be written") : null;
        left.forEach(d -> d.done(lost));
    }

    private void waitQuietly(long millis) {
        try {
            wait(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
