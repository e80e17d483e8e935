package io.warren.server.management;

import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.warren.core.auth.AccessControl;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * The requests of one HTTP connection: basic auth against the broker's users, routing, and the
 * response, written on this connection's loop when the endpoint's future completes. Responses go
 * out in request order even when a later request is answered first (pipelining clients). Runs
 * on the management event loop only; it never blocks.
 */
final class HttpApiHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
    private static final Logger log = LoggerFactory.getLogger(HttpApiHandler.class);
    private static final String PREFIX = "/api/";
    /** RabbitMQ lets users with any of these tags use the management API. */
    private static final Set<String> MANAGEMENT_TAGS = Set.of("administrator", "monitoring", "policymaker",
            "management");

    /** The console's HTML page may load scripts, styles and images from this server only. */
    private static final String CONSOLE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; "
            + "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
    private static final ConsoleAssets.Asset NOT_FOUND_PAGE = new ConsoleAssets.Asset(
            "404 Not Found\n".getBytes(StandardCharsets.UTF_8), "text/plain; charset=utf-8", null);

    private final ManagementApi api;
    private final java.util.function.Supplier<AccessControl> users;
    private final ConsoleAssets console;

    HttpApiHandler(ManagementApi api, java.util.function.Supplier<AccessControl> users, ConsoleAssets console) {
        this.api = api;
        this.users = users;
        this.console = console;
    }

    /** Completes once the previous request's response is written. Loop only. */
    private CompletableFuture<Void> previous = CompletableFuture.completedFuture(null);

    @Override protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
        boolean keepAlive = HttpUtil.isKeepAlive(req);
        boolean head = req.method() == HttpMethod.HEAD;
        // The web console's requests: a 401 to them has no WWW-Authenticate, which would make the
        // browser put up its own login dialog over the console's form (Spring Security's convention).
        boolean ajax = "XMLHttpRequest".equalsIgnoreCase(req.headers().get("x-requested-with"));
        CompletableFuture<ApiResponse> answer;
        try {
            answer = handle(ctx, req);
        } catch (RuntimeException e) {
            answer = CompletableFuture.failedFuture(e);
        }
        String what = req.method() + " " + req.uri();
        CompletableFuture<ApiResponse> settled = answer.handle((response, failure) -> {
            if (failure == null) {
                return response;
            }
            ApiResponse r = ManagementApi.error(failure);
            if (r == null) {
                log.error("management API: internal error on {}", what, failure);
                r = new ApiResponse(500, ManagementApi.body("internal_error", String.valueOf(failure)), Map.of());
            }
            return r;
        });
        // The future may complete on a queue's loop or the worker: the response is serialised
        // and written on this connection's loop, never on an AMQP loop, after the previous one.
        previous = previous.thenCombineAsync(settled, (v, r) -> {
            try {
                write(ctx, r, keepAlive, head, ajax);
            } catch (RuntimeException e) {
                log.error("management API: cannot answer {}", what, e);
                ctx.close();
            }
            return null;
        }, ctx.executor());
    }

    private CompletableFuture<ApiResponse> handle(ChannelHandlerContext ctx, FullHttpRequest req) {
        QueryStringDecoder uri = new QueryStringDecoder(req.uri());
        String rawPath = uri.rawPath();
        if (!rawPath.startsWith(PREFIX)) {
            if (rawPath.equals("/api")) {
                throw ApiException.notFound();
            }
            return CompletableFuture.completedFuture(consoleFile(req, rawPath));
        }
        String user = authenticate(ctx, req);
        List<String> segments = segments(rawPath.substring(PREFIX.length()));
        // HEAD is GET without the body, as in RabbitMQ.
        String method = req.method() == HttpMethod.HEAD ? "GET" : req.method().name();
        ManagementApi.Match m = api.match(method, segments);
        if (m == null) {
            throw ApiException.notFound();
        }
        if (m.endpoint() == null) {
            // RabbitMQ: 405 with the methods the resource has, and no body.
            return CompletableFuture.completedFuture(new ApiResponse(405, null,
                    Map.of("allow", String.join(", ", m.allowed()))));
        }
        Map<String, String> headers = new HashMap<>();
        req.headers().forEach(h -> headers.put(h.getKey().toLowerCase(java.util.Locale.ROOT), h.getValue()));
        byte[] body = ByteBufUtil.getBytes(req.content());
        ApiRequest r = new ApiRequest(method, segments, m.params(), uri.parameters(), headers, body, user,
                ctx.executor());
        return m.endpoint().handle(r);
    }

    /**
     * A web console file from memory (no login: the files hold no data; the console's calls to
     * /api/ log in). GET and HEAD only; 304 when the browser's copy is current (ETag); every
     * file is revalidated on each load (no-cache), so a new broker version's console is seen at once.
     */
    private ApiResponse consoleFile(FullHttpRequest req, String rawPath) {
        if (req.method() != HttpMethod.GET && req.method() != HttpMethod.HEAD) {
            return new ApiResponse(405, null, Map.of("allow", "GET, HEAD"));
        }
        ConsoleAssets.Asset a = console.find(rawPath);
        if (a == null) {
            return new ApiResponse(404, NOT_FOUND_PAGE, Map.of("x-content-type-options", "nosniff"));
        }
        Map<String, String> headers = new HashMap<>();
        headers.put("etag", a.etag());
        headers.put("cache-control", "no-cache");
        headers.put("x-content-type-options", "nosniff");
        if (a.contentType().startsWith("text/html")) {
            headers.put("content-security-policy", CONSOLE_CSP);
            headers.put("x-frame-options", "DENY");
            headers.put("referrer-policy", "no-referrer");
        }
        String ifNoneMatch = req.headers().get(HttpHeaderNames.IF_NONE_MATCH);
        if (ifNoneMatch != null && (ifNoneMatch.contains(a.etag()) || ifNoneMatch.trim().equals("*"))) {
            return new ApiResponse(304, null, headers);
        }
        return new ApiResponse(200, a, headers);
    }

    /**
     * Splits the raw path on '/' first and then percent-decodes each segment, so a vhost named
     * "/" (%2F) stays one segment. A '+' in a path is a plus, not a space.
     */
    static List<String> segments(String rawPath) {
        List<String> out = new ArrayList<>();
        String p = rawPath.endsWith("/") ? rawPath.substring(0, rawPath.length() - 1) : rawPath;
        if (p.isEmpty()) {
            return out;
        }
        for (String s : p.split("/", -1)) {
            try {
                out.add(URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8));
            } catch (IllegalArgumentException e) {
                throw ApiException.badRequest("bad percent-encoding in path segment '" + s + "'");
            }
        }
        return out;
    }

    /** The authenticated user; 401 as RabbitMQ words it otherwise. */
    private String authenticate(ChannelHandlerContext ctx, FullHttpRequest req) {
        String auth = req.headers().get(HttpHeaderNames.AUTHORIZATION);
        String[] credentials = auth == null ? null : basic(auth);
        InetSocketAddress remote = (InetSocketAddress) ctx.channel().remoteAddress();
        if (credentials == null
                || users.get().authenticate(credentials[0], credentials[1], remote == null ? null : remote.getAddress()) != null) {
            throw new ApiException(401, "not_authorized", "Login failed");
        }
        if (users.get().tags(credentials[0]).stream().noneMatch(MANAGEMENT_TAGS::contains)) {
            throw new ApiException(401, "not_authorized", "Not management user");
        }
        return credentials[0];
    }

    private static String[] basic(String header) {
        if (!header.regionMatches(true, 0, "Basic ", 0, 6)) {
            return null;
        }
        String decoded;
        try {
            decoded = new String(Base64.getDecoder().decode(header.substring(6).trim()), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            return null;
        }
        int colon = decoded.indexOf(':');
        return colon < 0 ? null : new String[] {decoded.substring(0, colon), decoded.substring(colon + 1)};
    }

    private static void write(ChannelHandlerContext ctx, ApiResponse r, boolean keepAlive, boolean head, boolean ajax) {
        ConsoleAssets.Asset file = r.body() instanceof ConsoleAssets.Asset a ? a : null;
        byte[] bytes = r.body() == null ? new byte[0] : file != null ? file.bytes() : Json.write(r.body());
        FullHttpResponse res = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(r.status()),
                head ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(bytes));
        if (file != null) {
            res.headers().set(HttpHeaderNames.CONTENT_TYPE, file.contentType());
        } else if (r.body() != null) {
            res.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON);
        }
        if (r.status() == 401 && !ajax) {
            res.headers().set(HttpHeaderNames.WWW_AUTHENTICATE, "Basic realm=\"warren management\"");
        }
        r.headers().forEach((k, v) -> res.headers().set(k, v));
        res.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, bytes.length);
        if (keepAlive) {
            res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
            ctx.writeAndFlush(res);
        } else {
            ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
        }
    }

    @Override public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.debug("management API connection from {} failed: {}", ctx.channel().remoteAddress(), cause.toString());
        ctx.close();
    }
}
