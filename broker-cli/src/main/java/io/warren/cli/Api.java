package io.warren.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.Map;

/**
 * The management HTTP API as warrenctl uses it: basic auth, JSON bodies, and failures turned
 * into one-line messages with rabbitmqctl's exit codes.
 */
final class Api {
    static final ObjectMapper JSON = new ObjectMapper();
    /** How long a connect may take before the broker counts as unreachable (69), at most. */
    private static final Duration MAX_CONNECT = Duration.ofSeconds(10);

    /** An answer: the status and the parsed JSON body (a missing node when there is none). */
    record Response(int status, JsonNode body) {
        String reason() {
            String r = body.path("reason").asText("");
            return r.isEmpty() ? body.path("error").asText("HTTP " + status) : r;
        }
    }

    private final Target target;
    private final Duration timeout;
    private final String operation;
    private final HttpClient http;
    private final String auth;

    /**
     * @param operation the command's name, for the timeout message (as rabbitmqctl words it)
     */
    Api(Target target, Duration timeout, String operation) {
        this.target = target;
        this.timeout = timeout;
        this.operation = operation;
        this.http = HttpClient.newBuilder()
                .connectTimeout(timeout.compareTo(MAX_CONNECT) < 0 ? timeout : MAX_CONNECT)
                .build();
        this.auth = "Basic " + Base64.getEncoder().encodeToString(
                (target.user() + ":" + target.password()).getBytes(StandardCharsets.UTF_8));
    }

    /** One path segment, percent-encoded (a space as %20: the API reads '+' as a plus). */
    static String enc(String segment) {
        return URLEncoder.encode(segment, StandardCharsets.UTF_8).replace("+", "%20");
    }

    /** GET; 401/403 and 5xx end the command, other statuses are the caller's. */
    Response get(String path) {
        return send("GET", path, null, Map.of());
    }

    /** GET that must answer 200 (a 404 or 400 ends the command with the API's reason). */
    JsonNode getOk(String path) {
        Response r = get(path);
        if (r.status() != 200) {
            throw new CliException(ExitCodes.SOFTWARE, "Error: " + r.reason());
        }
        return r.body();
    }

    Response send(String method, String path, Object body, Map<String, String> headers) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(target.baseUri() + path))
                .timeout(timeout)
                .header("Authorization", auth)
                .header("Accept", "application/json");
        headers.forEach(b::header);
        if (body == null) {
            b.method(method, HttpRequest.BodyPublishers.noBody());
        } else {
            try {
                b.header("Content-Type", "application/json")
                        .method(method, HttpRequest.BodyPublishers.ofByteArray(JSON.writeValueAsBytes(body)));
            } catch (IOException e) {
                throw new CliException(ExitCodes.SOFTWARE, "Error: cannot encode the request: " + e.getMessage());
            }
        }
        HttpResponse<byte[]> resp;
        try {
            resp = http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (HttpConnectTimeoutException | ConnectException e) {
            throw unreachable(e instanceof HttpConnectTimeoutException ? "connection timed out" : "connection refused");
        } catch (HttpTimeoutException e) {
            throw new CliException(ExitCodes.TEMPFAIL, "Error: operation " + operation + " on node " + target.address()
                    + " timed out. Timeout value used: " + timeout.toSeconds());
        } catch (IOException e) {
            throw unreachable(String.valueOf(e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CliException(ExitCodes.SOFTWARE, "Error: interrupted");
        }
        JsonNode json;
        try {
            byte[] bytes = resp.body();
            json = bytes == null || bytes.length == 0 ? JSON.missingNode() : JSON.readTree(bytes);
        } catch (IOException e) {
            throw new CliException(ExitCodes.SOFTWARE, "Error: the management API at " + target.address()
                    + " answered " + resp.statusCode() + " with a body that is not JSON (is it warren's?)");
        }
        Response r = new Response(resp.statusCode(), json == null ? JSON.missingNode() : json);
        if (r.status() == 401 && path.startsWith("/api/warren/vm_memory") && !"GET".equals(method)
                && "not_authorised".equals(r.body().path("error").asText())) {
            throw new CliException(ExitCodes.NOPERM, "Error: user '" + target.user() + "' is not an administrator");
        }
        if (r.status() == 401) {
            throw new CliException(ExitCodes.NOPERM, "Error: authentication failed for user '" + target.user()
                    + "' on " + target.address() + " (" + r.reason() + "); check --username / --password or the "
                    + "config's default_user / default_pass");
        }
        if (r.status() == 403) {
            throw new CliException(ExitCodes.NOPERM, "Error: user '" + target.user() + "' may not do this: "
                    + r.reason());
        }
        if (r.status() >= 500) {
            throw new CliException(ExitCodes.SOFTWARE, "Error: the broker failed the operation (HTTP "
                    + r.status() + "): " + r.reason());
        }
        return r;
    }

    private CliException unreachable(String why) {
        return new CliException(ExitCodes.UNAVAILABLE, "Error: unable to perform an operation on node "
                + target.address() + ": " + why + " (is warren running, with its management API on "
                + target.address() + "? see management.tcp.ip / management.tcp.port)");
    }
}
