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
    private final List<Listener> listeners = new CopyOnWriteArrayList<>();
    private volatile String reason;

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
        String changed;
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
            reason = active.isEmpty() ? null
                    : active.keySet().stream().map(x -> x.blockedReason).collect(Collectors.joining(" & "));
            changed = reason;
        }
        // RabbitMQ 3.10 logs both at warning ("memory resource limit alarm set on node N.",
        // "... cleared on node N"); warren adds the reading that set or cleared it.
        if (on) {
            log.atWarn().addKeyValue("alarm", r.id()).log("{} resource limit alarm set: {}. Publishers will be "
                    + "blocked until this alarm clears", r.id(), detail);
        } else {
            log.atWarn().addKeyValue("alarm", r.id()).log("{} resource limit alarm cleared: {}", r.id(), detail);
        }
        for (Listener l : listeners) {
            l.alarmsChanged(changed);
        }
    }

    /** True while any alarm is set: publishing connections are to be blocked. */
    public boolean blocked() {
        return reason != null;
    }

    /** connection.blocked's reason for the alarms now set ("low on memory & low on disk"), or null. */
    public String reason() {
        return reason;
    }

    /** The resources in alarm now. */
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
