package io.warren.core.vhost;

import io.netty.util.concurrent.EventExecutor;
import io.warren.core.queue.Paging;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** The broker's virtual hosts by name. */
public final class VirtualHosts {
    private final Map<String, VirtualHost> vhosts = new ConcurrentHashMap<>();
    private final EventExecutor[] loops;
    private final Durability durability;
    private final Paging paging;

    public VirtualHosts(EventExecutor[] loops, String defaultVhost) {
        this(loops, defaultVhost, Durability.NONE);
    }

    public VirtualHosts(EventExecutor[] loops, String defaultVhost, Durability durability) {
        this(loops, defaultVhost, durability, Paging.OFF);
    }

    /** With {@code paging}: how every queue bounds the message content it keeps in memory. */
    public VirtualHosts(EventExecutor[] loops, String defaultVhost, Durability durability, Paging paging) {
        this.loops = loops;
        this.durability = durability;
        this.paging = paging;
        add(defaultVhost);
    }

    public VirtualHost add(String name) {
        return vhosts.computeIfAbsent(name, n -> new VirtualHost(n, loops, durability, paging));
    }

    public Paging paging() {
        return paging;
    }

    public VirtualHost get(String name) {
        return vhosts.get(name);
    }

    public List<VirtualHost> all() {
        return List.copyOf(vhosts.values());
    }
}
