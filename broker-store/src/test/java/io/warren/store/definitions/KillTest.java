package io.warren.store.definitions;

import io.warren.core.store.DefinitionStore.BindingDef;
import io.warren.core.store.DefinitionStore.Definitions;
import io.warren.core.store.DefinitionStore.ExchangeDef;
import io.warren.core.store.DefinitionStore.QueueDef;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A child JVM runs a deterministic sequence of declares and removes, printing the number of
 * each operation once the store has synced it, and is killed with SIGKILL at a random
 * moment; twelve times over the same directory. After each kill the store must open and hold
 * exactly the state after the last printed operation, or after the one that was being written.
 */
class KillTest {
    private static final int STEPS = 6;

    @TempDir
    Path dir;

    @Test
    void aKill9AtAnyMomentLeavesACommittedState() throws Exception {
        Random random = new Random(7);
        long done = 0; // operations in the store
        Map<Long, Long> ids = new HashMap<>(); // round -> queue id, as the children reported them
        Set<Long> allIds = new HashSet<>();
        int wasNext = 0;
        int leftoverTmp = 0;
        for (int kill = 0; kill < 12; kill++) {
            long lastPrinted = done;
            Process p = new ProcessBuilder(Paths.get(System.getProperty("java.home"), "bin", "java").toString(),
                    "-Xmx64m", "-cp", System.getProperty("java.class.path"), KillTest.class.getName(), dir.toString(),
                    Long.toString(done)).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(),
                    StandardCharsets.UTF_8))) {
                int killAfter = 20 + random.nextInt(400);
                String line;
                while ((line = out.readLine()) != null) {
                    String[] f = line.split(" ");
                    long n = Long.parseLong(f[0]);
                    assertEquals(lastPrinted + 1, n, "operations in order");
                    lastPrinted = n;
                    if (f.length > 1) {
                        long id = Long.parseLong(f[1]);
                        assertTrue(allIds.add(id), "queue id " + id + " handed out twice");
                        ids.put(round(n), id);
                    }
                    if (n - done == killAfter) {
                        p.toHandle().destroyForcibly(); // SIGKILL; lines already in the pipe are still read
                    }
                }
            } finally {
                p.toHandle().destroyForcibly();
                p.waitFor();
            }
            if (lastPrinted == done) {
                fail("child printed nothing (exit " + p.exitValue() + ")");
            }
            if (java.nio.file.Files.exists(dir.resolve("definitions.tmp"))) {
                leftoverTmp++; // killed between creating the tmp file and the rename
            }
            try (SnapshotDefinitionStore s = SnapshotDefinitionStore.open(dir)) {
                String actual = describe(s.load());
                if (actual.equals(describe(expected(lastPrinted, ids)))) {
                    done = lastPrinted;
                } else if (actual.equals(describe(expected(lastPrinted + 1, ids)))) {
                    done = lastPrinted + 1; // committed, killed before it could print
                    wasNext++;
                } else {
                    fail("after kill " + kill + " (last printed " + lastPrinted + "): " + actual + "\nexpected "
                            + describe(expected(lastPrinted, ids)));
                }
                for (QueueDef q : s.load().queues()) {
                    Long reported = ids.get(Long.parseLong(q.name().substring(2)));
                    if (reported != null) {
                        assertEquals(reported, q.id(), q.name());
                    } else {
                        ids.put(Long.parseLong(q.name().substring(2)), q.id()); // committed, never printed
                        assertTrue(allIds.add(q.id()));
                    }
                }
            }
        }
        System.out.printf("kill -9: 12 kills, %d operations; %d kills left a definitions.tmp, %d times the state"
                + " was the committed but unprinted next one%n", done, leftoverTmp, wasNext);
    }

    private static long round(long n) {
        return (n - 1) / STEPS;
    }

    /**
     * Operation n (from 1): in round r = (n-1)/6, step (n-1)%6: declare exchange x-r, declare
     * queue q-r, bind x-r to q-r, then unbind, delete the queue and delete the exchange of
     * round r-2.
     */
    private static void apply(long n, Model m, Map<Long, Long> ids) {
        long r = round(n);
        switch ((int) ((n - 1) % STEPS)) {
            case 0 -> m.exchanges.add("x-" + r);
            case 1 -> m.queues.add("q-" + r);
            case 2 -> m.bindings.add("x-" + r + ">q-" + r);
            case 3 -> m.bindings.remove("x-" + (r - 2) + ">q-" + (r - 2));
            case 4 -> m.queues.remove("q-" + (r - 2));
            default -> m.exchanges.remove("x-" + (r - 2));
        }
    }

    private record Model(Set<String> exchanges, Set<String> queues, Set<String> bindings) {}

    private static Model expected(long n, Map<Long, Long> ids) {
        Model m = new Model(new TreeSet<>(), new TreeSet<>(), new TreeSet<>());
        for (long i = 1; i <= n; i++) {
            apply(i, m, ids);
        }
        return m;
    }

    private static String describe(Model m) {
        return m.exchanges + " " + m.queues + " " + m.bindings;
    }

    private static String describe(Definitions d) {
        Model m = new Model(new TreeSet<>(), new TreeSet<>(), new TreeSet<>());
        d.exchanges().forEach(x -> m.exchanges.add(x.name()));
        d.queues().forEach(q -> m.queues.add(q.name()));
        d.bindings().forEach(b -> m.bindings.add(b.source() + ">" + b.destination()));
        return describe(m);
    }

    private static byte[] args(long r) {
        return ("args-" + r).getBytes(StandardCharsets.US_ASCII);
    }

    /** The child: continues the sequence after operation {@code args[1]}, forever. */
    public static void main(String[] args) {
        PrintStream stdout = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true,
                StandardCharsets.UTF_8);
        SnapshotDefinitionStore s = SnapshotDefinitionStore.open(Paths.get(args[0]));
        for (long n = Long.parseLong(args[1]) + 1; ; n++) {
            long r = round(n);
            String id = "";
            switch ((int) ((n - 1) % STEPS)) {
                case 0 -> s.putExchange(new ExchangeDef("/", "x-" + r, "direct", false, false, args(r)));
                case 1 -> {
                    long q = s.nextQueueId();
                    s.putQueue(new QueueDef("/", "q-" + r, q, false, null));
                    id = " " + q;
                }
                case 2 -> s.putBinding(new BindingDef("/", "x-" + r, true, "q-" + r, "k", args(r)));
                case 3 -> s.removeBinding(new BindingDef("/", "x-" + (r - 2), true, "q-" + (r - 2), "k", args(r - 2)));
                case 4 -> s.removeQueue("/", "q-" + (r - 2));
                default -> s.removeExchange("/", "x-" + (r - 2));
            }
            // Printed once durable: the broker replies to a declare from the same sync.
            java.util.concurrent.CompletableFuture<Throwable> synced = new java.util.concurrent.CompletableFuture<>();
            s.sync(synced::complete);
            if (synced.join() != null) {
                throw new IllegalStateException(synced.join());
            }
            stdout.println(n + id);
        }
    }

}
