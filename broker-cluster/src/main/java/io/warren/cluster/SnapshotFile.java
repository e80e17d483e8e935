package io.warren.cluster;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.zip.CRC32C;

/**
 * A snapshot file: the owner's bytes ({@link ReplicatedState#snapshot(OutputStream)}) in a checked
 * envelope. The state is streamed to the file and from it, never held whole in one array: a
 * quorum queue's snapshot is every message it holds, and may be larger than the heap could hold
 * twice (or than the 2 GB of one Java array).
 *
 * <pre>
 * "warren-raft-snapshot/2\n"   magic and version, ASCII
 * int64 index                  the last log index the snapshot includes
 * N bytes                      the owner's
 * int64 N | int32 CRC32C of the N bytes
 * </pre>
 * Files of the first version ({@code "warren-raft-snapshot/1\n"}, index, then {@code int32 N |
 * int32 CRC32C} before the bytes) are still read. Ratis names the file ({@code
 * snapshot.<term>_<index>}), keeps an MD5 beside it and checks that when it sends the file to a
 * follower; the CRC here also catches a file damaged on this disk, and is checked over the whole
 * file before the owner reads a byte of it.
 */
final class SnapshotFile {
    private static final byte[] MAGIC_1 = "warren-raft-snapshot/1\n".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] MAGIC = "warren-raft-snapshot/2\n".getBytes(StandardCharsets.US_ASCII);
    private static final int BUFFER = 1 << 16;

    /** Writes an owner's state. */
    interface StateWriter {
        void writeTo(OutputStream out) throws IOException;
    }

    /** Reads an owner's state: {@code length} bytes from {@code in}. */
    interface StateReader {
        void readFrom(InputStream in, long length) throws IOException;
    }

    private SnapshotFile() {
    }

    /** Writes {@code file} whole or not at all: a temporary file, forced, then renamed. */
    static void write(Path file, long index, byte[] state) throws IOException {
        write(file, index, out -> out.write(state));
    }

    /** As above, the state streamed by {@code state}. */
    static void write(Path file, long index, StateWriter state) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Channels.newOutputStream(ch), BUFFER));
            out.write(MAGIC);
            out.writeLong(index);
            CRC32C crc = new CRC32C();
            long[] n = new long[1];
            // The owner's bytes: counted and checked on their way; the owner cannot close the file.
            OutputStream owner = new FilterOutputStream(out) {
                @Override public void write(int b) throws IOException {
                    out.write(b);
                    crc.update(b);
                    n[0]++;
                }

                @Override public void write(byte[] b, int off, int len) throws IOException {
                    out.write(b, off, len);
                    crc.update(b, off, len);
                    n[0] += len;
                }

                @Override public void close() throws IOException {
                    flush();
                }
            };
            state.writeTo(owner);
            out.writeLong(n[0]);
            out.writeInt((int) crc.getValue());
            out.flush();
            ch.force(true);
        }
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        try (FileChannel dir = FileChannel.open(file.getParent(), StandardOpenOption.READ)) {
            dir.force(true);
        }
    }

    /** The owner's bytes in {@code file}, which must include exactly up to {@code index} (a state small enough for one array). */
    static byte[] read(Path file, long index) throws IOException {
        byte[][] state = new byte[1][];
        read(file, index, (in, length) -> {
            if (length > Integer.MAX_VALUE - 8) {
                throw new IOException("snapshot " + file + " holds " + length + " bytes: too many for one array");
            }
            state[0] = in.readNBytes((int) length);
        });
        return state[0];
    }

    /**
     * Checks {@code file} (its header, {@code index}, its length and CRC over the whole state),
     * then hands the owner's bytes to {@code state} as a stream; returns how many there are.
     */
    static long read(Path file, long index, StateReader state) throws IOException {
        long size = Files.size(file);
        Layout layout;
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file), BUFFER))) {
            layout = layout(file, size, in, index);
            CRC32C crc = new CRC32C();
            byte[] buffer = new byte[BUFFER];
            long left = layout.length();
            while (left > 0) {
                int r = in.read(buffer, 0, (int) Math.min(buffer.length, left));
                if (r < 0) {
                    throw new IOException("snapshot " + file + " is damaged: it ends " + left + " bytes early");
                }
                crc.update(buffer, 0, r);
                left -= r;
            }
            int expected = layout.crc();
            if (layout.trailer()) {
                long told = in.readLong();
                expected = in.readInt();
                if (told != layout.length()) {
                    throw new IOException("snapshot " + file + " is damaged: " + layout.length() + " bytes where "
                            + told + " belong");
                }
            }
            if ((int) crc.getValue() != expected) {
                throw new IOException("snapshot " + file + " is damaged: CRC mismatch");
            }
        }
        try (InputStream in = new BufferedInputStream(Files.newInputStream(file), BUFFER)) {
            in.skipNBytes(layout.offset());
            state.readFrom(new Bounded(in, layout.length()), layout.length());
        }
        return layout.length();
    }

    /** Where the owner's bytes are in a file and how many; their CRC, or (version 2) a trailer after them that has it. */
    private record Layout(long offset, long length, int crc, boolean trailer) { }

    /** Reads the header of a file of {@code size} bytes; {@code in} is left at the state. */
    private static Layout layout(Path file, long size, DataInputStream in, long index) throws IOException {
        byte[] magic = new byte[MAGIC.length];
        long header = MAGIC.length + 8;
        if (size < header) {
            throw notOurs(file);
        }
        in.readFully(magic);
        boolean first = Arrays.equals(magic, MAGIC_1);
        if (!first && !Arrays.equals(magic, MAGIC)) {
            throw notOurs(file);
        }
        long stored = in.readLong();
        if (stored != index) {
            throw new IOException("snapshot " + file + " holds index " + stored + ", its name says " + index);
        }
        if (first) {
            if (size < header + 8) {
                throw damaged(file, size);
            }
            long n = in.readInt();
            int crc = in.readInt();
            if (n < 0 || n != size - header - 8) {
                throw damaged(file, size);
            }
            return new Layout(header + 8, n, crc, false);
        }
        long n = size - header - 12;
        if (n < 0) {
            throw damaged(file, size);
        }
        return new Layout(header, n, 0, true);
    }

    private static IOException notOurs(Path file) {
        return new IOException("snapshot " + file + " is not a warren raft snapshot (no warren-raft-snapshot header)");
    }

    private static IOException damaged(Path file, long size) {
        return new IOException("snapshot " + file + " is damaged: " + size + " bytes do not hold its header and state");
    }

    /** At most {@code left} bytes of {@code in}, then the end. */
    private static final class Bounded extends InputStream {
        private final InputStream in;
        private long left;

        Bounded(InputStream in, long left) {
            this.in = in;
            this.left = left;
        }

        @Override public int read() throws IOException {
            if (left <= 0) {
                return -1;
            }
            int b = in.read();
            if (b < 0) {
                throw new EOFException("the snapshot ended early");
            }
            left--;
            return b;
        }

        @Override public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) {
                return 0;
            }
            if (left <= 0) {
                return -1;
            }
            int r = in.read(b, off, (int) Math.min(len, left));
            if (r < 0) {
                throw new EOFException("the snapshot ended early");
            }
            left -= r;
            return r;
        }

        @Override public int available() throws IOException {
            return (int) Math.min(in.available(), left);
        }
    }
}
