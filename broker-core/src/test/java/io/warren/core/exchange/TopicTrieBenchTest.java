package io.warren.core.exchange;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;

/**
 * Figures, not assertions on speed: the cost of one topic match (one publish) against 10,000
 * bindings full of '#' and '*', with routing keys up to 255 bytes (128 one-char words).
 * Excluded from the default run; run with
 * {@code mvn -B -q test -pl broker-core -Dtest=TopicTrieBenchTest -Dgroups=bench -Dcore.excludedGroups=}
 * (publishes per key: {@code -Dbench.publishes=N}, default 1,000).
 */
@Tag("bench")
class TopicTrieBenchTest {
    private static final int BINDINGS = 10_000;

    private static String join(int n, String word) {
        return String.join(".", Collections.nCopies(n, word));
    }

    private static String random(Random rnd, int words, String[] alphabet) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < words; i++) {
            if (i > 0) {
                b.append('.');
            }
            b.append(alphabet[rnd.nextInt(alphabet.length)]);
        }
        return b.toString();
    }

    /** 10,000 binding keys: '#'-runs, random '#'/'*'/word mixes, and everyday patterns. */
    static List<String> bindings(Random rnd) {
        List<String> p = new ArrayList<>();
        for (int n = 1; n <= 64; n++) {
            p.add(join(n, "#"));                  // #, #.#, #.#.#, ... 64 of them
            p.add(join(n, "#") + ".a");
            p.add(join(n, "#.*"));
            p.add("*." + join(n, "#.a") + ".#");
        }
        String[] mix = {"#", "#", "*", "*", "*", "a", "b"};
        while (p.size() < 4_000) {               // many '*' and '#', 4-32 words
            p.add(random(rnd, 4 + rnd.nextInt(29), mix));
        }
        for (int i = 0; p.size() < 7_000; i++) {
            p.add(switch (i % 4) {
                case 0 -> "stock." + i + ".*";
                case 1 -> "#." + i;
                case 2 -> "region." + i + ".#.alert";
                default -> "*.*." + i + ".#";
            });
        }
        for (int i = 0; p.size() < BINDINGS; i++) {
            p.add("svc." + i + ".event." + (i % 17));
        }
        return p;
    }

    /** Routing keys (label -> key), the long ones exactly 255 bytes. */
    static Map<String, String> keys(Random rnd) {
        Map<String, String> k = new LinkedHashMap<>();
        k.put("128 x 'a' (255 B)", join(128, "a"));
        k.put("128 random a/b (255 B)", random(rnd, 128, new String[] {"a", "b"}));
        k.put("128 random a-z (255 B)", random(rnd, 128, "abcdefghijklmnopqrstuvwxyz".split("")));
        k.put("127 x 'a' + 'z' (255 B)", join(127, "a") + ".z");
        k.put("128 empty words (127 B)", join(128, ""));
        k.put("64 x 'abc' (255 B)", join(64, "abc"));
        k.put("stock.17.nyse", "stock.17.nyse");
        k.put("svc.42.event.8", "svc.42.event.8");
        return k;
    }

    @Test
    void matchCostPerPublish() {
        Random rnd = new Random(20261130L);
        List<String> patterns = bindings(rnd);
        TopicTrie<Integer> trie = new TopicTrie<>();
        for (int i = 0; i < patterns.size(); i++) {
            trie.add(patterns.get(i), i);
        }
        Map<String, String> keys = keys(rnd);
        int publishes = Integer.getInteger("bench.publishes", 1_000);
        long[] reported = new long[1];
        Consumer<Integer> sink = v -> reported[0]++;

        // Warm-up: every key, so the JIT sees all paths.
        for (int rep = 0; rep < 300; rep++) {
            for (String key : keys.values()) {
                trie.match(key, sink);
            }
        }

        System.out.printf("topic match, %,d bindings, %,d publishes per key, Java %s, %d cores%n",
                patterns.size(), publishes, System.getProperty("java.version"),
                Runtime.getRuntime().availableProcessors());
        long allWorst = 0;
        long allTotal = 0;
        long allCount = 0;
        for (Map.Entry<String, String> e : keys.entrySet()) {
            String key = e.getValue();
            long worst = 0;
            long total = 0;
            reported[0] = 0;
            for (int rep = 0; rep < publishes; rep++) {
                long t0 = System.nanoTime();
                trie.match(key, sink);
                long dt = System.nanoTime() - t0;
                worst = Math.max(worst, dt);
                total += dt;
            }
            allWorst = Math.max(allWorst, worst);
            allTotal += total;
            allCount += publishes;
            System.out.printf("  %-26s %3d words: mean %,9.1f us  worst %,9.1f us  (%,d destinations)%n",
                    e.getKey(), TopicTrie.split(key).length, total / 1e3 / publishes, worst / 1e3,
                    reported[0] / publishes);
        }
        System.out.printf("  all keys: mean %,.1f us, worst %,.1f us per publish%n",
                allTotal / 1e3 / allCount, allWorst / 1e3);
    }
}
