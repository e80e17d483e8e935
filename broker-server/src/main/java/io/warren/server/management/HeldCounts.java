package io.warren.server.management;

import com.fasterxml.jackson.databind.JsonNode;
import io.warren.amqp.server.BrokerContext;
import io.warren.core.queue.MessageQueue;
import io.warren.core.vhost.VirtualHost;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ForkJoinPool;

/**
 * Cluster: the counts of the queues a node holds (a classic queue's home, a quorum queue's
 * leader), which the other nodes' listings show for their stand-ins of those queues, as
 * rabbitmqctl list_queues and the management API show the same counts on every node of a
 * RabbitMQ cluster. A node answers them when asked ({@link #QUESTION}, through
 * ClusterNode.apiAnswers, as the {@link ClusterViews} questions); the asking node's
 * listing takes them from {@link BrokerControl#heldElsewhere}.
 */
public final class HeldCounts {
    /** The question another node asks for them (BrokerControl#askOthers). */
    public static final String QUESTION = "queue-counts";

    /** A queue's counts at its holder. */
    public record Counts(int ready, int unacked, int consumers) { }

    private HeldCounts() {
    }

    /**
     * The counts of every queue {@code b} holds, encoded for the asking node: a JSON array of
     * [vhost, name, ready, unacknowledged, consumers]. Unacknowledged counts are copied on each
     * connection's loop (relayed consumers' links are connections here too); the encoding runs
     * off the loops.
     */
    public static CompletableFuture<byte[]> encode(BrokerContext b) {
        return ApiContext.snapshotsOf(b, ForkJoinPool.commonPool()).thenApply(conns -> {
            Map<MessageQueue, Integer> unacked = ApiContext.unackedByQueue(conns);
            List<Object> out = new ArrayList<>();
            for (VirtualHost v : b.vhosts().all()) {
                for (MessageQueue q : v.queues()) {
                    if (q.remoteHome() == null) {
                        out.add(List.of(v.name(), q.name(), q.messageCount(), unacked.getOrDefault(q, 0),
                                q.consumerCount()));
                    }
                }
            }
            return Json.write(out);
        });
    }

    /** What {@link #encode} made, by {@link #key}; empty for an empty answer (a node whose application is stopped). */
    public static Map<String, Counts> decode(byte[] answer) throws IOException {
        Map<String, Counts> m = new HashMap<>();
        if (answer.length == 0) {
            return m;
        }
        for (JsonNode q : Json.MAPPER.readTree(answer)) {
            m.put(key(q.path(0).asText(), q.path(1).asText()),
                    new Counts(q.path(2).asInt(), q.path(3).asInt(), q.path(4).asInt()));
        }
        return m;
    }

    static String key(String vhost, String queue) {
        return vhost + '\0' + queue;
    }
}
