package io.warren.store.journal;

import io.warren.store.ChildProcess;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

import static io.warren.store.journal.StoreFixtures.loadBody;
import static io.warren.store.journal.StoreFixtures.recover;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * kill -9 a publishing (and acking) process, again and again on the same journal: after each
 * kill every confirmed message that was never acked, from every round so far, is there with
 * its body; nothing is corrupt. The child uses 4 MiB segments so kills land around rolls,
 * deletions and compaction too.
 */
class JournalCrashTest {
    @TempDir
    Path dir;

    @Test
    void everyConfirmedMessageSurvivesRepeatedKill9() throws Exception {
        Map<Long, Long> mustSurvive = new HashMap<>(); // ref -> message number (confirmed, never acked)
        long next = 0;
        for (int round = 0; round < 6; round++) {
            int killAt = 5_000 + ThreadLocalRandom.current().nextInt(20_000);
            Map<Long, Long> confirmed = new HashMap<>();
            long highest = next;
            try (ChildProcess child = ChildProcess.start(JournalChild.class, "publish", dir.toString(), "1024", Long.toString(next))) {
                assertEquals("open", child.readLine());
                String line;
                while ((line = child.readLine()) != null) {
                    String[] f = line.split(" ");
                    long n = Long.parseLong(f[1]);
                    confirmed.put(Long.parseLong(f[2]), n);
                    highest = Math.max(highest, n);
                    if (confirmed.size() == killAt) {
                        child.kill();
                    }
                }
            }
            confirmed.forEach((ref, n) -> {
                if (n % 2 == 0) {
                    mustSurvive.put(ref, n);
                }
            });
            next = highest + 1_000_000; // message numbers of the next round never collide
            try (JournalMessageStore s = JournalMessageStore.open(dir, 4 << 20, 0.25)) {
                Map<Long, Long> recovered = new HashMap<>();
                long[] lastPerQueue = new long[4];
                for (var r : recover(s)) {
                    recovered.put(r.message().ref(), r.queueId());
                    assertTrue(r.message().ref() > lastPerQueue[(int) r.queueId()], "publish order per queue");
                    lastPerQueue[(int) r.queueId()] = r.message().ref();
                }
                for (var c : mustSurvive.entrySet()) {
                    Long queue = recovered.get(c.getKey());
                    assertNotNull(queue, "round " + round + ": confirmed message " + c.getValue() + " lost");
                    assertEquals(1 + c.getValue() % 3, queue);
                }
                int checked = 0;
                for (var c : mustSurvive.entrySet()) {
                    if (checked++ % 50 == 0) {
                        assertTrue(loadBody(s, c.getKey()).startsWith("msg-" + c.getValue() + "-"));
                    }
                }
                System.out.printf("kill -9 round %d: %d confirmed this round, %d must survive, %d recovered, %d segments%n",
                        round, confirmed.size(), mustSurvive.size(), recovered.size(),
                        java.nio.file.Files.list(s.directory()).count());
            }
        }
    }
}
