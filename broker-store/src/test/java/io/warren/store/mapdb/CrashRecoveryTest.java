package io.warren.store.mapdb;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

import static io.warren.store.mapdb.StoreFixtures.loadBody;
import static io.warren.store.mapdb.StoreFixtures.recover;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** kill -9 a publishing process: every message it saw confirmed is there after a restart. */
class CrashRecoveryTest {
    @TempDir
    Path dir;

    @Test
    void everyConfirmedMessageSurvivesAKill9() throws Exception {
        Map<Long, Long> confirmed = new HashMap<>(); // ref -> message number
        try (ChildProcess child = ChildProcess.start("publish", dir.toString(), "1024")) {
            String line;
            while ((line = child.readLine()) != null) {
                String[] f = line.split(" ");
                confirmed.put(Long.parseLong(f[2]), Long.parseLong(f[1]));
                if (confirmed.size() == 20_000) {
                    child.kill();
                }
            }
        }
        assertTrue(confirmed.size() >= 20_000);
        try (DataDirLock lock = DataDirLock.acquire(dir); MapDbMessageStore s = MapDbMessageStore.open(dir)) {
            Map<Long, Long> recovered = new HashMap<>();
            long[] lastPerQueue = new long[4];
            for (var r : recover(s)) {
                recovered.put(r.message().ref(), r.queueId());
                assertTrue(r.message().ref() > lastPerQueue[(int) r.queueId()], "publish order per queue");
                lastPerQueue[(int) r.queueId()] = r.message().ref();
            }
            for (var c : confirmed.entrySet()) {
                Long queue = recovered.get(c.getKey());
                assertNotNull(queue, "confirmed message " + c.getValue() + " lost");
                assertEquals(1 + c.getValue() % 3, queue);
            }
            for (long ref : confirmed.keySet().stream().limit(200).toList()) {
                assertTrue(loadBody(s, ref).startsWith("msg-" + confirmed.get(ref) + "-"));
            }
            System.out.printf("kill -9: %d confirmed, %d recovered%n", confirmed.size(), recovered.size());
        }
    }
}
