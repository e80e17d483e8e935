package io.warren.core.vhost;

import io.netty.util.concurrent.EventExecutor;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** The broker's virtual hosts by name. */
public final class VirtualHosts {
    private final Map<String, VirtualHost> vhosts = new ConcurrentHashMap<>();
    private final EventExecutor[] loops;
    private final Durability durability;

    public VirtualHosts(EventExecutor[] loops, String defaultVhost) {
        this(loops, defaultVhost, Durability.NONE);
    }

    public VirtualHosts(EventExecutor[] loops, String defaultVhost, Durability durability) {
        this.loops = loops;
        this.durability = durability;
        add(defaultVhost);
    }

    public VirtualHost add(String name) {
        return vhosts.computeIfAbsent(name, n -> new VirtualHost(n, loops, durability));
    }

    public VirtualHost get(String name) {
        return vhosts.get(name);
    }

    public List<VirtualHost> all() {
        return List.copyOf(vhosts.values());
    }
}
