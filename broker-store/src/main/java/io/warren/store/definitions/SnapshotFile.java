package io.warren.store.definitions;

import io.warren.core.store.StoreException;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * The whole definition set as one file, replaced atomically on every change.
 *
 * <pre>
 * "warren-definitions/5\n"        magic and version, ASCII (versions 3, without access entries, and 4,
 *                                  without policies among them, are read too)
 * int32   N                        length of the body
 * body (N bytes):
 *   int64 queue-id ceiling         every id handed out so far is &lt;= this
 *   int32 count, then count x (int32 length, exchange entry)
 *   int32 count, then count x (int32 length, queue entry)
 *   int32 count, then count x (int32 length, binding entry)
 *   int32 count, then count x (int32 length, access entry)   (version 4; policies from version 5)
 * int32   CRC32C of everything above (magic, N and body)
 * </pre>
 * Entries are {@link DefinitionEncoding}'s bytes; integers big-endian. The file is exactly
 * as long as its header says: anything else is damage.
 *
 * <p>Writing: {@code definitions.tmp}, {@code force(true)}, rename over {@code definitions.dat}
 * ({@code ATOMIC_MOVE}), fsync of the directory. A crash at any point leaves either the old
 * or the new file under the name {@code definitions.dat}; a leftover tmp file is a rename that
 * never happened.
 */
final class SnapshotFile {
    static final String DATA = "definitions.dat";
    static final String TMP = "definitions.tmp";
    static final String KIND = "warren-definitions";
    /**
     * 5: access entries may be policies and operator policies. The layout is 4's; the number
     * changed so that a broker from before policies refuses the file by its version instead of
     * calling an entry it does not know damage.
     */
    static final int VERSION = 5;
    private static final byte[] MAGIC = (KIND + "/" + VERSION + "\n").getBytes(StandardCharsets.US_ASCII);
    /** The layout before access control was stored: the same without the access entries. */
    private static final byte[] MAGIC_V3 = (KIND + "/3\n").getBytes(StandardCharsets.US_ASCII);
    /** Access entries without policies: read as is. */
    private static final byte[] MAGIC_V4 = (KIND + "/4\n").getBytes(StandardCharsets.US_ASCII);

    /** Entries as {@link DefinitionEncoding} bytes. */
    record Snapshot(long idCeiling, List<byte[]> exchanges, List<byte[]> queues, List<byte[]> bindings,
                    List<byte[]> access) {}

    private SnapshotFile() {}

    static byte[] encode(Snapshot s) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(256);
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.write(MAGIC);
            out.writeInt(0); // body length, patched below
            out.writeLong(s.idCeiling());
            for (List<byte[]> list : List.of(s.exchanges(), s.queues(), s.bindings(), s.access())) {
                out.writeInt(list.size());
                for (byte[] e : list) {
                    out.writeInt(e.length);
                    out.write(e);
                }
            }
            out.writeInt(0); // CRC, patched below
        } catch (IOException e) {
            throw new UncheckedIOException(e); // in-memory stream: cannot happen
        }
        ByteBuffer b = ByteBuffer.wrap(bytes.toByteArray());
        int bodyLength = b.capacity() - MAGIC.length - 8;
        b.putInt(MAGIC.length, bodyLength);
        b.putInt(b.capacity() - 4, crc(b.array(), b.capacity() - 4));
        return b.array();
    }

    /** The snapshot in {@code bytes}, read from {@code file}; a StoreException naming it if it is not a valid one. */
    static Snapshot decode(Path file, byte[] bytes) {
        String damaged = "definition store " + file + " is damaged: ";
        int sections = 4;
        if (!startsWith(bytes, MAGIC) && !startsWith(bytes, MAGIC_V4)) {
            if (!startsWith(bytes, MAGIC_V3)) {
                throw new StoreException(describeHeader(file, bytes));
            }
            sections = 3; // same header length as version 4
        }
        ByteBuffer b = ByteBuffer.wrap(bytes);
        if (bytes.length < MAGIC.length + 4 + 8 + 12 + 4) {
            throw new StoreException(damaged + "truncated (" + bytes.length + " bytes)");
        }
        int bodyLength = b.getInt(MAGIC.length);
        long expected = (long) MAGIC.length + 4 + bodyLength + 4;
        if (bodyLength < 0 || expected != bytes.length) {
            throw new StoreException(damaged + (bodyLength >= 0 && bytes.length < expected ? "truncated" : "wrong length")
                    + " (header says " + expected + " bytes, the file has " + bytes.length + ")");
        }
        int stored = b.getInt(bytes.length - 4);
        int actual = crc(bytes, bytes.length - 4);
        if (stored != actual) {
            throw new StoreException(damaged + "checksum mismatch (stored CRC32C " + Integer.toHexString(stored)
                    + ", content has " + Integer.toHexString(actual) + ")");
        }
        // The CRC matched: what follows only fails for a file written wrong, not for a damaged one.
        try {
            b.position(MAGIC.length + 4).limit(bytes.length - 4);
            long ceiling = b.getLong();
            List<List<byte[]>> lists = new ArrayList<>(4);
            for (int k = 0; k < sections; k++) {
                int count = b.getInt();
                if (count < 0 || count > b.remaining() / 4) {
                    throw new StoreException(damaged + "impossible entry count " + count);
                }
                List<byte[]> list = new ArrayList<>(count);
                for (int i = 0; i < count; i++) {
                    int n = b.getInt();
                    if (n < 0 || n > b.remaining()) {
                        throw new StoreException(damaged + "impossible entry length " + n);
                    }
                    byte[] e = new byte[n];
                    b.get(e);
                    list.add(e);
                }
                lists.add(list);
            }
            if (b.hasRemaining()) {
                throw new StoreException(damaged + b.remaining() + " bytes after the last entry");
            }
            return new Snapshot(ceiling, lists.get(0), lists.get(1), lists.get(2),
                    sections == 4 ? lists.get(3) : List.of());
        } catch (java.nio.BufferUnderflowException e) {
            throw new StoreException(damaged + "an entry runs past the end of the content", e);
        }
    }

    private static String describeHeader(Path file, byte[] bytes) {
        int nl = -1;
        for (int i = 0; i < Math.min(bytes.length, 64); i++) {
            if (bytes[i] == '\n') {
                nl = i;
                break;
            }
        }
        String prefix = KIND + "/";
        String header = nl < 0 ? null : new String(bytes, 0, nl, StandardCharsets.US_ASCII);
        if (header != null && header.startsWith(prefix)) {
            String v = header.substring(prefix.length());
            try {
                int version = Integer.parseInt(v);
                return "definition store " + file + " has format " + header + (version < 3
                        ? ", an older layout than this broker's " + KIND + "/" + VERSION + " (no migration)"
                        : ", written by a newer broker (this one reads " + KIND + "/" + VERSION + ")");
            } catch (NumberFormatException e) {
                // fall through: damaged header
            }
        }
        if (bytes.length == 0) {
            return "definition store " + file + " is damaged: empty (0 bytes)";
        }
        if (bytes.length < MAGIC.length && startsWith(MAGIC, bytes)) {
            return "definition store " + file + " is damaged: truncated inside its header (" + bytes.length + " bytes)";
        }
        return "definition store " + file + " is not a warren definitions file (no " + KIND + "/" + VERSION
                + " header: damaged or foreign)";
    }

    /** Replaces {@code dir/definitions.dat} with {@code content}, atomically and durably. */
    static void write(Path dir, byte[] content) throws IOException {
        Path tmp = dir.resolve(TMP);
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer b = ByteBuffer.wrap(content);
            while (b.hasRemaining()) {
                ch.write(b);
            }
            ch.force(true);
        }
        Files.move(tmp, dir.resolve(DATA), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        syncDirectory(dir);
    }

    /** Makes a rename in {@code dir} durable; a no-op where the OS cannot open or sync directories. */
    static void syncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // Windows cannot open a directory; some file systems refuse fsync on one.
        }
    }

    private static boolean startsWith(byte[] bytes, byte[] prefix) {
        if (bytes.length < prefix.length) {
            return false;
        }
        for (int i = 0; i < prefix.length; i++) {
            if (bytes[i] != prefix[i]) {
                return false;
            }
        }
        return true;
    }

    private static int crc(byte[] b, int length) {
        CRC32C crc = new CRC32C();
        crc.update(b, 0, length);
        return (int) crc.getValue();
    }
}
