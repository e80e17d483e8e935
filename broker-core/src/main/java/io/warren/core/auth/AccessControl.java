package io.warren.core.auth;

import io.warren.core.BrokerException;
import io.warren.core.store.DefinitionStore;
import io.warren.core.store.DefinitionStore.AccessDefinitions;
import io.warren.core.store.DefinitionStore.PermissionDef;
import io.warren.core.store.DefinitionStore.TopicPermissionDef;
import io.warren.core.store.DefinitionStore.UserDef;
import io.warren.core.store.MessageStore;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Users, their tags and their permissions, as RabbitMQ's internal auth backend keeps them:
 * per-vhost configure / write / read regular expressions and per-exchange topic permissions.
 *
 * <p>Reads are lock-free: the state is an immutable snapshot behind a volatile reference, read
 * by event loops on every check; a change (rare: an operator's) builds the next snapshot under
 * the lock, hands the change to the {@link DefinitionStore} and swaps the reference. Each
 * snapshot has a version, so per-connection caches ({@link Authorizer}) notice a change.
 * {@link #whenDurable} says when the changes made so far are on disk.
 */
public final class AccessControl {
    /** What a permission allows, in RabbitMQ's words. */
    public enum Permission {
        CONFIGURE, WRITE, READ;

        public String word() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    public record User(String name, String passwordHash, String hashingAlgorithm, List<String> tags) {
        public boolean hasTag(String tag) {
            return tags.contains(tag);
        }
    }

    /** A user's permissions in a vhost, compiled. */
    public record VhostPermission(String user, String vhost, String configure, String write, String read,
                                  Pattern configurePattern, Pattern writePattern, Pattern readPattern) {
        Pattern pattern(Permission p) {
            return switch (p) {
                case CONFIGURE -> configurePattern;
                case WRITE -> writePattern;
                case READ -> readPattern;
            };
        }
    }

    /** A user's topic permissions on one exchange of a vhost, compiled (with {username} and {vhost} expanded). */
    public record TopicPermission(String user, String vhost, String exchange, String write, String read,
                                  Pattern writePattern, Pattern readPattern) {
    }

    private record State(long version, Map<String, User> users, Map<String, VhostPermission> permissions,
                         Map<String, Map<String, TopicPermission>> topic) {
    }

    private final DefinitionStore store;
    private final Set<String> loopbackOnly;
    private volatile State state;
    private boolean seeded;

    /**
     * Loaded from {@code store} ({@code null}: kept in memory only). Users named in
     * {@code loopbackOnly} may connect from loopback addresses only (RabbitMQ's loopback_users).
     */
    public AccessControl(DefinitionStore store, Collection<String> loopbackOnly) {
        this.store = store;
        this.loopbackOnly = Set.copyOf(loopbackOnly);
        Map<String, User> users = new HashMap<>();
        Map<String, VhostPermission> permissions = new HashMap<>();
        Map<String, Map<String, TopicPermission>> topic = new HashMap<>();
        if (store != null) {
            AccessDefinitions d = store.loadAccess();
            seeded = d.seeded();
            for (UserDef u : d.users()) {
                users.put(u.name(), new User(u.name(), u.passwordHash(), u.hashingAlgorithm(), List.copyOf(u.tags())));
            }
            for (PermissionDef p : d.permissions()) {
                permissions.put(key(p.vhost(), p.user()), compile(p.user(), p.vhost(), p.configure(), p.write(), p.read()));
            }
            for (TopicPermissionDef t : d.topicPermissions()) {
                topic.computeIfAbsent(key(t.vhost(), t.user()), k -> new HashMap<>())
                        .put(t.exchange(), compileTopic(t.user(), t.vhost(), t.exchange(), t.write(), t.read()));
            }
        }
        state = new State(0, Map.copyOf(users), Map.copyOf(permissions), freeze(topic));
    }

    private static String key(String vhost, String user) {
        return vhost.length() + ":" + vhost + "/" + user;
    }

    // ---- reads: any thread, lock-free -------------------------------------------------------------

    /** Changes so far: a cache made at one version is stale at another. */
    public long version() {
        return state.version;
    }

    public User user(String name) {
        return state.users.get(name);
    }

    /** The user's tags; empty for an unknown user. */
    public List<String> tags(String user) {
        User u = state.users.get(user);
        return u == null ? List.of() : u.tags();
    }

    public List<User> users() {
        List<User> l = new ArrayList<>(state.users.values());
        l.sort(Comparator.comparing(User::name));
        return l;
    }

    public VhostPermission permission(String user, String vhost) {
        return state.permissions.get(key(vhost, user));
    }

    public List<VhostPermission> permissions() {
        List<VhostPermission> l = new ArrayList<>(state.permissions.values());
        l.sort(Comparator.comparing(VhostPermission::vhost).thenComparing(VhostPermission::user));
        return l;
    }

    /** The user's topic permission on {@code exchange}, or null (then every routing key is allowed). */
    public TopicPermission topicPermission(String user, String vhost, String exchange) {
        Map<String, TopicPermission> m = state.topic.get(key(vhost, user));
        return m == null ? null : m.get(exchange);
    }

    /** True when the user has topic permissions on some exchange of the vhost. */
    public boolean hasTopicPermissions(String user, String vhost) {
        return state.topic.containsKey(key(vhost, user));
    }

    public List<TopicPermission> topicPermissions() {
        List<TopicPermission> l = new ArrayList<>();
        state.topic.values().forEach(m -> l.addAll(m.values()));
        l.sort(Comparator.comparing(TopicPermission::vhost).thenComparing(TopicPermission::user)
                .thenComparing(TopicPermission::exchange));
        return l;
    }

    /** Null when {@code password} is the user's and the user may connect from {@code from}; else the reason (for the log). */
    public String authenticate(String user, String password, InetAddress from) {
        User u = state.users.get(user);
        if (u == null) {
            return "user '" + user + "' - invalid credentials";
        }
        if (!PasswordHashing.verify(u.hashingAlgorithm(), u.passwordHash(), password)) {
            return "user '" + user + "' - invalid credentials";
        }
        if (loopbackOnly.contains(user) && (from == null || !from.isLoopbackAddress())) {
            return "user '" + user + "' can only connect via localhost";
        }
        return null;
    }

    /**
     * EXTERNAL (client certificate) login: the user must exist, and loopback_users applies; no
     * password is checked. Null when accepted, else the reason.
     */
    public String authenticateExternal(String user, InetAddress from) {
        if (!state.users.containsKey(user)) {
            return "user '" + user + "' (from the client certificate) does not exist";
        }
        if (loopbackOnly.contains(user) && (from == null || !from.isLoopbackAddress())) {
            return "user '" + user + "' can only connect via localhost";
        }
        return null;
    }

    /** RabbitMQ: a user may open a connection to a vhost where it has permissions (any). */
    public boolean canAccessVhost(String user, String vhost) {
        return state.permissions.containsKey(key(vhost, user));
    }

    // ---- changes: an operator's, serialized ------------------------------------------------------------

    /** False until the default vhost and user were created once (a new data dir). */
    public synchronized boolean seeded() {
        return seeded;
    }

    public synchronized void markSeeded() {
        seeded = true;
        if (store != null) {
            store.markSeeded();
        }
    }

    /** Creates or replaces a user with a password (hashed here); tags as given. */
    public void putUser(String name, String password, List<String> tags) {
        putUserWithHash(name, password == null ? "" : PasswordHashing.hash(password), PasswordHashing.SHA256, tags);
    }

    /** Creates or replaces a user from a stored hash (definitions import, the API's password_hash). */
    public synchronized void putUserWithHash(String name, String hash, String algorithm, List<String> tags) {
        validateName("user", name);
        if (!PasswordHashing.supported(algorithm)) {
            throw invalid("unsupported hashing algorithm '%s' (warren knows %s, %s and %s)", algorithm,
                    PasswordHashing.SHA256, PasswordHashing.SHA512, PasswordHashing.MD5);
        }
        if (!PasswordHashing.wellFormed(algorithm, hash)) {
            throw invalid("password_hash of user '%s' is not base64 of a salt and a %s digest", name, algorithm);
        }
        User u = new User(name, hash, algorithm, normalizeTags(tags));
        if (store != null) {
            store.putUser(new UserDef(name, hash, algorithm, u.tags()));
        }
        Map<String, User> users = new HashMap<>(state.users);
        users.put(name, u);
        swap(users, state.permissions, state.topic);
    }

    public synchronized void setTags(String name, List<String> tags) {
        User u = existing(name);
        putUserWithHash(name, u.passwordHash(), u.hashingAlgorithm(), tags);
    }

    /** Deletes the user with its permissions and topic permissions (RabbitMQ does the same). */
    public synchronized void deleteUser(String name) {
        existing(name);
        Map<String, User> users = new HashMap<>(state.users);
        users.remove(name);
        if (store != null) {
            store.removeUser(name);
        }
        dropPermissions(users, p -> p.user().equals(name), t -> t.user().equals(name));
    }

    public synchronized void setPermissions(String user, String vhost, String configure, String write, String read) {
        existing(user);
        VhostPermission p = compile(user, vhost, configure, write, read);
        if (store != null) {
            store.putPermission(new PermissionDef(user, vhost, configure, write, read));
        }
        Map<String, VhostPermission> permissions = new HashMap<>(state.permissions);
        permissions.put(key(vhost, user), p);
        swap(state.users, permissions, state.topic);
    }

    /** Removes the user's permissions in the vhost; false when it had none. */
    public synchronized boolean clearPermissions(String user, String vhost) {
        existing(user);
        if (!state.permissions.containsKey(key(vhost, user))) {
            return false;
        }
        if (store != null) {
            store.removePermission(user, vhost);
        }
        Map<String, VhostPermission> permissions = new HashMap<>(state.permissions);
        permissions.remove(key(vhost, user));
        swap(state.users, permissions, state.topic);
        return true;
    }

    public synchronized void setTopicPermissions(String user, String vhost, String exchange, String write,
                                                 String read) {
        existing(user);
        TopicPermission t = compileTopic(user, vhost, exchange, write, read);
        if (store != null) {
            store.putTopicPermission(new TopicPermissionDef(user, vhost, exchange, write, read));
        }
        Map<String, Map<String, TopicPermission>> topic = new HashMap<>(state.topic);
        Map<String, TopicPermission> m = new HashMap<>(topic.getOrDefault(key(vhost, user), Map.of()));
        m.put(exchange, t);
        topic.put(key(vhost, user), Map.copyOf(m));
        swap(state.users, state.permissions, topic);
    }

    /** Removes the user's topic permissions in the vhost: on {@code exchange}, or on every exchange when null. */
    public synchronized boolean clearTopicPermissions(String user, String vhost, String exchange) {
        existing(user);
        Map<String, TopicPermission> m = state.topic.get(key(vhost, user));
        if (m == null || exchange != null && !m.containsKey(exchange)) {
            return false;
        }
        Map<String, TopicPermission> left = new HashMap<>(m);
        for (TopicPermission t : m.values()) {
            if (exchange == null || t.exchange().equals(exchange)) {
                removeTopicFromStore(t);
                left.remove(t.exchange());
            }
        }
        Map<String, Map<String, TopicPermission>> topic = new HashMap<>(state.topic);
        if (left.isEmpty()) {
            topic.remove(key(vhost, user));
        } else {
            topic.put(key(vhost, user), Map.copyOf(left));
        }
        swap(state.users, state.permissions, topic);
        return true;
    }

    /** A vhost was deleted: every permission in it goes too. */
    public synchronized void vhostDeleted(String vhost) {
        dropPermissions(state.users, p -> p.vhost().equals(vhost), t -> t.vhost().equals(vhost));
    }

    /**
     * The next state: {@code users}, without the permissions and topic permissions that match
     * (removed from the store too). A user's topic permissions in a vhost are all of one user and
     * one vhost, so one of them decides for the group.
     */
    private void dropPermissions(Map<String, User> users, java.util.function.Predicate<VhostPermission> drop,
                                 java.util.function.Predicate<TopicPermission> dropTopic) {
        Map<String, VhostPermission> permissions = new HashMap<>();
        state.permissions.forEach((k, p) -> {
            if (!drop.test(p)) {
                permissions.put(k, p);
            } else if (store != null) {
                store.removePermission(p.user(), p.vhost());
            }
        });
        Map<String, Map<String, TopicPermission>> topic = new HashMap<>();
        state.topic.forEach((k, m) -> {
            if (dropTopic.test(m.values().iterator().next())) {
                m.values().forEach(this::removeTopicFromStore);
            } else {
                topic.put(k, m);
            }
        });
        swap(users, permissions, topic);
    }

    /** Calls {@code done} once the changes made so far are on disk (or failed); any thread. */
    public void whenDurable(MessageStore.Durable done) {
        if (store == null) {
            done.done(null);
        } else {
            store.sync(done);
        }
    }

    private void removeTopicFromStore(TopicPermission t) {
        if (store != null) {
            store.removeTopicPermission(t.user(), t.vhost(), t.exchange());
        }
    }

    private User existing(String name) {
        User u = state.users.get(name);
        if (u == null) {
            throw BrokerException.notFound("no such user '%s'", name);
        }
        return u;
    }

    private void swap(Map<String, User> users, Map<String, VhostPermission> permissions,
                      Map<String, Map<String, TopicPermission>> topic) {
        state = new State(state.version + 1, Map.copyOf(users), Map.copyOf(permissions), freeze(topic));
    }

    private static Map<String, Map<String, TopicPermission>> freeze(Map<String, Map<String, TopicPermission>> m) {
        Map<String, Map<String, TopicPermission>> out = new HashMap<>();
        m.forEach((k, v) -> out.put(k, Map.copyOf(v)));
        return Map.copyOf(out);
    }

    private static List<String> normalizeTags(List<String> tags) {
        List<String> out = new ArrayList<>();
        for (String t : tags) {
            String s = t.strip();
            if (!s.isEmpty() && !out.contains(s)) {
                out.add(s);
            }
        }
        return List.copyOf(out);
    }

    private static void validateName(String kind, String name) {
        if (name == null || name.isEmpty()) {
            throw invalid("%s name must not be empty", kind);
        }
    }

    static BrokerException invalid(String fmt, Object... args) {
        return new BrokerException(BrokerException.Reason.PRECONDITION_FAILED, String.format(fmt, args));
    }

    /** Throws what {@link #setPermissions} would throw for these regular expressions (a definitions import checks first). */
    public static void checkPermissions(String user, String vhost, String configure, String write, String read) {
        compile(user, vhost, configure, write, read);
    }

    /** Throws what {@link #setTopicPermissions} would throw for these regular expressions. */
    public static void checkTopicPermissions(String user, String vhost, String exchange, String write, String read) {
        compileTopic(user, vhost, exchange, write, read);
    }

    private static VhostPermission compile(String user, String vhost, String configure, String write, String read) {
        return new VhostPermission(user, vhost, configure, write, read, regex("configure", configure),
                regex("write", write), regex("read", read));
    }

    private static TopicPermission compileTopic(String user, String vhost, String exchange, String write,
                                                String read) {
        return new TopicPermission(user, vhost, exchange, write, read, regex("write", expand(write, user, vhost)),
                regex("read", expand(read, user, vhost)));
    }

    /** RabbitMQ's topic permission variables. */
    private static String expand(String pattern, String user, String vhost) {
        return pattern.replace("{username}", user).replace("{vhost}", vhost);
    }

    /**
     * A permission's regular expression. As in RabbitMQ, an empty one matches only the empty
     * name ("^$"), and a match anywhere in the name counts (unanchored search).
     */
    private static Pattern regex(String what, String re) {
        if (re == null) {
            throw invalid("missing %s permission", what);
        }
        try {
            return Pattern.compile(re.isEmpty() ? "^$" : re);
        } catch (PatternSyntaxException e) {
            throw invalid("invalid regular expression for %s permission '%s': %s", what, re,
                    e.getDescription() + " near index " + e.getIndex());
        }
    }
}
