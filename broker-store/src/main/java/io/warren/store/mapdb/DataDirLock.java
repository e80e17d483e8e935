package io.warren.store.mapdb;

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

/**
 * Keeps a second warren off a data directory: an OS lock ({@code FileChannel.tryLock}) on
 * {@code <data_dir>/warren.lock}, held until {@link #close}. The lock dies with the process,
 * so a broker killed with {@code kill -9} never blocks the next start; the file itself stays
 * (deleting it would race with a starting broker) and holds the owner's pid for humans.
 */
public final class DataDirLock implements AutoCloseable {
    public static final String FILE_NAME = "warren.lock";

    private final Path file;
    private final FileChannel channel;
    private final FileLock lock;

    private DataDirLock(Path file, FileChannel channel, FileLock lock) {
        this.file = file;
        this.channel = channel;
        this.lock = lock;
    }

    public static DataDirLock acquire(Path dataDir) {
        Path file = dataDir.resolve(FILE_NAME);
        FileChannel channel;
        try {
            Files.createDirectories(dataDir);
            channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new StoreException("cannot open lock file " + file + ": " + e, e);
        }
        FileLock lock;
        try {
            lock = channel.tryLock();
        } catch (OverlappingFileLockException e) {
            lock = null; // held by this very JVM: just as much "in use"
        } catch (IOException e) {
            closeQuietly(channel);
            throw new StoreException("cannot lock " + file + ": " + e, e);
        }
        if (lock == null) {
            closeQuietly(channel);
            throw new StoreException("data directory " + dataDir + " is in use by another warren process (lock file "
                    + file + ")");
        }
        try {
            channel.truncate(0);
            channel.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)));
        } catch (IOException e) {
            // The pid is informational only; the lock is what counts.
        }
        return new DataDirLock(file, channel, lock);
    }

    public Path file() {
        return file;
    }

    @Override
    public void close() {
        try {
            lock.release();
        } catch (IOException ignored) {
            // Closing the channel below releases it anyway.
        }
        closeQuietly(channel);
    }

    private static void closeQuietly(FileChannel channel) {
        try {
            channel.close();
        } catch (IOException ignored) {
            // Nothing left to do with a channel we are abandoning.
        }
    }
}
