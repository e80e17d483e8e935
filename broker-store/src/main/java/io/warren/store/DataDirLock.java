package io.warren.store;

import io.warren.core.store.StoreException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Keeps a second warren off a data directory: an OS lock ({@code FileChannel.tryLock}) on
 * {@code <data_dir>/warren.lock}, held until {@link #close}. The lock dies with the process,
 * so a broker killed with {@code kill -9} never blocks the next start; the file itself stays
 * (deleting it would race with a starting broker) and holds the owner's pid for humans.
 *
 * <p>Within one JVM the OS lock cannot tell two brokers apart, and worse: POSIX record locks
 * belong to the process, so closing <em>any</em> descriptor of the lock file releases them
 * (the JDK documents this for FileLock). A second broker in the same JVM that merely opened
 * the file, failed to lock it and closed it would silently unlock the first one's data dir
 * for every other process. So the lock files held by this JVM are also kept in {@link #HELD},
 * which is checked before the file is ever opened.
 */
public final class DataDirLock implements AutoCloseable {
    public static final String FILE_NAME = "warren.lock";
    /** Lock files (real paths) held by this JVM. */
    private static final Set<Path> HELD = ConcurrentHashMap.newKeySet();

    private final Path file;
    private final Path key;
    private final FileChannel channel;
    private final FileLock lock;
    private boolean closed;

    private DataDirLock(Path file, Path key, FileChannel channel, FileLock lock) {
        this.file = file;
        this.key = key;
        this.channel = channel;
        this.lock = lock;
    }

    public static DataDirLock acquire(Path dataDir) {
        Path file = dataDir.resolve(FILE_NAME);
        Path key;
        try {
            Files.createDirectories(dataDir);
            key = dataDir.toRealPath().resolve(FILE_NAME);
        } catch (IOException e) {
            throw new StoreException("cannot open lock file " + file + ": " + e, e);
        }
        if (!HELD.add(key)) {
            // Held by this very JVM: refuse without opening the file (see the class comment).
            throw inUse(dataDir, file);
        }
        try {
            return lock(dataDir, file, key);
        } catch (RuntimeException | Error e) {
            HELD.remove(key);
            throw e;
        }
    }

    private static StoreException inUse(Path dataDir, Path file) {
        return new StoreException("data directory " + dataDir + " is in use by another warren process (lock file "
                + file + ")");
    }

    private static DataDirLock lock(Path dataDir, Path file, Path key) {
        FileChannel channel;
        try {
            channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new StoreException("cannot open lock file " + file + ": " + e, e);
        }
        FileLock lock;
        try {
            lock = channel.tryLock();
        } catch (OverlappingFileLockException e) {
            lock = null; // held by this very JVM through another path: just as much "in use"
        } catch (IOException e) {
            closeQuietly(channel);
            throw new StoreException("cannot lock " + file + ": " + e, e);
        }
        if (lock == null) {
            closeQuietly(channel);
            throw inUse(dataDir, file);
        }
        try {
            channel.truncate(0);
            channel.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)));
        } catch (IOException e) {
            // The pid is informational only; the lock is what counts.
        }
        return new DataDirLock(file, key, channel, lock);
    }

    public Path file() {
        return file;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            lock.release();
        } catch (IOException ignored) {
            // Closing the channel below releases it anyway.
        }
        closeQuietly(channel);
        HELD.remove(key);
    }

    private static void closeQuietly(FileChannel channel) {
        try {
            channel.close();
        } catch (IOException ignored) {
            // Nothing left to do with a channel we are abandoning.
        }
    }
}
