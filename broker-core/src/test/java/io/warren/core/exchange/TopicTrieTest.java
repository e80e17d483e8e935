package io.warren.core.exchange;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Topic matching, checked against a plain dynamic-programming matcher written here. */
class TopicTrieTest {

    // ---- the reference: RabbitMQ's semantics, written independently of TopicTrie ----

    /** Words of a key: split on '.', empty words kept, the empty key has none. */
    static List<String> words(String key) {
        List<String> out = new ArrayList<>();
        if (key.isEmpty()) {
            return out;
        }
        int start = 0;
        for (int i = 0; i <= key.length(); i++) {
            if (i == key.length() || key.charAt(i) == '.') {
                out.add(key.substring(start, i));
                start = i + 1;
            }
        }
        return out;
    }

    /** m[i][j]: the first i pattern words match the first j key words. */
    static boolean reference(String pattern, String key) {
        List<String> p = words(pattern);
        List<String> k = words(key);
        boolean[][] m = new boolean[p.size() + 1][k.size() + 1];
        m[0][0] = true;
        for (int i = 1; i <= p.size(); i++) {
            String w = p.get(i - 1);
            for (int j = 0; j <= k.size(); j++) {
                if (w.equals("#")) {
                    m[i][j] = m[i - 1][j] || (j > 0 && m[i][j - 1]);
                } else if (j > 0) {
                    m[i][j] = m[i - 1][j - 1] && (w.equals("*") || w.equals(k.get(j - 1)));
                }
            }
        }
        return m[p.size()][k.size()];
    }

    private static TopicTrie<Integer> trie(List<String> patterns) {
        TopicTrie<Integer> t = new TopicTrie<>();
        for (int i = 0; i < patterns.size(); i++) {
            t.add(patterns.get(i), i);
        }
        return t;
    }

    private static Set<Integer> matched(TopicTrie<Integer> t, String key) {
        Set<Integer> got = new TreeSet<>();
        t.match(key, got::add);
        return got;
    }

    private static Set<Integer> expected(List<String> patterns, String key) {
        Set<Integer> want = new TreeSet<>();
        for (int i = 0; i < patterns.size(); i++) {
            if (reference(patterns.get(i), key)) {
                want.add(i);
            }
        }
        return want;
    }

    private static String join(int n, String word) {
        return String.join(".", java.util.Collections.nCopies(n, word));
    }

    // ---- the tests ----

    @Test
    void referenceAgreesWithTheIntegrationTable() {
        // The table of io.warren.it.model.ExchangeRoutingTest#topicWildcards, at the trie level.
        List<String> patterns = List.of("a.b.c", "a.*.c", "a.#", "#", "*", "a.#.c", "#.c", "*.*", "a.*", "a..c",
                "a.*.*.c", "#.b.#", "", "*.b.#");
        Map<String, Set<String>> table = new LinkedHashMap<>();
        table.put("a.b.c", Set.of("a.b.c", "a.*.c", "a.#", "#", "a.#.c", "#.c", "#.b.#", "*.b.#"));
        table.put("a", Set.of("a.#", "#", "*"));
        table.put("a.c", Set.of("a.#", "#", "a.#.c", "#.c", "*.*", "a.*"));
        table.put("c", Set.of("#", "*", "#.c"));
        table.put("a.x.y.c", Set.of("a.#", "#", "a.#.c", "#.c", "a.*.*.c"));
        table.put("b", Set.of("#", "*", "#.b.#"));
        table.put("x.b", Set.of("#", "*.*", "#.b.#", "*.b.#"));
        table.put("a..c", Set.of("a..c", "a.*.c", "a.#", "#", "a.#.c", "#.c"));
        table.put("", Set.of("#", ""));
        table.put(".", Set.of("#", "*.*"));
        table.put("a.", Set.of("a.#", "#", "*.*", "a.*"));
        table.put("A.B.C", Set.of("#"));
        table.put("a.b.c.d", Set.of("a.#", "#", "#.b.#", "*.b.#"));
        TopicTrie<Integer> t = trie(patterns);
        for (Map.Entry<String, Set<String>> e : table.entrySet()) {
            Set<Integer> want = new TreeSet<>();
            for (String p : e.getValue()) {
                want.add(patterns.indexOf(p));
            }
            assertEquals(want, matched(t, e.getKey()), () -> "trie, key '" + e.getKey() + "'");
            assertEquals(want, expected(patterns, e.getKey()), () -> "reference, key '" + e.getKey() + "'");
        }
    }

    @Test
    void adjacentHashesCollapseButHashStarStillNeedsAWord() {
        List<String> patterns = List.of("#.#", "#.*", "*.#", "#.*.#", "#.#.*.#.#", "a.#.#.b", "#.#.a", "*.#.*");
        TopicTrie<Integer> t = trie(patterns);
        assertEquals(Set.of(0), matched(t, ""));
        assertEquals(Set.of(0, 1, 2, 3, 4), matched(t, "x"));
        assertEquals(Set.of(0, 1, 2, 3, 4, 7), matched(t, "."), "'.' is two empty words");
        assertEquals(Set.of(0, 1, 2, 3, 4, 5, 7), matched(t, "a.b"));
        assertEquals(Set.of(0, 1, 2, 3, 4, 6), matched(t, "a"));
        assertEquals(Set.of(0, 1, 2, 3, 4, 5, 7), matched(t, "a.x.b"));
        for (String key : List.of("", "x", ".", "a.b", "a", "a.x.b", "a.a.a.a")) {
            assertEquals(expected(patterns, key), matched(t, key), key);
        }
    }

    @Test
    void valuesUnderOneKeyAndOneValueUnderManyKeys() {
        TopicTrie<String> t = new TopicTrie<>();
        t.add("a.*", "q1");
        t.add("a.*", "q2");
        t.add("a.#", "q1");
        t.add("#.#", "q3");
        List<String> got = new ArrayList<>();
        t.match("a.b", got::add);
        assertEquals(Set.of("q1", "q2", "q3"), Set.copyOf(got));
        got.clear();
        t.match("b.b", got::add);
        assertEquals(List.of("q3"), got);
    }

    @Test
    void pathologicalPatternsAgainst128WordKeys() {
        List<String> patterns = new ArrayList<>();
        for (int n = 1; n <= 64; n *= 2) {
            patterns.add(join(n, "#"));
            patterns.add(join(n, "#.*"));
            patterns.add(join(n, "*.#"));
            patterns.add(join(n, "#.a"));
            patterns.add(join(n, "#.a.#"));
            patterns.add(join(n, "#.b.#") + ".c");
            patterns.add(join(n, "#.*.*"));
        }
        patterns.add(join(127, "*"));
        patterns.add(join(128, "*"));
        patterns.add(join(129, "*"));
        patterns.add(join(128, "#") + ".b");
        TopicTrie<Integer> t = trie(patterns);
        StringBuilder alternating = new StringBuilder("a");
        for (int i = 1; i < 128; i++) {
            alternating.append(i % 2 == 0 ? ".a" : ".b");
        }
        List<String> keys = List.of(join(128, "a"), join(128, "b"), alternating.toString(), join(128, ""),
                join(127, "a") + ".c", join(64, "a.b"), join(100, "a"), "");
        for (String key : keys) {
            Set<Integer> got = matched(t, key);
            assertEquals(expected(patterns, key), got, key);
        }
        assertEquals(255, join(128, "a").length(), "the longest routing key a shortstr holds");
        assertTrue(matched(t, join(128, "a")).contains(patterns.indexOf(join(128, "*"))));
    }

    @Test
    void randomPatternsAndKeysAgreeWithTheReference() {
        // Short keys over a/b/empty words; then longer keys, where '#' nodes stay active for
        // many words and one pattern's '#' leads on to another's.
        crossCheck(new Random(20261130L), 2_000, 30, 8, new String[] {"a", "b", ""}, 10);
        crossCheck(new Random(42L), 300, 60, 14, new String[] {"a", "b"}, 40);
    }

    private static void crossCheck(Random rnd, int rounds, int maxPatterns, int maxPatternWords,
                                   String[] keyWords, int maxKeyWords) {
        String[] patternWords = new String[keyWords.length + 4];
        System.arraycopy(keyWords, 0, patternWords, 0, keyWords.length);
        patternWords[keyWords.length] = "*";
        patternWords[keyWords.length + 1] = "*";
        patternWords[keyWords.length + 2] = "#";
        patternWords[keyWords.length + 3] = "#";
        for (int round = 0; round < rounds; round++) {
            int count = 1 + rnd.nextInt(maxPatterns);
            List<String> patterns = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                patterns.add(randomKey(rnd, patternWords, maxPatternWords));
            }
            TopicTrie<Integer> t = trie(patterns);
            for (int k = 0; k < 30; k++) {
                String key = randomKey(rnd, keyWords, maxKeyWords);
                Set<Integer> want = expected(patterns, key);
                Set<Integer> got = matched(t, key);
                if (!want.equals(got)) {
                    assertEquals(want, got, "key '" + key + "' against " + patterns);
                }
            }
        }
    }

    @Test
    void everyReportedValueMatches() {
        // Duplicates are allowed (the caller dedupes), false positives are not.
        Random rnd = new Random(7);
        String[] words = {"a", "", "*", "#"};
        List<String> patterns = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            patterns.add(randomKey(rnd, words, 12));
        }
        TopicTrie<Integer> t = trie(patterns);
        for (int k = 0; k < 200; k++) {
            String key = randomKey(rnd, new String[] {"a", ""}, 40);
            List<Integer> got = new ArrayList<>();
            t.match(key, got::add);
            for (int i : got) {
                assertTrue(reference(patterns.get(i), key), () -> patterns.get(i) + " vs " + key);
            }
            assertEquals(expected(patterns, key), new TreeSet<>(got), key);
        }
    }

    @Test
    void threadsMatchOneTrieConcurrently() throws Exception {
        Random rnd = new Random(11);
        String[] patternWords = {"a", "b", "*", "#"};
        List<String> patterns = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            patterns.add(randomKey(rnd, patternWords, 10));
        }
        TopicTrie<Integer> t = trie(patterns);
        List<String> keys = new ArrayList<>();
        for (int k = 0; k < 100; k++) {
            keys.add(randomKey(rnd, new String[] {"a", "b"}, 30));
        }
        List<Set<Integer>> want = new ArrayList<>();
        for (String key : keys) {
            want.add(expected(patterns, key));
        }
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<?>> fs = new ArrayList<>();
            for (int th = 0; th < 4; th++) {
                fs.add(pool.submit(() -> {
                    for (int rep = 0; rep < 20; rep++) {
                        for (int k = 0; k < keys.size(); k++) {
                            assertEquals(want.get(k), matched(t, keys.get(k)), keys.get(k));
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aSinkMayMatchAgainReentrantly() {
        // Exchange-to-exchange bindings route from inside the sink, on the same thread.
        TopicTrie<String> inner = new TopicTrie<>();
        inner.add("#.x", "inner");
        TopicTrie<String> outer = new TopicTrie<>();
        outer.add("#", "outer1");
        outer.add("*.#.x", "outer2");
        List<String> got = new ArrayList<>();
        outer.match("a.b.x", v -> {
            got.add(v);
            inner.match("a.b.x", got::add);
        });
        assertEquals(List.of("inner", "inner", "outer1", "outer2"), got.stream().sorted().toList());
    }

    private static String randomKey(Random rnd, String[] alphabet, int maxWords) {
        int n = rnd.nextInt(maxWords + 1);
        if (n == 0) {
            return "";
        }
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < n; i++) {
            if (i > 0) {
                b.append('.');
            }
            b.append(alphabet[rnd.nextInt(alphabet.length)]);
        }
        return b.toString();
    }
}
