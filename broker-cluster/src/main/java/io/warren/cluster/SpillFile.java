package io.warren.cluster;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Values of a queue group's map kept on disk instead of in memory ({@link QueueGroup} moves a
 * value here when the node's groups hold more than their share of memory). Nothing here needs to
 * survive a crash: a group's state is rebuilt from its snapshot and log at every start, and the
 * file is made anew then, so nothing is synced.
 *
 * <p>Values are appended through a write buffer and read back by position. Removed values leave
 * dead bytes; the owner compacts ({@link #wantsCompaction}) by copying the live values to a new
 * file, and empties the file ({@link #reset}) once no value is left in it. Not thread-safe: the
 * owner's lock guards it.
 */
final class SpillFile implements Closeable {
    /** Dead bytes past which (and past the live ones) the owner copies the live values to a new file; tests lower it. */
    static volatile long compactAfter = 64L << 20;

    private final Path path;
    private final FileChannel channel;
    private final ByteBuffer buffer = ByteBuffer.allocate(256 << 10);
    /** The file's length once the buffer is written. */
    private long end;
    private long live;
    private long dead;
    private boolean closed;

    SpillFile(Path path) throws IOException {
        this.path = path;
        this.channel = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.READ, StandardOpenOption.WRITE);
    }

    /** Appends {@code value}; returns its offset. */
    long append(byte[] value) throws IOException {
        check();
        long offset = end;
        if (value.length > buffer.remaining()) {
            flush();
        }
        if (value.length > buffer.capacity()) {
            ByteBuffer b = ByteBuffer.wrap(value);
            long at = offset;
            while (b.hasRemaining()) {
                at += channel.write(b, at);
            }
        } else {
            buffer.put(value);
        }
        end += value.length;
        live += value.length;
        return offset;
    }

    /** The {@code length} bytes at {@code offset}. */
    byte[] read(long offset, int length) throws IOException {
        check();
        if (offset + length > end - buffer.position()) {
            flush(); // (part of) it is still in the write buffer
        }
        ByteBuffer b = ByteBuffer.allocate(length);
        long at = offset;
        while (b.hasRemaining()) {
            int n = channel.read(b, at);
            if (n < 0) {
                throw new IOException(path + ": " + length + " bytes at " + offset + " are past its end");
            }
            at += n;
        }
        return b.array();
    }

    /** A value of {@code length} bytes is no longer needed. */
    void drop(int length) {
        live -= length;
        dead += length;
    }

    /** Bytes of values still needed. */
    long live() {
        return live;
    }

    /** The file's length, written or buffered. */
    long length() {
        return end;
    }

    /** Whether the dead bytes are worth a copy of the live ones to a new file. */
    boolean wantsCompaction() {
        return dead > compactAfter && dead > live;
    }

    /** No value is needed any more: the file is emptied. */
    void reset() throws IOException {
        check();
        buffer.clear();
        channel.truncate(0);
        end = 0;
        live = 0;
        dead = 0;
    }

    private void flush() throws IOException {
        buffer.flip();
        long at = end - buffer.remaining();
        while (buffer.hasRemaining()) {
            at += channel.write(buffer, at);
        }
        buffer.clear();
    }

    private void check() throws IOException {
        if (closed) {
            throw new IOException(path + " is closed");
        }
    }

    /** Closes and deletes the file. */
    @Override public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        try {
            channel.close();
        } finally {
            Files.deleteIfExists(path);
        }
    }
}
