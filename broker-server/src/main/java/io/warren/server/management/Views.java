package io.warren.server.management;

import io.warren.amqp.channel.ChannelInfo;
import io.warren.amqp.connection.AmqpConnection;
import io.warren.amqp.connection.ConnectionInfo;
import io.warren.core.exchange.Binding;
import io.warren.core.exchange.Exchange;
import io.warren.core.queue.MessageQueue;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The JSON objects of the API, with RabbitMQ 3.10's field names (maps Jackson serialises in
 * insertion order). Only fields warren really knows are present: no zero-filled statistics.
 */
final class Views {
    private Views() {
    }

    static Map<String, Object> queue(MessageQueue q, int unacked, String node, MessageStats stats) {
        return queue(q, unacked, node, stats, null);
    }

    /**
     * As above; {@code running}: the cluster's nodes and whether each was up at the last probe
     * (null: a single broker), for a quorum queue's {@code online} members.
     */
    static Map<String, Object> queue(MessageQueue q, int unacked, String node, MessageStats stats,
                                     Map<String, Boolean> running) {
        return queue(q, unacked, node, stats, running, null);
    }

    /**
     * As above; {@code held}: the counts of {@code q} at the node that holds it (null: none
     * known), shown in place of this node's own when another node holds it.
     */
    static Map<String, Object> queue(MessageQueue q, int unacked, String node, MessageStats stats,
                                     Map<String, Boolean> running, HeldCounts.Counts held) {
        Map<String, Object> m = new LinkedHashMap<>();
        boolean elsewhere = held != null && q.remoteHome() != null;
        int ready = elsewhere ? held.ready() : q.messageCount();
        if (elsewhere) {
            unacked = held.unacked();
        }
        m.put("name", q.name());
        m.put("vhost", q.vhost());
        m.put("durable", q.durable());
        m.put("auto_delete", q.autoDelete());
        m.put("exclusive", q.exclusive());
        m.put("arguments", Json.fromAmqp(q.arguments()));
        // a cluster's queue held by another node: its definition is here, its messages there
        String home = q.remoteHome() != null ? q.holder() : node;
        m.put("node", home);
        m.put("type", q.quorum() ? "quorum" : "classic");
        if (q.clusterMembers() != null) {
            // a cluster's quorum queue, as RabbitMQ shows one: its leader, members and the members up
            m.put("leader", home);
            m.put("members", q.clusterMembers());
            if (running != null) {
                m.put("online", q.clusterMembers().stream().filter(n -> running.getOrDefault(n, false)).toList());
            }
        }
        m.put("state", "running");
        m.put("consumers", elsewhere ? held.consumers() : q.consumerCount());
        m.put("messages", (long) ready + unacked);
        m.put("messages_ready", ready);
        m.put("messages_unacknowledged", unacked);
        m.put("messages_paged_out", q.pagedOutCount());
        if (q.quorum()) {
            // quorum queues' dead-lettered backlog (x-dead-letter-strategy at-least-once): held
            // until the targets take it, counted apart from messages and messages_ready
            m.put("messages_dlx", q.deadLetteredCount());
            m.put("message_bytes_dlx", q.deadLetteredBytes());
        }
        m.put("message_stats", stats.queue(q));
        if (q.exclusiveOwner() instanceof AmqpConnection owner) {
            m.put("owner_pid_details", Map.of("name", owner.name()));
        }
        return m;
    }

    static Map<String, Object> exchange(Exchange x, String vhost, MessageStats stats) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", x.name());
        m.put("vhost", vhost);
        m.put("type", x.type().wireName());
        m.put("durable", x.durable());
        m.put("auto_delete", x.autoDelete());
        m.put("internal", x.internal());
        m.put("arguments", Json.fromAmqp(x.arguments()));
        m.put("message_stats", stats.exchange(x));
        if (x instanceof io.warren.core.exchange.DelayedExchange dx) {
            // warren's: how many messages wait for their x-delay here (the plugin shows none).
            m.put("messages_delayed", dx.waiting());
        }
        return m;
    }

    static Map<String, Object> binding(String vhost, Binding b) {
        return binding(vhost, b.source().name(), b.destination().name(),
                b.destination() instanceof MessageQueue ? "queue" : "exchange", b.routingKey(), b.arguments());
    }

    /** The default exchange's implicit binding to every queue (RabbitMQ lists it too). */
    static Map<String, Object> defaultBinding(MessageQueue q) {
        return binding(q.vhost(), "", q.name(), "queue", q.name(), Map.of());
    }

    private static Map<String, Object> binding(String vhost, String source, String destination, String type,
                                               String key, Map<String, Object> args) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("source", source);
        m.put("vhost", vhost);
        m.put("destination", destination);
        m.put("destination_type", type);
        m.put("routing_key", key);
        m.put("arguments", Json.fromAmqp(args));
        m.put("properties_key", propertiesKey(key, args));
        return m;
    }

    /**
     * RabbitMQ's properties_key, which names one binding in a DELETE path: "~" for an empty key
     * without arguments, else the key URL-quoted (rabbit_mgmt_format:pack_binding_props), plus
     * "~" and a hash when there are arguments. RabbitMQ's hash is Erlang's phash2; warren's is a
     * SHA-256 prefix of the arguments' JSON, so the keys of bindings with arguments differ
     * between the two brokers (clients read them from GET and send them back).
     */
    static String propertiesKey(String key, Map<String, Object> args) {
        if (args.isEmpty()) {
            return key.isEmpty() ? "~" : quote(key);
        }
        byte[] digest;
        try {
            digest = MessageDigest.getInstance("SHA-256").digest(Json.write(Json.fromAmqp(new java.util.TreeMap<>(args))));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        String hash = Base64.getUrlEncoder().withoutPadding().encodeToString(java.util.Arrays.copyOf(digest, 4));
        return quote(key) + "~" + quote(hash);
    }

    /** rabbit_http_util:quote_plus, with "~" escaped: safe are letters, digits and "-_."; space is "+". */
    static String quote(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("*", "%2A");
    }

    static Map<String, Object> connection(ConnectionInfo c, String node) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", c.name());
        m.put("node", node);
        m.put("type", "network");
        m.put("protocol", "AMQP 0-9-1");
        m.put("state", c.state());
        m.put("peer_host", c.peerHost());
        m.put("peer_port", c.peerPort());
        m.put("host", c.host());
        m.put("port", c.port());
        m.put("user", c.user());
        m.put("vhost", c.vhost());
        m.put("auth_mechanism", c.authMechanism());
        m.put("ssl", false);
        m.put("channels", c.channels().size());
        m.put("channel_max", c.channelMax());
        m.put("frame_max", c.frameMax());
        m.put("timeout", c.heartbeat());
        m.put("connected_at", c.connectedAt());
        Object userProvidedName = c.clientProperties().get("connection_name");
        if (userProvidedName != null) {
            m.put("user_provided_name", Json.fromAmqp(userProvidedName));
        }
        m.put("client_properties", Json.fromAmqp(c.clientProperties()));
        return m;
    }

    static String channelName(ConnectionInfo c, ChannelInfo ch) {
        return c.name() + " (" + ch.number() + ")";
    }

    static Map<String, Object> connectionDetails(ConnectionInfo c) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", c.name());
        m.put("peer_host", c.peerHost());
        m.put("peer_port", c.peerPort());
        return m;
    }

    static Map<String, Object> channel(ConnectionInfo c, ChannelInfo ch, String node) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", channelName(c, ch));
        m.put("node", node);
        m.put("number", ch.number());
        m.put("user", c.user());
        m.put("vhost", c.vhost());
        m.put("state", ch.state());
        m.put("connection_details", connectionDetails(c));
        m.put("consumer_count", ch.consumers().size());
        m.put("messages_unacknowledged", ch.unacked());
        m.put("prefetch_count", ch.prefetchCount());
        m.put("global_prefetch_count", ch.globalPrefetchCount());
        m.put("confirm", ch.confirm());
        m.put("transactional", ch.transactional());
        return m;
    }

    static Map<String, Object> consumer(ConnectionInfo c, ChannelInfo ch, ChannelInfo.ConsumerInfo k, String node) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("consumer_tag", k.tag());
        Map<String, Object> queue = new LinkedHashMap<>();
        queue.put("name", k.queue().name());
        queue.put("vhost", k.queue().vhost());
        m.put("queue", queue);
        Map<String, Object> details = new LinkedHashMap<>();
        details.put("name", channelName(c, ch));
        details.put("number", ch.number());
        details.put("connection_name", c.name());
        details.put("peer_host", c.peerHost());
        details.put("peer_port", c.peerPort());
        details.put("user", c.user());
        details.put("node", node);
        m.put("channel_details", details);
        m.put("ack_required", k.ackRequired());
        m.put("exclusive", k.exclusive());
        m.put("prefetch_count", k.prefetchCount());
        // RabbitMQ's single-active-consumer states; "up" on ordinary queues.
        boolean active = k.active();
        m.put("active", active);
        m.put("activity_status", k.queue().singleActiveConsumer() ? (active ? "single_active" : "waiting") : "up");
        int priority = k.consumer() == null ? 0 : k.consumer().priority();
        m.put("arguments", priority == 0 ? Map.of() : Map.of("x-priority", priority));
        return m;
    }

    /** Every consumer of every channel, in connection then channel order. */
    static List<Map<String, Object>> consumers(List<ConnectionInfo> connections, String node,
                                               java.util.function.Predicate<ChannelInfo.ConsumerInfo> filter) {
        List<Map<String, Object>> out = new java.util.ArrayList<>();
        for (ConnectionInfo c : connections) {
            for (ChannelInfo ch : c.channels()) {
                for (ChannelInfo.ConsumerInfo k : ch.consumers()) {
                    if (filter.test(k)) {
                        out.add(consumer(c, ch, k, node));
                    }
                }
            }
        }
        return out;
    }
}
