package io.warren.server.management;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.warren.amqp.connection.AmqpConnection;
import io.warren.core.auth.AccessControl;
import io.warren.core.auth.PasswordHashing;
import io.warren.core.vhost.VirtualHost;
import io.warren.core.vhost.VirtualHosts;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * Users, vhosts, permissions and topic permissions: RabbitMQ's /api/users, /api/vhosts/{vhost}
 * (PUT, DELETE), /api/permissions and /api/topic-permissions, with its JSON. Reading and
 * changing them is for administrators (403 otherwise). Changes run on the API's worker (they
 * take locks) and are answered once on disk.
 */
final class AccessEndpoints {
    private final ApiContext ctx;

    AccessEndpoints(ApiContext ctx) {
        this.ctx = ctx;
    }

    private AccessControl access() {
        return ctx.broker().access();
    }

    /** Runs {@code change} on the worker; answers {@code status} once access and vhost changes are on disk. */
    private CompletableFuture<ApiResponse> change(Supplier<Integer> change) {
        return CompletableFuture.supplyAsync(change, ctx.worker).thenCompose(status -> {
            CompletableFuture<ApiResponse> f = new CompletableFuture<>();
            access().whenDurable(failure -> {
                if (failure == null) {
                    f.complete(ApiResponse.status(status));
                } else {
                    f.completeExceptionally(new ApiException(500, "internal_error",
                            "cannot store definitions: " + failure.getMessage()));
                }
            });
            return f;
        });
    }

    // ---- users ---------------------------------------------------------------------------------

    static Map<String, Object> user(AccessControl.User u) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", u.name());
        m.put("password_hash", u.passwordHash());
        m.put("hashing_algorithm", u.hashingAlgorithm());
        m.put("tags", u.tags());
        m.put("limits", Map.of());
        return m;
    }

    ApiResponse users(ApiRequest r) {
        ctx.requireAdministrator(r);
        List<Object> out = new ArrayList<>();
        access().users().forEach(u -> out.add(user(u)));
        return ApiResponse.ok(out);
    }

    /** RabbitMQ's /api/users/without-permissions. */
    ApiResponse usersWithoutPermissions(ApiRequest r) {
        ctx.requireAdministrator(r);
        List<Object> out = new ArrayList<>();
        for (AccessControl.User u : access().users()) {
            if (access().permissions().stream().noneMatch(p -> p.user().equals(u.name()))) {
                out.add(user(u));
            }
        }
        return ApiResponse.ok(out);
    }

    ApiResponse showUser(ApiRequest r) {
        ctx.requireAdministrator(r);
        return ApiResponse.ok(user(existingUser(r.param("user"))));
    }

    private AccessControl.User existingUser(String name) {
        AccessControl.User u = access().user(name);
        if (u == null) {
            throw ApiException.notFound();
        }
        return u;
    }

    /**
     * PUT /api/users/{user}: {@code {"password": ..., "tags": "a,b"}} or
     * {@code {"password_hash": ..., "hashing_algorithm": ...}}; tags as a comma-separated string
     * or a list. A new user needs one of password / password_hash (an empty password_hash: no
     * password login); an existing one keeps its password when neither is given.
     */
    CompletableFuture<ApiResponse> putUser(ApiRequest r) {
        ctx.requireAdministrator(r);
        String name = r.param("user");
        ObjectNode body = Json.object(r.body());
        List<String> given = Json.tags(body, "user '" + name + "'", "tags");
        List<String> tags = given == null ? List.of() : given;
        String password = Json.string(body, "password", null);
        String hash = Json.string(body, "password_hash", null);
        String algorithm = Json.string(body, "hashing_algorithm", PasswordHashing.SHA256);
        if (password != null && hash != null) {
            throw ApiException.badRequest("specify one of password and password_hash, not both");
        }
        return change(() -> {
            AccessControl.User old = access().user(name);
            if (password != null) {
                access().putUser(name, password, tags);
            } else if (hash != null) {
                access().putUserWithHash(name, hash, algorithm, tags);
            } else if (old != null) {
                access().setTags(name, tags);
            } else {
                throw ApiException.badRequest("Must specify password or password_hash");
            }
            return old == null ? 201 : 204;
        });
    }

    CompletableFuture<ApiResponse> deleteUser(ApiRequest r) {
        ctx.requireAdministrator(r);
        String name = r.param("user");
        existingUser(name);
        return change(() -> {
            access().deleteUser(name);
            return 204;
        });
    }

    /** POST /api/users/bulk-delete {@code {"users": [...]}}: unknown users are skipped, as RabbitMQ does. */
    CompletableFuture<ApiResponse> bulkDeleteUsers(ApiRequest r) {
        ctx.requireAdministrator(r);
        JsonNode users = Json.object(r.body()).get("users");
        if (users == null || !users.isArray()) {
            throw ApiException.badRequest("users: expected a list of user names");
        }
        List<String> names = new ArrayList<>();
        users.forEach(u -> names.add(u.asText()));
        return change(() -> {
            for (String n : names) {
                if (access().user(n) != null) {
                    access().deleteUser(n);
                }
            }
            return 204;
        });
    }

    ApiResponse userPermissions(ApiRequest r) {
        ctx.requireAdministrator(r);
        String name = existingUser(r.param("user")).name();
        return ApiResponse.ok(access().permissions().stream().filter(p -> p.user().equals(name))
                .map(AccessEndpoints::permission).toList());
    }

    ApiResponse userTopicPermissions(ApiRequest r) {
        ctx.requireAdministrator(r);
        String name = existingUser(r.param("user")).name();
        return ApiResponse.ok(access().topicPermissions().stream().filter(p -> p.user().equals(name))
                .map(AccessEndpoints::topicPermission).toList());
    }

    /**
     * POST /api/warren/authenticate {@code {"username": ..., "password": ...}} (warren's, for
     * warrenctl authenticate_user): 200 when the password is the user's, 422 when not. The
     * password alone is checked, as rabbitmqctl does (not loopback_users). Administrators only.
     */
    ApiResponse authenticate(ApiRequest r) {
        ctx.requireAdministrator(r);
        ObjectNode body = Json.object(r.body());
        String user = required(body, "username");
        String password = required(body, "password");
        String refusal = access().authenticate(user, password, java.net.InetAddress.getLoopbackAddress());
        if (refusal != null) {
            return new ApiResponse(422, ManagementApi.body("authentication_failed", refusal), Map.of());
        }
        return ApiResponse.ok(Map.of("name", user, "tags", access().tags(user)));
    }

    // ---- permissions -----------------------------------------------------------------------------

    static Map<String, Object> permission(AccessControl.VhostPermission p) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("user", p.user());
        m.put("vhost", p.vhost());
        m.put("configure", p.configure());
        m.put("write", p.write());
        m.put("read", p.read());
        return m;
    }

    static Map<String, Object> topicPermission(AccessControl.TopicPermission p) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("user", p.user());
        m.put("vhost", p.vhost());
        m.put("exchange", p.exchange());
        m.put("write", p.write());
        m.put("read", p.read());
        return m;
    }

    ApiResponse permissions(ApiRequest r) {
        ctx.requireAdministrator(r);
        return ApiResponse.ok(access().permissions().stream().map(AccessEndpoints::permission).toList());
    }

    ApiResponse vhostPermissions(ApiRequest r) {
        ctx.requireAdministrator(r);
        String vhost = ctx.vhost(r.param("vhost")).name();
        return ApiResponse.ok(access().permissions().stream().filter(p -> p.vhost().equals(vhost))
                .map(AccessEndpoints::permission).toList());
    }

    ApiResponse showPermission(ApiRequest r) {
        ctx.requireAdministrator(r);
        AccessControl.VhostPermission p = access().permission(r.param("user"), r.param("vhost"));
        if (p == null) {
            throw ApiException.notFound();
        }
        return ApiResponse.ok(permission(p));
    }

    /** PUT /api/permissions/{vhost}/{user} {@code {"configure": ..., "write": ..., "read": ...}}. */
    CompletableFuture<ApiResponse> putPermission(ApiRequest r) {
        ctx.requireAdministrator(r);
        String vhost = r.param("vhost");
        String user = r.param("user");
        ObjectNode body = Json.object(r.body());
        String configure = required(body, "configure");
        String write = required(body, "write");
        String read = required(body, "read");
        ctx.vhost(vhost);
        existingUser(user);
        return change(() -> {
            boolean existed = access().permission(user, vhost) != null;
            access().setPermissions(user, vhost, configure, write, read);
            return existed ? 204 : 201;
        });
    }

    CompletableFuture<ApiResponse> deletePermission(ApiRequest r) {
        ctx.requireAdministrator(r);
        String vhost = r.param("vhost");
        String user = r.param("user");
        if (access().permission(user, vhost) == null) {
            throw ApiException.notFound();
        }
        return change(() -> {
            access().clearPermissions(user, vhost);
            return 204;
        });
    }

    private static String required(ObjectNode body, String field) {
        JsonNode n = body.get(field);
        if (n == null || n.isNull()) {
            throw ApiException.badRequest("missing field '" + field + "'");
        }
        if (!n.isTextual()) {
            throw ApiException.badRequest(field + ": expected a string (a regular expression)");
        }
        return n.asText();
    }

    // ---- topic permissions -----------------------------------------------------------------------

    ApiResponse topicPermissions(ApiRequest r) {
        ctx.requireAdministrator(r);
        return ApiResponse.ok(access().topicPermissions().stream().map(AccessEndpoints::topicPermission).toList());
    }

    ApiResponse vhostTopicPermissions(ApiRequest r) {
        ctx.requireAdministrator(r);
        String vhost = ctx.vhost(r.param("vhost")).name();
        return ApiResponse.ok(access().topicPermissions().stream().filter(p -> p.vhost().equals(vhost))
                .map(AccessEndpoints::topicPermission).toList());
    }

    ApiResponse showTopicPermissions(ApiRequest r) {
        ctx.requireAdministrator(r);
        String vhost = r.param("vhost");
        String user = r.param("user");
        List<Object> out = access().topicPermissions().stream()
                .filter(p -> p.vhost().equals(vhost) && p.user().equals(user))
                .map(p -> (Object) topicPermission(p)).toList();
        if (out.isEmpty()) {
            throw ApiException.notFound();
        }
        return ApiResponse.ok(out);
    }

    /** PUT /api/topic-permissions/{vhost}/{user} {@code {"exchange": ..., "write": ..., "read": ...}}. */
    CompletableFuture<ApiResponse> putTopicPermission(ApiRequest r) {
        ctx.requireAdministrator(r);
        String vhost = r.param("vhost");
        String user = r.param("user");
        ObjectNode body = Json.object(r.body());
        String exchange = required(body, "exchange");
        String write = required(body, "write");
        String read = required(body, "read");
        ctx.vhost(vhost);
        existingUser(user);
        return change(() -> {
            boolean existed = access().topicPermission(user, vhost, exchange) != null;
            access().setTopicPermissions(user, vhost, exchange, write, read);
            return existed ? 204 : 201;
        });
    }

    /** DELETE /api/topic-permissions/{vhost}/{user}[/{exchange}]: all of them, or those on one exchange. */
    CompletableFuture<ApiResponse> deleteTopicPermissions(ApiRequest r) {
        ctx.requireAdministrator(r);
        String vhost = r.param("vhost");
        String user = r.param("user");
        String exchange = r.param("exchange");
        existingUser(user);
        return change(() -> {
            if (!access().clearTopicPermissions(user, vhost, exchange)) {
                throw ApiException.notFound();
            }
            return 204;
        });
    }

    // ---- vhosts ----------------------------------------------------------------------------------

    /** PUT /api/vhosts/{vhost} {@code {"description": ..., "tags": ...}} (both optional). */
    CompletableFuture<ApiResponse> putVhost(ApiRequest r) {
        ctx.requireAdministrator(r);
        String name = r.param("vhost");
        ObjectNode body = Json.object(r.body());
        String description = Json.string(body, "description", null);
        List<String> tags = Json.tags(body, "vhost '" + name + "'", "tags");
        return change(() -> {
            VirtualHosts vhosts = ctx.broker().vhosts();
            VirtualHosts.Info old = vhosts.get(name) == null ? null : vhosts.info(name);
            VirtualHosts.Info info = new VirtualHosts.Info(
                    description != null ? description : old == null ? "" : old.description(),
                    tags != null ? List.copyOf(tags) : old == null ? List.of() : old.tags());
            boolean created = vhosts.create(name, info);
            if (created) {
                // RabbitMQ: the user who creates a vhost gets full permissions in it.
                access().setPermissions(r.user(), name, ".*", ".*", ".*");
            }
            return created ? 201 : 204;
        });
    }

    /**
     * DELETE /api/vhosts/{vhost}: the vhost stops taking connections, its connections are closed
     * with 320 CONNECTION_FORCED ("vhost 'x' is deleted", RabbitMQ's text), its queues (with their
     * messages), exchanges, bindings and permissions are deleted.
     */
    CompletableFuture<ApiResponse> deleteVhost(ApiRequest r) {
        ctx.requireAdministrator(r);
        String name = r.param("vhost");
        ctx.vhost(name);
        return change(() -> {
            VirtualHost v = ctx.broker().vhosts().delete(name);
            if (v == null) {
                throw ApiException.notFound();
            }
            access().vhostDeleted(name);
            for (AmqpConnection c : ctx.broker().connections()) {
                if (c.vhost() == v) {
                    c.closeByOperator("vhost '" + name + "' is deleted");
                }
            }
            return 204;
        });
    }
}
