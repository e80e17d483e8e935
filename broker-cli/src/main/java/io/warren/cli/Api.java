package io.warren.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.Map;

/**
 * The management HTTP API as warrenctl uses it: basic auth, JSON bodies, and failures turned
 * into one-line messages with rabbitmqctl's exit codes.
 *
 * <p>HttpURLConnection rather than java.net.http.HttpClient: building an HttpClient
 * initialises TLS (SSLContext, the CA store) and a selector thread even for plain http, which
 * measured 0.8 s of a 1.2 s {@code warrenctl list_queues}; HttpURLConnection does the same
 * request in under 0.1 s. warrenctl makes one or two small blocking requests, so nothing of
 * HttpClient's is missed.
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
    private final String auth;

    /**
     * @param operation the command's name, for the timeout message (as rabbitmqctl words it)
     */
    Api(Target target, Duration timeout, String operation) {
        this.target = target;
        this.timeout = timeout;
        this.operation = operation;
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

    /** GET of a health check: a failed check ({@code 503 {"status":"failed",...}}) is an answer, not an error. */
    Response check(String path) {
        return send("GET", path, null, Map.of(), true);
    }

    Response send(String method, String path, Object body, Map<String, String> headers) {
        return send(method, path, body, headers, false);
    }

    private Response send(String method, String path, Object body, Map<String, String> headers, boolean check) {
        int status;
        byte[] bytes;
        try {
            HttpURLConnection c = (HttpURLConnection) URI.create(target.baseUri() + path).toURL().openConnection();
            c.setRequestMethod(method);
            c.setConnectTimeout((int) Math.min(timeout.toMillis(), MAX_CONNECT.toMillis()));
            c.setReadTimeout((int) Math.min(timeout.toMillis(), Integer.MAX_VALUE));
            c.setRequestProperty("Authorization", auth);
            c.setRequestProperty("Accept", "application/json");
            headers.forEach(c::setRequestProperty);
            if (body != null) {
                byte[] out = JSON.writeValueAsBytes(body);
                c.setDoOutput(true);
                c.setRequestProperty("Content-Type", "application/json");
                c.setFixedLengthStreamingMode(out.length);
                try (OutputStream os = c.getOutputStream()) {
                    os.write(out);
                }
            }
            status = c.getResponseCode();
            InputStream in = status >= 400 ? c.getErrorStream() : c.getInputStream();
            bytes = in == null ? new byte[0] : in.readAllBytes();
            if (in != null) {
                in.close();
            }
        } catch (SocketTimeoutException e) {
            if (String.valueOf(e.getMessage()).contains("connect")) {
                throw unreachable("connection timed out");
            }
            throw new CliException(ExitCodes.TEMPFAIL, "Error: operation " + operation + " on node " + target.address()
                    + " timed out. Timeout value used: " + timeout.toSeconds());
        } catch (ConnectException e) {
            throw unreachable("connection refused");
        } catch (IOException e) {
            throw unreachable(String.valueOf(e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()));
        }
        JsonNode json;
        try {
            json = bytes == null || bytes.length == 0 ? JSON.missingNode() : JSON.readTree(bytes);
        } catch (IOException e) {
            throw new CliException(ExitCodes.SOFTWARE, "Error: the management API at " + target.address()
                    + " answered " + status + " with a body that is not JSON (is it warren's?)");
        }
        Response r = new Response(status, json == null ? JSON.missingNode() : json);
        if (r.status() == 401 && path.startsWith("/api/warren/") && !"GET".equals(method)
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
        if (r.status() == 503 && check && "failed".equals(r.body().path("status").asText())) {
            return r;
        }
        if (r.status() == 503) {
            // The application is stopped (warrenctl stop_app): the broker is there but cannot answer this.
            throw new CliException(ExitCodes.UNAVAILABLE, "Error: " + r.reason());
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
