package io.warren.store.mapdb;

import io.warren.core.store.StoreException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mapdb.DB;
import org.mapdb.DBMaker;
import org.mapdb.Serializer;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import static io.warren.store.mapdb.StoreFixtures.append;
import static io.warren.store.mapdb.StoreFixtures.recover;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Files that are not what they should be are refused loudly, naming the file. */
class StoreFormatTest {
    @TempDir
    Path dir;

    private Path messages() {
        return dir.resolve(MapDbMessageStore.FILE_NAME);
    }

    private StoreException openFails() {
        StoreException e = assertThrows(StoreException.class, () -> MapDbMessageStore.open(dir).close());
        assertTrue(e.getMessage().contains(messages().toString()), "names the file: " + e.getMessage());
        return e;
    }

    @Test
    void aFileOfGarbageIsRefused() throws Exception {
        byte[] junk = new byte[100_000];
        new Random(1).nextBytes(junk);
        Files.write(messages(), junk);
        assertTrue(openFails().getMessage().contains("not a readable warren store"));
    }

    @Test
    void aTextFileIsRefused() throws Exception {
        Files.writeString(messages(), "hello, I am not a database\n");
        openFails();
    }

    @Test
    void aMapDbFileWithABrokenHeaderIsRefused() throws Exception {
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            append(s, "x", 1).awaitDurable();
        }
        try (var ch = java.nio.channels.FileChannel.open(messages(), java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.wrap(new byte[]{-1, -1, -1, -1}), 40);
        }
        assertTrue(openFails().getMessage().contains("checksum"));
    }

    @Test
    void aForeignMapDbFileIsRefused() {
        DB db = DBMaker.fileDB(messages().toFile()).transactionEnable().make();
        db.hashMap("customers", Serializer.STRING, Serializer.STRING).createOrOpen().put("a", "b");
        db.commit();
        db.close();
        assertTrue(openFails().getMessage().contains("without a warren format header"));
        assertTrue(Files.exists(messages()), "never replaced by an empty store");
    }

    @Test
    void anOlderLayoutIsRefusedWithItsVersion() {
        DB db = DBMaker.fileDB(messages().toFile()).transactionEnable().make();
        db.atomicString(MapDbFiles.FORMAT, "warren-messages/0").create();
        db.commit();
        db.close();
        String m = openFails().getMessage();
        assertTrue(m.contains("warren-messages/0") && m.contains("warren-messages/1"), m);
    }

    @Test
    void aDefinitionsFileIsNotAMessageStore() throws Exception {
        MapDbDefinitionStore.open(dir).close();
        Files.move(dir.resolve(MapDbDefinitionStore.FILE_NAME), messages());
        assertTrue(openFails().getMessage().contains("warren-definitions/" + MapDbDefinitionStore.VERSION));
    }

    @Test
    void aCorruptedBatchRecordFailsRecoveryNamingFileAndBatch() throws Exception {
        byte[] marker = "MARKER-0123456789-MARKER".getBytes(StandardCharsets.US_ASCII);
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            append(s, "e", "r", new byte[0], marker, 1).awaitDurable();
        }
        byte[] file = Files.readAllBytes(messages());
        int at = indexOf(file, marker);
        assertTrue(at > 0, "the body is in the main file after a clean close");
        file[at + 3] ^= 0x20;
        Files.write(messages(), file);
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            StoreException e = assertThrows(StoreException.class, () -> recover(s));
            assertTrue(e.getMessage().contains(messages().toString()) && e.getMessage().contains("checksum"),
                    e.getMessage());
        }
    }

    @Test
    void aNewDirectoryGetsAStampedEmptyStore() {
        try (MapDbMessageStore s = MapDbMessageStore.open(dir.resolve("a/b"))) {
            assertEquals(0, s.batchCount());
        }
        try (MapDbMessageStore s = MapDbMessageStore.open(dir.resolve("a/b"))) {
            assertEquals(0, recover(s).size());
        }
    }

    @Test
    void aZeroByteFileLeftByACrashDuringCreationStartsAfresh() throws Exception {
        Files.createFile(messages());
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            append(s, "x", 1).awaitDurable();
        }
        try (MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            assertEquals(1, recover(s).size());
        }
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
