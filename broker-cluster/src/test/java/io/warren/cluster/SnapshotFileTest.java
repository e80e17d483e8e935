package io.warren.cluster;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SnapshotFileTest {
    @TempDir Path dir;

    @Test void roundTripsTheOwnersBytesAndLeavesNoTemporaryFile() throws IOException {
        Path f = dir.resolve("snapshot.3_42");
        byte[] state = "the state".getBytes(StandardCharsets.UTF_8);
        SnapshotFile.write(f, 42, state);
        assertArrayEquals(state, SnapshotFile.read(f, 42));
        assertFalse(Files.exists(dir.resolve("snapshot.3_42.tmp")));
        SnapshotFile.write(f, 42, new byte[0]);
        assertArrayEquals(new byte[0], SnapshotFile.read(f, 42));
    }

    @Test void refusesADamagedOrMisnamedFile() throws IOException {
        Path f = dir.resolve("snapshot.1_7");
        SnapshotFile.write(f, 7, "abcdef".getBytes(StandardCharsets.UTF_8));
        IOException wrongIndex = assertThrows(IOException.class, () -> SnapshotFile.read(f, 8));
        assertTrue(wrongIndex.getMessage().contains("holds index 7"), wrongIndex.getMessage());

        byte[] bytes = Files.readAllBytes(f);
        bytes[bytes.length - 1] ^= 1;
        Files.write(f, bytes);
        IOException crc = assertThrows(IOException.class, () -> SnapshotFile.read(f, 7));
        assertTrue(crc.getMessage().contains("CRC"), crc.getMessage());

        Files.write(f, "not a snapshot".getBytes(StandardCharsets.US_ASCII));
        IOException foreign = assertThrows(IOException.class, () -> SnapshotFile.read(f, 7));
        assertTrue(foreign.getMessage().contains("not a warren raft snapshot"), foreign.getMessage());
    }

    @Test void aStateGoesToTheFileAsItIsWrittenAndComesBackInPieces() throws IOException {
        Path f = dir.resolve("snapshot.2_9");
        Path tmp = dir.resolve("snapshot.2_9.tmp");
        // 40 MB written in 1 KB pieces: they reach the file while the owner still writes (nothing
        // gathers the state in memory first), and come back in pieces
        byte[] piece = new byte[1024];
        SnapshotFile.write(f, 9, out -> {
            for (int i = 0; i < 40 * 1024; i++) {
                java.util.Arrays.fill(piece, (byte) i);
                out.write(piece);
            }
            assertTrue(Files.size(tmp) > (39L << 20), "written as streamed: " + Files.size(tmp) + " bytes so far");
            out.close(); // the owner cannot close the file under the envelope
        });
        long[] seen = new long[2];
        long n = SnapshotFile.read(f, 9, (in, length) -> {
            byte[] b = new byte[1024];
            for (int i = 0; i < 40 * 1024; i++) {
                assertEquals(1024, in.readNBytes(b, 0, 1024));
                assertEquals((byte) i, b[0]);
                assertEquals((byte) i, b[1023]);
                seen[0] += 1024;
            }
            assertEquals(-1, in.read(), "the state ends where the trailer starts");
            seen[1] = length;
        });
        assertEquals(40L << 20, n);
        assertEquals(40L << 20, seen[0]);
        assertEquals(40L << 20, seen[1]);
    }

    @Test void aTruncatedFileIsRefusedBeforeTheOwnerReadsIt() throws IOException {
        Path f = dir.resolve("snapshot.1_5");
        SnapshotFile.write(f, 5, new byte[10_000]);
        byte[] bytes = Files.readAllBytes(f);
        Files.write(f, java.util.Arrays.copyOf(bytes, bytes.length - 100));
        boolean[] read = new boolean[1];
        IOException cut = assertThrows(IOException.class, () -> SnapshotFile.read(f, 5, (in, length) -> read[0] = true));
        assertTrue(cut.getMessage().contains("damaged"), cut.getMessage());
        assertFalse(read[0], "nothing handed to the owner");
        // one bit flipped inside the state: the CRC over the whole file catches it first
        bytes[1_000] ^= 4;
        Files.write(f, bytes);
        IOException crc = assertThrows(IOException.class, () -> SnapshotFile.read(f, 5, (in, length) -> read[0] = true));
        assertTrue(crc.getMessage().contains("CRC"), crc.getMessage());
        assertFalse(read[0], "nothing handed to the owner");
    }

    @Test void readsTheFirstVersionsFiles() throws IOException {
        // "warren-raft-snapshot/1\n", int64 index, int32 N, int32 CRC32C, N bytes: what warren wrote before
        byte[] state = "an older snapshot".getBytes(StandardCharsets.UTF_8);
        byte[] magic = "warren-raft-snapshot/1\n".getBytes(StandardCharsets.US_ASCII);
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        crc.update(state);
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(magic.length + 16 + state.length);
        b.put(magic).putLong(11).putInt(state.length).putInt((int) crc.getValue()).put(state);
        Path f = dir.resolve("snapshot.1_11");
        Files.write(f, b.array());
        assertArrayEquals(state, SnapshotFile.read(f, 11));
        byte[] damaged = b.array().clone();
        damaged[damaged.length - 1] ^= 1;
        Files.write(f, damaged);
        IOException e = assertThrows(IOException.class, () -> SnapshotFile.read(f, 11));
        assertTrue(e.getMessage().contains("CRC"), e.getMessage());
    }
}
