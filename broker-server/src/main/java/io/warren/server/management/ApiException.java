package io.warren.server.management;

/**
 * An HTTP error with RabbitMQ's JSON body {@code {"error": ..., "reason": ...}}: thrown by
 * endpoints or used to complete their futures exceptionally.
 */
final class ApiException extends RuntimeException {
    final int status;
    final String error;
    /** The JSON reason: the message, or what RabbitMQ prints for an Erlang term (e.g. a list). */
    final Object reason;

    ApiException(int status, String error, String reason) {
        this(status, error, reason, reason);
    }

    ApiException(int status, String error, String message, Object reason) {
        super(message, null, false, false);
        this.status = status;
        this.error = error;
        this.reason = reason;
    }

    /** RabbitMQ's answer for a path naming something that does not exist. */
    static ApiException notFound() {
        return new ApiException(404, "Object Not Found", "Not Found");
    }

    static ApiException badRequest(String reason) {
        return new ApiException(400, "bad_request", reason);
    }
}
