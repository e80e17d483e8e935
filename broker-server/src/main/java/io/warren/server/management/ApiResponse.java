package io.warren.server.management;

import java.util.Map;

/**
 * What an endpoint answers: a status, a body Jackson serialises (null: no body) and extra
 * headers (e.g. Location).
 */
record ApiResponse(int status, Object body, Map<String, String> headers) {
    static ApiResponse ok(Object body) {
        return new ApiResponse(200, body, Map.of());
    }

    static ApiResponse status(int status) {
        return new ApiResponse(status, null, Map.of());
    }
}
