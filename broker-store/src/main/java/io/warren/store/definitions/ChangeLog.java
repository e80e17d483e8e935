package io.warren.store.definitions;

import io.warren.core.store.StoreException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.function.Consumer;
import java.util.zip.CRC32C;

/**
 * {@code definitions.log}: the definition changes made since the snapshot, appended in order.
 *
 * <pre>
 * "warren-definitions-log/1\n"     magic and version, ASCII
 * frames:   int32 N | int32 CRC32C of the N bytes | N bytes of records  (one frame per commit)
 * record:   int32 M | int32 CRC32C of the payload | payload (M bytes)
 * payload:  byte type | data
 *   1 put exchange, 3 put queue, 5 put binding, 6 remove binding: DefinitionEncoding's bytes
 *   2 remove exchange, 4 remove queue: the entry's key, UTF-8
 *   7 queue-id ceiling: int64
 *   8 put access entry (vhost, user, permission, topic permission, seeded marker, and since
 *     warren-definitions/5 policy and operator policy): DefinitionEncoding.access bytes. A broker
 *     from before policies reads a log with a policy in it as damaged (no silent downgrade).
 *   9 remove access entry: its key, UTF-8
 * </pre>
 * Each frame is forced before the next is written, so a crash can only tear the last one: at
 * open, a frame that is bad and reaches the end of the file is cut off (an unfinished commit,
 * never acknowledged); a bad frame with more data after it is damage no crash makes, and stops
 * the start naming the file. Not thread-safe: the store's writer thread appends, open and close
 * run before and after it.
 */
final class ChangeLog implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ChangeLog.class);
    static final String FILE = "definitions.log";
    private static final byte[] MAGIC = "warren-definitions-log/1\n".getBytes(StandardCharsets.US_ASCII);
    static final byte PUT_EXCHANGE = 1;
    static final byte REMOVE_EXCHANGE = 2;
    static final byte PUT_QUEUE = 3;
    static final byte REMOVE_QUEUE = 4;
    static final byte PUT_BINDING = 5;
    static final byte REMOVE_BINDING = 6;
    static final byte ID_CEILING = 7;
    static final byte PUT_ACCESS = 8;
    static final byte REMOVE_ACCESS = 9;

    /** A decoded record: {@code data} for puts and binding removes, {@code key}, or {@code ceiling}. */
    record Record(byte type, byte[] data) {
        String key() {
            return new String(data, StandardCharsets.UTF_8);
        }

        long ceiling() {
            return ByteBuffer.wrap(data).getLong();
        }
    }

    private final Path path;
    private final FileChannel channel;
    /** End of the last whole record written: the file's logical size. */
    private long end;

    private ChangeLog(Path path, FileChannel channel, long end) {
        this.path = path;
        this.channel = channel;
        this.end = end;
    }

    static byte[] encode(byte type, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(8 + 1 + data.length);
        b.putInt(1 + data.length).putInt(0).put(type).put(data);
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 8, 1 + data.length);
        b.putInt(4, (int) crc.getValue());
        return b.array();
    }

    static byte[] encodeKey(byte type, String key) {
        return encode(type, key.getBytes(StandardCharsets.UTF_8));
    }

    static byte[] encodeCeiling(long ceiling) {
        return encode(ID_CEILING, ByteBuffer.allocate(8).putLong(ceiling).array());
    }

    /** Opens (or creates) {@code dir/definitions.log}, replaying its records into {@code apply}. */
    static ChangeLog open(Path dir, Consumer<Record> apply) {
        Path path = dir.resolve(FILE);
        FileChannel ch;
        try {
            ch = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new StoreException("cannot open definitions log " + path + ": " + e, e);
        }
        try {
            long size = ch.size();
            if (size < MAGIC.length) {
                // New, or torn while its header was written: nothing was ever logged in it.
                ch.truncate(0);
                writeFully(ch, ByteBuffer.wrap(MAGIC), 0);
                ch.force(true);
                SnapshotFile.syncDirectory(dir);
                return new ChangeLog(path, ch, MAGIC.length);
            }
            ByteBuffer all = ByteBuffer.allocate((int) Math.min(size, Integer.MAX_VALUE - 8));
            while (all.hasRemaining() && ch.read(all, all.position()) > 0) {
                // read it all
            }
            byte[] bytes = all.array();
            for (int i = 0; i < MAGIC.length; i++) {
                if (bytes[i] != MAGIC[i]) {
                    throw new StoreException("definitions log " + path + " is not a warren definitions log "
                            + "(no warren-definitions-log/1 header: damaged or foreign)");
                }
            }
            int pos = MAGIC.length;
            int records = 0;
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (pos < bytes.length) {
                int n = pos + 8 <= bytes.length ? b.getInt(pos) : -1;
                boolean whole = n >= 1 && pos + 8L + n <= bytes.length;
                boolean good = false;
                if (whole) {
                    CRC32C crc = new CRC32C();
                    crc.update(bytes, pos + 8, n);
                    good = (int) crc.getValue() == b.getInt(pos + 4);
                }
                if (!good) {
                    if (whole && pos + 8L + n < bytes.length) {
                        throw new StoreException("definitions log " + path + " is damaged: the commit at offset " + pos
                                + " does not match its checksum and more follows (not an unfinished write)");
                    }
                    break; // the last commit, torn by a crash: never acknowledged
                }
                records += replay(path, bytes, pos + 8, pos + 8 + n, apply);
                pos += 8 + n;
            }
            if (pos < bytes.length) {
                log.warn("definitions log {}: cutting off {} bytes of an unfinished commit at offset {} ({} changes kept)",
                        path, bytes.length - pos, pos, records);
                ch.truncate(pos);
                ch.force(true);
            }
            return new ChangeLog(path, ch, pos);
        } catch (IOException e) {
            closeQuietly(ch);
            throw new StoreException("cannot read definitions log " + path + ": " + e, e);
        } catch (RuntimeException e) {
            closeQuietly(ch);
            throw e;
        }
    }

    /** Applies the records in {@code bytes[from, to)}, a frame that passed its checksum. */
    private static int replay(Path path, byte[] bytes, int from, int to, Consumer<Record> apply) {
        ByteBuffer b = ByteBuffer.wrap(bytes);
        int pos = from;
        int count = 0;
        while (pos < to) {
            int n = pos + 8 <= to ? b.getInt(pos) : -1;
            if (n < 1 || pos + 8L + n > to) {
                throw new StoreException("definitions log " + path + " is corrupt at offset " + pos
                        + ": a record does not fit its commit");
            }
            CRC32C crc = new CRC32C();
            crc.update(bytes, pos + 8, n);
            if ((int) crc.getValue() != b.getInt(pos + 4)) {
                throw new StoreException("definitions log " + path + " is damaged at offset " + pos
                        + ": a record does not match its checksum");
            }
            byte[] data = new byte[n - 1];
            System.arraycopy(bytes, pos + 9, data, 0, n - 1);
            try {
                apply.accept(new Record(bytes[pos + 8], data));
            } catch (DefinitionEncoding.CorruptDefinitionException | StoreException e) {
                throw new StoreException("definitions log " + path + " is corrupt at offset " + pos + ": "
                        + e.getMessage(), e);
            }
            pos += 8 + n;
            count++;
        }
        return count;
    }

    /** Bytes of records in the log. */
    long size() {
        return end - MAGIC.length;
    }

    /**
     * Appends {@code records} as one frame and forces it to disk; on failure the log is cut back
     * to its last whole frame.
     */
    void append(List<byte[]> records) throws IOException {
        int payload = 0;
        for (byte[] r : records) {
            payload += r.length;
        }
        int total = 8 + payload;
        ByteBuffer b = ByteBuffer.allocate(total);
        b.putInt(payload).putInt(0);
        for (byte[] r : records) {
            b.put(r);
        }
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 8, payload);
        b.putInt(4, (int) crc.getValue());
        b.flip();
        try {
            writeFully(channel, b, end);
            channel.force(false);
        } catch (IOException | RuntimeException e) {
            try {
                channel.truncate(end);
            } catch (IOException t) {
                e.addSuppressed(t);
            }
            throw e;
        }
        end += total;
    }

    /** Empties the log (its changes are in a new snapshot). */
    void truncate() throws IOException {
        channel.truncate(MAGIC.length);
        channel.force(true);
        end = MAGIC.length;
    }

    @Override
    public void close() {
        closeQuietly(channel);
    }

    private static void writeFully(FileChannel ch, ByteBuffer b, long at) throws IOException {
        long p = at;
        while (b.hasRemaining()) {
            p += ch.write(b, p);
        }
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // nothing left to do
        }
    }

    @Override
    public String toString() {
        return path.toString();
    }
}
