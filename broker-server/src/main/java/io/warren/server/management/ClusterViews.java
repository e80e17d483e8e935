package io.warren.server.management;

import com.fasterxml.jackson.core.type.TypeReference;
import io.warren.amqp.channel.ChannelInfo;
import io.warren.amqp.connection.AmqpConnection;
import io.warren.amqp.connection.ConnectionInfo;
import io.warren.amqp.server.BrokerContext;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ForkJoinPool;

/**
 * Cluster: the connections, channels and consumers of every node in each node's listings, as
 * RabbitMQ's management API and rabbitmqctl list_connections show them cluster-wide (each item's
 * {@code node} says where it is), and a close of a connection another node has. A node answers
 * the questions below for its own clients when another asks ({@link BrokerControl#askOthers});
 * the links nodes open to one another (to relay a consumer, a get or forwarded publishes, login
 * {@value AmqpConnection#LINK_MECHANISM}) are no clients' and are left out, as RabbitMQ's
 * inter-node traffic is not listed.
 *
 * <ul>
 * <li>{@code connections}, {@code channels}, {@code consumers}: a JSON array of the views;</li>
 * <li>{@code totals}: a JSON array [connections, channels, consumers];</li>
 * <li>{@link HeldCounts#QUESTION}: the counts of the queues this node holds;</li>
 * <li>{@code node}: this node's entry of /api/nodes, in an array of one (answered by the
 * management API, also while the application is stopped);</li>
 * <li>{@code close NAME\nREASON}: closes client connection NAME with 320 and REASON; answers
 * "closed", or nothing when this node has no such connection;</li>
 * <li>{@code get JSON}: an API get of a queue this node holds, asked by the node the request
 * came to (see MessageEndpoints#answerGet).</li>
 * </ul>
 */
public final class ClusterViews {
    static final String CONNECTIONS = "connections";
    static final String CHANNELS = "channels";
    static final String CONSUMERS = "consumers";
    static final String TOTALS = "totals";
    /** This node's entry of /api/nodes, in an array of one (the management API's; see ManagementServer#nodeView). */
    public static final String NODE = "node";
    static final String CLOSE = "close ";
    private static final byte[] CLOSED = "closed".getBytes(StandardCharsets.UTF_8);

    private ClusterViews() {
    }

    /** Whether {@code c} is a client's connection, not another node's link. */
    static boolean client(ConnectionInfo c) {
        return !AmqpConnection.LINK_MECHANISM.equals(c.authMechanism());
    }

    /** The client connections among {@code conns}. */
    static List<ConnectionInfo> clients(List<ConnectionInfo> conns) {
        List<ConnectionInfo> out = new ArrayList<>(conns.size());
        for (ConnectionInfo c : conns) {
            if (client(c)) {
                out.add(c);
            }
        }
        return out;
    }

    /**
     * This node's answer to {@code question} (see the class comment), as node {@code node} of
     * the running application {@code b}; empty for a question it does not know. The
     * connections' state is copied on their loops; the encoding runs off them.
     */
    public static CompletableFuture<byte[]> answer(BrokerContext b, String node, String question) {
        if (question.startsWith(MessageEndpoints.GET)) {
            return MessageEndpoints.answerGet(b, question.substring(MessageEndpoints.GET.length()));
        }
        if (question.startsWith(CLOSE)) {
            String rest = question.substring(CLOSE.length());
            int nl = rest.indexOf('\n');
            String name = nl < 0 ? rest : rest.substring(0, nl);
            String reason = nl < 0 ? ConnectionEndpoints.DEFAULT_REASON : rest.substring(nl + 1);
            AmqpConnection c = ApiContext.connectionOf(b, name);
            if (c == null || c.relayed()) {
                return CompletableFuture.completedFuture(new byte[0]);
            }
            c.closeByOperator(reason);
            return CompletableFuture.completedFuture(CLOSED);
        }
        if (!List.of(CONNECTIONS, CHANNELS, CONSUMERS, TOTALS).contains(question)) {
            return CompletableFuture.completedFuture(new byte[0]);
        }
        return ApiContext.snapshotsOf(b, ForkJoinPool.commonPool()).thenApply(all -> {
            List<ConnectionInfo> conns = clients(all);
            List<Object> out = new ArrayList<>();
            switch (question) {
                case CONNECTIONS -> conns.forEach(c -> out.add(Views.connection(c, node)));
                case CHANNELS -> conns.forEach(c -> c.channels().forEach(ch -> out.add(Views.channel(c, ch, node))));
                case CONSUMERS -> out.addAll(Views.consumers(conns, node, k -> true));
                default -> {
                    int[] t = totals(conns);
                    out.add(t[0]);
                    out.add(t[1]);
                    out.add(t[2]);
                }
            }
            return Json.write(out);
        });
    }

    /** [connections, channels, consumers] of {@code conns}. */
    static int[] totals(List<ConnectionInfo> conns) {
        int[] t = {conns.size(), 0, 0};
        for (ConnectionInfo c : conns) {
            t[1] += c.channels().size();
            for (ChannelInfo ch : c.channels()) {
                t[2] += ch.consumers().size();
            }
        }
        return t;
    }

    /** The views in the answers of the other nodes to a listing question; empty or unreadable answers give none. */
    static List<Map<String, Object>> views(List<byte[]> answers) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (byte[] a : answers) {
            if (a.length > 0) {
                try {
                    out.addAll(Json.MAPPER.readValue(a, new TypeReference<List<Map<String, Object>>>() { }));
                } catch (IOException e) {
                    unreadable(e); // a node that does not know the question answers something else
                }
            }
        }
        return out;
    }

    /**
     * The views in {@code answers} of vhost {@code vhost} (null: all), its name at {@code path}
     * in each view ("vhost", or "queue", "vhost" for a consumer).
     */
    static List<Map<String, Object>> views(List<byte[]> answers, String vhost, String... path) {
        List<Map<String, Object>> all = views(answers);
        if (vhost == null) {
            return all;
        }
        List<Map<String, Object>> out = new ArrayList<>(all.size());
        for (Map<String, Object> m : all) {
            Object v = m;
            for (String key : path) {
                v = v instanceof Map<?, ?> map ? map.get(key) : null;
            }
            if (vhost.equals(v)) {
                out.add(m);
            }
        }
        return out;
    }

    /** The sums of the other nodes' {@code totals} answers. */
    static int[] totals(List<byte[]> answers, int[] local) {
        int[] t = local.clone();
        for (byte[] a : answers) {
            if (a.length > 0) {
                try {
                    int[] n = Json.MAPPER.readValue(a, int[].class);
                    for (int i = 0; i < Math.min(3, n.length); i++) {
                        t[i] += n[i];
                    }
                } catch (IOException e) {
                    unreadable(e);
                }
            }
        }
        return t;
    }

    private static void unreadable(IOException e) {
        org.slf4j.LoggerFactory.getLogger(ClusterViews.class).debug("an answer that is no listing left out: {}",
                e.toString());
    }

    /** Whether one of the other nodes' answers to a close said it closed the connection. */
    static boolean closed(List<byte[]> answers) {
        for (byte[] a : answers) {
            if (java.util.Arrays.equals(a, CLOSED)) {
                return true;
            }
        }
        return false;
    }

    /** The question that closes connection {@code name} on whichever node has it. */
    static String close(String name, String reason) {
        return CLOSE + name + "\n" + reason;
    }
}
