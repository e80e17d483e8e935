package io.warren.core.auth;

import java.net.InetAddress;
import java.util.Map;
import java.util.Set;

/**
 * The users allowed to connect. Users listed in {@code loopbackOnly} may connect from loopback
 * addresses only (RabbitMQ's {@code loopback_users}, which holds guest by default).
 */
public final class Users {
    private final Map<String, String> passwords;
    private final Set<String> loopbackOnly;
    private final Map<String, java.util.List<String>> tags;

    public Users(Map<String, String> passwords, Set<String> loopbackOnly) {
        this(passwords, loopbackOnly, Map.of());
    }

    /** With each user's tags (RabbitMQ's administrator, monitoring, management, ...). */
    public Users(Map<String, String> passwords, Set<String> loopbackOnly, Map<String, java.util.List<String>> tags) {
        this.passwords = Map.copyOf(passwords);
        this.loopbackOnly = Set.copyOf(loopbackOnly);
        this.tags = Map.copyOf(tags);
    }

    /** The user's tags; empty for a user without any (or unknown). */
    public java.util.List<String> tags(String user) {
        return tags.getOrDefault(user, java.util.List.of());
    }

    /** Null when accepted, else the reason (for the log; clients get a generic refusal). */
    public String authenticate(String user, String password, InetAddress from) {
        String expected = passwords.get(user);
        if (expected == null || !constantTimeEquals(expected, password)) {
            return "user '" + user + "' - invalid credentials";
        }
        if (loopbackOnly.contains(user) && (from == null || !from.isLoopbackAddress())) {
            return "user '" + user + "' can only connect via localhost";
        }
        return null;
    }

    private static boolean constantTimeEquals(String a, String b) {
        return java.security.MessageDigest.isEqual(a.getBytes(java.nio.charset.StandardCharsets.UTF_8),
                b.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }
}
