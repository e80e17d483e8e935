package io.warren.store.definitions;

import io.warren.core.store.DefinitionStore;
import io.warren.core.store.StoreException;
import io.warren.store.definitions.SnapshotFile.Snapshot;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Durable exchanges, queues and bindings as one snapshot file, {@code definitions.dat}
 * ({@link SnapshotFile}): they are few and change rarely, so each change rewrites the whole
 * set (tmp file, fsync, atomic rename, directory fsync) before the method returns. Replaces
 * the MapDB store, whose write-ahead log is not replayed after a crash: a kill -9 or a full
 * disk during a commit left a file that no longer opened. Here a crash at any point leaves
 * the last completed snapshot, or the one being written.
 *
 * <p>The set is kept in memory as encoded entries (bindings are identified by their encoded
 * bytes, arguments included). A change builds the next set, writes it, and only then
 * replaces the current one: a failed write (disk full) throws and leaves memory and disk
 * as they were.
 *
 * <p>Queue ids are reserved in blocks: the snapshot holds a ceiling, and at open every id up
 * to it counts as handed out. {@link #nextQueueId} writes a snapshot only when it needs a new
 * block, so an id is durable-reserved when it is returned and never handed out again.
 *
 * <p>Methods are synchronized: each writes the whole file. The caller holds the data-dir lock.
 */
public final class SnapshotDefinitionStore implements DefinitionStore {
    /** The file of the MapDB store this one replaces. */
    static final String OLD_MAPDB_FILE = "definitions.db";
    static final int ID_BLOCK = 1_000;

    private final Path dir;
    private final Path file;
    private State state;
    /** The last id handed out (or reserved by an earlier run); ids up to state.idCeiling are reserved. */
    private long lastId;
    private boolean closed;

    /** Encoded entries: exchanges and queues by {@link DefinitionEncoding#key}, bindings by their bytes. */
    private record State(long idCeiling, TreeMap<String, byte[]> exchanges, TreeMap<String, byte[]> queues,
                         TreeSet<byte[]> bindings) {
        State copy() {
            TreeSet<byte[]> b = new TreeSet<>(Arrays::compare);
            b.addAll(bindings);
            return new State(idCeiling, new TreeMap<>(exchanges), new TreeMap<>(queues), b);
        }

        State withCeiling(long c) {
            return new State(c, exchanges, queues, bindings);
        }

        Snapshot snapshot() {
            return new Snapshot(idCeiling, new ArrayList<>(exchanges.values()), new ArrayList<>(queues.values()),
                    new ArrayList<>(bindings));
        }
    }

    private SnapshotDefinitionStore(Path dir, State state) {
        this.dir = dir;
        this.file = dir.resolve(SnapshotFile.DATA);
        this.state = state;
        this.lastId = state.idCeiling();
    }

    /**
     * Opens {@code dataDir/definitions.dat}, or creates an empty one if the directory has no
     * definitions yet. A damaged, foreign or older file, or a MapDB {@code definitions.db}
     * from before this layout, is refused with a {@link StoreException} naming the file.
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
        if (bytes == null) {
            Path old = dataDir.resolve(OLD_MAPDB_FILE);
            if (Files.exists(old)) {
                throw new StoreException("definition store " + old + " is an older layout (MapDB) that this broker "
                        + "does not read: it keeps definitions in " + file + "; there is no migration");
            }
            SnapshotDefinitionStore s = new SnapshotDefinitionStore(dataDir, new State(0, new TreeMap<>(),
                    new TreeMap<>(), new TreeSet<>(Arrays::compare)));
            s.commit(s.state); // the file exists from now on: its absence later is not "a new broker"
            return s;
        }
        return new SnapshotDefinitionStore(dataDir, validate(file, SnapshotFile.decode(file, bytes)));
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
            return new State(s.idCeiling(), exchanges, queues, bindings);
        } catch (DefinitionEncoding.CorruptDefinitionException e) {
            throw new StoreException(corrupt + e.getMessage(), e);
        }
    }

    @Override
    public synchronized void putExchange(ExchangeDef d) {
        byte[] e = DefinitionEncoding.exchange(d);
        String key = DefinitionEncoding.key(d.vhost(), d.name());
        if (!Arrays.equals(state.exchanges().get(key), e)) {
            State next = open().copy();
            next.exchanges().put(key, e);
            commit(next);
        }
    }

    @Override
    public synchronized void removeExchange(String vhost, String name) {
        String key = DefinitionEncoding.key(vhost, name);
        if (open().exchanges().containsKey(key)) {
            State next = state.copy();
            next.exchanges().remove(key);
            commit(next);
        }
    }

    @Override
    public synchronized void putQueue(QueueDef d) {
        byte[] e = DefinitionEncoding.queue(d);
        String key = DefinitionEncoding.key(d.vhost(), d.name());
        if (!Arrays.equals(open().queues().get(key), e)) {
            State next = state.copy();
            next.queues().put(key, e);
            // An id that did not come from nextQueueId() must not be handed out later either.
            next = next.withCeiling(Math.max(next.idCeiling(), d.id()));
            commit(next);
            lastId = Math.max(lastId, d.id());
        }
    }

    @Override
    public synchronized void removeQueue(String vhost, String name) {
        String key = DefinitionEncoding.key(vhost, name);
        if (open().queues().containsKey(key)) {
            State next = state.copy();
            next.queues().remove(key);
            commit(next);
        }
    }

    @Override
    public synchronized void putBinding(BindingDef d) {
        byte[] e = DefinitionEncoding.binding(d);
        if (!open().bindings().contains(e)) {
            State next = state.copy();
            next.bindings().add(e);
            commit(next);
        }
    }

    @Override
    public synchronized void removeBinding(BindingDef d) {
        byte[] e = DefinitionEncoding.binding(d);
        if (open().bindings().contains(e)) {
            State next = state.copy();
            next.bindings().remove(e);
            commit(next);
        }
    }

    @Override
    public synchronized long nextQueueId() {
        open();
        long id = lastId + 1;
        if (id > state.idCeiling()) {
            commit(state.withCeiling(lastId + ID_BLOCK));
        }
        lastId = id;
        return id;
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

    @Override
    public synchronized void close() {
        closed = true;
    }

    private State open() {
        if (closed) {
            throw new StoreException("definition store " + file + " is closed");
        }
        return state;
    }

    /** Writes {@code next} durably, then makes it the current state; on failure nothing changes. */
    private void commit(State next) {
        try {
            SnapshotFile.write(dir, SnapshotFile.encode(next.snapshot()));
        } catch (IOException | RuntimeException e) {
            try {
                Files.deleteIfExists(dir.resolve(SnapshotFile.TMP));
            } catch (IOException d) {
                e.addSuppressed(d);
            }
            throw new StoreException("definition store " + file + ": write failed: " + e, e);
        }
        state = next;
    }
}
