package io.warren.core.exchange;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * A word trie over dot-separated binding keys where {@code *} matches exactly one word and
 * {@code #} zero or more (RabbitMQ's topic semantics: words split on '.', empty words kept,
 * the empty key has no words).
 *
 * <p>Matching simulates the trie as an NFA: it keeps the set of active nodes and advances it
 * one routing-key word at a time (the exact child, the {@code *} child, and a node entered
 * through a {@code #} edge stays active on any word), adding the nodes behind {@code #} edges
 * as they become active ({@code #} matching zero words). Each node is active at most once per
 * word, so a match costs at most (key words + 1) x (trie nodes on paths the key can take):
 * for one binding, its words x the key's words, whatever its mix of {@code #} and {@code *}.
 * It never looks at bindings off those paths, so the number of bindings does not matter.
 * Adjacent {@code #}s are collapsed when adding ({@code #.#} matches what {@code #} does).
 *
 * <p>Built by one thread, then immutable; {@link #match} keeps all its state in the call, so
 * any number of threads may match concurrently once the trie is safely published.
 */
public final class TopicTrie<T> {
    private static final class Node<T> {
        /** Unique in the trie; keys the per-call set of active {@code #} nodes. */
        final int id;
        /** Entered through a '#' edge: stays active on any word. */
        final boolean selfLoop;
        /** Exact-word children; null while there are none. */
        Map<String, Node<T>> children;
        Node<T> star;
        Node<T> hash;
        final List<T> values = new ArrayList<>(1);

        Node(int id, boolean selfLoop) {
            this.id = id;
            this.selfLoop = selfLoop;
        }
    }

    private int nextId;
    private final Node<T> root = new Node<>(nextId++, false);

    /** Adds {@code value} under binding key {@code key}. Only while building. */
    public void add(String key, T value) {
        Node<T> n = root;
        for (String w : split(key)) {
            if (w.equals("#")) {
                if (n.selfLoop) {
                    continue; // '#.#' matches exactly what '#' matches
                }
                n = n.hash == null ? (n.hash = new Node<>(nextId++, true)) : n.hash;
            } else if (w.equals("*")) {
                n = n.star == null ? (n.star = new Node<>(nextId++, false)) : n.star;
            } else {
                if (n.children == null) {
                    n.children = new HashMap<>();
                }
                Node<T> c = n.children.get(w);
                if (c == null) {
                    n.children.put(w, c = new Node<>(nextId++, false));
                }
                n = c;
            }
        }
        n.values.add(value);
    }

    /**
     * Calls {@code sink} for every value whose key matches {@code routingKey}; a value bound
     * under several matching keys may be reported once per key.
     */
    public void match(String routingKey, Consumer<T> sink) {
        String[] words = split(routingKey);
        Frontier<T> cur = new Frontier<>();
        Frontier<T> next = new Frontier<>();
        ActiveHashNodes seen = new ActiveHashNodes();
        cur.enter(root, 0, seen);
        for (int i = 0; i < words.length && cur.size > 0; i++) {
            String w = words[i];
            int step = i + 1;
            next.size = 0;
            for (int k = 0; k < cur.size; k++) {
                Node<T> n = cur.nodes[k];
                if (n.selfLoop) {
                    next.enter(n, step, seen);
                }
                if (n.children != null) {
                    Node<T> c = n.children.get(w);
                    if (c != null) {
                        next.enter(c, step, seen);
                    }
                }
                if (n.star != null) {
                    next.enter(n.star, step, seen);
                }
            }
            Frontier<T> t = cur;
            cur = next;
            next = t;
        }
        for (int k = 0; k < cur.size; k++) {
            for (T v : cur.nodes[k].values) {
                sink.accept(v);
            }
        }
    }

    /** The nodes active after some number of words, each once. */
    private static final class Frontier<T> {
        @SuppressWarnings("unchecked")
        Node<T>[] nodes = new Node[8];
        int size;

        /**
         * Activates {@code n} and the nodes behind its '#' edges ('#' matching zero words).
         * Only '#' nodes need the duplicate check: any other node is reached solely from its
         * one parent by one edge, and the parent is active at most once per step.
         */
        void enter(Node<T> n, int step, ActiveHashNodes seen) {
            while (n != null && (!n.selfLoop || seen.add(n.id, step))) {
                if (size == nodes.length) {
                    nodes = Arrays.copyOf(nodes, size * 2);
                }
                nodes[size++] = n;
                n = n.hash;
            }
        }
    }

    /**
     * Which '#' nodes are active at which step: an open-addressing map from node id to the last
     * step it was entered, so nothing is cleared between steps. Sized by the '#' nodes a call
     * actually reaches, not by the trie.
     */
    private static final class ActiveHashNodes {
        private int[] ids;   // id + 1; 0 = free slot
        private int[] steps;
        private int count;

        /** True if {@code id} was not yet entered at {@code step} (and records it). */
        boolean add(int id, int step) {
            if (ids == null) {
                ids = new int[16];
                steps = new int[16];
            }
            int mask = ids.length - 1;
            int key = id + 1;
            for (int i = mix(key) & mask; ; i = (i + 1) & mask) {
                if (ids[i] == key) {
                    if (steps[i] == step) {
                        return false;
                    }
                    steps[i] = step;
                    return true;
                }
                if (ids[i] == 0) {
                    ids[i] = key;
                    steps[i] = step;
                    if (++count * 2 > ids.length) {
                        grow();
                    }
                    return true;
                }
            }
        }

        private void grow() {
            int[] oldIds = ids;
            int[] oldSteps = steps;
            ids = new int[oldIds.length * 2];
            steps = new int[oldIds.length * 2];
            int mask = ids.length - 1;
            for (int j = 0; j < oldIds.length; j++) {
                if (oldIds[j] != 0) {
                    int i = mix(oldIds[j]) & mask;
                    while (ids[i] != 0) {
                        i = (i + 1) & mask;
                    }
                    ids[i] = oldIds[j];
                    steps[i] = oldSteps[j];
                }
            }
        }

        private static int mix(int x) {
            int h = x * 0x9E3779B9;
            return h ^ (h >>> 16);
        }
    }

    /** Splits on '.', keeping empty words (RabbitMQ treats "a..b" as three words). */
    static String[] split(String key) {
        if (key.isEmpty()) {
            return new String[0];
        }
        return key.split("\\.", -1);
    }
}
