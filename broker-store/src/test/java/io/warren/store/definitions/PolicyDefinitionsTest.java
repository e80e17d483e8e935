package io.warren.store.definitions;

import io.warren.core.store.DefinitionStore.PolicyDef;
import io.warren.core.store.DefinitionStore.VhostDef;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Policies and operator policies in the definitions store: through the log, the snapshot, and next to access entries. */
class PolicyDefinitionsTest {
    @TempDir
    Path dir;

    private static final Map<String, Object> NESTED;

    static {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("message-ttl", 5000L);
        m.put("alternate-exchange", "ae");
        m.put("ha-params", List.of(1L, "two", 3.5, true));
        Map<String, Object> inner = new LinkedHashMap<>();
        inner.put("k", null);
        m.put("nested", inner);
        NESTED = m;
    }

    private static void fill(SnapshotDefinitionStore s) {
        s.putVhost(new VhostDef("/", "", List.of()));
        s.markSeeded();
        s.putPolicy(new PolicyDef("/", "ttl", false, "^q\\.", "queues", 3, Map.of("message-ttl", 1000L)));
        s.putPolicy(new PolicyDef("/", "ttl", false, "^q\\.", "queues", 4, Map.of("message-ttl", 2000L)));
        s.putPolicy(new PolicyDef("/", "ttl", true, ".*", "all", -2, Map.of("expires", 60000L)));
        s.putPolicy(new PolicyDef("v2", "mixed", false, ".*", "exchanges", 0, NESTED));
        s.putPolicy(new PolicyDef("v2", "gone", false, ".*", "all", 0, Map.of("message-ttl", 1L)));
        s.removePolicy("v2", "gone", false);
        s.removePolicy("v2", "never-there", true);
    }

    private static void check(SnapshotDefinitionStore s) {
        List<PolicyDef> l = s.loadPolicies().stream()
                .sorted(Comparator.comparing(PolicyDef::vhost).thenComparing(PolicyDef::name)
                        .thenComparing(PolicyDef::operator))
                .toList();
        assertEquals(List.of(
                new PolicyDef("/", "ttl", false, "^q\\.", "queues", 4, Map.of("message-ttl", 2000L)),
                new PolicyDef("/", "ttl", true, ".*", "all", -2, Map.of("expires", 60000L)),
                new PolicyDef("v2", "mixed", false, ".*", "exchanges", 0, NESTED)), l);
        // Policies are not access entries: the access view is unchanged by them.
        assertTrue(s.loadAccess().seeded());
        assertEquals(1, s.loadAccess().vhosts().size());
    }

    @Test
    void survivesACrashThroughTheLog() throws Exception {
        SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir);
        fill(s);
        CompletableFuture<Throwable> synced = new CompletableFuture<>();
        s.sync(synced::complete);
        assertNull(synced.get());
        Path copy = Files.createDirectories(dir.resolve("copy"));
        Files.write(copy.resolve(ChangeLog.FILE), Files.readAllBytes(dir.resolve(ChangeLog.FILE)));
        Files.write(copy.resolve(SnapshotFile.DATA), Files.readAllBytes(dir.resolve(SnapshotFile.DATA)));
        try (SnapshotDefinitionStore reopened = SnapshotDefinitionStore.open(copy)) {
            check(reopened);
        }
        s.close();
    }

    @Test
    void survivesACleanStopThroughTheSnapshot() {
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            fill(s);
        }
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            check(s);
        }
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            check(s);
        }
    }

    /** A version 4 snapshot (access entries, no policies) opens with its access entries and no policies. */
    @Test
    void aVersion4SnapshotIsRead() throws Exception {
        byte[] magic = "warren-definitions/4\n".getBytes(StandardCharsets.US_ASCII);
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(body)) {
            out.writeLong(1000);
            out.writeInt(0);
            out.writeInt(0);
            out.writeInt(0);
            byte[] v = DefinitionEncoding.access(new VhostDef("old", "from 4", List.of()));
            out.writeInt(1);
            out.writeInt(v.length);
            out.write(v);
        }
        byte[] b = body.toByteArray();
        ByteBuffer file = ByteBuffer.allocate(magic.length + 4 + b.length + 4);
        file.put(magic).putInt(b.length).put(b);
        CRC32C crc = new CRC32C();
        crc.update(file.array(), 0, file.position());
        file.putInt((int) crc.getValue());
        Files.write(dir.resolve(SnapshotFile.DATA), file.array());
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            assertEquals("from 4", s.loadAccess().vhosts().get(0).description());
            assertTrue(s.loadPolicies().isEmpty());
            s.putPolicy(new PolicyDef("old", "p", false, ".*", "all", 0, Map.of("message-ttl", 1L)));
        }
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            assertEquals(1, s.loadPolicies().size());
            assertTrue(new String(Files.readAllBytes(dir.resolve(SnapshotFile.DATA)), StandardCharsets.ISO_8859_1)
                    .startsWith("warren-definitions/5\n"));
        }
    }
}
