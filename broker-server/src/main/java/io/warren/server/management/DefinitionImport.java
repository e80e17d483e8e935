package io.warren.server.management;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.warren.amqp.server.BrokerContext;
import io.warren.core.BrokerException;
import io.warren.core.auth.AccessControl;
import io.warren.core.auth.PasswordHashing;
import io.warren.core.exchange.Exchange;
import io.warren.core.exchange.ExchangeType;
import io.warren.core.queue.MessageQueue;
import io.warren.core.store.MessageStore;
import io.warren.core.vhost.VirtualHost;
import io.warren.core.vhost.VirtualHosts;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * One definitions import: {@link #check} reads and checks a whole RabbitMQ definitions document
 * against the broker as it is (nothing changes; the first problem is a 400 that names the
 * category, the index and the object), {@link #apply} then makes the changes in RabbitMQ's
 * order (users, vhosts, permissions, topic permissions, exchanges, queues, bindings) through
 * the model's own operations, and {@link #durable} completes once they are on disk. Both run
 * on the management worker, which serialises every change the API makes.
 */
final class DefinitionImport {
    private record User(String where, String name, String password, String hash, String algorithm,
                        List<String> tags) {
    }

    /** {@code description} / {@code tags} null: not in the document (an existing vhost keeps its own). */
    private record Vhost(String where, String name, String description, List<String> tags) {
    }

    private record Permission(String where, String user, String vhost, String configure, String write,
                              String read) {
    }

    private record TopicPermission(String where, String user, String vhost, String exchange, String write,
                                   String read) {
    }

    private record XDef(String where, String vhost, String name, String type, boolean durable, boolean autoDelete,
                        boolean internal, Map<String, Object> args) {
    }

    private record QDef(String where, String vhost, String name, boolean durable, boolean autoDelete,
                        Map<String, Object> args) {
    }

    private record BDef(String where, String vhost, String source, String destination, boolean toQueue, String key,
                        Map<String, Object> args) {
    }

    private record PDef(String where, io.warren.core.policy.Policy policy, boolean operator) {
    }

    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(DefinitionImport.class);
    /** Progress of {@link #apply}: a line every 5 s for a large import. */
    private io.warren.core.log.ProgressLog progress;
    private long applied;
    private final List<PDef> policies = new ArrayList<>();
    private final BrokerContext broker;
    private final List<User> users = new ArrayList<>();
    private final Map<String, Vhost> vhosts = new LinkedHashMap<>();
    private final List<Permission> permissions = new ArrayList<>();
    private final List<TopicPermission> topicPermissions = new ArrayList<>();
    private final Map<String, XDef> exchanges = new LinkedHashMap<>();
    private final Map<String, QDef> queues = new LinkedHashMap<>();
    private final List<BDef> bindings = new ArrayList<>();
    /** The vhosts whose topology the import changes: their stores are waited for. */
    private final Set<String> touched = new LinkedHashSet<>();

    private DefinitionImport(BrokerContext broker) {
        this.broker = broker;
    }

    // ---- check ---------------------------------------------------------------------------------

    /**
     * Reads and checks {@code doc}; {@code only} is the vhost of a vhost-scoped import (whose
     * items' own "vhost" fields are ignored, and whose users, vhosts and permissions are not
     * imported, as in RabbitMQ), or null.
     */
    static DefinitionImport check(JsonNode doc, String only, BrokerContext broker) {
        DefinitionImport p = new DefinitionImport(broker);
        p.refuseUnsupported(doc, only == null);
        if (only == null) {
            List<ObjectNode> us = items(doc, "users");
            for (int i = 0; i < us.size(); i++) {
                p.user(us.get(i), "users[" + i + "]");
            }
            List<ObjectNode> vs = items(doc, "vhosts");
            for (int i = 0; i < vs.size(); i++) {
                p.vhost(vs.get(i), "vhosts[" + i + "]");
            }
            List<ObjectNode> ps = items(doc, "permissions");
            for (int i = 0; i < ps.size(); i++) {
                p.permission(ps.get(i), "permissions[" + i + "]");
            }
            List<ObjectNode> ts = items(doc, "topic_permissions");
            for (int i = 0; i < ts.size(); i++) {
                p.topicPermission(ts.get(i), "topic_permissions[" + i + "]");
            }
        }
        for (boolean operator : new boolean[] {false, true}) {
            String kind = operator ? "operator_policies" : "policies";
            List<ObjectNode> ps = items(doc, kind);
            for (int i = 0; i < ps.size(); i++) {
                p.policy(ps.get(i), kind + "[" + i + "]", only, operator);
            }
        }
        List<ObjectNode> xs = items(doc, "exchanges");
        for (int i = 0; i < xs.size(); i++) {
            p.exchange(xs.get(i), "exchanges[" + i + "]", only);
        }
        List<ObjectNode> qs = items(doc, "queues");
        for (int i = 0; i < qs.size(); i++) {
            p.queue(qs.get(i), "queues[" + i + "]", only);
        }
        List<ObjectNode> bs = items(doc, "bindings");
        for (int i = 0; i < bs.size(); i++) {
            p.binding(bs.get(i), "bindings[" + i + "]", only);
        }
        return p;
    }

    /**
     * Runtime parameters are refused, not dropped: an import that silently loses a federation
     * upstream would look like it worked. The global parameters
     * RabbitMQ always writes (cluster_name, internal_cluster_id) are accepted and ignored.
     */
    private void refuseUnsupported(JsonNode doc, boolean global) {
        List<ObjectNode> params = items(doc, "parameters");
        if (!params.isEmpty()) {
            ObjectNode o = params.get(0);
            throw ApiException.badRequest("parameters[0] (component '" + o.path("component").asText("?") + "', name '"
                    + o.path("name").asText("?") + "'): runtime parameters (federation, shovel, vhost limits ...) are"
                    + " not supported by warren yet; remove \"parameters\" from the definitions to import the rest");
        }
        if (global) {
            List<ObjectNode> gs = items(doc, "global_parameters");
            for (int i = 0; i < gs.size(); i++) {
                String name = required(gs.get(i), "global_parameters[" + i + "]", "name");
                if (!name.equals("cluster_name") && !name.startsWith("internal")) {
                    throw ApiException.badRequest("global_parameters[" + i + "] ('" + name + "'): global runtime"
                            + " parameters other than cluster_name are not supported by warren");
                }
            }
        }
    }

    private void user(ObjectNode o, String where) {
        String name = name(o, where, "name");
        String w = where + " (user '" + name + "')";
        String password = optional(o, w, "password");
        String hash = optional(o, w, "password_hash");
        String algorithm = optional(o, w, "hashing_algorithm");
        if (algorithm == null) {
            algorithm = PasswordHashing.SHA256;
        }
        if (password != null && hash != null) {
            throw ApiException.badRequest(w + ": specify one of password and password_hash, not both");
        }
        if (password == null && hash == null) {
            throw ApiException.badRequest(w + ": missing field 'password_hash'");
        }
        if (hash != null) {
            if (!PasswordHashing.supported(algorithm)) {
                throw ApiException.badRequest(w + ": unsupported hashing_algorithm '" + algorithm + "' (warren knows "
                        + PasswordHashing.SHA256 + ", " + PasswordHashing.SHA512 + " and " + PasswordHashing.MD5 + ")");
            }
            if (!PasswordHashing.wellFormed(algorithm, hash)) {
                throw ApiException.badRequest(w + ": password_hash is not base64 of a 4-byte salt and a "
                        + algorithm + " digest");
            }
        }
        List<String> tags = Json.tags(o, w, "tags");
        noLimits(o, w, "user limits");
        users.add(new User(w, name, password, hash, algorithm, tags == null ? List.of() : tags));
    }

    private void vhost(ObjectNode o, String where) {
        String name = name(o, where, "name");
        String w = where + " (vhost '" + name + "')";
        JsonNode metadata = o.get("metadata");
        String description = optional(o, w, "description");
        List<String> tags = Json.tags(o, w, "tags");
        if (metadata != null && !metadata.isNull()) {
            if (!metadata.isObject()) {
                throw ApiException.badRequest(w + ": field 'metadata': expected an object, got " + metadata);
            }
            ObjectNode m = (ObjectNode) metadata;
            if (description == null) {
                description = optional(m, w + " metadata", "description");
            }
            if (tags == null) {
                tags = Json.tags(m, w + " metadata", "tags");
            }
            queueType(m, w + " metadata");
        }
        queueType(o, w);
        noLimits(o, w, "vhost limits");
        if (o.path("tracing").asBoolean(false)) {
            throw ApiException.badRequest(w + ": tracing is not supported by warren");
        }
        vhosts.put(name, new Vhost(w, name, description, tags));
    }

    /** A default queue type other than classic is not honoured yet (a queue is quorum only when declared so). */
    private static void queueType(ObjectNode o, String where) {
        String t = optional(o, where, "default_queue_type");
        if (t != null && !t.equals("classic") && !t.equals("undefined")) {
            throw ApiException.badRequest(where + ": default_queue_type '" + t + "' is not supported by warren"
                    + " (classic queues only)");
        }
    }

    private void permission(ObjectNode o, String where) {
        String user = name(o, where, "user");
        String vhost = name(o, where, "vhost");
        String w = where + " (user '" + user + "' in vhost '" + vhost + "')";
        String configure = required(o, w, "configure");
        String write = required(o, w, "write");
        String read = required(o, w, "read");
        knownUser(w, user);
        knownVhost(w, vhost);
        model(w, () -> AccessControl.checkPermissions(user, vhost, configure, write, read));
        permissions.add(new Permission(w, user, vhost, configure, write, read));
    }

    private void topicPermission(ObjectNode o, String where) {
        String user = name(o, where, "user");
        String vhost = name(o, where, "vhost");
        String exchange = required(o, where, "exchange");
        String w = where + " (user '" + user + "' in vhost '" + vhost + "' on exchange '" + exchange + "')";
        String write = required(o, w, "write");
        String read = required(o, w, "read");
        knownUser(w, user);
        knownVhost(w, vhost);
        model(w, () -> AccessControl.checkTopicPermissions(user, vhost, exchange, write, read));
        topicPermissions.add(new TopicPermission(w, user, vhost, exchange, write, read));
    }

    private void exchange(ObjectNode o, String where, String only) {
        String name = required(o, where, "name");
        String vhost = only != null ? only : name(o, where + " (exchange '" + name + "')", "vhost");
        String w = where + " (exchange '" + name + "' in vhost '" + vhost + "')";
        String type = name(o, w, "type");
        boolean durable = bool(o, w, "durable", true);
        boolean autoDelete = bool(o, w, "auto_delete", false);
        boolean internal = bool(o, w, "internal", false);
        Map<String, Object> args = arguments(o, w);
        if (name.isEmpty() || name.startsWith("amq.")) {
            return; // RabbitMQ skips the default and the amq.* exchanges, which every vhost has
        }
        knownVhost(w, vhost);
        XDef d = new XDef(w, vhost, name, type, durable, autoDelete, internal, args);
        XDef earlier = exchanges.get(key(vhost, name));
        if (earlier != null) {
            same(w, "exchange", name, vhost, "type", earlier.type, type);
            same(w, "exchange", name, vhost, "durable", earlier.durable, durable);
            same(w, "exchange", name, vhost, "auto_delete", earlier.autoDelete, autoDelete);
            same(w, "exchange", name, vhost, "internal", earlier.internal, internal);
            return;
        }
        VirtualHost v = broker.vhosts().get(vhost);
        if (v != null) {
            model(w, () -> v.checkExchangeDeclaration(name, type, durable, autoDelete, internal, args));
        } else {
            model(w, () -> ExchangeType.of(type));
        }
        exchanges.put(key(vhost, name), d);
    }

    /** A policy (RabbitMQ's shape), checked as set_policy checks it; the last of one name wins, as in RabbitMQ. */
    private void policy(ObjectNode o, String where, String only, boolean operator) {
        String name = required(o, where, "name");
        String vhost = only != null ? only : name(o, where + " (policy '" + name + "')", "vhost");
        String w = where + " (policy '" + name + "' in vhost '" + vhost + "')";
        knownVhost(w, vhost);
        io.warren.core.policy.Policy p;
        try {
            p = PolicyEndpoints.parse(vhost, name, o, operator);
        } catch (ApiException e) {
            // RabbitMQ's "Validation failed\n\nwhy\n" on one line, after the object it is about.
            throw ApiException.badRequest(w + ": " + e.getMessage().strip().replaceAll("\\s*\\n\\s*\\n\\s*", ": "));
        }
        policies.add(new PDef(w, p, operator));
    }

    private void queue(ObjectNode o, String where, String only) {
        String name = required(o, where, "name");
        String vhost = only != null ? only : name(o, where + " (queue '" + name + "')", "vhost");
        String w = where + " (queue '" + name + "' in vhost '" + vhost + "')";
        boolean durable = bool(o, w, "durable", true);
        boolean autoDelete = bool(o, w, "auto_delete", false);
        Map<String, Object> args = arguments(o, w);
        if (name.isEmpty()) {
            throw ApiException.badRequest(w + ": queue name must not be empty");
        }
        if (name.startsWith("amq.")) {
            return; // RabbitMQ skips queues with the reserved prefix (server-named ones)
        }
        knownVhost(w, vhost);
        QDef earlier = queues.get(key(vhost, name));
        if (earlier != null) {
            same(w, "queue", name, vhost, "durable", earlier.durable, durable);
            same(w, "queue", name, vhost, "auto_delete", earlier.autoDelete, autoDelete);
            return;
        }
        VirtualHost v = broker.vhosts().get(vhost);
        if (v != null) {
            model(w, () -> v.checkQueueDeclaration(name, durable, autoDelete, args));
        } else {
            model(w, () -> VirtualHost.checkQueueArguments(name, vhost, durable, autoDelete, args));
        }
        queues.put(key(vhost, name), new QDef(w, vhost, name, durable, autoDelete, args));
    }

    private void binding(ObjectNode o, String where, String only) {
        String source = required(o, where, "source");
        String destination = required(o, where, "destination");
        String vhost = only != null ? only : name(o, where, "vhost");
        String kind = name(o, where, "destination_type");
        String w = where + " (from exchange '" + source + "' to " + kind + " '" + destination + "' in vhost '"
                + vhost + "')";
        if (!kind.equals("queue") && !kind.equals("exchange")) {
            throw ApiException.badRequest(w + ": field 'destination_type': expected \"queue\" or \"exchange\"");
        }
        String key = optional(o, w, "routing_key");
        Map<String, Object> args = arguments(o, w);
        knownVhost(w, vhost);
        if (source.isEmpty() || kind.equals("exchange") && destination.isEmpty()) {
            throw ApiException.badRequest(w + ": operation not permitted on the default exchange");
        }
        ExchangeType sourceType = exchangeType(vhost, source);
        if (sourceType == null) {
            throw ApiException.badRequest(w + ": no exchange '" + source + "' in vhost '" + vhost
                    + "' (neither on the broker nor in the definitions)");
        }
        boolean toQueue = kind.equals("queue");
        if (toQueue) {
            checkQueueExists(w, vhost, destination);
        } else if (exchangeType(vhost, destination) == null) {
            throw ApiException.badRequest(w + ": no exchange '" + destination + "' in vhost '" + vhost
                    + "' (neither on the broker nor in the definitions)");
        }
        String k = key == null ? "" : key;
        model(w, () -> VirtualHost.checkBindingArguments(sourceType.wireName(), k, args));
        bindings.add(new BDef(w, vhost, source, destination, toQueue, k, args));
    }

    private ExchangeType exchangeType(String vhost, String name) {
        XDef d = exchanges.get(key(vhost, name));
        if (d != null) {
            return ExchangeType.of(d.type);
        }
        VirtualHost v = broker.vhosts().get(vhost);
        if (v != null) {
            Exchange x = v.exchange(name);
            return x == null ? null : x.type();
        }
        return VirtualHost.builtInExchangeType(name); // a new vhost has those
    }

    private void checkQueueExists(String where, String vhost, String name) {
        if (queues.containsKey(key(vhost, name))) {
            return;
        }
        VirtualHost v = broker.vhosts().get(vhost);
        MessageQueue q = v == null ? null : v.queue(name);
        if (q == null) {
            throw ApiException.badRequest(where + ": no queue '" + name + "' in vhost '" + vhost
                    + "' (neither on the broker nor in the definitions)");
        }
        if (q.exclusive()) {
            throw ApiException.badRequest(where + ": queue '" + name + "' in vhost '" + vhost
                    + "' is exclusive to a connection");
        }
    }

    private void knownVhost(String where, String vhost) {
        if (!vhosts.containsKey(vhost) && broker.vhosts().get(vhost) == null) {
            throw ApiException.badRequest(where + ": virtual host '" + vhost + "' does not exist and is not in the"
                    + " definitions' vhosts; please create it prior to importing definitions");
        }
    }

    private void knownUser(String where, String user) {
        if (users.stream().noneMatch(u -> u.name.equals(user)) && broker.access().user(user) == null) {
            throw ApiException.badRequest(where + ": user '" + user + "' does not exist and is not in the"
                    + " definitions' users");
        }
    }

    private static void same(String where, String kind, String name, String vhost, String arg, Object first,
                             Object again) {
        if (!Objects.equals(first, again)) {
            throw ApiException.badRequest(where + ": inequivalent arg '" + arg + "' for " + kind + " '" + name
                    + "' in vhost '" + vhost + "': received '" + again + "' but the definitions declared it"
                    + " earlier with '" + first + "'");
        }
    }

    // ---- apply ---------------------------------------------------------------------------------

    /**
     * Makes the changes. Everything was checked against the same state, on the same thread, so
     * a failure here is unexpected (a client's AMQP declare in between); it answers 400 naming
     * the object, with what came before it applied.
     */
    void apply() {
        progress = new io.warren.core.log.ProgressLog(log, "importing definitions", size());
        AccessControl access = broker.access();
        VirtualHosts vs = broker.vhosts();
        for (User u : users) {
            model(u.where, () -> {
                if (u.password != null) {
                    access.putUser(u.name, u.password, u.tags);
                } else {
                    access.putUserWithHash(u.name, u.hash, u.algorithm, u.tags);
                }
            });
        }
        for (Vhost v : vhosts.values()) {
            model(v.where, () -> {
                VirtualHosts.Info old = vs.get(v.name) == null ? null : vs.info(v.name);
                String description = v.description != null ? v.description : old == null ? "" : old.description();
                List<String> tags = v.tags != null ? List.copyOf(v.tags) : old == null ? List.of() : old.tags();
                vs.create(v.name, new VirtualHosts.Info(description, tags));
            });
        }
        for (Permission p : permissions) {
            model(p.where, () -> access.setPermissions(p.user, p.vhost, p.configure, p.write, p.read));
        }
        for (TopicPermission t : topicPermissions) {
            model(t.where, () -> access.setTopicPermissions(t.user, t.vhost, t.exchange, t.write, t.read));
        }
        // Policies before the queues and exchanges they apply to (RabbitMQ's import order).
        for (PDef p : policies) {
            touched.add(p.policy().vhost());
            model(p.where, () -> vhost(p.policy().vhost()).putPolicy(p.policy(), p.operator()));
        }
        for (XDef x : exchanges.values()) {
            touched.add(x.vhost);
            model(x.where, () -> vhost(x.vhost).declareExchange(x.name, x.type, false, x.durable, x.autoDelete,
                    x.internal, x.args));
        }
        for (QDef q : queues.values()) {
            touched.add(q.vhost);
            model(q.where, () -> vhost(q.vhost).declareQueue(q.name, false, q.durable, false, q.autoDelete, q.args,
                    null));
        }
        for (BDef b : bindings) {
            touched.add(b.vhost);
            model(b.where, () -> {
                if (b.toQueue) {
                    vhost(b.vhost).bindQueue(b.destination, b.source, b.key, b.args, null);
                } else {
                    vhost(b.vhost).bindExchange(b.destination, b.source, b.key, b.args);
                }
            });
        }
    }

    private VirtualHost vhost(String name) {
        VirtualHost v = broker.vhosts().get(name);
        if (v == null) {
            throw BrokerException.notFound("no vhost '%s'", name);
        }
        return v;
    }

    /** Completes once every change made by {@link #apply} is on disk. */
    CompletableFuture<Void> durable() {
        List<CompletableFuture<Void>> all = new ArrayList<>();
        all.add(stored(broker.access()::whenDurable));
        all.add(stored(broker.vhosts()::whenDurable));
        for (String name : touched) {
            VirtualHost v = broker.vhosts().get(name);
            if (v != null) {
                all.add(stored(v::whenDurable));
            }
        }
        return CompletableFuture.allOf(all.toArray(new CompletableFuture<?>[0]));
    }

    private static CompletableFuture<Void> stored(Consumer<MessageStore.Durable> register) {
        CompletableFuture<Void> f = new CompletableFuture<>();
        register.accept(failure -> {
            if (failure == null) {
                f.complete(null);
            } else {
                f.completeExceptionally(new ApiException(500, "internal_error",
                        "cannot store definitions: " + failure.getMessage()));
            }
        });
        return f;
    }

    // ---- reading the document ------------------------------------------------------------------

    private static String key(String vhost, String name) {
        return vhost.length() + ":" + vhost + "/" + name;
    }

    /** A model check or change; its refusal becomes a 400 naming the object. */
    private void model(String where, Runnable r) {
        try {
            r.run();
        } catch (BrokerException | IllegalArgumentException e) {
            throw ApiException.badRequest(where + ": " + e.getMessage());
        }
        if (progress != null) { // null while checking, which uses this too
            applied++;
            progress.step(applied);
        }
    }

    /** The objects {@link #apply} makes or changes. */
    private long size() {
        return users.size() + vhosts.size() + permissions.size() + topicPermissions.size() + policies.size()
                + exchanges.size() + queues.size() + bindings.size();
    }

    /** The final line of an import, once it is on disk: counts and time. */
    void logImported() {
        log.atInfo().addKeyValue("objects", applied).log("imported definitions: {} users, {} vhosts, {} permissions, "
                        + "{} topic permissions, {} policies, {} exchanges, {} queues, {} bindings in {} ms",
                users.size(), vhosts.size(), permissions.size(), topicPermissions.size(), policies.size(),
                exchanges.size(), queues.size(), bindings.size(), progress == null ? 0 : progress.elapsedMs());
    }

    private static <T> T field(String where, Supplier<T> read) {
        try {
            return read.get();
        } catch (ApiException e) {
            throw ApiException.badRequest(where + ": " + e.getMessage());
        }
    }

    /** A category: absent or null is empty; otherwise a list of objects. */
    private static List<ObjectNode> items(JsonNode doc, String category) {
        JsonNode n = doc.get(category);
        if (n == null || n.isNull()) {
            return List.of();
        }
        if (!n.isArray()) {
            throw ApiException.badRequest(category + ": expected a list, got " + kind(n));
        }
        List<ObjectNode> out = new ArrayList<>();
        int i = 0;
        for (JsonNode e : n) {
            if (!e.isObject()) {
                throw ApiException.badRequest(category + "[" + i + "]: expected an object, got " + kind(e));
            }
            out.add((ObjectNode) e);
            i++;
        }
        return out;
    }

    static String kind(JsonNode n) {
        return n.getNodeType().name().toLowerCase(Locale.ROOT) + " " + abbreviated(n);
    }

    private static String abbreviated(JsonNode n) {
        String s = n.toString();
        return s.length() > 60 ? s.substring(0, 57) + "..." : s;
    }

    private static String optional(ObjectNode o, String where, String field) {
        JsonNode n = o.get(field);
        if (n == null || n.isNull()) {
            return null;
        }
        if (!n.isTextual()) {
            throw ApiException.badRequest(where + ": field '" + field + "': expected a string, got " + kind(n));
        }
        return n.textValue();
    }

    private static String required(ObjectNode o, String where, String field) {
        String s = optional(o, where, field);
        if (s == null) {
            throw ApiException.badRequest(where + ": missing field '" + field + "'");
        }
        return s;
    }

    /** A required, non-empty name. */
    private static String name(ObjectNode o, String where, String field) {
        String s = required(o, where, field);
        if (s.isEmpty()) {
            throw ApiException.badRequest(where + ": field '" + field + "' must not be empty");
        }
        return s;
    }

    private static boolean bool(ObjectNode o, String where, String field, boolean dflt) {
        return field(where, () -> Json.bool(o, field, dflt));
    }

    /** x-arguments: an object (RabbitMQ also takes an empty list for none). */
    private static Map<String, Object> arguments(ObjectNode o, String where) {
        JsonNode n = o.get("arguments");
        if (n != null && n.isArray() && n.isEmpty()) {
            return Map.of();
        }
        return field(where, () -> Json.arguments(o, "arguments"));
    }

    /** Limits warren cannot enforce yet are refused; empty ones (what RabbitMQ writes by default) are fine. */
    private static void noLimits(ObjectNode o, String where, String what) {
        JsonNode l = o.get("limits");
        if (l == null || l.isNull() || (l.isObject() || l.isArray()) && l.isEmpty()) {
            return;
        }
        if (!l.isObject() && !l.isArray()) {
            throw ApiException.badRequest(where + ": field 'limits': expected an object, got " + kind(l));
        }
        throw ApiException.badRequest(where + ": " + what + " (" + abbreviated(l) + ") are not supported by warren"
                + " yet");
    }
}
