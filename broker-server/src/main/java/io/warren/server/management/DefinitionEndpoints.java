package io.warren.server.management;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.warren.amqp.server.BrokerContext;
import io.warren.core.auth.AccessControl;
import io.warren.core.exchange.Binding;
import io.warren.core.exchange.Exchange;
import io.warren.core.queue.MessageQueue;
import io.warren.core.vhost.VirtualHost;
import io.warren.core.vhost.VirtualHosts;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * Definitions export and import in RabbitMQ 3.x's definitions-file shape (its
 * rabbit_mgmt_wm_definitions and rabbit_definitions), so that definitions move between RabbitMQ
 * and warren both ways: GET and POST /api/definitions (everything) and /api/definitions/{vhost}
 * (one vhost: queues, exchanges, bindings, parameters and policies, without the per-item
 * "vhost" field; users, vhosts and permissions are not part of it). Administrators only.
 *
 * <p>What is exported is what RabbitMQ 3.10's management plugin exports: every queue except
 * exclusive ones (durable or not), every exchange except the default and the amq.* ones,
 * every binding whose source is not the default exchange and whose destination is exported.
 * Users carry their hash and its algorithm, so they log in with the same password on the
 * other side.
 *
 * <p>Import checks the whole document first (types, names, regular expressions, hashing
 * algorithms, that every vhost, user, exchange and queue referred to exists or is defined,
 * that redeclares are equivalent) and only then applies it, in RabbitMQ's order, through the
 * same model operations as the API and AMQP: a 400 for an invalid document changes nothing.
 * The reply (204, as RabbitMQ's) waits until the changes are on disk. Runtime parameters and
 * policies are refused (400) rather than silently dropped, since warren cannot honour them yet.
 */
final class DefinitionEndpoints {
    private final ApiContext ctx;

    DefinitionEndpoints(ApiContext ctx) {
        this.ctx = ctx;
    }

    // ---- export --------------------------------------------------------------------------------

    /** GET /api/definitions[/{vhost}]; an unknown vhost is a 400 "vhost_not_found", as RabbitMQ answers. */
    ApiResponse export(ApiRequest r) {
        ctx.requireAdministrator(r);
        String only = r.param("vhost");
        if (only != null && ctx.broker().vhosts().get(only) == null) {
            throw ApiException.badRequest("vhost_not_found");
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("rabbit_version", BrokerContext.VERSION);
        m.put("rabbitmq_version", BrokerContext.VERSION);
        m.put("product_name", "warren");
        m.put("product_version", BrokerContext.VERSION);
        List<VirtualHost> vhosts = only == null ? ctx.vhosts() : List.of(ctx.vhost(only));
        if (only == null) {
            AccessControl access = ctx.broker().access();
            List<AccessControl.User> users = new ArrayList<>(access.users());
            users.sort(Comparator.comparing(AccessControl.User::name));
            m.put("users", users.stream().map(AccessEndpoints::user).toList());
            m.put("vhosts", vhosts.stream().map(v -> vhost(v.name(), ctx.broker().vhosts().info(v.name()))).toList());
            List<AccessControl.VhostPermission> perms = new ArrayList<>(access.permissions());
            perms.sort(Comparator.comparing(AccessControl.VhostPermission::vhost)
                    .thenComparing(AccessControl.VhostPermission::user));
            m.put("permissions", perms.stream().map(AccessEndpoints::permission).toList());
            List<AccessControl.TopicPermission> topic = new ArrayList<>(access.topicPermissions());
            topic.sort(Comparator.comparing(AccessControl.TopicPermission::vhost)
                    .thenComparing(AccessControl.TopicPermission::user)
                    .thenComparing(AccessControl.TopicPermission::exchange));
            m.put("topic_permissions", topic.stream().map(AccessEndpoints::topicPermission).toList());
        }
        m.put("parameters", List.of());
        if (only == null) {
            // RabbitMQ writes cluster_name here once it was set with set_cluster_name; warren's
            // cluster name is its node name and cannot be set, so there is nothing to carry over.
            m.put("global_parameters", List.of());
        }
        List<Object> policies = new ArrayList<>();
        List<Object> operatorPolicies = new ArrayList<>();
        for (VirtualHost v : vhosts) {
            v.policies(false).forEach(p -> policies.add(PolicyEndpoints.view(p, only == null)));
            v.policies(true).forEach(p -> operatorPolicies.add(PolicyEndpoints.view(p, only == null)));
        }
        m.put("policies", policies);
        if (!operatorPolicies.isEmpty()) {
            // Not in RabbitMQ 3.10's file (its export leaves operator policies out); warren keeps
            // them, in the policies' shape, so an export restores everything. RabbitMQ ignores the key.
            m.put("operator_policies", operatorPolicies);
        }
        List<Object> queues = new ArrayList<>();
        List<Object> exchanges = new ArrayList<>();
        List<Object> bindings = new ArrayList<>();
        for (VirtualHost v : vhosts) {
            String vh = only == null ? v.name() : null;
            for (MessageQueue q : QueueEndpoints.sorted(v.queues())) {
                if (!q.exclusive()) {
                    queues.add(queue(q, vh));
                }
            }
            List<Exchange> xs = v.exchanges();
            xs.sort(Comparator.comparing(Exchange::name));
            for (Exchange x : xs) {
                if (!x.name().isEmpty() && !x.name().startsWith("amq.")) {
                    exchanges.add(exchange(x, vh));
                }
            }
            for (Binding b : BindingEndpoints.sorted(v.bindings())) {
                if (!b.source().name().isEmpty() && !(b.destination() instanceof MessageQueue q && q.exclusive())) {
                    bindings.add(binding(b, vh));
                }
            }
        }
        m.put("queues", queues);
        m.put("exchanges", exchanges);
        m.put("bindings", bindings);
        return ApiResponse.ok(m);
    }

    /** A vhost as RabbitMQ 3.10 exports and imports it (description and tags also in its metadata). */
    private static Map<String, Object> vhost(String name, VirtualHosts.Info info) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", name);
        m.put("description", info.description());
        m.put("tags", info.tags());
        Map<String, Object> metadata = new LinkedHashMap<>();
        metadata.put("description", info.description());
        metadata.put("tags", info.tags());
        m.put("metadata", metadata);
        m.put("limits", Map.of());
        return m;
    }

    private static Map<String, Object> queue(MessageQueue q, String vhost) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", q.name());
        if (vhost != null) {
            m.put("vhost", vhost);
        }
        m.put("durable", q.durable());
        m.put("auto_delete", q.autoDelete());
        m.put("arguments", Json.fromAmqp(q.arguments()));
        return m;
    }

    private static Map<String, Object> exchange(Exchange x, String vhost) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", x.name());
        if (vhost != null) {
            m.put("vhost", vhost);
        }
        m.put("type", x.type().wireName());
        m.put("durable", x.durable());
        m.put("auto_delete", x.autoDelete());
        m.put("internal", x.internal());
        m.put("arguments", Json.fromAmqp(x.arguments()));
        return m;
    }

    private static Map<String, Object> binding(Binding b, String vhost) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("source", b.source().name());
        if (vhost != null) {
            m.put("vhost", vhost);
        }
        m.put("destination", b.destination().name());
        m.put("destination_type", b.destination() instanceof MessageQueue ? "queue" : "exchange");
        m.put("routing_key", b.routingKey());
        m.put("arguments", Json.fromAmqp(b.arguments()));
        return m;
    }

    // ---- import --------------------------------------------------------------------------------

    /**
     * POST /api/definitions[/{vhost}]: the body is the document (application/json), or a
     * multipart/form-data upload whose "file" field is (the management UI's form). 204 once
     * applied and on disk; 400 naming the first problem, with nothing changed; 404 for a
     * vhost in the path that does not exist.
     */
    CompletableFuture<ApiResponse> importDefinitions(ApiRequest r) {
        ctx.requireAdministrator(r);
        String only = r.param("vhost");
        if (only != null && ctx.broker().vhosts().get(only) == null) {
            throw ApiException.notFound();
        }
        JsonNode doc = parse(payload(r));
        // Checked and applied on the worker, where every API change of users, vhosts and
        // topology runs: nothing the API does can come between the check and the change.
        return CompletableFuture.supplyAsync(() -> {
            DefinitionImport plan = DefinitionImport.check(doc, only, ctx.broker());
            plan.apply();
            return plan;
        }, ctx.worker).thenCompose(plan -> plan.durable().thenApply(v -> {
            plan.logImported();
            return ApiResponse.status(204);
        }));
    }

    /** The document's bytes: the body, or the "file" field of a multipart/form-data upload. */
    static byte[] payload(ApiRequest r) {
        String type = r.header("content-type");
        if (type == null || !type.toLowerCase(java.util.Locale.ROOT).startsWith("multipart/form-data")) {
            return r.body();
        }
        return Multipart.field(r.body(), type, "file");
    }

    /** An empty body is an empty document (RabbitMQ imports nothing and answers 204). */
    static JsonNode parse(byte[] body) {
        int start = 0;
        if (body.length >= 3 && (body[0] & 0xff) == 0xef && (body[1] & 0xff) == 0xbb && (body[2] & 0xff) == 0xbf) {
            start = 3; // a UTF-8 byte order mark, which RabbitMQ strips too
        }
        if (new String(body, start, body.length - start, StandardCharsets.UTF_8).isBlank()) {
            return Json.MAPPER.createObjectNode();
        }
        JsonNode n;
        try {
            n = Json.MAPPER.readTree(body, start, body.length - start);
        } catch (JsonProcessingException e) {
            throw ApiException.badRequest("failed_to_parse_json: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw ApiException.badRequest("failed_to_parse_json: " + e.getMessage());
        }
        if (!(n instanceof ObjectNode)) {
            throw ApiException.badRequest("failed_to_parse_json: expected a JSON object (the definitions), got "
                    + n.getNodeType().name().toLowerCase(java.util.Locale.ROOT));
        }
        return n;
    }
}
