package io.warren.cluster;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.zip.CRC32C;

/**
 * A snapshot file: the owner's bytes ({@link ReplicatedState#snapshot}) in a checked envelope.
 *
 * <pre>
 * "warren-raft-snapshot/1\n"   magic and version, ASCII
 * int64 index                  the last log index the snapshot includes
 * int32 N | int32 CRC32C of the N bytes | N bytes
 * </pre>
 * Ratis names the file ({@code snapshot.<term>_<index>}), keeps an MD5 beside it and checks that
 * when it sends the file to a follower; the CRC here also catches a file damaged on this disk.
 */
final class SnapshotFile {
    private static final byte[] MAGIC = "warren-raft-snapshot/1\n".getBytes(StandardCharsets.US_ASCII);

    private SnapshotFile() {
    }

    /** Writes {@code file} whole or not at all: a temporary file, forced, then renamed. */
    static void write(Path file, long index, byte[] state) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(MAGIC.length + 16 + state.length);
        CRC32C crc = new CRC32C();
        crc.update(state);
        b.put(MAGIC).putLong(index).putInt(state.length).putInt((int) crc.getValue()).put(state).flip();
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            while (b.hasRemaining()) {
                ch.write(b);
            }
            ch.force(true);
        }
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        try (FileChannel dir = FileChannel.open(file.getParent(), StandardOpenOption.READ)) {
            dir.force(true);
        }
    }

    /** The owner's bytes in {@code file}, which must include exactly up to {@code index}. */
    static byte[] read(Path file, long index) throws IOException {
        byte[] all = Files.readAllBytes(file);
        ByteBuffer b = ByteBuffer.wrap(all);
        if (all.length < MAGIC.length + 16 || !Arrays.equals(all, 0, MAGIC.length, MAGIC, 0, MAGIC.length)) {
            throw new IOException("snapshot " + file + " is not a warren raft snapshot (no warren-raft-snapshot/1 header)");
        }
        b.position(MAGIC.length);
        long stored = b.getLong();
        int n = b.getInt();
        int crc = b.getInt();
        if (stored != index) {
            throw new IOException("snapshot " + file + " holds index " + stored + ", its name says " + index);
        }
        if (n < 0 || n != b.remaining()) {
            throw new IOException("snapshot " + file + " is damaged: " + b.remaining() + " bytes where " + n + " belong");
        }
        byte[] state = new byte[n];
        b.get(state);
        CRC32C c = new CRC32C();
        c.update(state);
        if ((int) c.getValue() != crc) {
            throw new IOException("snapshot " + file + " is damaged: CRC mismatch");
        }
        return state;
    }
}
