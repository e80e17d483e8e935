package io.warren.core.flow;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Collectors;

/**
 * The broker's resource alarms (RabbitMQ's rabbit_alarm): memory above its high watermark, free
 * disk below its limit. While any alarm is set, connections that publish are blocked (their
 * sockets are no longer read) and told so with connection.blocked; consumers keep being served
 * so queues drain. Thread-safe: monitors set and clear alarms from their own thread, listeners
 * are called on that thread and must hand work to their own loops.
 *
 * <p>In a cluster the alarms are cluster-wide, as RabbitMQ's are: an alarm of another node
 * ({@link #setRemote}) blocks this node's publishers too, since they may publish to a queue that
 * node holds (a quorum queue has a member on it). {@link #active()} is this node's own alarms;
 * {@link #blocked()} and {@link #reason()} count every node's.
 */
public final class ResourceAlarms {
    private static final Logger log = LoggerFactory.getLogger(ResourceAlarms.class);

    /** A watched resource, with RabbitMQ's names (alarm lists, connection.blocked reasons). */
    public enum Resource {
        MEMORY("memory", "low on memory"),
        DISK("disk", "low on disk");

        private final String id;
        private final String blockedReason;

        Resource(String id, String blockedReason) {
            this.id = id;
            this.blockedReason = blockedReason;
        }

        /** RabbitMQ's resource name: {@code memory}, {@code disk}. */
        public String id() {
            return id;
        }
    }

    /** Told when the set of active alarms changes. */
    public interface Listener {
        /** @param reason connection.blocked's reason text, or null when no alarm is left */
        void alarmsChanged(String reason);
    }

    private final Map<Resource, String> active = new EnumMap<>(Resource.class);
    /** Alarms the monitors raised. */
    private final Map<Resource, String> monitored = new EnumMap<>(Resource.class);
    /** Alarms an operator raised by hand (what rabbitmqctl eval rabbit_alarm:set_alarm does). */
    private final Map<Resource, String> byOperator = new EnumMap<>(Resource.class);
    /** Other nodes' alarms, by node name (only nodes with at least one). */
    private final Map<String, Set<Resource>> remote = new java.util.TreeMap<>();
    private final List<Listener> listeners = new CopyOnWriteArrayList<>();
    private volatile String reason;
    /** Told when this node's own alarms change (a cluster tells the other nodes). */
    private volatile Runnable onLocalChange = () -> { };

    /** Sets or clears the monitor's alarm for {@code r}; {@code detail} says why (logged once per change). */
    public void set(Resource r, boolean on, String detail) {
        change(monitored, r, on, detail);
    }

    /**
     * Sets or clears an alarm by hand, whatever the monitor measures (RabbitMQ's
     * {@code rabbit_alarm:set_alarm} / {@code clear_alarm}, which its tests use to block publishers).
     * The resource is in alarm while either the monitor or the operator says so.
     */
    public void setByOperator(Resource r, boolean on) {
        change(byOperator, r, on, on ? "set by an operator" : "cleared by an operator");
    }

    private void change(Map<Resource, String> source, Resource r, boolean on, String detail) {
        boolean changed;
        String reasonNow;
        synchronized (this) {
            if (on) {
                source.put(r, detail);
            } else {
                source.remove(r);
            }
            boolean was = active.containsKey(r);
            boolean now = monitored.containsKey(r) || byOperator.containsKey(r);
            if (was == now) {
                return;
            }
            if (now) {
                active.put(r, detail);
            } else {
                active.remove(r);
            }
            on = now;
            changed = recompute();
            reasonNow = reason;
        }
        // RabbitMQ 3.10 logs both at warning ("memory resource limit alarm set on node N.",
        // "... cleared on node N"); warren adds the reading that set or cleared it.
        if (on) {
            log.atWarn().addKeyValue("alarm", r.id()).log("{} resource limit alarm set: {}. Publishers will be "
                    + "blocked until this alarm clears", r.id(), detail);
        } else {
            log.atWarn().addKeyValue("alarm", r.id()).log("{} resource limit alarm cleared: {}", r.id(), detail);
        }
        onLocalChange.run();
        if (changed) {
            tell(reasonNow);
        }
    }

    /**
     * Sets the blocked reason from every node's alarms (null when none); caller holds the lock.
     * Returns whether it changed.
     */
    private boolean recompute() {
        java.util.EnumSet<Resource> all = java.util.EnumSet.noneOf(Resource.class);
        all.addAll(active.keySet());
        remote.values().forEach(all::addAll);
        String was = reason;
        reason = all.isEmpty() ? null : all.stream().map(x -> x.blockedReason).collect(Collectors.joining(" & "));
        return !java.util.Objects.equals(was, reason);
    }

    /** Tells the listeners the blocked reason is now {@code now} (null: publishers may publish). */
    private void tell(String now) {
        for (Listener l : listeners) {
            l.alarmsChanged(now);
        }
    }

    /**
     * Sets the alarms another node of the cluster has now ({@code resources} empty: none, as when
     * it went down or left). Publishers here are blocked while any node has one.
     */
    public void setRemote(String node, Set<Resource> resources) {
        setRemote(node, resources, "");
    }

    /** As {@link #setRemote(String, Set)}; {@code why} (may be empty) ends the log lines of the change. */
    public void setRemote(String node, Set<Resource> resources, String why) {
        boolean changed;
        String reasonNow;
        Set<Resource> was;
        synchronized (this) {
            was = resources.isEmpty() ? remote.remove(node) : remote.put(node, Set.copyOf(resources));
            if (was == null ? resources.isEmpty() : was.equals(resources)) {
                return;
            }
            changed = recompute();
            reasonNow = reason;
        }
        for (Resource r : Resource.values()) {
            boolean before = was != null && was.contains(r);
            if (before != resources.contains(r)) {
                log.atWarn().addKeyValue("alarm", r.id()).log(before
                        ? "{} resource limit alarm cleared on node {}{}"
                        : "{} resource limit alarm set on node {}{}. Publishers on this node will be blocked until it "
                        + "clears", r.id(), node, why);
            }
        }
        if (changed) {
            tell(reasonNow);
        }
    }

    /** The other nodes' alarms now, by node name in name order (nodes without any are left out). */
    public synchronized Map<String, Set<Resource>> remote() {
        return java.util.Collections.unmodifiableMap(new java.util.TreeMap<>(remote));
    }

    /** Run (on the thread that changed them, outside any lock) whenever this node's own alarms change. */
    public void onLocalChange(Runnable r) {
        onLocalChange = r == null ? () -> { } : r;
    }

    /** True while any alarm is set, on this node or (in a cluster) another: publishing connections are to be blocked. */
    public boolean blocked() {
        return reason != null;
    }

    /** connection.blocked's reason for the alarms now set ("low on memory & low on disk"), or null. */
    public String reason() {
        return reason;
    }

    /** The resources in alarm on this node now (its own alarms; {@link #remote} has the other nodes'). */
    public synchronized Set<Resource> active() {
        return active.isEmpty() ? Set.of() : Set.copyOf(active.keySet());
    }

    public boolean active(Resource r) {
        synchronized (this) {
            return active.containsKey(r);
        }
    }

    public void addListener(Listener l) {
        listeners.add(l);
    }

    /** The alarms outlive the AMQP server across stop_app / start_app: each removes its own listener. */
    public void removeListener(Listener l) {
        listeners.remove(l);
    }
}
