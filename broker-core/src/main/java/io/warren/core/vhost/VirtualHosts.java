package io.warren.core.vhost;

import io.netty.util.concurrent.EventExecutor;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** The broker's virtual hosts by name. */
public final class VirtualHosts {
    private final Map<String, VirtualHost> vhosts = new ConcurrentHashMap<>();
    private final EventExecutor[] loops;

    public VirtualHosts(EventExecutor[] loops, String defaultVhost) {
        this.loops = loops;
        add(defaultVhost);
    }

    public VirtualHost add(String name) {
        return vhosts.computeIfAbsent(name, n -> new VirtualHost(n, loops));
    }

    public VirtualHost get(String name) {
        return vhosts.get(name);
    }

    public List<VirtualHost> all() {
        return List.copyOf(vhosts.values());
    }
}
