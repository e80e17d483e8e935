package io.warren.store.definitions;

import io.warren.core.store.DefinitionStore.BindingDef;
import io.warren.core.store.DefinitionStore.ExchangeDef;
import io.warren.core.store.DefinitionStore.QueueDef;
import io.warren.core.store.StoreException;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Whatever is wrong with definitions.dat, open() refuses it with a message naming it: never an empty broker. */
class DamagedFileTest {
    @TempDir
    Path dir;
    Path file;
    byte[] good;

    @BeforeEach
    void writeAStore() throws Exception {
        try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
            long id = s.nextQueueId();
            s.putExchange(new ExchangeDef("/", "x", "topic", false, false, new byte[]{1, 2, 3}));
            s.putQueue(new QueueDef("/", "q", id, false, null));
            s.putBinding(new BindingDef("/", "x", true, "q", "a.#", new byte[0]));
        }
        file = dir.resolve("definitions.dat");
        good = Files.readAllBytes(file);
    }

    private String refused(byte[] content) throws Exception {
        Files.write(file, content);
        StoreException e = assertThrows(StoreException.class, () -> SnapshotDefinitionStore.open(dir).close(),
                () -> "opened " + content.length + " bytes");
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
        return e.getMessage();
    }

    @Test
    void everySingleFlippedByteIsRefused() throws Exception {
        for (int i = 0; i < good.length; i++) {
            for (int bit : new int[]{0x01, 0x80}) {
                byte[] b = good.clone();
                b[i] ^= (byte) bit;
                refused(b);
            }
        }
    }

    @Test
    void everyTruncationIsRefused() throws Exception {
        for (int n = 0; n < good.length; n++) {
            String m = refused(Arrays.copyOf(good, n));
            if (n > 40) {
                assertTrue(m.contains("truncated"), m);
            }
        }
        String m = refused(Arrays.copyOf(good, good.length + 1));
        assertTrue(m.contains("wrong length"), m);
    }

    @Test
    void garbageAndForeignFilesAreRefused() throws Exception {
        Random r = new Random(42);
        for (int n : new int[]{1, 20, 100, 4096}) {
            byte[] b = new byte[n];
            r.nextBytes(b);
            assertTrue(refused(b).contains("not a warren definitions file"));
        }
        assertTrue(refused("{\"exchanges\": []}".getBytes(StandardCharsets.US_ASCII)).contains("not a warren"));
        String m = refused(("warren-messages/1\n" + "x".repeat(40)).getBytes(StandardCharsets.US_ASCII));
        assertTrue(m.contains("not a warren definitions file"), m);
    }

    @Test
    void olderAndNewerFormatsAreNamed() throws Exception {
        byte[] older = new String(good, StandardCharsets.ISO_8859_1).replace("warren-definitions/5\n",
                "warren-definitions/2\n").getBytes(StandardCharsets.ISO_8859_1);
        String m = refused(older);
        assertTrue(m.contains("warren-definitions/2") && m.contains("older"), m);
        byte[] newer = new String(good, StandardCharsets.ISO_8859_1).replace("warren-definitions/5\n",
                "warren-definitions/17\n").getBytes(StandardCharsets.ISO_8859_1);
        m = refused(newer);
        assertTrue(m.contains("warren-definitions/17") && m.contains("newer"), m);
    }

    @Test
    void aRefusedFileIsLeftAsItWas() throws Exception {
        byte[] b = good.clone();
        b[b.length / 2] ^= 0x10;
        refused(b);
        assertEquals(Arrays.toString(b), Arrays.toString(Files.readAllBytes(file)));
    }
}
