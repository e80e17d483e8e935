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
 * <p>Three prunings keep the active set small when many bindings mix {@code #} and {@code *}
 * (see {@code TopicTrieBenchTest}): a node is not entered when the words left in the key are
 * fewer or more than any binding below it could take; nor once the {@code #} node that all its
 * bindings go through next is active (that node covers it); and a trailing {@code #} reports
 * its values when first entered instead of staying active to the end.
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
        /**
         * The fewest and most routing-key words that can still lead from here to a value
         * ({@link Integer#MAX_VALUE}: unbounded, a '#' lies ahead). A node entered with a number
         * of words left outside this range cannot match and is not entered.
         */
        int minWords = Integer.MAX_VALUE;
        int maxWords = -1;
        /**
         * The '#' node that every path from here to a value enters next (after this one), if
         * there is one; null while no path was added, or if paths differ or reach a value before
         * any further '#'. Once that '#' node is active it stays active (it loops on any word,
         * unless its own gate is active, and so on) and leads to all this node could lead to,
         * so this node need not be active any more.
         */
        Node<T> gate;
        byte gateState = NO_PATH;

        Node(int id, boolean selfLoop) {
            this.id = id;
            this.selfLoop = selfLoop;
        }
    }

    private static final byte NO_PATH = 0;
    private static final byte GATE = 1;
    private static final byte NO_GATE = 2;

    private int nextId;
    private final Node<T> root = new Node<>(nextId++, false);

    /** Adds {@code value} under binding key {@code key}. Only while building. */
    public void add(String key, T value) {
        List<String> words = new ArrayList<>();
        for (String w : split(key)) {
            if (!(w.equals("#") && !words.isEmpty() && words.get(words.size() - 1).equals("#"))) {
                words.add(w); // '#.#' matches exactly what '#' matches
            }
        }
        // After d words of the key: the words still needed, and whether a '#' is still ahead.
        int[] needed = new int[words.size() + 1];
        boolean[] hashAhead = new boolean[words.size() + 1];
        for (int d = words.size() - 1; d >= 0; d--) {
            boolean hash = words.get(d).equals("#");
            needed[d] = needed[d + 1] + (hash ? 0 : 1);
            hashAhead[d] = hashAhead[d + 1] || hash;
        }
        List<Node<T>> path = new ArrayList<>(words.size() + 1);
        Node<T> n = root;
        path.add(n);
        for (String w : words) {
            if (w.equals("#")) {
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
            path.add(n);
        }
        n.values.add(value);
        Node<T> firstHashAhead = null; // the first '#' node after path[d]
        for (int d = words.size(); d >= 0; d--) {
            Node<T> p = path.get(d);
            // A '#' node loops on any word, so from it any number of words may still follow.
            p.minWords = Math.min(p.minWords, needed[d]);
            p.maxWords = Math.max(p.maxWords, hashAhead[d] || p.selfLoop ? Integer.MAX_VALUE : words.size() - d);
            if (p.gateState == NO_PATH) {
                p.gate = firstHashAhead;
                p.gateState = firstHashAhead == null ? NO_GATE : GATE;
            } else if (p.gateState == GATE && p.gate != firstHashAhead) {
                p.gate = null; // a value before any further '#', or paths through different '#' nodes
                p.gateState = NO_GATE;
            }
            if (p.selfLoop) {
                firstHashAhead = p;
            }
        }
    }

    /**
     * Calls {@code sink} for every value whose key matches {@code routingKey}; a value bound
     * under several matching keys may be reported once per key. {@code sink} may be called
     * before the whole key has been read, and may itself match (this or another trie).
     */
    public void match(String routingKey, Consumer<T> sink) {
        String[] words = split(routingKey);
        Frontier<T> cur = new Frontier<>();
        Frontier<T> next = new Frontier<>();
        ActiveHashNodes seen = new ActiveHashNodes();
        cur.enter(root, words.length, seen, sink);
        for (int i = 0; i < words.length && cur.size > 0; i++) {
            String w = words[i];
            int left = words.length - i - 1;
            next.size = 0;
            for (int k = 0; k < cur.size; k++) {
                Node<T> n = cur.nodes[k];
                if (n.selfLoop) {
                    next.enter(n, left, seen, sink);
                }
                if (n.children != null) {
                    Node<T> c = n.children.get(w);
                    if (c != null) {
                        next.enter(c, left, seen, sink);
                    }
                }
                if (n.star != null) {
                    next.enter(n.star, left, seen, sink);
                }
            }
            Frontier<T> t = cur;
            cur = next;
            next = t;
        }
        for (int k = 0; k < cur.size; k++) {
            Node<T> n = cur.nodes[k];
            if (!n.selfLoop) { // '#' nodes reported theirs when first entered
                for (T v : n.values) {
                    sink.accept(v);
                }
            }
        }
    }

    /** The nodes active after some number of words, each once. */
    private static final class Frontier<T> {
        @SuppressWarnings("unchecked")
        Node<T>[] nodes = new Node[8];
        int size;

        /**
         * Activates {@code n} and the nodes behind its '#' edges ('#' matching zero words), with
         * {@code left} words of the key still to come. Skips a node that cannot match with that
         * many words left, and one whose gate is already active (see {@link Node#gate}); the
         * nodes behind their '#' edges are then skipped too, rightly.
         *
         * <p>Only '#' nodes need the duplicate check: any other node is reached solely from its
         * one parent by one edge, and the parent is active at most once per step ({@code left}
         * tells steps apart). A '#' node with values matches as soon as it is entered (it loops
         * on any word to the end, and has no gate), so its values are reported then, once; one
         * with no way on (a trailing '#') is then not kept active at all.
         */
        void enter(Node<T> n, int left, ActiveHashNodes seen, Consumer<T> sink) {
            while (n != null && left >= n.minWords && left <= n.maxWords) {
                if (n.gate != null && seen.contains(n.gate.id)) {
                    return;
                }
                if (n.selfLoop) {
                    int was = seen.enter(n.id, left);
                    if (was == ActiveHashNodes.THIS_STEP) {
                        return;
                    }
                    if (was == ActiveHashNodes.NEVER) {
                        for (T v : n.values) {
                            sink.accept(v);
                        }
                    }
                    if (n.children == null && n.star == null) {
                        return; // nothing more can come of it (and its hash is null: '#'s collapse)
                    }
                }
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

        /** Whether {@code id} was entered at any step so far. */
        boolean contains(int id) {
            if (ids == null) {
                return false;
            }
            int mask = ids.length - 1;
            int key = id + 1;
            for (int i = mix(key) & mask; ids[i] != 0; i = (i + 1) & mask) {
                if (ids[i] == key) {
                    return true;
                }
            }
            return false;
        }

        static final int NEVER = 0;
        static final int EARLIER = 1;
        static final int THIS_STEP = 2;

        /** Records that {@code id} is entered at {@code step}; says whether it was before. */
        int enter(int id, int step) {
            if (ids == null) {
                ids = new int[16];
                steps = new int[16];
            }
            int mask = ids.length - 1;
            int key = id + 1;
            for (int i = mix(key) & mask; ; i = (i + 1) & mask) {
                if (ids[i] == key) {
                    if (steps[i] == step) {
                        return THIS_STEP;
                    }
                    steps[i] = step;
                    return EARLIER;
                }
                if (ids[i] == 0) {
                    ids[i] = key;
                    steps[i] = step;
                    if (++count * 2 > ids.length) {
                        grow();
                    }
                    return NEVER;
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
