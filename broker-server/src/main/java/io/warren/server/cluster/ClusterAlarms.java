package io.warren.server.cluster;

import io.warren.core.flow.ResourceAlarms;

import java.nio.charset.StandardCharsets;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;

/**
 * Makes resource alarms cluster-wide, as RabbitMQ's are: when any node is short of memory or
 * disk, every node blocks its publishers (a publisher anywhere may publish to a queue that node
 * holds, and every member of a quorum queue keeps its messages).
 *
 * <p>Nodes tell each other their own alarms over the cluster's question channel: a node asks
 * another {@code alarms NODE VERSION RESOURCES} (its own state) and gets the other's state back
 * ({@code VERSION RESOURCES}), so one question brings both up to date. A node asks every other
 * node at once when its own alarms change, and each node it finds up at every probe round; a node
 * found down (or forgotten) has its alarms dropped, as RabbitMQ drops a down node's. Versions
 * grow with each change of a node's alarms (and across its restarts: they start at its start
 * time in microseconds), so a late answer never undoes a newer one.
 */
final class ClusterAlarms {
    static final String QUESTION = "alarms ";

    private final String self;
    private final AtomicLong version;
    private volatile ResourceAlarms alarms;
    /** The newest version taken from each other node. */
    private final Map<String, Long> seen = new HashMap<>();

    ClusterAlarms(String self) {
        this.self = self;
        this.version = new AtomicLong(System.currentTimeMillis() * 1000);
    }

    /**
     * Takes this node's alarms from {@code a} and sets the other nodes' on it; {@code tellOthers}
     * runs whenever this node's own alarms change (it asks every other node {@link #question}).
     */
    void attach(ResourceAlarms a, Runnable tellOthers) {
        alarms = a;
        a.onLocalChange(() -> {
            version.incrementAndGet();
            tellOthers.run();
        });
    }

    /** The question that tells another node this node's alarms and asks for its own. */
    String question() {
        return QUESTION + self + " " + state();
    }

    /** "VERSION RESOURCES": the version is read first, so a state is never sent with a newer version than its own. */
    private String state() {
        long v = version.get();
        ResourceAlarms a = alarms;
        return v + " " + (a == null ? "" : ids(a.active()));
    }

    /** Another node's question (after {@link #QUESTION}): takes its alarms, answers this node's. */
    byte[] answer(String asked) {
        int sp = asked.indexOf(' ');
        if (sp > 0) {
            take(asked.substring(0, sp), asked.substring(sp + 1));
        }
        return state().getBytes(StandardCharsets.UTF_8);
    }

    /** Node {@code node}'s answer to {@link #question}. */
    void answered(String node, byte[] answer) {
        take(node, new String(answer, StandardCharsets.UTF_8));
    }

    /** Node {@code node} is down or no longer in the cluster: its alarms no longer hold publishers. */
    synchronized void down(String node) {
        ResourceAlarms a = alarms;
        if (a != null) {
            a.setRemote(node, Set.of(), " (the node is down or left the cluster)");
        }
    }

    /** The nodes whose alarms are set here now. */
    Set<String> alarmed() {
        ResourceAlarms a = alarms;
        return a == null ? Set.of() : a.remote().keySet();
    }

    /** Takes "VERSION RESOURCES" of node {@code node} unless an answer of a newer version came first. */
    private synchronized void take(String node, String state) {
        ResourceAlarms a = alarms;
        if (a == null || node.equals(self)) {
            return;
        }
        int sp = state.indexOf(' ');
        long v;
        try {
            v = Long.parseLong(sp < 0 ? state : state.substring(0, sp));
        } catch (NumberFormatException e) {
            return; // an answer of another kind (a node too old to know the question answers its listener)
        }
        Long was = seen.get(node);
        if (was != null && v < was) {
            return;
        }
        seen.put(node, v);
        a.setRemote(node, parse(sp < 0 ? "" : state.substring(sp + 1)));
    }

    static String ids(Set<ResourceAlarms.Resource> rs) {
        return rs.stream().map(ResourceAlarms.Resource::id).sorted().collect(Collectors.joining(","));
    }

    static Set<ResourceAlarms.Resource> parse(String ids) {
        EnumSet<ResourceAlarms.Resource> rs = EnumSet.noneOf(ResourceAlarms.Resource.class);
        for (String id : ids.trim().split(",")) {
            for (ResourceAlarms.Resource r : ResourceAlarms.Resource.values()) {
                if (r.id().equals(id)) {
                    rs.add(r);
                }
            }
        }
        return rs;
    }
}
