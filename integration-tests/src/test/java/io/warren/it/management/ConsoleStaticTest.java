package io.warren.it.management;

import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The web console's files as plain HTTP sees them (no browser): served at / without a login,
 * with their content types, ETags and no-cache, 304 on revalidation, 404 for anything that is
 * not one of the console's files, whatever the path tries (../, %2e%2e, classpath paths), and
 * /api/ unchanged beside them.
 */
class ConsoleStaticTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private Http anonymous;

    @BeforeEach
    void client() {
        anonymous = new Http("127.0.0.1", broker.broker().managementPort(), "nobody", "wrong");
    }

    private Http.Response plain(String method, String path) {
        // Without an Authorization header: the console's files need no login.
        return anonymous.send(HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:"
                + broker.broker().managementPort() + path)).method(method, HttpRequest.BodyPublishers.noBody()));
    }

    @Test
    void indexAndAssetsAreServedWithTheirContentTypes() {
        Http.Response index = plain("GET", "/");
        assertEquals(200, index.status(), index.body());
        assertEquals("text/html; charset=utf-8", index.header("content-type"));
        assertTrue(index.body().contains("<script src=\"console.js\" defer></script>"), index.body());
        assertTrue(index.header("content-security-policy").contains("script-src 'self'"), index.header("content-security-policy"));
        assertEquals("nosniff", index.header("x-content-type-options"));
        assertEquals("DENY", index.header("x-frame-options"));
        assertEquals(index.body(), plain("GET", "/index.html").body());

        Http.Response js = plain("GET", "/console.js");
        assertEquals(200, js.status());
        assertEquals("text/javascript; charset=utf-8", js.header("content-type"));
        assertTrue(js.body().contains("function route()"), "the console's script");
        Http.Response css = plain("GET", "/console.css");
        assertEquals(200, css.status());
        assertEquals("text/css; charset=utf-8", css.header("content-type"));
        Http.Response icon = plain("GET", "/favicon.svg");
        assertEquals(200, icon.status());
        assertEquals("image/svg+xml", icon.header("content-type"));
        assertTrue(icon.body().startsWith("<svg"), icon.body());
        // A query string (cache busting) does not change the file.
        assertEquals(js.body(), plain("GET", "/console.js?v=2").body());
    }

    @Test
    void filesAreRevalidatedByETag() {
        Http.Response js = plain("GET", "/console.js");
        String etag = js.header("etag");
        assertNotNull(etag);
        assertTrue(etag.matches("\"[0-9a-f]{24}\""), etag);
        assertEquals("no-cache", js.header("cache-control"));
        Http.Response again = anonymous.send(HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:"
                + broker.broker().managementPort() + "/console.js")).header("If-None-Match", etag).GET());
        assertEquals(304, again.status());
        assertEquals("", again.body());
        assertEquals(etag, again.header("etag"));
        Http.Response stale = anonymous.send(HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:"
                + broker.broker().managementPort() + "/console.js")).header("If-None-Match", "\"other\"").GET());
        assertEquals(200, stale.status());
        assertEquals(js.body(), stale.body());

        Http.Response head = plain("HEAD", "/console.css");
        assertEquals(200, head.status());
        assertEquals("", head.body());
        assertEquals(String.valueOf(plain("GET", "/console.css").body().getBytes(StandardCharsets.UTF_8).length),
                head.header("content-length"));
    }

    @Test
    void unknownFilesAreNotFoundAndOtherMethodsNotAllowed() {
        for (String path : new String[] {"/nope.js", "/index.htm", "/console/", "/favicon.ico", "/CONSOLE.JS"}) {
            Http.Response r = plain("GET", path);
            assertEquals(404, r.status(), path);
            assertEquals("text/plain; charset=utf-8", r.header("content-type"), path);
        }
        Http.Response post = plain("POST", "/");
        assertEquals(405, post.status());
        assertEquals("GET, HEAD", post.header("allow"));
        assertEquals(405, plain("DELETE", "/console.js").status());
    }

    @Test
    void noPathReachesAnythingButTheConsolesFiles() throws Exception {
        // Sent as raw request lines: an HTTP client would normalise the dots away.
        String[] attempts = {
            "/../console.js", "/../../etc/passwd", "/%2e%2e/console.js", "/%2E%2E%2Fconsole.js", "/..%2fconsole.js",
            "/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/./console.js", "/.%2fconsole.js", "/console.js/..", "//etc/passwd",
            "/..\\console.js", "/%5c..%5cconsole.js", "/io/warren/server/management/console/console.js",
            "/io%2fwarren%2fserver%2fmanagement%2fconsole%2fconsole.js", "/ConsoleAssets.class",
            "/io/warren/server/management/ConsoleAssets.class", "/META-INF/MANIFEST.MF", "/logback.xml",
            "/%00console.js", "/console.js%00", "/%zz",
        };
        for (String path : attempts) {
            String response = raw("GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            assertTrue(response.startsWith("HTTP/1.1 404 "), path + " answered: " + firstLine(response));
            assertTrue(!response.contains("root:") && !response.contains("function route()"), path + " leaked content");
        }
        // The same request line for a real file works, so the socket path above is sound.
        assertTrue(raw("GET /console.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startsWith("HTTP/1.1 200 "));
    }

    @Test
    void theApiIsUnchangedBesideTheConsole() {
        Http.Response overview = plain("GET", "/api/overview");
        assertEquals(401, overview.status());
        assertEquals("application/json", overview.header("content-type"));
        assertEquals("not_authorized", overview.json().get("error").asText());
        assertNotNull(overview.header("www-authenticate"), "a plain client is asked for basic auth");
        // The console's fetches say X-Requested-With: no WWW-Authenticate, so no browser login dialog.
        Http.Response fromConsole = anonymous.send(HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:"
                + broker.broker().managementPort() + "/api/whoami")).header("X-Requested-With", "XMLHttpRequest").GET());
        assertEquals(401, fromConsole.status());
        assertEquals("Login failed", fromConsole.json().get("reason").asText());
        assertEquals(null, fromConsole.header("www-authenticate"));
        Http.Response guest = new Http("127.0.0.1", broker.broker().managementPort(), "guest", "guest").get("/api/overview");
        assertEquals(200, guest.status());
        assertEquals("warren", guest.json().get("product_name").asText());
        Http.Response api = plain("GET", "/api");
        assertEquals(404, api.status());
        assertEquals("Object Not Found", api.json().get("error").asText());
        // /api/... never falls through to the console's files.
        assertEquals(401, plain("GET", "/api/console.js").status());
    }

    private String raw(String request) throws Exception {
        try (Socket s = new Socket("127.0.0.1", broker.broker().managementPort())) {
            s.setSoTimeout(5000);
            OutputStream out = s.getOutputStream();
            out.write(request.getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            InputStream in = s.getInputStream();
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            in.transferTo(buf);
            return buf.toString(StandardCharsets.ISO_8859_1);
        }
    }

    private static String firstLine(String response) {
        int eol = response.indexOf("\r\n");
        return eol < 0 ? response : response.substring(0, eol);
    }
}
