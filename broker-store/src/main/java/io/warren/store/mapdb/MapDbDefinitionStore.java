package io.warren.store.mapdb;

import io.warren.core.store.DefinitionStore;
import io.warren.core.store.StoreException;
import org.mapdb.Atomic;
import org.mapdb.DB;
import org.mapdb.HTreeMap;
import org.mapdb.Serializer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Durable exchanges, queues and bindings in {@code definitions.db}: one map entry per
 * definition (they are few and change rarely), a commit before each method returns.
 * Methods are synchronized because MapDB's commit is global to the file: two callers must
 * not commit each other's half-done changes.
 */
public final class MapDbDefinitionStore implements DefinitionStore {
    public static final String FILE_NAME = "definitions.db";
    static final String KIND = "warren-definitions";
    /** 2: each entry carries a CRC32C ({@link DefinitionEncoding}). */
    static final int VERSION = 2;

    private final Path file;
    private final DB db;
    private final HTreeMap<String, byte[]> exchanges;
    private final HTreeMap<String, byte[]> queues;
    private final Set<byte[]> bindings;
    private final Atomic.Long queueIds;

    private MapDbDefinitionStore(Path file, DB db) {
        this.file = file;
        this.db = db;
        this.exchanges = db.hashMap("exchanges", Serializer.STRING, Serializer.BYTE_ARRAY).createOrOpen();
        this.queues = db.hashMap("queues", Serializer.STRING, Serializer.BYTE_ARRAY).createOrOpen();
        this.bindings = db.hashSet("bindings", Serializer.BYTE_ARRAY).createOrOpen();
        this.queueIds = db.atomicLong("queue.ids").createOrOpen();
        db.commit();
    }

    /** Opens (or creates) {@code dir/definitions.db}; the caller holds the {@link DataDirLock}. */
    public static MapDbDefinitionStore open(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (java.io.IOException e) {
            throw new StoreException("cannot create data directory " + dir + ": " + e, e);
        }
        Path file = dir.resolve(FILE_NAME);
        DB db = MapDbFiles.open(file, KIND, VERSION);
        try {
            return new MapDbDefinitionStore(file, db);
        } catch (RuntimeException e) {
            MapDbFiles.closeQuietly(db);
            throw new StoreException("cannot open " + file + ": " + e, e);
        }
    }

    @Override
    public synchronized void putExchange(ExchangeDef d) {
        write(() -> exchanges.put(DefinitionEncoding.key(d.vhost(), d.name()), DefinitionEncoding.exchange(d)));
    }

    @Override
    public synchronized void removeExchange(String vhost, String name) {
        write(() -> exchanges.remove(DefinitionEncoding.key(vhost, name)));
    }

    @Override
    public synchronized void putQueue(QueueDef d) {
        write(() -> queues.put(DefinitionEncoding.key(d.vhost(), d.name()), DefinitionEncoding.queue(d)));
    }

    @Override
    public synchronized void removeQueue(String vhost, String name) {
        write(() -> queues.remove(DefinitionEncoding.key(vhost, name)));
    }

    @Override
    public synchronized void putBinding(BindingDef d) {
        write(() -> bindings.add(DefinitionEncoding.binding(d)));
    }

    @Override
    public synchronized void removeBinding(BindingDef d) {
        write(() -> bindings.remove(DefinitionEncoding.binding(d)));
    }

    @Override
    public synchronized long nextQueueId() {
        long[] id = new long[1];
        write(() -> id[0] = queueIds.incrementAndGet());
        return id[0];
    }

    /** Exchanges by (vhost, name), queues by id (their creation order), bindings in a stable order. */
    @Override
    public synchronized Definitions load() {
        try {
            List<ExchangeDef> ex = decode(exchanges, DefinitionEncoding::exchange,
                    d -> DefinitionEncoding.key(d.vhost(), d.name()));
            ex.sort(Comparator.comparing(ExchangeDef::vhost).thenComparing(ExchangeDef::name));
            List<QueueDef> qs = decode(queues, DefinitionEncoding::queue, d -> DefinitionEncoding.key(d.vhost(), d.name()));
            qs.sort(Comparator.comparingLong(QueueDef::id));
            List<byte[]> raw = new ArrayList<>(bindings);
            raw.sort(java.util.Arrays::compare);
            List<BindingDef> bs = decode(raw, DefinitionEncoding::binding);
            return new Definitions(ex, qs, bs);
        } catch (DefinitionEncoding.CorruptDefinitionException e) {
            throw new StoreException("definition store " + file + " is corrupt: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            throw new StoreException("definition store " + file + " is corrupt: " + e, e);
        }
    }

    private static <T> List<T> decode(Iterable<byte[]> values, Function<byte[], T> f) {
        List<T> out = new ArrayList<>();
        for (byte[] v : values) {
            out.add(f.apply(v));
        }
        return out;
    }

    /**
     * Decodes the values of a map whose key is derived from the value: a key that does not
     * match its (checksummed) value is a damaged key, and an entry that removals could never
     * find again.
     */
    private static <T> List<T> decode(Map<String, byte[]> map, Function<byte[], T> f, Function<T, String> key) {
        List<T> out = new ArrayList<>();
        for (Map.Entry<String, byte[]> e : map.entrySet()) {
            T d = f.apply(e.getValue());
            if (!key.apply(d).equals(e.getKey())) {
                throw new DefinitionEncoding.CorruptDefinitionException("the entry stored under key '" + e.getKey()
                        + "' is for '" + key.apply(d) + "'");
            }
            out.add(d);
        }
        return out;
    }

    private void write(Runnable change) {
        try {
            change.run();
            db.commit();
        } catch (RuntimeException e) {
            try {
                db.rollback();
            } catch (RuntimeException r) {
                e.addSuppressed(r);
            }
            throw new StoreException("definition store " + file + ": write failed: " + e, e);
        }
    }

    public Path file() {
        return file;
    }

    @Override
    public synchronized void close() {
        if (!db.isClosed()) {
            db.close();
        }
    }
}
