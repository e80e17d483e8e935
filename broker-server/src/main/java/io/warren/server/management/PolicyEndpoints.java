package io.warren.server.management;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.warren.core.policy.Applied;
import io.warren.core.policy.Policy;
import io.warren.core.policy.PolicyException;
import io.warren.core.policy.PolicyValidator;
import io.warren.core.vhost.VirtualHost;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;

/**
 * RabbitMQ's /api/policies and /api/operator-policies (list, per vhost, GET / PUT / DELETE one),
 * with its JSON: {@code {"vhost","name","pattern","apply-to","definition":{},"priority"}}. Policies
 * are for users tagged policymaker or administrator with access to the vhost, operator policies
 * for administrators (RabbitMQ's rules). A refused policy is a 400 with RabbitMQ's
 * "Validation failed" reason. Changes run on the API's worker and are answered once on disk.
 */
final class PolicyEndpoints {
    private final ApiContext ctx;
    private final boolean operator;

    PolicyEndpoints(ApiContext ctx, boolean operator) {
        this.ctx = ctx;
        this.operator = operator;
    }

    /** The JSON of a policy, as RabbitMQ's API and definitions file show it. */
    static Map<String, Object> view(Policy p, boolean withVhost) {
        Map<String, Object> m = new LinkedHashMap<>();
        if (withVhost) {
            m.put("vhost", p.vhost());
        }
        m.put("name", p.name());
        m.put("pattern", p.pattern());
        m.put("apply-to", p.applyTo().wireName());
        m.put("definition", new TreeMap<>(p.definition()));
        m.put("priority", p.priority());
        return m;
    }

    /** The policy fields of a queue or exchange view. */
    static void applied(Map<String, Object> view, Applied a, boolean queue) {
        view.put("policy", a.policy() == null ? null : a.policy().name());
        if (queue) {
            view.put("operator_policy", a.operatorPolicy() == null ? null : a.operatorPolicy().name());
            view.put("effective_policy_definition", new TreeMap<>(a.definition()));
        }
    }

    /**
     * A policy from a PUT body or a definitions entry: pattern and definition required, priority
     * (an integer, or a string of one, as RabbitMQ's UI sends it) 0 and apply-to "all" by default.
     * Throws a 400 with RabbitMQ's texts.
     */
    static Policy parse(String vhost, String name, ObjectNode body, boolean operator) {
        JsonNode pattern = body.get("pattern");
        if (pattern == null || !pattern.isTextual()) {
            throw ApiException.badRequest("Validation failed\n\npattern is required and must be a string\n");
        }
        JsonNode def = body.get("definition");
        if (def == null || !def.isObject()) {
            throw ApiException.badRequest("Validation failed\n\ndefinition is required and must be a JSON object\n");
        }
        int priority = 0;
        JsonNode p = body.get("priority");
        if (p != null && !p.isNull()) {
            try {
                priority = p.isIntegralNumber() && p.canConvertToInt() ? p.intValue()
                        : p.isTextual() ? Integer.parseInt(p.textValue().strip()) : bad();
            } catch (NumberFormatException e) {
                bad();
            }
        }
        JsonNode applyTo = body.get("apply-to");
        if (applyTo != null && !applyTo.isNull() && !applyTo.isTextual()) {
            throw ApiException.badRequest("Validation failed\n\napply-to must be a string\n");
        }
        Map<String, Object> definition = new LinkedHashMap<>();
        def.fields().forEachRemaining(e -> definition.put(e.getKey(), value(e.getValue())));
        try {
            return PolicyValidator.policy(vhost, name, pattern.textValue(),
                    applyTo == null || applyTo.isNull() ? "all" : applyTo.textValue(), priority, definition, operator);
        } catch (PolicyException e) {
            throw ApiException.badRequest(e.getMessage());
        }
    }

    private static int bad() {
        throw ApiException.badRequest("Validation failed\n\npriority must be an integer\n");
    }

    /** A JSON value as the model takes it: integers as Long (BigInteger beyond), strings, lists, maps. */
    private static Object value(JsonNode n) {
        if (n.isIntegralNumber()) {
            return n.canConvertToLong() ? (Object) n.longValue() : (Object) new BigInteger(n.asText());
        }
        if (n.isNumber()) {
            return n.doubleValue();
        }
        if (n.isTextual()) {
            return n.textValue();
        }
        if (n.isBoolean()) {
            return n.booleanValue();
        }
        if (n.isArray()) {
            List<Object> l = new ArrayList<>();
            n.forEach(x -> l.add(value(x)));
            return l;
        }
        if (n.isObject()) {
            Map<String, Object> m = new LinkedHashMap<>();
            n.fields().forEachRemaining(e -> m.put(e.getKey(), value(e.getValue())));
            return m;
        }
        return null;
    }

    /** policymaker or administrator (operator policies: administrator), with access to the vhost when given. */
    private void authorize(ApiRequest r, String vhost) {
        if (vhost != null) {
            ctx.vhost(vhost); // 404 first for a vhost that does not exist
        }
        List<String> tags = ctx.access().tags(r.user());
        boolean admin = tags.contains("administrator");
        if (operator ? !admin : !admin && !tags.contains("policymaker")) {
            throw new ApiException(403, "not_authorised", "Not " + (operator ? "administrator" : "policymaker")
                    + " user");
        }
        if (vhost != null && !ctx.access().canAccessVhost(r.user(), vhost)) {
            throw new ApiException(401, "not_authorised", "Access refused.");
        }
    }

    ApiResponse list(ApiRequest r) {
        String only = r.param("vhost");
        authorize(r, only);
        List<VirtualHost> vhosts = only == null ? ctx.vhosts() : List.of(ctx.vhost(only));
        List<Object> out = new ArrayList<>();
        for (VirtualHost v : vhosts) {
            if (only != null || ctx.access().canAccessVhost(r.user(), v.name())) {
                v.policies(operator).forEach(p -> out.add(view(p, true)));
            }
        }
        return ApiResponse.ok(out);
    }

    ApiResponse show(ApiRequest r) {
        authorize(r, r.param("vhost"));
        Policy p = ctx.vhost(r.param("vhost")).policy(r.param("name"), operator);
        if (p == null) {
            throw ApiException.notFound();
        }
        return ApiResponse.ok(view(p, true));
    }

    /** PUT: 201 when new, 204 when replaced, 400 when refused, 404 for a vhost that does not exist. */
    CompletableFuture<ApiResponse> put(ApiRequest r) {
        String vhost = r.param("vhost");
        authorize(r, vhost);
        VirtualHost v = ctx.vhost(vhost);
        Policy p = parse(vhost, r.param("name"), Json.object(r.body()), operator);
        return CompletableFuture.supplyAsync(() -> v.putPolicy(p, operator), ctx.worker)
                .thenCompose(created -> ApiContext.durable(v, ApiResponse.status(created ? 201 : 204)));
    }

    /** DELETE: 204, or 404 when there is no such policy. */
    CompletableFuture<ApiResponse> delete(ApiRequest r) {
        String vhost = r.param("vhost");
        authorize(r, vhost);
        VirtualHost v = ctx.vhost(vhost);
        return CompletableFuture.supplyAsync(() -> v.deletePolicy(r.param("name"), operator), ctx.worker)
                .thenCompose(found -> {
                    if (!found) {
                        return CompletableFuture.failedFuture(ApiException.notFound());
                    }
                    return ApiContext.durable(v, ApiResponse.status(204));
                });
    }
}
