package io.warren.core.auth;

import io.warren.core.BrokerException;
import io.warren.core.auth.AccessControl.Permission;
import io.warren.core.text.MatchBudget;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.HashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The permission checks of one user in one vhost, where RabbitMQ makes them (rabbit_channel):
 * refusals are 403 ACCESS_REFUSED with RabbitMQ's text. Results are cached until the access
 * control changes, so a publish costs a map lookup; a connection's checks run on its event loop
 * (not thread-safe).
 *
 * <p>Permission patterns are an operator's, names a client's: a pathological pattern must not
 * let a client burn an event loop, so each match has a budget of character reads and a match
 * that exceeds it is refused (and logged).
 */
public final class Authorizer {
    private static final Logger log = LoggerFactory.getLogger(Authorizer.class);
    /** Character reads a single match may make (a few ms at most) before it is refused. */
    static final int MATCH_BUDGET = 1_000_000;
    /** Cached results per authorizer; the cache is dropped when full (names are client-chosen). */
    static final int CACHE_LIMIT = 256;

    public enum Kind {
        EXCHANGE, QUEUE;

        String word() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    private final AccessControl access;
    private final String user;
    private final String vhost;
    private long version = -1;
    private final Map<String, Boolean> cache = new HashMap<>();
    /** Per version: the user's permissions here, and whether it has topic permissions here. */
    private AccessControl.VhostPermission permission;
    private boolean topic;
    /** The last name allowed per (kind, permission): a publisher's exchange checks without allocating. */
    private final String[] lastAllowed = new String[Kind.values().length * PERMISSIONS];
    private static final int PERMISSIONS = Permission.values().length;

    public Authorizer(AccessControl access, String user, String vhost) {
        this.access = access;
        this.user = user;
        this.vhost = vhost;
    }

    public String user() {
        return user;
    }

    public String vhost() {
        return vhost;
    }

    /** Throws 403 ACCESS_REFUSED unless the user has {@code perm} on the named exchange or queue. */
    public void check(Kind kind, String name, Permission perm) {
        // RabbitMQ checks the default exchange under the name amq.default.
        String n = kind == Kind.EXCHANGE && name.isEmpty() ? "amq.default" : name;
        refresh();
        int slot = kind.ordinal() * PERMISSIONS + perm.ordinal();
        if (n.equals(lastAllowed[slot])) {
            return;
        }
        if (allowed("r" + slot + n, () -> permission != null && find(permission.pattern(perm), n))) {
            lastAllowed[slot] = n;
        } else {
            throw BrokerException.accessRefused("%s access to %s '%s' in vhost '%s' refused for user '%s'", perm.word(),
                    kind.word(), n, vhost, user);
        }
    }

    /**
     * Topic permissions, checked for topic exchanges only (RabbitMQ): the routing key must match
     * the user's pattern for the exchange; without topic permissions on it, any key is allowed.
     */
    public void checkTopic(String exchange, String routingKey, Permission perm) {
        refresh();
        if (!topic) {
            return;
        }
        if (!allowed("t" + perm.ordinal() + exchange.length() + ":" + exchange + routingKey, () -> {
            AccessControl.TopicPermission t = access.topicPermission(user, vhost, exchange);
            return t == null || find(perm == Permission.WRITE ? t.writePattern() : t.readPattern(), routingKey);
        })) {
            throw BrokerException.accessRefused("%s access to topic '%s' in exchange '%s' in vhost '%s' refused for "
                    + "user '%s'", perm.word(), routingKey, exchange, vhost, user);
        }
    }

    /**
     * The user-id property check: a message may claim only the connection's user, unless the
     * user is tagged impersonator (406 PRECONDITION_FAILED with RabbitMQ's text).
     */
    public void checkUserId(String claimed) {
        if (claimed.equals(user) || access.tags(user).contains("impersonator")) {
            return;
        }
        throw BrokerException.preconditionFailed("user_id property set to '%s' but authenticated user was '%s'",
                claimed, user);
    }

    /** Drops what was cached when access control changed since. */
    private void refresh() {
        long v = access.version();
        if (v != version) {
            cache.clear();
            java.util.Arrays.fill(lastAllowed, null);
            permission = access.permission(user, vhost);
            topic = access.hasTopicPermissions(user, vhost);
            version = v;
        }
    }

    private boolean allowed(String key, java.util.function.BooleanSupplier check) {
        Boolean b = cache.get(key);
        if (b == null) {
            b = check.getAsBoolean();
            if (cache.size() >= CACHE_LIMIT) {
                cache.clear();
            }
            cache.put(key, b);
        }
        return b;
    }

    /** An unanchored search for {@code p} in {@code input}, refused past the budget. */
    static boolean find(Pattern p, String input) {
        try {
            return new MatchBudget(MATCH_BUDGET).find(p, input);
        } catch (MatchBudget.Exceeded e) {
            log.warn("permission pattern '{}' took too long to match a name of {} characters: refused", p.pattern(),
                    input.length());
            return false;
        }
    }
}
