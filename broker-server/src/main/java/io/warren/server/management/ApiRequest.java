package io.warren.server.management;

import io.netty.util.concurrent.EventExecutor;

import java.util.List;
import java.util.Map;

/**
 * One authenticated API call, as endpoints see it.
 *
 * @param segments the path after {@code /api/}, split on '/' and then percent-decoded one by
 *                 one (so {@code %2F} in a vhost name stays inside its segment)
 * @param params   the path's variables, by the names in the route pattern
 * @param loop     the HTTP connection's event loop: continuations run there, never on an AMQP loop
 */
record ApiRequest(String method, List<String> segments, Map<String, String> params, Map<String, List<String>> query,
                  Map<String, String> headers, byte[] body, String user, EventExecutor loop) {

    String param(String name) {
        return params.get(name);
    }

    /** A boolean query parameter such as RabbitMQ's {@code if-empty=true}. */
    boolean flag(String name) {
        List<String> v = query.get(name);
        return v != null && !v.isEmpty() && v.get(0).equalsIgnoreCase("true");
    }

    /** A request header, by its lower-case name, or null. */
    String header(String lowerCaseName) {
        return headers.get(lowerCaseName);
    }
}
