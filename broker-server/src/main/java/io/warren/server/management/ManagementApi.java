package io.warren.server.management;

import io.warren.core.BrokerException;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

/**
 * The route table: which endpoint answers a method and path (the segments after {@code /api/}).
 * A path that matches no route is a 404; a path that matches with another method is a 405
 * with an Allow header, as RabbitMQ answers.
 */
final class ManagementApi {
    /** An endpoint: answers now or later; its future may fail with an ApiException or BrokerException. */
    interface Endpoint {
        CompletableFuture<ApiResponse> handle(ApiRequest r);
    }

    private record Route(String[] pattern, Map<String, Endpoint> methods) {
    }

    /** A matched route: its endpoint for the method (null: 405), the allowed methods, the path variables. */
    record Match(Endpoint endpoint, List<String> allowed, Map<String, String> params) {
    }

    private final List<Route> routes = new ArrayList<>();

    ManagementApi(ApiContext ctx) {
        SystemEndpoints sys = new SystemEndpoints(ctx);
        QueueEndpoints queues = new QueueEndpoints(ctx);
        ExchangeEndpoints exchanges = new ExchangeEndpoints(ctx);
        BindingEndpoints bindings = new BindingEndpoints(ctx);
        ConnectionEndpoints connections = new ConnectionEndpoints(ctx);
        WarrenEndpoints warren = new WarrenEndpoints(ctx);
        AccessEndpoints access = new AccessEndpoints(ctx);
        DefinitionEndpoints definitions = new DefinitionEndpoints(ctx);
        MessageEndpoints messages = new MessageEndpoints(ctx);

        get("overview", sys::overview);
        get("nodes", sys::nodes);
        get("nodes/{node}", sys::node);
        get("whoami", now(sys::whoami));
        get("vhosts", sys::vhosts);
        route("vhosts/{vhost}", Map.of("GET", sys::vhost, "PUT", access::putVhost, "DELETE", access::deleteVhost));
        get("vhosts/{vhost}/permissions", now(access::vhostPermissions));
        get("vhosts/{vhost}/topic-permissions", now(access::vhostTopicPermissions));

        route("warren/authenticate", Map.of("POST", now(access::authenticate)));
        get("users", now(access::users));
        get("users/without-permissions", now(access::usersWithoutPermissions));
        route("users/bulk-delete", Map.of("POST", access::bulkDeleteUsers));
        route("users/{user}", Map.of("GET", now(access::showUser), "PUT", access::putUser,
                "DELETE", access::deleteUser));
        get("users/{user}/permissions", now(access::userPermissions));
        get("users/{user}/topic-permissions", now(access::userTopicPermissions));
        get("permissions", now(access::permissions));
        route("permissions/{vhost}/{user}", Map.of("GET", now(access::showPermission), "PUT", access::putPermission,
                "DELETE", access::deletePermission));
        get("topic-permissions", now(access::topicPermissions));
        route("topic-permissions/{vhost}/{user}", Map.of("GET", now(access::showTopicPermissions),
                "PUT", access::putTopicPermission, "DELETE", access::deleteTopicPermissions));
        route("topic-permissions/{vhost}/{user}/{exchange}", Map.of("DELETE", access::deleteTopicPermissions));
        get("vhosts/{vhost}/connections", connections::list);
        get("vhosts/{vhost}/channels", connections::channels);
        get("health/checks/alarms", now(sys::alarms));
        get("health/checks/local-alarms", now(sys::localAlarms));
        get("health/checks/virtual-hosts", now(sys::virtualHostsHealth));
        get("health/checks/node-is-quorum-critical", now(sys::quorumCritical));
        get("health/checks/node-is-mirror-sync-critical", now(sys::mirrorSyncCritical));
        get("aliveness-test/{vhost}", sys::aliveness);

        get("queues", queues::list);
        get("queues/{vhost}", queues::list);
        route("queues/{vhost}/{name}", Map.of("GET", queues::show, "PUT", queues::declare, "DELETE", queues::delete));
        route("queues/{vhost}/{name}/contents", Map.of("DELETE", queues::purge));
        get("queues/{vhost}/{name}/bindings", now(queues::bindings));
        route("queues/{vhost}/{name}/get", Map.of("POST", messages::get));

        get("exchanges", now(exchanges::list));
        get("exchanges/{vhost}", now(exchanges::list));
        route("exchanges/{vhost}/{name}", Map.of("GET", now(exchanges::show), "PUT", exchanges::declare,
                "DELETE", exchanges::delete));
        route("exchanges/{vhost}/{name}/publish", Map.of("POST", messages::publish));

        get("bindings", now(bindings::list));
        get("bindings/{vhost}", now(bindings::list));
        route("bindings/{vhost}/e/{source}/{kind}/{dest}", Map.of("GET", now(bindings::between),
                "POST", bindings::create));
        route("bindings/{vhost}/e/{source}/{kind}/{dest}/{props}", Map.of("GET", now(bindings::show),
                "DELETE", bindings::delete));

        for (boolean operator : new boolean[] {false, true}) {
            PolicyEndpoints pol = new PolicyEndpoints(ctx, operator);
            String base = operator ? "operator-policies" : "policies";
            get(base, now(pol::list));
            get(base + "/{vhost}", now(pol::list));
            route(base + "/{vhost}/{name}", Map.of("GET", now(pol::show), "PUT", pol::put, "DELETE", pol::delete));
        }
        route("definitions", Map.of("GET", now(definitions::export), "POST", definitions::importDefinitions));
        route("definitions/{vhost}", Map.of("GET", now(definitions::export), "POST", definitions::importDefinitions));

        get("connections", connections::list);
        route("connections/{name}", Map.of("GET", connections::show, "DELETE", connections::close));
        get("connections/{name}/channels", connections::channelsOf);
        get("channels", connections::channels);
        get("consumers", connections::consumers);
        get("consumers/{vhost}", connections::consumers);

        // warren's own (not RabbitMQ's): what warrenctl environment / set_vm_memory_high_watermark call.
        get("warren/environment", now(warren::environment));
        route("warren/vm_memory_high_watermark", Map.of("GET", now(warren::memoryWatermark),
                "PUT", now(warren::setMemoryWatermark)));
        route("warren/disk_free_limit", Map.of("GET", now(warren::diskFreeLimit),
                "PUT", now(warren::setDiskFreeLimit)));
        // warrenctl status / stop_app / start_app / stop: they answer while the application is stopped.
        get("warren/app", now(warren::app));
        get("warren/delayed", now(exchanges::delayed));
        get("warren/delayed/{vhost}", now(exchanges::delayed));
        route("warren/stop_app", Map.of("POST", warren::stopApp));
        route("warren/start_app", Map.of("POST", warren::startApp));
        route("warren/stop", Map.of("POST", now(warren::stop)));
        route("warren/cluster/nodes/{node}", Map.of("DELETE", warren::forgetClusterNode));
        route("warren/cluster/join", Map.of("POST", warren::joinCluster));
        route("warren/rebalance", Map.of("POST", warren::rebalance));
        route("warren/queues/{vhost}/{name}/members", Map.of("POST", warren::addQueueMember));
        route("warren/queues/{vhost}/{name}/members/{node}", Map.of("DELETE", warren::deleteQueueMember));
        route("warren/grow", Map.of("POST", warren::grow));
        route("warren/shrink", Map.of("POST", warren::shrink));
        route("rebalance/queues", Map.of("POST", now(warren::rebalanceAll)));
        route("warren/alarms/{resource}", Map.of("PUT", now(r -> warren.setAlarm(r, true)),
                "DELETE", now(r -> warren.setAlarm(r, false))));
    }

    private static Endpoint now(Function<ApiRequest, ApiResponse> f) {
        return r -> CompletableFuture.completedFuture(f.apply(r));
    }

    private void get(String pattern, Endpoint e) {
        route(pattern, Map.of("GET", e));
    }

    private void route(String pattern, Map<String, Endpoint> methods) {
        routes.add(new Route(pattern.split("/"), methods));
    }

    /** The route for {@code segments}, or null (404). */
    Match match(String method, List<String> segments) {
        for (Route r : routes) {
            if (r.pattern.length != segments.size()) {
                continue;
            }
            Map<String, String> params = new HashMap<>();
            boolean ok = true;
            for (int i = 0; i < r.pattern.length && ok; i++) {
                String p = r.pattern[i];
                if (p.startsWith("{")) {
                    params.put(p.substring(1, p.length() - 1), segments.get(i));
                } else {
                    ok = p.equals(segments.get(i));
                }
            }
            if (ok) {
                List<String> allowed = new ArrayList<>(r.methods.keySet());
                allowed.sort(null);
                return new Match(r.methods.get(method), allowed, params);
            }
        }
        return null;
    }

    /**
     * An endpoint's failure as RabbitMQ words it: 404 not_found, 401 not_authorised for refused
     * access, otherwise 400 bad_request with the broker's reason (e.g. "inequivalent arg ...").
     */
    static ApiResponse error(Throwable t) {
        Throwable c = t instanceof java.util.concurrent.CompletionException && t.getCause() != null ? t.getCause() : t;
        if (c instanceof ApiException e) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("error", e.error);
            m.put("reason", e.reason);
            return new ApiResponse(e.status, m, Map.of());
        }
        if (c instanceof BrokerException e) {
            return switch (e.reason()) {
                case NOT_FOUND -> new ApiResponse(404, body("not_found", e.getMessage()), Map.of());
                case ACCESS_REFUSED -> new ApiResponse(401, body("not_authorised", "Access refused."), Map.of());
                default -> new ApiResponse(400, body("bad_request", e.getMessage()), Map.of());
            };
        }
        return null;
    }

    static Map<String, Object> body(String error, String reason) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("error", error);
        m.put("reason", reason);
        return m;
    }
}
