package io.warren.benchmarks;

import io.warren.core.exchange.TopicTrie;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * A topic exchange's routing: {@code bindings} binding keys (exact keys, '*' and '#' patterns in
 * the proportions below) in the word trie, matched against routing keys that hit some of them.
 * The figure is the time per routed message.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class TopicTrieBenchmark {
    @Param({"100", "10000"})
    int bindings;

    private TopicTrie<Integer> trie;
    private String[] keys;
    private int next;

    @Setup
    public void setup() {
        Random r = new Random(42);
        trie = new TopicTrie<>();
        for (int i = 0; i < bindings; i++) {
            String sym = "s" + r.nextInt(bindings);
            String venue = "v" + r.nextInt(20);
            String key = switch (i % 10) {
                case 0, 1, 2, 3, 4 -> "stock." + sym + "." + venue;        // exact
                case 5, 6 -> "stock." + sym + ".*";                        // one word
                case 7 -> "*." + sym + ".*";
                case 8 -> "stock.#." + venue;                              // any number of words
                default -> "#." + venue + ".#";
            };
            trie.add(key, i);
        }
        keys = new String[1024];
        for (int i = 0; i < keys.length; i++) {
            keys[i] = "stock.s" + r.nextInt(bindings) + ".v" + r.nextInt(20);
        }
    }

    @Benchmark
    public void route(Blackhole bh) {
        String key = keys[next++ & (keys.length - 1)];
        trie.match(key, bh::consume);
    }
}
