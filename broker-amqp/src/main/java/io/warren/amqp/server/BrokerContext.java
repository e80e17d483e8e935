package io.warren.amqp.server;

import io.warren.amqp.channel.DirectReplyTo;
import io.warren.amqp.connection.AmqpConnection;
import io.warren.amqp.logging.RateLimitedLog;
import io.warren.core.auth.AccessControl;
import io.warren.core.flow.ResourceAlarms;
import io.warren.core.vhost.VirtualHosts;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What every connection needs from the broker: its model, users and permissions, limits, the resource alarms
 * that block publishers, the open connections, the rate-limited log that client-caused
 * errors go to (one budget for all connections), and the live direct reply-to consumers.
 */
public record BrokerContext(VirtualHosts vhosts, AccessControl access, AmqpSettings settings, ResourceAlarms alarms,
                            Set<AmqpConnection> connections, AtomicInteger openConnections,
                            RateLimitedLog errorLog, DirectReplyTo directReplyTo) {
    public static final String VERSION = "0.1.0";

    public BrokerContext(VirtualHosts vhosts, AccessControl access, AmqpSettings settings, ResourceAlarms alarms) {
        this(vhosts, access, settings, alarms, ConcurrentHashMap.newKeySet(), new AtomicInteger(), new RateLimitedLog(),
                new DirectReplyTo());
    }
}
