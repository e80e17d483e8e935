package io.warren.server.management;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The web console's static files (HTML, CSS, JS), read from the classpath once, when the
 * management server is built (off the event loop), and served from memory: a request never
 * touches the class loader or the disk, so nothing blocks the management loop. Only the files
 * named in {@link #FILES} exist; any other path is a 404, so there is nothing to traverse to.
 */
final class ConsoleAssets {
    /** Where the files are on the classpath. */
    static final String ROOT = "io/warren/server/management/console/";
    /** The console's files and their content types; {@code /} is index.html. */
    static final Map<String, String> FILES = Map.of(
            "index.html", "text/html; charset=utf-8",
            "console.css", "text/css; charset=utf-8",
            "console.js", "text/javascript; charset=utf-8",
            "favicon.svg", "image/svg+xml");

    /** One file: its bytes, content type and a strong ETag (a hash of the bytes). */
    record Asset(byte[] bytes, String contentType, String etag) {
    }

    private final Map<String, Asset> assets = new LinkedHashMap<>();

    /** Reads every file now; a missing one is a build error, reported at start-up. */
    ConsoleAssets() {
        ClassLoader cl = ConsoleAssets.class.getClassLoader();
        for (Map.Entry<String, String> f : FILES.entrySet()) {
            try (InputStream in = cl.getResourceAsStream(ROOT + f.getKey())) {
                if (in == null) {
                    throw new IllegalStateException("console file missing from the classpath: " + ROOT + f.getKey());
                }
                byte[] bytes = in.readAllBytes();
                assets.put(f.getKey(), new Asset(bytes, f.getValue(), etag(bytes)));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /**
     * The file for a raw request path (without the query), or null: {@code /} is index.html,
     * {@code /name} a file by its exact name. The name is percent-decoded first, so {@code
     * %2e%2e} is "..", which names no file; any '/' or '\' after the first is refused outright.
     */
    Asset find(String rawPath) {
        if (!rawPath.startsWith("/")) {
            return null;
        }
        String name;
        try {
            name = URLDecoder.decode(rawPath.substring(1).replace("+", "%2B"), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            return null;
        }
        if (name.isEmpty()) {
            name = "index.html";
        }
        if (name.contains("/") || name.contains("\\") || name.contains("..")) {
            return null;
        }
        return assets.get(name);
    }

    private static String etag(byte[] bytes) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(bytes);
            return "\"" + HexFormat.of().formatHex(d, 0, 12) + "\"";
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
