package io.warren.core.exchange;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * A word trie over dot-separated binding keys where {@code *} matches exactly one word and
 * {@code #} zero or more. Matching walks only the branches the routing key can take, so its
 * cost depends on the key's length and the wildcards on its path, not on the number of
 * bindings. Immutable once built.
 */
public final class TopicTrie<T> {
    private static final class Node<T> {
        final Map<String, Node<T>> children = new HashMap<>();
        Node<T> star;
        Node<T> hash;
        final List<T> values = new ArrayList<>();
    }

    private final Node<T> root = new Node<>();

    /** Adds {@code value} under binding key {@code key}. Only while building. */
    public void add(String key, T value) {
        Node<T> n = root;
        for (String w : split(key)) {
            if (w.equals("*")) {
                n = n.star == null ? (n.star = new Node<>()) : n.star;
            } else if (w.equals("#")) {
                n = n.hash == null ? (n.hash = new Node<>()) : n.hash;
            } else {
                n = n.children.computeIfAbsent(w, k -> new Node<>());
            }
        }
        n.values.add(value);
    }

    /** Calls {@code sink} for every value whose key matches {@code routingKey} (possibly more than once). */
    public void match(String routingKey, Consumer<T> sink) {
        match(root, split(routingKey), 0, sink);
    }

    private static <T> void match(Node<T> n, String[] words, int i, Consumer<T> sink) {
        if (n.hash != null) {
            // '#' absorbs zero or more words: try every split point.
            for (int j = i; j <= words.length; j++) {
                match(n.hash, words, j, sink);
            }
        }
        if (i == words.length) {
            n.values.forEach(sink);
            return;
        }
        Node<T> exact = n.children.get(words[i]);
        if (exact != null) {
            match(exact, words, i + 1, sink);
        }
        if (n.star != null) {
            match(n.star, words, i + 1, sink);
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
