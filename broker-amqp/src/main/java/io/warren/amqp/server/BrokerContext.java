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
 * errors go to (one budget for all connections), the live direct reply-to consumers, the
 * broker-wide message and churn counters (the Prometheus endpoint's rabbitmq_global_*), and how
 * other cluster nodes prove WARREN-LINK logins ({@code linkAuth}; null when not clustered: the
 * mechanism is then unknown).
 */
public record BrokerContext(VirtualHosts vhosts, AccessControl access, AmqpSettings settings, ResourceAlarms alarms,
                            Set<AmqpConnection> connections, AtomicInteger openConnections,
                            RateLimitedLog errorLog, DirectReplyTo directReplyTo, AmqpCounters counters,
                            LinkAuth linkAuth) {
    public static final String VERSION = "0.1.0";

    /** A broker that is not part of a cluster: no WARREN-LINK logins. */
    public BrokerContext(VirtualHosts vhosts, AccessControl access, AmqpSettings settings, ResourceAlarms alarms) {
        this(vhosts, access, settings, alarms, null);
    }

    /** A broker whose cluster peers log in with WARREN-LINK, proved by {@code linkAuth} (null: none). */
    public BrokerContext(VirtualHosts vhosts, AccessControl access, AmqpSettings settings, ResourceAlarms alarms,
                         LinkAuth linkAuth) {
        this(vhosts, access, settings, alarms, ConcurrentHashMap.newKeySet(), new AtomicInteger(), new RateLimitedLog(),
                new DirectReplyTo(), new AmqpCounters(), linkAuth);
    }
}
