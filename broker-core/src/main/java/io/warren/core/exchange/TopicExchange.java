package io.warren.core.exchange;

import io.warren.core.message.Message;

import java.util.List;
import java.util.Map;

/** Routes by pattern ({@code *} one word, {@code #} zero or more) through a {@link TopicTrie}. */
public final class TopicExchange extends Exchange {
    private volatile TopicTrie<Destination> trie = new TopicTrie<>();

    TopicExchange(String name, boolean durable, boolean autoDelete, boolean internal, Map<String, Object> args) {
        super(name, ExchangeType.TOPIC, durable, autoDelete, internal, args);
    }

    @Override public void route(Message message, RoutingResult out) {
        TopicTrie<Destination> t = trie;
        t.match(message.routingKey(), d -> out.add(d, message));
        String[] cc = message.ccRoutes();
        if (cc != null) {
            for (String key : cc) {
                t.match(key, d -> out.add(d, message));
            }
        }
    }

    @Override protected void rebuild(List<Binding> bindings) {
        TopicTrie<Destination> t = new TopicTrie<>();
        for (Binding b : bindings) {
            t.add(b.routingKey(), b.destination());
        }
        trie = t;
    }
}
