package io.warren.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * rabbitmqctl's user, vhost and permission commands, with rabbitmqctl 3.10's banners, messages and
 * exit codes (checked against it): 67 for a user that does not exist, 69 for a vhost that does
 * not exist or a refused value (a bad regular expression), 70 for a user that exists. They
 * call the management API's /api/users, /api/vhosts, /api/permissions and /api/topic-permissions.
 */
final class AccessCommands {
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    /** rabbitmqctl's EX_NOUSER. */
    static final int NOUSER = 67;

    private AccessCommands() {
    }

    private static String users(String name) {
        return "/api/users/" + Api.enc(name);
    }

    /**
     * Fails the command unless {@code r} has one of the {@code ok} statuses; a refused value (400,
     * e.g. a regular expression that does not compile) exits 69, as rabbitmqctl 3.10 does.
     */
    private static void expect(Api.Response r, int... ok) {
        for (int s : ok) {
            if (r.status() == s) {
                return;
            }
        }
        if (r.status() == 400) {
            throw new CliException(ExitCodes.UNAVAILABLE, "Error: " + r.reason());
        }
        throw new CliException(ExitCodes.SOFTWARE, "Error: " + r.reason());
    }

    private static CliException noUser(String user) {
        return new CliException(NOUSER, "Error: User \"" + user + "\" does not exist");
    }

    /** rabbitmqctl 3.10 (set/clear_permissions, set/clear_topic_permissions): exit 69. */
    private static CliException noVhost(String vhost) {
        return new CliException(ExitCodes.UNAVAILABLE, "Error: Virtual host " + vhost + " does not exist");
    }

    private static void requireUser(Api api, String user) {
        if (api.get(users(user)).status() == 404) {
            throw noUser(user);
        }
    }

    private static void requireVhost(Api api, String vhost) {
        if (api.get("/api/vhosts/" + Api.enc(vhost)).status() == 404) {
            throw noVhost(vhost);
        }
    }

    private static void done(Ctx c, String line) {
        if (!c.out.silent && !c.out.quiet) {
            c.out.out.println(line);
        }
    }

    // ---- users -------------------------------------------------------------------------------

    @Command(name = "add_user", description = "Creates a new user in the internal database (its password stored "
            + "as RabbitMQ's salted SHA-256 hash). The user has no permissions and no tags until given some.")
    static final class AddUser extends Commands.Base {
        @Parameters(index = "0", paramLabel = "<username>")
        String user;
        @Parameters(index = "1", paramLabel = "<password>")
        String password;

        @Override int exec(Ctx c) {
            Api api = c.api();
            c.out.banner("Adding user \"" + user + "\" ...");
            if (api.get(users(user)).status() == 200) {
                // rabbitmqctl 3.10 exits 70 here.
                throw new CliException(ExitCodes.SOFTWARE, "Error: User \"" + user + "\" already exists");
            }
            ObjectNode body = NODES.objectNode().put("password", password).put("tags", "");
            expect(api.send("PUT", users(user), body, Map.of()), 201, 204);
            done(c, "Done. Don't forget to grant the user permissions to some virtual hosts! See 'warrenctl help "
                    + "set_permissions' to learn more.");
            return ExitCodes.OK;
        }
    }

    @Command(name = "delete_user", description = "Removes a user from the internal database, with its permissions.")
    static final class DeleteUser extends Commands.Base {
        @Parameters(index = "0", paramLabel = "<username>")
        String user;

        @Override int exec(Ctx c) {
            Api api = c.api();
            c.out.banner("Deleting user \"" + user + "\" ...");
            Api.Response r = api.send("DELETE", users(user), null, Map.of());
            if (r.status() == 404) {
                throw noUser(user);
            }
            expect(r, 204);
            return ExitCodes.OK;
        }
    }

    /** Reads the user, applies {@code change} to the PUT body, writes it back (404: no such user). */
    private static void updateUser(Api api, String user, java.util.function.Consumer<ObjectNode> change) {
        Api.Response cur = api.get(users(user));
        if (cur.status() == 404) {
            throw noUser(user);
        }
        expect(cur, 200);
        ObjectNode body = NODES.objectNode();
        body.set("tags", cur.body().path("tags"));
        change.accept(body);
        Api.Response r = api.send("PUT", users(user), body, Map.of());
        if (r.status() == 404) {
            throw noUser(user);
        }
        expect(r, 204, 201);
    }

    @Command(name = "change_password", description = "Changes the user's password.")
    static final class ChangePassword extends Commands.Base {
        @Parameters(index = "0", paramLabel = "<username>")
        String user;
        @Parameters(index = "1", paramLabel = "<password>")
        String password;

        @Override int exec(Ctx c) {
            c.out.banner("Changing password for user \"" + user + "\" ...");
            updateUser(c.api(), user, b -> b.put("password", password));
            return ExitCodes.OK;
        }
    }

    @Command(name = "clear_password", description = "Clears (resets) the user's password: it can no longer log in "
            + "with one.")
    static final class ClearPassword extends Commands.Base {
        @Parameters(index = "0", paramLabel = "<username>")
        String user;

        @Override int exec(Ctx c) {
            c.out.banner("Clearing password for user \"" + user + "\" ...");
            updateUser(c.api(), user, b -> b.put("password_hash", ""));
            return ExitCodes.OK;
        }
    }

    @Command(name = "set_user_tags", description = "Sets the user's tags (administrator, monitoring, management, "
            + "policymaker, impersonator, or any other); no tags clears them.")
    static final class SetUserTags extends Commands.Base {
        @Parameters(index = "0", paramLabel = "<username>")
        String user;
        @Parameters(index = "1..*", arity = "0..*", paramLabel = "<tag>")
        List<String> tags = new ArrayList<>();

        @Override int exec(Ctx c) {
            c.out.banner("Setting tags for user \"" + user + "\" to [" + String.join(", ", tags) + "] ...");
            updateUser(c.api(), user, b -> {
                var list = b.putArray("tags");
                tags.forEach(list::add);
            });
            return ExitCodes.OK;
        }
    }

    @Command(name = "authenticate_user", description = "Attempts to authenticate a user with a password. Exits "
            + "with a non-zero code if authentication fails.")
    static final class AuthenticateUser extends Commands.Base {
        @Parameters(index = "0", paramLabel = "<username>")
        String user;
        @Parameters(index = "1", paramLabel = "<password>")
        String password;

        @Override int exec(Ctx c) {
            c.out.banner("Authenticating user \"" + user + "\" ...");
            ObjectNode body = NODES.objectNode().put("username", user).put("password", password);
            Api.Response r = c.api().send("POST", "/api/warren/authenticate", body, Map.of());
            if (r.status() == 200) {
                done(c, "Success");
                return ExitCodes.OK;
            }
            if (r.status() == 422) {
                throw new CliException(ExitCodes.DATAERR, "Error: failed to authenticate user \"" + user + "\"\n"
                        + "User \"" + user + "\" failed to authenticate");
            }
            expect(r, 200);
            return ExitCodes.OK;
        }
    }

    @Command(name = "list_users", description = "Lists users and their tags.")
    static final class ListUsers extends Commands.Listing {
        @Override Map<String, Function<JsonNode, JsonNode>> known() {
            Map<String, Function<JsonNode, JsonNode>> m = new LinkedHashMap<>();
            m.put("user", n -> n.path("name"));
            m.put("tags", n -> NODES.textNode(bracketed(n.path("tags"))));
            return m;
        }

        @Override List<String> defaults() {
            return List.of("user", "tags");
        }

        @Override boolean vhostScoped() {
            return false;
        }

        @Override String banner(Ctx c) {
            return "Listing users ...";
        }

        @Override String path(Ctx c) {
            return "/api/users";
        }
    }

    /** rabbitmqctl's tag list: {@code [administrator, management]}. */
    static String bracketed(JsonNode tags) {
        List<String> l = new ArrayList<>();
        tags.forEach(t -> l.add(t.asText()));
        return "[" + String.join(", ", l) + "]";
    }

    // ---- vhosts ------------------------------------------------------------------------------

    @Command(name = "add_vhost", description = "Creates a virtual host; the calling user gets full permissions in it.")
    static final class AddVhost extends Commands.Base {
        @Parameters(index = "0", paramLabel = "<vhost>")
        String name;
        @Option(names = "--description", description = "virtual host description")
        String description;
        @Option(names = "--tags", description = "virtual host tags, comma-separated")
        String tags;

        @Override int exec(Ctx c) {
            c.out.banner("Adding vhost \"" + name + "\" ...");
            ObjectNode body = NODES.objectNode();
            if (description != null) {
                body.put("description", description);
            }
            if (tags != null) {
                body.put("tags", tags);
            }
            expect(c.api().send("PUT", "/api/vhosts/" + Api.enc(name), body, Map.of()), 201, 204);
            return ExitCodes.OK;
        }
    }

    @Command(name = "delete_vhost", description = "Deletes a virtual host: its connections are closed, its queues "
            + "(with their messages), exchanges, bindings and permissions deleted.")
    static final class DeleteVhost extends Commands.Base {
        @Parameters(index = "0", paramLabel = "<vhost>")
        String name;

        @Override int exec(Ctx c) {
            c.out.banner("Deleting vhost \"" + name + "\" ...");
            Api.Response r = c.api().send("DELETE", "/api/vhosts/" + Api.enc(name), null, Map.of());
            if (r.status() == 404) {
                throw new CliException(ExitCodes.DATAERR, "Error: Virtual host '" + name + "' does not exist");
            }
            expect(r, 204);
            return ExitCodes.OK;
        }
    }

    // ---- permissions -------------------------------------------------------------------------

    private static String permissionPath(String kind, String vhost, String user) {
        return "/api/" + kind + "/" + Api.enc(vhost) + "/" + Api.enc(user);
    }

    /**
     * The banner, then the vhost (-p) and the user checked (69 / 67 as rabbitmqctl), then the
     * request to {@code /api/KIND/VHOST/USER[SUFFIX]}; {@code ok} are the statuses that succeed
     * (a clear with nothing to clear succeeds, as rabbitmqctl's does).
     */
    private static int permissionChange(Ctx c, String banner, String user, String method, String kind, String suffix,
                                        ObjectNode body, int... ok) {
        Api api = c.api();
        c.out.banner(banner);
        requireVhost(api, c.vhost);
        requireUser(api, user);
        expect(api.send(method, permissionPath(kind, c.vhost, user) + suffix, body, Map.of()), ok);
        return ExitCodes.OK;
    }

    @Command(name = "set_permissions", description = "Sets the user's configure, write and read permissions in a "
            + "virtual host (-p), as regular expressions matched against resource names.")
    static final class SetPermissions extends Commands.Base {
        @Parameters(index = "0", paramLabel = "<username>")
        String user;
        @Parameters(index = "1", paramLabel = "<conf>")
        String configure;
        @Parameters(index = "2", paramLabel = "<write>")
        String write;
        @Parameters(index = "3", paramLabel = "<read>")
        String read;

        @Override int exec(Ctx c) {
            return permissionChange(c, "Setting permissions for user \"" + user + "\" in vhost \"" + c.vhost + "\" ...",
                    user, "PUT", "permissions", "",
                    NODES.objectNode().put("configure", configure).put("write", write).put("read", read), 201, 204);
        }
    }

    @Command(name = "clear_permissions", description = "Revokes the user's permissions in a virtual host (-p).")
    static final class ClearPermissions extends Commands.Base {
        @Parameters(index = "0", paramLabel = "<username>")
        String user;

        @Override int exec(Ctx c) {
            return permissionChange(c, "Clearing permissions for user \"" + user + "\" in vhost \"" + c.vhost
                    + "\" ...", user, "DELETE", "permissions", "", null, 204, 404);
        }
    }

    @Command(name = "set_topic_permissions", description = "Sets the user's write and read permissions on the "
            + "routing keys of a topic exchange in a virtual host (-p); {username} and {vhost} in a pattern "
            + "stand for the user and the vhost.")
    static final class SetTopicPermissions extends Commands.Base {
        @Parameters(index = "0", paramLabel = "<username>")
        String user;
        @Parameters(index = "1", paramLabel = "<exchange>")
        String exchange;
        @Parameters(index = "2", paramLabel = "<write>")
        String write;
        @Parameters(index = "3", paramLabel = "<read>")
        String read;

        @Override int exec(Ctx c) {
            return permissionChange(c, "Setting topic permissions on \"" + exchange + "\" for user \"" + user
                    + "\" in vhost \"" + c.vhost + "\" ...", user, "PUT", "topic-permissions", "",
                    NODES.objectNode().put("exchange", exchange).put("write", write).put("read", read), 201, 204);
        }
    }

    @Command(name = "clear_topic_permissions", description = "Clears the user's topic permissions in a virtual host "
            + "(-p): on one exchange, or on all of them.")
    static final class ClearTopicPermissions extends Commands.Base {
        @Parameters(index = "0", paramLabel = "<username>")
        String user;
        @Parameters(index = "1", arity = "0..1", paramLabel = "<exchange>")
        String exchange;

        @Override int exec(Ctx c) {
            return permissionChange(c, "Clearing topic permissions for user \"" + user + "\" in vhost \"" + c.vhost
                    + "\" ...", user, "DELETE", "topic-permissions", exchange == null ? "" : "/" + Api.enc(exchange),
                    null, 204, 404);
        }
    }

    /** A permission listing of one vhost (-p) or one user. */
    abstract static class PermissionListing extends Commands.Listing {
        abstract List<String> fields();

        @Override Map<String, Function<JsonNode, JsonNode>> known() {
            Map<String, Function<JsonNode, JsonNode>> m = new LinkedHashMap<>();
            for (String f : fields()) {
                m.put(f, n -> n.path(f));
            }
            return m;
        }

        @Override List<String> defaults() {
            return fields();
        }
    }

    @Command(name = "list_permissions", description = "Lists user permissions in a virtual host (-p).")
    static final class ListPermissions extends PermissionListing {
        @Override List<String> fields() {
            return List.of("user", "configure", "write", "read");
        }

        @Override String banner(Ctx c) {
            return "Listing permissions for vhost \"" + c.vhost + "\" ...";
        }

        @Override String path(Ctx c) {
            return "/api/vhosts/" + Api.enc(c.vhost) + "/permissions";
        }
    }

    @Command(name = "list_topic_permissions", description = "Lists topic permissions in a virtual host (-p).")
    static final class ListTopicPermissions extends PermissionListing {
        @Override List<String> fields() {
            return List.of("user", "exchange", "write", "read");
        }

        @Override String banner(Ctx c) {
            return "Listing topic permissions for vhost \"" + c.vhost + "\" ...";
        }

        @Override String path(Ctx c) {
            return "/api/vhosts/" + Api.enc(c.vhost) + "/topic-permissions";
        }
    }

    /** A listing of one user's permissions (fixed columns); a missing user exits 69, as rabbitmqctl 3.10. */
    abstract static class UserListing extends Commands.Base {
        @Parameters(index = "0", paramLabel = "<username>")
        String user;

        abstract List<String> fields();

        abstract String banner();

        abstract String path();

        @Override int exec(Ctx c) {
            Api api = c.api();
            Api.Response r = api.get(path());
            c.out.banner(banner());
            if (r.status() == 404) {
                throw new CliException(ExitCodes.UNAVAILABLE, "Error: User \"" + user + "\" does not exist");
            }
            expect(r, 200);
            List<Map<String, JsonNode>> rows = new ArrayList<>();
            for (JsonNode item : r.body()) {
                Map<String, JsonNode> row = new LinkedHashMap<>();
                for (String f : fields()) {
                    row.put(f, item.path(f));
                }
                rows.add(row);
            }
            c.out.rows(fields(), rows);
            return ExitCodes.OK;
        }
    }

    @Command(name = "list_user_permissions", description = "Lists the permissions of a user in every virtual host.")
    static final class ListUserPermissions extends UserListing {
        @Override List<String> fields() {
            return List.of("vhost", "configure", "write", "read");
        }

        @Override String banner() {
            return "Listing permissions for user \"" + user + "\" ...";
        }

        @Override String path() {
            return users(user) + "/permissions";
        }
    }

    @Command(name = "list_user_topic_permissions", description = "Lists the topic permissions of a user.")
    static final class ListUserTopicPermissions extends UserListing {
        @Override List<String> fields() {
            return List.of("vhost", "exchange", "write", "read");
        }

        @Override String banner() {
            return "Listing topic permissions for user \"" + user + "\" ...";
        }

        @Override String path() {
            return users(user) + "/topic-permissions";
        }
    }
}
