package io.warren.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.warren.server.config.ConfigParser;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Function;

/** The commands: names, arguments, banners and results as rabbitmqctl 3.10's. */
final class Commands {
    /** The process environment (WARREN_CONFIG); a field so that tests can run main in-process. */
    static Map<String, String> env = System.getenv();

    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private Commands() {
    }

    /** What every command shares: the global options after the command, merged with those before. */
    abstract static class Base implements Callable<Integer> {
        @ParentCommand
        Warrenctl top;
        @Mixin
        GlobalOptions after;
        @Spec
        CommandSpec spec;

        @Override public Integer call() {
            return exec(new Ctx(spec.name(), GlobalOptions.merge(top.before, after), env, Warrenctl.installDir()));
        }

        abstract int exec(Ctx c);
    }

    // ---- listings ---------------------------------------------------------------------------

    /** A list_* command: columns given (space- or comma-separated) or the defaults, validated first. */
    abstract static class Listing extends Base {
        @Parameters(paramLabel = "<column>", arity = "0..*", description = "columns to show")
        List<String> columns = new ArrayList<>();

        /** Every column this command knows, in rabbitmqctl's names, and where its value comes from. */
        abstract Map<String, Function<JsonNode, JsonNode>> known();

        abstract List<String> defaults();

        abstract String banner(Ctx c);

        abstract String path(Ctx c);

        /** True when the listing is of one vhost (-p), so a 404 means the vhost does not exist. */
        boolean vhostScoped() {
            return true;
        }

        /** A line printed before the banner (list_queues prints its timeout). */
        String preamble(Ctx c) {
            return null;
        }

        @Override int exec(Ctx c) {
            List<String> cols = new ArrayList<>();
            for (String col : columns) {
                for (String part : col.split(",")) {
                    if (!part.isBlank()) {
                        cols.add(part.strip());
                    }
                }
            }
            if (cols.isEmpty()) {
                cols.addAll(defaults());
            }
            Map<String, Function<JsonNode, JsonNode>> known = known();
            List<String> bad = new ArrayList<>();
            for (String col : cols) {
                if (!known.containsKey(col)) {
                    bad.add(col);
                }
            }
            if (!bad.isEmpty()) {
                throw new CliException(ExitCodes.USAGE, "Error (argument validation): Info key(s) "
                        + String.join(",", bad) + " are not supported (" + spec.name() + " knows: "
                        + String.join(", ", known.keySet()) + ")");
            }
            // The request first: a broker that is down gets the one-line error and no banner
            // on stdout, so a script capturing the output sees nothing half-done.
            Api.Response r = c.api().get(path(c));
            String pre = preamble(c);
            if (pre != null) {
                c.out.banner(pre);
            }
            c.out.banner(banner(c));
            if (r.status() == 404 && vhostScoped()) {
                throw new CliException(ExitCodes.DATAERR, "Error: virtual host '" + c.vhost + "' does not exist");
            }
            if (r.status() != 200 || !r.body().isArray()) {
                throw new CliException(ExitCodes.SOFTWARE, "Error: " + r.reason());
            }
            List<Map<String, JsonNode>> rows = new ArrayList<>();
            for (JsonNode item : r.body()) {
                Map<String, JsonNode> row = new LinkedHashMap<>();
                for (String col : cols) {
                    row.put(col, known.get(col).apply(item));
                }
                rows.add(row);
            }
            c.out.rows(cols, rows);
            return ExitCodes.OK;
        }
    }

    private static Function<JsonNode, JsonNode> field(String... path) {
        return n -> {
            JsonNode v = n;
            for (String p : path) {
                v = v.path(p);
            }
            return v;
        };
    }

    private static Function<JsonNode, JsonNode> constant(String value) {
        return n -> NODES.textNode(value);
    }

    /**
     * rabbitmqctl's {@code pid} of a connection: warren has no Erlang pids, so this is a token
     * made of the peer's address, without spaces (scripts split rows on whitespace), that
     * close_connection accepts as well as the connection's name.
     */
    static String connectionPid(String peerHost, int peerPort) {
        return "<warren." + peerHost + "." + peerPort + ">";
    }

    private static JsonNode channelPid(JsonNode details) {
        return NODES.textNode("<warren." + details.path("peer_host").asText() + "." + details.path("peer_port").asInt()
                + "." + details.path("number").asInt() + ">");
    }

    private static String vhostPath(String collection, Ctx c) {
        return "/api/" + collection + "/" + Api.enc(c.vhost);
    }

    @Command(name = "list_queues", description = "Lists queues and their properties.")
    static final class ListQueues extends Listing {
        @Override Map<String, Function<JsonNode, JsonNode>> known() {
            Map<String, Function<JsonNode, JsonNode>> m = new LinkedHashMap<>();
            for (String f : List.of("name", "messages", "messages_ready", "messages_unacknowledged", "consumers",
                    "durable", "auto_delete", "exclusive", "arguments", "state", "type", "policy", "operator_policy",
                    "effective_policy_definition", "node")) {
                m.put(f, field(f));
            }
            // rabbitmqctl's: a quorum queue's leader and members; a classic queue's are its node
            m.put("leader", n -> n.has("leader") ? n.get("leader") : n.path("node"));
            m.put("members", n -> n.has("members") ? n.get("members") : NODES.arrayNode().add(n.path("node")));
            m.put("online", n -> n.has("online") ? n.get("online") : NODES.arrayNode().add(n.path("node")));
            return m;
        }

        @Override List<String> defaults() {
            return List.of("name", "messages");
        }

        @Override String preamble(Ctx c) {
            return "Timeout: " + (double) c.timeoutSeconds + " seconds ...";
        }

        @Override String banner(Ctx c) {
            return "Listing queues for vhost " + c.vhost + " ...";
        }

        @Override String path(Ctx c) {
            return vhostPath("queues", c);
        }
    }

    @Command(name = "list_exchanges", description = "Lists exchanges.")
    static final class ListExchanges extends Listing {
        @Override Map<String, Function<JsonNode, JsonNode>> known() {
            Map<String, Function<JsonNode, JsonNode>> m = new LinkedHashMap<>();
            for (String f : List.of("name", "type", "durable", "auto_delete", "internal", "arguments", "policy")) {
                m.put(f, field(f));
            }
            return m;
        }

        @Override List<String> defaults() {
            return List.of("name", "type");
        }

        @Override String banner(Ctx c) {
            return "Listing exchanges for vhost " + c.vhost + " ...";
        }

        @Override String path(Ctx c) {
            return vhostPath("exchanges", c);
        }
    }

    /** warren's: the x-delayed-message exchanges of a vhost and how many messages wait in each. */
    @Command(name = "list_delayed", description = "Lists delayed-message exchanges and how many messages wait in each.")
    static final class ListDelayed extends Listing {
        @Override Map<String, Function<JsonNode, JsonNode>> known() {
            Map<String, Function<JsonNode, JsonNode>> m = new LinkedHashMap<>();
            for (String f : List.of("name", "messages_delayed", "delayed_type", "durable")) {
                m.put(f, field(f));
            }
            return m;
        }

        @Override List<String> defaults() {
            return List.of("name", "messages_delayed");
        }

        @Override String banner(Ctx c) {
            return "Listing delayed messages for vhost " + c.vhost + " ...";
        }

        @Override String path(Ctx c) {
            return "/api/warren/delayed/" + Api.enc(c.vhost);
        }
    }

    @Command(name = "list_bindings", description = "Lists all bindings on a vhost.")
    static final class ListBindings extends Listing {
        @Override Map<String, Function<JsonNode, JsonNode>> known() {
            Map<String, Function<JsonNode, JsonNode>> m = new LinkedHashMap<>();
            m.put("source_name", field("source"));
            m.put("source_kind", constant("exchange"));
            m.put("destination_name", field("destination"));
            m.put("destination_kind", n -> NODES.textNode(n.path("destination_type").asText()));
            m.put("routing_key", field("routing_key"));
            m.put("arguments", field("arguments"));
            return m;
        }

        @Override List<String> defaults() {
            return List.copyOf(known().keySet());
        }

        @Override String banner(Ctx c) {
            return "Listing bindings for vhost " + c.vhost + "...";
        }

        @Override String path(Ctx c) {
            return vhostPath("bindings", c);
        }
    }

    @Command(name = "list_connections", description = "Lists AMQP 0.9.1 connections for the node.")
    static final class ListConnections extends Listing {
        @Override Map<String, Function<JsonNode, JsonNode>> known() {
            Map<String, Function<JsonNode, JsonNode>> m = new LinkedHashMap<>();
            m.put("pid", n -> NODES.textNode(connectionPid(n.path("peer_host").asText(), n.path("peer_port").asInt())));
            for (String f : List.of("name", "peer_host", "peer_port", "host", "port", "user", "vhost", "state",
                    "channels", "client_properties", "auth_mechanism", "protocol", "ssl", "frame_max", "channel_max",
                    "timeout", "connected_at")) {
                m.put(f, field(f));
            }
            return m;
        }

        @Override List<String> defaults() {
            return List.of("user", "peer_host", "peer_port", "state");
        }

        @Override boolean vhostScoped() {
            return false;
        }

        @Override String banner(Ctx c) {
            return "Listing connections ...";
        }

        @Override String path(Ctx c) {
            return "/api/connections";
        }
    }

    @Command(name = "list_channels", description = "Lists all channels in the node.")
    static final class ListChannels extends Listing {
        @Override Map<String, Function<JsonNode, JsonNode>> known() {
            Map<String, Function<JsonNode, JsonNode>> m = new LinkedHashMap<>();
            m.put("pid", n -> channelPid(NODES.objectNode().setAll(Map.of(
                    "peer_host", n.path("connection_details").path("peer_host"),
                    "peer_port", n.path("connection_details").path("peer_port"),
                    "number", n.path("number")))));
            m.put("connection", field("connection_details", "name"));
            for (String f : List.of("name", "number", "user", "vhost", "consumer_count", "messages_unacknowledged",
                    "prefetch_count", "global_prefetch_count", "confirm", "transactional")) {
                m.put(f, field(f));
            }
            return m;
        }

        @Override List<String> defaults() {
            return List.of("pid", "user", "consumer_count", "messages_unacknowledged");
        }

        @Override boolean vhostScoped() {
            return false;
        }

        @Override String banner(Ctx c) {
            return "Listing channels ...";
        }

        @Override String path(Ctx c) {
            return "/api/channels";
        }
    }

    @Command(name = "list_consumers", description = "Lists all consumers for a vhost.")
    static final class ListConsumers extends Listing {
        @Override Map<String, Function<JsonNode, JsonNode>> known() {
            Map<String, Function<JsonNode, JsonNode>> m = new LinkedHashMap<>();
            m.put("queue_name", field("queue", "name"));
            m.put("channel_pid", n -> channelPid(n.path("channel_details")));
            for (String f : List.of("consumer_tag", "ack_required", "prefetch_count", "active", "activity_status",
                    "arguments", "exclusive")) {
                m.put(f, field(f));
            }
            return m;
        }

        @Override List<String> defaults() {
            return List.of("queue_name", "channel_pid", "consumer_tag", "ack_required", "prefetch_count", "active",
                    "activity_status", "arguments");
        }

        @Override String banner(Ctx c) {
            return "Listing consumers in vhost " + c.vhost + " ...";
        }

        @Override String path(Ctx c) {
            return vhostPath("consumers", c);
        }
    }

    @Command(name = "list_vhosts", description = "Lists virtual hosts.")
    static final class ListVhosts extends Listing {
        @Override Map<String, Function<JsonNode, JsonNode>> known() {
            Map<String, Function<JsonNode, JsonNode>> m = new LinkedHashMap<>();
            for (String f : List.of("name", "description", "tags", "tracing", "cluster_state", "messages", "messages_ready",
                    "messages_unacknowledged")) {
                m.put(f, field(f));
            }
            return m;
        }

        @Override List<String> defaults() {
            return List.of("name");
        }

        @Override boolean vhostScoped() {
            return false;
        }

        @Override String banner(Ctx c) {
            return "Listing vhosts ...";
        }

        @Override String path(Ctx c) {
            return "/api/vhosts";
        }
    }

    // ---- queues -----------------------------------------------------------------------------

    @Command(name = "delete_queue", description = "Deletes a queue.")
    static final class DeleteQueue extends Base {
        @Parameters(index = "0", paramLabel = "<queue_name>", description = "name of the queue to delete")
        String name;
        @Option(names = {"-e", "--if-empty"}, description = "delete the queue only if it is empty (has no messages ready for delivery)")
        boolean ifEmpty;
        @Option(names = {"-u", "--if-unused"}, description = "delete the queue only if it has no consumers")
        boolean ifUnused;

        @Override int exec(Ctx c) {
            Api api = c.api();
            c.out.banner("Deleting queue '" + name + "' on vhost '" + c.vhost + "' ...");
            String path = vhostPath("queues", c) + "/" + Api.enc(name);
            Api.Response q = api.get(path);
            if (q.status() == 404) {
                // rabbitmqctl: "Queue not found", exit 64.
                throw new CliException(ExitCodes.USAGE, "Error: queue '" + name + "' not found in vhost '" + c.vhost + "'");
            }
            String query = ifEmpty && ifUnused ? "?if-empty=true&if-unused=true"
                    : ifEmpty ? "?if-empty=true" : ifUnused ? "?if-unused=true" : "";
            Api.Response r = api.send("DELETE", path + query, null, Map.of());
            if (r.status() == 404) {
                throw new CliException(ExitCodes.USAGE, "Error: queue '" + name + "' not found in vhost '" + c.vhost + "'");
            }
            if (r.status() != 204 && r.status() != 200) {
                throw new CliException(ExitCodes.SOFTWARE, "Error: " + r.reason());
            }
            if (!c.out.silent) {
                c.out.out.println("Queue was successfully deleted with " + q.body().path("messages_ready").asLong()
                        + " ready messages");
            }
            return ExitCodes.OK;
        }
    }

    @Command(name = "purge_queue", description = "Purges a queue (removes all messages in it).")
    static final class PurgeQueue extends Base {
        @Parameters(index = "0", paramLabel = "<queue_name>", description = "name of the queue to purge")
        String name;

        @Override int exec(Ctx c) {
            Api api = c.api();
            c.out.banner("Purging queue '" + name + "' in vhost '" + c.vhost + "' ...");
            Api.Response r = api.send("DELETE", vhostPath("queues", c) + "/" + Api.enc(name) + "/contents", null,
                    Map.of());
            if (r.status() == 404) {
                // rabbitmqctl exits 69 for a queue that does not exist here.
                throw new CliException(ExitCodes.UNAVAILABLE, "Error: queue '" + name + "' not found in vhost '"
                        + c.vhost + "'");
            }
            if (r.status() != 204 && r.status() != 200) {
                throw new CliException(ExitCodes.SOFTWARE, "Error: " + r.reason());
            }
            return ExitCodes.OK;
        }
    }

    // ---- connections ------------------------------------------------------------------------

    @Command(name = "close_connection",
            description = "Closes a connection (320 CONNECTION_FORCED with the explanation as its text).")
    static final class CloseConnection extends Base {
        @Parameters(index = "0", paramLabel = "<connection>",
                description = "the connection's name or pid, as list_connections name / pid show them")
        String connection;
        @Parameters(index = "1", paramLabel = "<explanation>", description = "reason the client is told")
        String explanation;

        @Override int exec(Ctx c) {
            Api api = c.api();
            c.out.banner("Closing connection " + connection + ", reason: " + explanation + "...");
            String name = connection;
            if (connection.startsWith("<warren.")) {
                name = null;
                for (JsonNode n : api.getOk("/api/connections")) {
                    if (connectionPid(n.path("peer_host").asText(), n.path("peer_port").asInt()).equals(connection)) {
                        name = n.path("name").asText();
                    }
                }
                if (name == null) {
                    throw new CliException(ExitCodes.UNAVAILABLE, "Error: no connection with pid " + connection);
                }
            }
            Api.Response r = api.send("DELETE", "/api/connections/" + Api.enc(name), null,
                    Map.of("X-Reason", explanation));
            if (r.status() == 404) {
                // rabbitmqctl exits 69 for a pid that names no connection.
                throw new CliException(ExitCodes.UNAVAILABLE, "Error: no connection named '" + connection + "'");
            }
            if (r.status() != 204 && r.status() != 200) {
                throw new CliException(ExitCodes.SOFTWARE, "Error: " + r.reason());
            }
            return ExitCodes.OK;
        }
    }

    @Command(name = "close_all_connections",
            customSynopsis = "warrenctl close_all_connections [-p <vhost>] [--global] [--limit <n>] "
                    + "[--per-connection-delay <ms>] <explanation>",
            description = {"Closes every connection of a virtual host (-p, default /), or of the broker with --global,",
                    "each with 320 CONNECTION_FORCED and the explanation as its text."})
    static final class CloseAllConnections extends Base {
        @Parameters(index = "0", paramLabel = "<explanation>", description = "reason the clients are told")
        String explanation;
        @Option(names = "--global", description = "all virtual hosts, not just -p's")
        boolean global;
        @Option(names = "--limit", paramLabel = "<n>", description = "close at most this many (default: all)")
        Integer limit;
        @Option(names = "--per-connection-delay", paramLabel = "<ms>",
                description = "wait this long between two closes (default 0)")
        long delayMs;

        @Override int exec(Ctx c) {
            if ((limit != null && limit < 0) || delayMs < 0) {
                throw new CliException(ExitCodes.DATAERR, "Error (argument validation): --limit and "
                        + "--per-connection-delay must not be negative");
            }
            Api api = c.api();
            c.out.banner(global ? "Closing all connections to node " + c.target().address() + " (across all vhosts)"
                    : "Closing all connections in vhost " + c.vhost + " on node " + c.target().address()
                            + " because: " + explanation);
            int closed = 0;
            for (JsonNode n : api.getOk("/api/connections")) {
                if (limit != null && closed >= limit) {
                    break;
                }
                if (!global && !c.vhost.equals(n.path("vhost").asText())) {
                    continue;
                }
                if (closed > 0 && delayMs > 0) {
                    try {
                        Thread.sleep(delayMs);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new CliException(ExitCodes.SOFTWARE, "Error: interrupted");
                    }
                }
                Api.Response r = api.send("DELETE", "/api/connections/" + Api.enc(n.path("name").asText()), null,
                        Map.of("X-Reason", explanation));
                // 404: it closed by itself meanwhile, which is what was asked.
                if (r.status() != 204 && r.status() != 200 && r.status() != 404) {
                    throw new CliException(ExitCodes.SOFTWARE, "Error: " + r.reason());
                }
                closed++;
            }
            return ExitCodes.OK;
        }
    }

    // ---- node -------------------------------------------------------------------------------

    @Command(name = "cluster_status", description = "Displays all the nodes in the cluster grouped by node type, "
            + "together with the currently running nodes.")
    static final class ClusterStatus extends Base {
        @Override int exec(Ctx c) {
            Api api = c.api();
            JsonNode app = api.getOk("/api/warren/app");
            String self = app.path("node").asText();
            List<String> disc = new java.util.ArrayList<>();
            List<String> running = new java.util.ArrayList<>();
            for (JsonNode n : api.getOk("/api/nodes")) {
                disc.add(n.path("name").asText());
                // this node's application may be stopped (stop_app): then it is not running
                boolean up = n.path("name").asText().equals(self) ? app.path("running").asBoolean(true)
                        : n.path("running").asBoolean();
                if (up) {
                    running.add(n.path("name").asText());
                }
            }
            if (c.out.json) {
                ObjectNode o = NODES.objectNode();
                o.put("cluster_name", self);
                ArrayNode discNodes = o.putArray("disk_nodes");
                disc.forEach(discNodes::add);
                o.putArray("ram_nodes");
                ArrayNode runningNodes = o.putArray("running_nodes");
                running.forEach(runningNodes::add);
                ArrayNode alarms = o.putArray("alarms");
                for (JsonNode a : clusterAlarms(api)) {
                    ObjectNode x = alarms.addObject();
                    x.put("node", a.path("node").asText());
                    x.put("resource", a.path("resource").asText());
                    x.put("type", "resource_limit");
                }
                c.out.out.println(Output.write(o));
                return ExitCodes.OK;
            }
            c.out.banner("Cluster status of node " + self + " ...");
            StringBuilder sb = new StringBuilder();
            sb.append("Basics\n\nCluster name: ").append(self).append("\n\nDisk Nodes\n\n");
            disc.forEach(n -> sb.append(n).append('\n'));
            sb.append("\nRunning Nodes\n\n");
            running.forEach(n -> sb.append(n).append('\n'));
            sb.append("\nAlarms\n\n");
            JsonNode alarms = clusterAlarms(api);
            if (alarms.isEmpty()) {
                sb.append("(none)\n");
            }
            for (JsonNode a : alarms) {
                sb.append(a.path("resource").asText().equals("memory") ? "Memory alarm on node "
                        : "Free disk space alarm on node ").append(a.path("node").asText()).append('\n');
            }
            c.out.out.print(sb);
            return ExitCodes.OK;
        }

        /** Every node's alarms as this node knows them: the alarms health check's list (it is 503 while any is set). */
        private static JsonNode clusterAlarms(Api api) {
            Api.Response r = api.check("/api/health/checks/alarms");
            if (r.status() == 200) {
                return NODES.arrayNode();
            }
            if (r.status() != 503 || !r.body().path("alarms").isArray()) {
                throw new CliException(ExitCodes.SOFTWARE, "Error: the node answered /api/health/checks/alarms with HTTP "
                        + r.status());
            }
            return r.body().path("alarms");
        }
    }

    @Command(name = "forget_cluster_node", description = {"Removes a stopped node from the cluster.",
            "The node must be stopped (bin/warren stop on it). It leaves the cluster's metadata group at once",
            "(needs a majority of the nodes with it and without it up); each quorum queue's leader then removes",
            "its member on that node within a few seconds. The removed node must not be started again with its",
            "data dir; remove it from every node's cluster_formation.classic_config.nodes list too."})
    static final class ForgetClusterNode extends Base {
        @Parameters(index = "0", paramLabel = "<existing_cluster_member_node>", description = "the node to remove")
        String node;

        @Override int exec(Ctx c) {
            Api api = c.api();
            c.out.banner("Removing node " + node + " from the cluster");
            Api.Response r = api.send("DELETE", "/api/warren/cluster/nodes/" + Api.enc(node), null, Map.of());
            if (r.status() != 204 && r.status() != 200) {
                throw new CliException(ExitCodes.SOFTWARE, "Error: " + r.reason());
            }
            return ExitCodes.OK;
        }
    }

    @Command(name = "join_cluster", description = {"Makes this node a member of the cluster another node is in.",
            "Stop the application first (warrenctl stop_app), then start it again (start_app). As RabbitMQ's",
            "join_cluster, the node is reset first: what it had (its own definitions and messages) is gone, and",
            "it takes the cluster's definitions. Name the node with its inter-node port, as in",
            "cluster_formation.classic_config.nodes: NAME@HOST:PORT (NAME@HOST alone: port 25672, the default",
            "cluster.listener.port). Quorum queues keep their members; one",
            "declared through the joined node has a member there. The node keeps its membership across",
            "restarts with its data dir, its config listing itself only."})
    static final class JoinCluster extends Base {
        @Parameters(index = "0", paramLabel = "<existing_cluster_member>", description = "a node of the cluster to"
                + " join, NAME@HOST:PORT (its cluster.listener.port; NAME@HOST: port 25672)")
        String node;

        @Override int exec(Ctx c) {
            Api api = c.api();
            c.out.banner("Clustering node " + api.getOk("/api/warren/app").path("node").asText() + " with " + node);
            ObjectNode body = NODES.objectNode();
            body.put("node", node);
            Api.Response r = api.send("POST", "/api/warren/cluster/join", body, Map.of());
            if (r.status() != 204 && r.status() != 200) {
                throw new CliException(ExitCodes.SOFTWARE, "Error: " + r.reason());
            }
            return ExitCodes.OK;
        }
    }

    /** rabbitmq-queues' --vhost-pattern and --queue-pattern (rebalance, grow): unanchored regular expressions. */
    static final class QueuePatterns {
        @Option(names = "--vhost-pattern", paramLabel = "<pattern>", description = "regular expression to match "
                + "virtual host names")
        String vhostPattern = ".*";
        @Option(names = "--queue-pattern", paramLabel = "<pattern>", description = "regular expression to match "
                + "queue names")
        String queuePattern = ".*";

        /** The request body's {@code vhost_pattern} and {@code queue_pattern}. */
        void put(ObjectNode body) {
            body.put("vhost_pattern", vhostPattern);
            body.put("queue_pattern", queuePattern);
        }
    }

    @Command(name = "rebalance", description = {"Re-balances leaders of replicated queues across up-and-running "
            + "cluster nodes.", "rabbitmq-queues rebalance: while a running node leads more than its share of the "
            + "matching quorum", "queues (their number over the running nodes, rounded up), its queues' leads move, "
            + "one at a", "time and the shortest first, to the member leading the fewest. warren has no mirrored "
            + "classic", "queues: classic moves nothing. The node answers once done (-t SECONDS for more than 60)."})
    static final class Rebalance extends Base {
        @Parameters(index = "0", paramLabel = "<type>", description = "queue type, must be one of: all, classic, quorum")
        String type;
        @Mixin
        QueuePatterns patterns = new QueuePatterns();

        static final List<String> COLUMNS = List.of("Node name", "Number of quorum queues",
                "Number of replicated classic queues");

        @Override int exec(Ctx c) {
            if (!List.of("all", "classic", "quorum").contains(type)) {
                throw new CliException(ExitCodes.UNAVAILABLE, "Error:\ntype " + type
                        + " is not supported. Try one of all, classic, quorum.");
            }
            Api api = c.api();
            c.out.banner("Re-balancing leaders of " + type + " queues...");
            ObjectNode body = NODES.objectNode();
            body.put("type", type);
            patterns.put(body);
            Api.Response r = api.send("POST", "/api/warren/rebalance", body, Map.of());
            if (r.status() != 200) {
                throw new CliException(ExitCodes.UNAVAILABLE, "Error:\n" + r.reason());
            }
            List<List<String>> rows = new ArrayList<>();
            for (JsonNode n : r.body()) {
                rows.add(List.of(n.path("node_name").asText(), n.path("number_of_quorum_queues").asText(),
                        n.path("number_of_replicated_classic_queues").asText()));
            }
            if (c.out.json) {
                ArrayNode a = NODES.arrayNode();
                for (List<String> row : rows) {
                    ObjectNode o = a.addObject();
                    o.put(COLUMNS.get(0), row.get(0));
                    o.put(COLUMNS.get(1), Integer.parseInt(row.get(1)));
                    o.put(COLUMNS.get(2), Integer.parseInt(row.get(2)));
                }
                c.out.out.println(Output.write(a));
            } else if (rows.isEmpty()) {
                c.out.boxed(List.of("Output"), List.of(List.of("[]")));
            } else {
                c.out.boxed(COLUMNS, rows);
            }
            return ExitCodes.OK;
        }
    }

    @Command(name = "add_member", description = {"Adds a quorum queue member (replica) on the given node.",
            "rabbitmq-queues add_member: the node gets a copy of the queue (its Raft group's leader catches it",
            "up), recorded as one of the queue's members on every node and across restarts. A node that is",
            "already a member is no change. The node must run. Answers once the group has the member."})
    static final class AddMember extends Base {
        @Parameters(index = "0", paramLabel = "<queue>", description = "quorum queue name")
        String queue;
        @Parameters(index = "1", paramLabel = "<node>", description = "node to add a new replica on")
        String node;

        @Override int exec(Ctx c) {
            Api api = c.api();
            c.out.banner("Adding a replica for queue " + queue + " on node " + node + "...");
            ObjectNode body = NODES.objectNode();
            body.put("node", node);
            return memberChanged(c, api, api.send("POST", "/api/warren/queues/" + Api.enc(c.vhost) + "/"
                    + Api.enc(queue) + "/members", body, Map.of()));
        }
    }

    @Command(name = "delete_member", description = {"Removes a quorum queue member (replica) on the given node.",
            "rabbitmq-queues delete_member: the queue's group drops the node's member (a leader there hands",
            "the lead on first) and the node deletes its copy. A node that is no member is no change; the",
            "last member stays (delete the queue instead). The node may be down."})
    static final class DeleteMember extends Base {
        @Parameters(index = "0", paramLabel = "<queue>", description = "quorum queue name")
        String queue;
        @Parameters(index = "1", paramLabel = "<node>", description = "node to remove a new replica on")
        String node;

        @Override int exec(Ctx c) {
            Api api = c.api();
            c.out.banner("Removing a replica of queue " + queue + " on node " + node + "...");
            return memberChanged(c, api, api.send("DELETE", "/api/warren/queues/" + Api.enc(c.vhost) + "/"
                    + Api.enc(queue) + "/members/" + Api.enc(node), null, Map.of()));
        }
    }

    /** add_member's and delete_member's answer as rabbitmq-queues prints it. */
    private static int memberChanged(Ctx c, Api api, Api.Response r) {
        if (r.status() == 204 || r.status() == 200) {
            if (c.out.json) {
                ObjectNode o = NODES.objectNode();
                o.put("node", api.getOk("/api/warren/app").path("node").asText());
                o.put("result", "ok");
                c.out.out.println(Output.write(o));
            }
            return ExitCodes.OK;
        }
        String error = r.body().path("error").asText("");
        String text = switch (error) {
            // rabbitmq-queues' texts (3.10 says "add" for a delete too)
            case "classic_queue_not_supported" -> "Cannot add members to a classic queue";
            case "node_not_running", "last_node" -> error;
            default -> r.status() == 404 ? "not_found" : r.reason();
        };
        throw new CliException(ExitCodes.UNAVAILABLE, "Error:\n" + text);
    }

    static final List<String> MEMBER_COLUMNS = List.of("vhost", "name", "size", "result");

    /** grow's and shrink's rows as rabbitmq-queues prints them (with --errors-only: the failed ones). */
    private static int memberRows(Ctx c, Api.Response r, boolean errorsOnly) {
        if (r.status() != 200 || !r.body().isArray()) {
            throw new CliException(ExitCodes.UNAVAILABLE, "Error:\n" + r.reason());
        }
        List<Map<String, JsonNode>> rows = new ArrayList<>();
        for (JsonNode n : r.body()) {
            if (errorsOnly && n.path("result").asText().equals("ok")) {
                continue;
            }
            Map<String, JsonNode> row = new java.util.LinkedHashMap<>();
            MEMBER_COLUMNS.forEach(k -> row.put(k, n.path(k)));
            rows.add(row);
        }
        if (rows.isEmpty()) {
            c.out.out.println(c.out.json ? "[]" : "");
        } else {
            c.out.rows(MEMBER_COLUMNS, rows);
        }
        return ExitCodes.OK;
    }

    @Command(name = "grow", description = {"Grows quorum queue clusters by adding a member (replica) on the specified "
            + "node for all matching queues.", "rabbitmq-queues grow: one queue at a time, each matching quorum queue "
            + "without a member on the", "node (with even: only those whose membership count is an even number) "
            + "gets one; nothing when", "the node does not run. A row per queue: its vhost, name, members after, "
            + "and ok or the error.", "The node answers once done (-t SECONDS for more than 60)."})
    static final class Grow extends Base {
        @Parameters(index = "0", paramLabel = "<node>", description = "node name to place replicas on")
        String node;
        @Parameters(index = "1", paramLabel = "<all | even>", description = "add a member for all matching queues or "
                + "just those whose membership count is an even number")
        String strategy;
        @Mixin
        QueuePatterns patterns = new QueuePatterns();
        @Option(names = "--errors-only", description = "only list queues which reported an error")
        boolean errorsOnly;

        @Override int exec(Ctx c) {
            if (!List.of("all", "even").contains(strategy)) {
                throw new CliException(ExitCodes.USAGE, "Error (argument validation): \"strategy '" + strategy
                        + "' is not recognised.\"");
            }
            Api api = c.api();
            c.out.banner("Growing " + strategy + " quorum queues on " + node + "...");
            ObjectNode body = NODES.objectNode();
            body.put("node", node);
            body.put("strategy", strategy);
            patterns.put(body);
            return memberRows(c, api.send("POST", "/api/warren/grow", body, Map.of()), errorsOnly);
        }
    }

    @Command(name = "shrink", description = {"Shrinks quorum queue clusters by removing any members (replicas) on the "
            + "given node.", "rabbitmq-queues shrink: the node's member of each quorum queue goes, one queue at a "
            + "time, but", "where it is the last one (\"error: the last node cannot be removed\"). The node may be "
            + "down.", "The node answers once done (-t SECONDS for more than 60)."})
    static final class Shrink extends Base {
        @Parameters(index = "0", paramLabel = "<node>", description = "node name to remove replicas from")
        String node;
        @Option(names = "--errors-only", description = "only list queues which reported an error")
        boolean errorsOnly;

        @Override int exec(Ctx c) {
            Api api = c.api();
            c.out.banner("Shrinking quorum queues on " + node + "...");
            ObjectNode body = NODES.objectNode();
            body.put("node", node);
            return memberRows(c, api.send("POST", "/api/warren/shrink", body, Map.of()), errorsOnly);
        }
    }

    @Command(name = "check_if_node_is_quorum_critical", description = {"Health check that exits with a non-zero "
            + "code if there are queues", "with minimum online quorum (queues that would lose their quorum if the "
            + "target node is shut down).", "rabbitmq-queues check_if_node_is_quorum_critical, a check before "
            + "stopping a node: the quorum", "queues with a member on it and no more members online than a "
            + "majority of their members."})
    static final class CheckIfNodeIsQuorumCritical extends Base {
        @Override int exec(Ctx c) {
            Api api = c.api();
            String self = api.getOk("/api/warren/app").path("node").asText();
            c.out.banner("Checking if node " + self + " is critical for quorum of any quorum queues ...");
            Api.Response r = api.check("/api/health/checks/node-is-quorum-critical");
            if (r.status() == 200) {
                boolean single = r.body().path("reason").asText().equals("single node cluster");
                if (c.out.json) {
                    ObjectNode o = NODES.objectNode();
                    if (single) {
                        o.put("message", "Target node seems to be the only one in a single node cluster, the check "
                                + "does not apply");
                    }
                    c.out.out.println(Output.write(o.put("result", "ok")));
                } else if (!c.out.silent) {
                    c.out.out.println(single ? "Node " + self + " seems to be the only one in a single node cluster, "
                            + "the check does not apply" : "Node " + self + " reported no quorum queues with minimum "
                            + "quorum");
                }
                return ExitCodes.OK;
            }
            if (r.status() != 503 || !r.body().path("queues").isArray()) {
                throw new CliException(ExitCodes.SOFTWARE, "Error: " + r.reason());
            }
            // as rabbitmq-queues: the queues on stderr, exit code 69
            JsonNode queues = r.body().path("queues");
            if (c.out.json) {
                ObjectNode o = NODES.objectNode();
                o.put("message", "Node " + self + " reported local queues with minimum online quorum");
                o.set("queues", queues);
                o.put("result", "error");
                throw new CliException(ExitCodes.UNAVAILABLE, Output.write(o));
            }
            List<String> lines = new ArrayList<>();
            if (!c.out.silent) {
                for (JsonNode q : queues) {
                    lines.add(q.path("readable_name").asText() + " would lose quorum if node " + self + " is stopped");
                }
            }
            throw new CliException(ExitCodes.UNAVAILABLE, String.join("\n", lines));
        }
    }

    @Command(name = "status", description = "Displays status of a node.")
    static final class Status extends Base {
        @Override int exec(Ctx c) {
            Api api = c.api();
            // After stop_app the overview (the model) is unavailable; the node's own figures are not.
            Api.Response app = api.get("/api/warren/app");
            boolean running = app.status() != 200 || app.body().path("running").asBoolean(true);
            JsonNode overview = running ? api.getOk("/api/overview") : NODES.missingNode();
            // this node's entry: in a cluster the list has every node's, in the config's order
            JsonNode nodes = api.getOk("/api/nodes");
            JsonNode node = nodes.path(0);
            String self = app.status() == 200 ? app.body().path("node").asText() : "";
            for (JsonNode n : nodes) {
                if (n.path("name").asText().equals(self)) {
                    node = n;
                }
            }
            String nodeName = running ? overview.path("node").asText() : node.path("name").asText();
            if (c.out.json) {
                ObjectNode o = NODES.objectNode();
                o.put("node_name", nodeName);
                o.put("app_running", running);
                o.put("pid", node.path("os_pid").asText());
                o.put("product_name", overview.path("product_name").asText());
                o.put("product_version", (running ? overview : app.body()).path("product_version").asText());
                o.put("uptime", node.path("uptime").asLong() / 1000);
                o.set("listeners", overview.path("listeners"));
                o.set("alarms", alarms(node));
                o.put("mem_used", node.path("mem_used").asLong());
                o.put("mem_limit", node.path("mem_limit").asLong());
                o.put("disk_free", node.path("disk_free").asLong());
                o.put("disk_free_limit", node.path("disk_free_limit").asLong());
                o.put("processors", node.path("processors").asInt());
                o.set("totals", overview.path("object_totals"));
                o.set("queue_totals", overview.path("queue_totals"));
                c.out.out.println(Output.write(o));
                return ExitCodes.OK;
            }
            c.out.banner("Status of node " + nodeName + " ...");
            StringBuilder sb = new StringBuilder();
            sb.append("Runtime\n\n");
            sb.append("OS PID: ").append(node.path("os_pid").asText()).append('\n');
            sb.append("Uptime (seconds): ").append(node.path("uptime").asLong() / 1000).append('\n');
            sb.append("warren version: ").append((running ? overview : app.body()).path("product_version").asText())
                    .append('\n');
            sb.append("Node name: ").append(nodeName).append('\n');
            sb.append("Application: ").append(running ? "running" : "stopped (stop_app; start_app starts it)")
                    .append('\n');
            sb.append("Processors: ").append(node.path("processors").asInt()).append('\n');
            sb.append("\nAlarms\n\n");
            JsonNode alarms = alarms(node);
            if (alarms.isEmpty()) {
                sb.append("(none)\n");
            }
            for (JsonNode a : alarms) {
                sb.append(a.asText().equals("memory") ? "Memory alarm on node " : "Free disk space alarm on node ")
                        .append(nodeName).append('\n');
            }
            sb.append("\nMemory\n\n");
            sb.append("Total memory used: ").append(gb(node.path("mem_used").asLong())).append(" gb\n");
            sb.append("Memory high watermark: ").append(gb(node.path("mem_limit").asLong())).append(" gb\n");
            sb.append("\nFree Disk Space\n\n");
            sb.append("Low free disk space watermark: ").append(gb(node.path("disk_free_limit").asLong())).append(" gb\n");
            sb.append("Free disk space: ").append(gb(node.path("disk_free").asLong())).append(" gb\n");
            sb.append("\nListeners\n\n");
            if (!running) {
                sb.append("(the application is stopped: only the management API listens)\n");
                c.out.out.print(sb);
                return ExitCodes.OK;
            }
            for (JsonNode l : overview.path("listeners")) {
                String protocol = l.path("protocol").asText();
                sb.append("Interface: ").append(l.path("ip_address").asText()).append(", port: ")
                        .append(l.path("port").asInt()).append(", protocol: ").append(protocol).append(", purpose: ")
                        .append(switch (protocol) {
                            case "http" -> "HTTP API";
                            case "amqp/ssl" -> "AMQP 0-9-1 over TLS";
                            default -> "AMQP 0-9-1";
                        }).append('\n');
            }
            JsonNode t = overview.path("object_totals");
            sb.append("\nTotals\n\n");
            sb.append("Connection count: ").append(t.path("connections").asInt()).append('\n');
            sb.append("Queue count: ").append(t.path("queues").asInt()).append('\n');
            sb.append("Virtual host count: ").append(api.getOk("/api/vhosts").size()).append('\n');
            c.out.out.print(sb);
            return ExitCodes.OK;
        }

        private static JsonNode alarms(JsonNode node) {
            var a = NODES.arrayNode();
            if (node.path("mem_alarm").asBoolean()) {
                a.add("memory");
            }
            if (node.path("disk_free_alarm").asBoolean()) {
                a.add("disk");
            }
            return a;
        }

        private static String gb(long bytes) {
            return String.format(java.util.Locale.ROOT, "%.4f", bytes / 1e9);
        }
    }

    @Command(name = "environment", description = "Displays the broker's effective configuration (passwords masked).")
    static final class Environment extends Base {
        @Override int exec(Ctx c) {
            Api api = c.api();
            c.out.banner("Application environment of node " + c.target().address() + " ...");
            JsonNode env = api.getOk("/api/warren/environment");
            if (c.out.json) {
                c.out.out.println(Output.write(env));
                return ExitCodes.OK;
            }
            StringBuilder sb = new StringBuilder();
            Iterator<Map.Entry<String, JsonNode>> it = env.fields();
            while (it.hasNext()) {
                Map.Entry<String, JsonNode> e = it.next();
                JsonNode v = e.getValue();
                sb.append(e.getKey()).append(" = ")
                        .append(v.isArray() ? String.join(",", toStrings(v)) : v.asText()).append('\n');
            }
            c.out.out.print(sb);
            return ExitCodes.OK;
        }

        private static List<String> toStrings(JsonNode array) {
            List<String> out = new ArrayList<>();
            array.forEach(n -> out.add(n.asText()));
            return out;
        }
    }

    @Command(name = "set_vm_memory_high_watermark",
            customSynopsis = "warrenctl set_vm_memory_high_watermark <fraction> | absolute <value>",
            description = {"Sets the vm_memory_high_watermark setting (at once; not written to the config file).",
                    "<fraction>: new limit as a fraction 0.0..1.0 of the memory the broker may use",
                    "absolute <value>: new limit as an absolute value with units, e.g. 1GB, 512MiB"})
    static final class SetVmMemoryHighWatermark extends Base {
        @Parameters(index = "0..1", arity = "1..2", paramLabel = "<fraction> | absolute <value>")
        List<String> args;

        @Override int exec(Ctx c) {
            Map<String, Object> body = new LinkedHashMap<>();
            String shown;
            if (args.size() == 1) {
                double f;
                try {
                    f = Double.parseDouble(args.get(0));
                } catch (NumberFormatException e) {
                    f = Double.NaN;
                }
                if (!(f >= 0.0 && f <= 1.0)) {
                    throw new CliException(ExitCodes.DATAERR, "Error (argument validation): Bad argument: "
                            + "The threshold should be a fraction between 0.0 and 1.0");
                }
                body.put("relative", f);
                shown = args.get(0);
            } else if (args.get(0).equals("absolute")) {
                try {
                    ConfigParser.bytes(args.get(1));
                } catch (IllegalArgumentException e) {
                    throw new CliException(ExitCodes.DATAERR, "Error (argument validation): Bad argument: "
                            + "Invalid units (" + e.getMessage() + ")");
                }
                body.put("absolute", args.get(1));
                shown = args.get(1) + " bytes";
            } else {
                throw new CliException(ExitCodes.USAGE, "Error (argument validation): expected <fraction> or "
                        + "absolute <value>, got '" + String.join(" ", args) + "'");
            }
            Api api = c.api();
            c.out.banner("Setting memory threshold on " + c.target().address() + " to " + shown + " ...");
            Api.Response r = api.send("PUT", "/api/warren/vm_memory_high_watermark", body, Map.of());
            if (r.status() == 404 || r.status() == 405) {
                throw new CliException(ExitCodes.SOFTWARE, "Error: this broker has no run-time watermark endpoint "
                        + "(an older warren?)");
            }
            if (r.status() != 200 && r.status() != 204) {
                throw new CliException(ExitCodes.DATAERR, "Error: " + r.reason());
            }
            return ExitCodes.OK;
        }
    }

    /**
     * rabbitmqctl eval runs Erlang on the node; warren has no Erlang. The one use scripts and
     * RabbitMQ's own test suites make of it that warren can honour is raising and clearing a
     * resource alarm by hand; anything else is refused.
     */
    @Command(name = "eval",
            customSynopsis = "warrenctl eval '<expression>'",
            description = {"Evaluates an Erlang expression on RabbitMQ; warren accepts only these two:",
                    "  rabbit_alarm:set_alarm({{resource_limit, memory|disk, node()}, []}).",
                    "  rabbit_alarm:clear_alarm({resource_limit, memory|disk, node()}).",
                    "which raise and clear a resource alarm by hand (publishers are blocked while it holds)."})
    static final class Eval extends Base {
        @Parameters(arity = "1..*", paramLabel = "<expression>")
        List<String> words;

        private static final java.util.regex.Pattern SET = java.util.regex.Pattern.compile(
                "rabbit_alarm:set_alarm\\(\\{\\{resource_limit,(memory|disk),node\\(\\)\\},\\[\\]\\}\\)\\.?");
        private static final java.util.regex.Pattern CLEAR = java.util.regex.Pattern.compile(
                "rabbit_alarm:clear_alarm\\(\\{resource_limit,(memory|disk),node\\(\\)\\}\\)\\.?");

        @Override int exec(Ctx c) {
            String expr = String.join("", words).replaceAll("\\s+", "");
            java.util.regex.Matcher set = SET.matcher(expr);
            java.util.regex.Matcher clear = CLEAR.matcher(expr);
            boolean on = set.matches();
            if (!on && !clear.matches()) {
                throw new CliException(ExitCodes.USAGE, "Error: warren runs no Erlang: eval accepts only "
                        + "rabbit_alarm:set_alarm({{resource_limit, memory|disk, node()}, []}) and "
                        + "rabbit_alarm:clear_alarm({resource_limit, memory|disk, node()})");
            }
            String resource = on ? set.group(1) : clear.group(1);
            Api.Response r = c.api().send(on ? "PUT" : "DELETE", "/api/warren/alarms/" + resource, null, Map.of());
            if (r.status() != 204) {
                throw new CliException(ExitCodes.SOFTWARE, "Error: " + r.reason());
            }
            if (!c.out.silent) {
                c.out.out.println("ok"); // what rabbitmqctl prints for the expression's value
            }
            return ExitCodes.OK;
        }
    }

    @Command(name = "help", description = "Displays usage information for a command.")
    static final class Help extends Base {
        @Parameters(arity = "0..1", paramLabel = "<command>")
        String command;

        @Override public Integer call() {
            CommandLine topLine = spec.parent().commandLine();
            if (command == null) {
                topLine.usage(System.out);
                return ExitCodes.OK;
            }
            CommandLine sub = topLine.getSubcommands().get(command);
            if (sub == null) {
                throw new CliException(ExitCodes.USAGE, "Error: command '" + command + "' not found. "
                        + "Use 'warrenctl help' for the list of commands.");
            }
            sub.usage(System.out);
            return ExitCodes.OK;
        }

        @Override int exec(Ctx c) {
            throw new UnsupportedOperationException();
        }
    }

    // ---- definitions ------------------------------------------------------------------------

    /** rabbitmqctl's --format for definitions: json (any case); erlang is RabbitMQ's own term format. */
    static void jsonFormatOnly(String format) {
        if (format.equalsIgnoreCase("json")) {
            return;
        }
        if (format.equals("erlang")) {
            throw new CliException(ExitCodes.DATAERR, "Error (argument validation): warren has no Erlang term"
                    + " format; use --format json");
        }
        throw new CliException(ExitCodes.DATAERR, "Error (argument validation): Format should be either json or"
                + " erlang");
    }

    @Command(name = "export_definitions",
            customSynopsis = "warrenctl export_definitions <file_path | \"-\"> [--format json]",
            description = {"Exports definitions (users, vhosts, permissions, topic permissions, queues, exchanges,",
                    "bindings) in RabbitMQ's JSON definitions format, which RabbitMQ and warren can import.",
                    "<file_path>: local file to write; a dash (-) writes to standard output (with no banner)."})
    static final class ExportDefinitions extends Base {
        @Parameters(index = "0", paramLabel = "<file_path | \"-\">", description = "file to write, or - for stdout")
        String path;
        @Option(names = "--format", paramLabel = "json", description = "output format: json (the only one warren has)")
        String format = "json";

        @Override int exec(Ctx c) {
            jsonFormatOnly(format);
            boolean stdout = path.equals("-");
            java.nio.file.Path file = java.nio.file.Path.of(path).toAbsolutePath();
            if (!stdout && !java.nio.file.Files.isDirectory(file.getParent())) {
                // rabbitmqctl checks the directory before it asks the node.
                throw new CliException(ExitCodes.DATAERR, "Error (argument validation): Directory "
                        + java.nio.file.Path.of(path).toAbsolutePath().getParent() + " does not exist");
            }
            JsonNode defs = c.api().getOk("/api/definitions");
            String json = Output.write(defs);
            if (stdout) {
                c.out.out.println(json);
                return ExitCodes.OK;
            }
            c.out.banner("Exporting definitions in JSON to a file at \"" + path + "\" ...");
            try {
                java.nio.file.Files.writeString(file, json);
            } catch (java.nio.file.AccessDeniedException e) {
                throw new CliException(ExitCodes.DATAERR, "Error: No permissions to write to file " + path
                        + " or its parent directory");
            } catch (java.io.IOException e) {
                throw new CliException(ExitCodes.DATAERR, java.nio.file.Files.isDirectory(file)
                        ? "Error: Path " + path + " is a directory"
                        : "Error: Could not write to file " + path + ": " + e.getMessage());
            }
            return ExitCodes.OK;
        }
    }

    /**
     * rabbitmqctl import_definitions. warren applies the import before it answers (checked whole
     * first: a refused file changes nothing), yet prints rabbitmqctl's words, which scripts match.
     */
    @Command(name = "import_definitions",
            customSynopsis = "warrenctl import_definitions <file_path | \"-\"> [--format json]",
            description = {"Imports definitions in RabbitMQ's JSON definitions format (from RabbitMQ's or warren's",
                    "export_definitions or the management API's GET /api/definitions).",
                    "<file_path>: local file to read; a dash (-) reads standard input (with no banner).",
                    "A file the broker refuses (invalid, or with policies or runtime parameters, which warren",
                    "does not support yet) changes nothing and exits with 65."})
    static final class ImportDefinitions extends Base {
        @Parameters(index = "0", paramLabel = "<file_path | \"-\">", description = "file to read, or - for stdin")
        String path;
        @Option(names = "--format", paramLabel = "json", description = "input format: json (the only one warren has)")
        String format = "json";

        @Override int exec(Ctx c) {
            jsonFormatOnly(format);
            boolean stdin = path.equals("-");
            byte[] bytes;
            if (stdin) {
                try {
                    bytes = System.in.readAllBytes();
                } catch (java.io.IOException e) {
                    throw new CliException(ExitCodes.DATAERR, "Error: cannot read standard input: " + e.getMessage());
                }
            } else {
                java.nio.file.Path file = java.nio.file.Path.of(path);
                if (!java.nio.file.Files.exists(file)) {
                    throw new CliException(ExitCodes.DATAERR, "Error (argument validation): File " + path
                            + " does not exist");
                }
                try {
                    bytes = java.nio.file.Files.readAllBytes(file);
                } catch (java.nio.file.AccessDeniedException e) {
                    throw new CliException(ExitCodes.DATAERR, "Error: No permissions to read from file " + path
                            + " or its parent directory");
                } catch (java.io.IOException e) {
                    throw new CliException(ExitCodes.DATAERR, java.nio.file.Files.isDirectory(file)
                            ? "Error: Path " + path + " is a directory"
                            : "Error: Could not read from file " + path + ": " + e.getMessage());
                }
                if (bytes.length == 0) {
                    throw new CliException(ExitCodes.DATAERR, "Error: File " + path + " is zero-sized");
                }
            }
            JsonNode doc;
            try {
                doc = Api.JSON.readTree(bytes);
            } catch (java.io.IOException e) {
                doc = null;
            }
            if (doc == null || !doc.isObject()) {
                throw new CliException(ExitCodes.DATAERR, "Error: Failed to deserialise input (format: JSON)"
                        + " (error: " + (doc == null ? "not valid JSON" : "not a JSON object") + ")");
            }
            // The request first: a broker that is down gets the one-line error and no banner.
            Api.Response r = c.api().send("POST", "/api/definitions", doc, Map.of());
            if (!stdin) {
                c.out.banner("Importing definitions in JSON from a file at \"" + path + "\" ...");
            }
            if (r.status() == 400) {
                throw new CliException(ExitCodes.DATAERR, "Error: " + r.reason());
            }
            if (r.status() != 204 && r.status() != 200 && r.status() != 201) {
                throw new CliException(ExitCodes.SOFTWARE, "Error: " + r.reason());
            }
            if (!stdin && !c.out.quiet && !c.out.silent) {
                c.out.out.println("Successfully started definition import. This process is asynchronous and can take"
                        + " some time.");
            }
            return ExitCodes.OK;
        }
    }
}
