package io.warren.store.definitions;

import io.warren.core.store.DefinitionStore.AccessDefinitions;
import io.warren.core.store.DefinitionStore.PermissionDef;
import io.warren.core.store.DefinitionStore.TopicPermissionDef;
import io.warren.core.store.DefinitionStore.UserDef;
import io.warren.core.store.DefinitionStore.VhostDef;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Vhosts, users, permissions and topic permissions in the definitions store. */
class AccessDefinitionsTest {
    @TempDir
    Path dir;

    private static void fill(SnapshotDefinitionStore s) {
        s.putVhost(new VhostDef("/", "Default virtual host", List.of()));
        s.putVhost(new VhostDef("v2", "second", List.of("a", "b")));
        s.putVhost(new VhostDef("gone", "", List.of()));
        s.putUser(new UserDef("alice", "aGFzaA==", "rabbit_password_hashing_sha256", List.of("administrator")));
        s.putUser(new UserDef("bob", "", "rabbit_password_hashing_sha256", List.of()));
        s.putUser(new UserDef("alice", "bmV3", "rabbit_password_hashing_sha256", List.of("monitoring")));
        s.putPermission(new PermissionDef("alice", "/", ".*", "", "^q"));
        s.putPermission(new PermissionDef("bob", "/", "x", "y", "z"));
        s.putTopicPermission(new TopicPermissionDef("bob", "v2", "amq.topic", "^a\\.", ".*"));
        s.putTopicPermission(new TopicPermissionDef("bob", "v2", "t2", "w", "r"));
        s.removeVhost("gone");
        s.removePermission("bob", "/");
        s.removeTopicPermission("bob", "v2", "t2");
        s.markSeeded();
    }

    private static void check(AccessDefinitions a) {
        assertTrue(a.seeded());
        assertEquals(List.of("/", "v2"), a.vhosts().stream().map(VhostDef::name).toList());
        assertEquals(List.of("a", "b"), a.vhosts().get(1).tags());
        assertEquals(List.of(new UserDef("alice", "bmV3", "rabbit_password_hashing_sha256", List.of("monitoring")),
                new UserDef("bob", "", "rabbit_password_hashing_sha256", List.of())), a.users());
        assertEquals(List.of(new PermissionDef("alice", "/", ".*", "", "^q")), a.permissions());
        assertEquals(List.of(new TopicPermissionDef("bob", "v2", "amq.topic", "^a\\.", ".*")), a.topicPermissions());
    }

    @Test
    void survivesACrashThroughTheLog() throws Exception {
        SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir);
        fill(s);
        CompletableFuture<Throwable> synced = new CompletableFuture<>();
        s.sync(synced::complete);
        assertNull(synced.get());
        // No close: the snapshot still holds none of it, the log all of it (as after kill -9).
        byte[] log = Files.readAllBytes(dir.resolve(ChangeLog.FILE));
        byte[] snapshot = Files.readAllBytes(dir.resolve(SnapshotFile.DATA));
        Path copy = Files.createDirectories(dir.resolve("copy"));
        Files.write(copy.resolve(ChangeLog.FILE), log);
        Files.write(copy.resolve(SnapshotFile.DATA), snapshot);
        try (SnapshotDefinitionStore reopened = SnapshotDefinitionStore.open(copy)) {
            check(reopened.loadAccess());
        }
        s.close();
    }

    @Test
    void survivesACleanStopThroughTheSnapshot() {
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            fill(s);
        }
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            check(s.loadAccess());
        }
    }

    @Test
    void aNewStoreIsNotSeeded() {
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            AccessDefinitions a = s.loadAccess();
            assertFalse(a.seeded());
            assertTrue(a.vhosts().isEmpty() && a.users().isEmpty());
        }
    }

    /** A snapshot written before access control was stored (version 3) opens, unseeded, with its topology. */
    @Test
    void aVersion3SnapshotIsRead() throws Exception {
        byte[] magic = "warren-definitions/3\n".getBytes(StandardCharsets.US_ASCII);
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(body)) {
            out.writeLong(1000);
            byte[] x = DefinitionEncoding.exchange(new io.warren.core.store.DefinitionStore.ExchangeDef("/", "logs",
                    "fanout", false, false, null));
            out.writeInt(1);
            out.writeInt(x.length);
            out.write(x);
            out.writeInt(0);
            out.writeInt(0);
        }
        byte[] b = body.toByteArray();
        ByteBuffer file = ByteBuffer.allocate(magic.length + 4 + b.length + 4);
        file.put(magic).putInt(b.length).put(b);
        CRC32C crc = new CRC32C();
        crc.update(file.array(), 0, file.position());
        file.putInt((int) crc.getValue());
        Files.write(dir.resolve(SnapshotFile.DATA), file.array());
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            assertFalse(s.loadAccess().seeded());
            assertEquals("logs", s.load().exchanges().get(0).name());
            s.markSeeded();
        }
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            assertTrue(s.loadAccess().seeded());
            assertTrue(new String(Files.readAllBytes(dir.resolve(SnapshotFile.DATA)), StandardCharsets.ISO_8859_1)
                    .startsWith("warren-definitions/5\n"));
        }
    }
}
