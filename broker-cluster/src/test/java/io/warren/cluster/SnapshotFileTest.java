package io.warren.cluster;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
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
}
