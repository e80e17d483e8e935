package io.warren.server.management;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The console's files: all present on the classpath, found by exact name only. */
class ConsoleAssetsTest {
    private final ConsoleAssets assets = new ConsoleAssets();

    @Test
    void everyFileIsLoadedWithItsType() {
        for (String name : ConsoleAssets.FILES.keySet()) {
            ConsoleAssets.Asset a = assets.find("/" + name);
            assertNotNull(a, name);
            assertTrue(a.bytes().length > 0, name);
            assertEquals(ConsoleAssets.FILES.get(name), a.contentType());
        }
        assertEquals(assets.find("/index.html"), assets.find("/"));
        // index.html refers only to files that are served.
        String index = new String(assets.find("/").bytes(), StandardCharsets.UTF_8);
        for (String ref : new String[] {"console.js", "console.css", "favicon.svg"}) {
            assertTrue(index.contains("\"" + ref + "\""), ref);
            assertNotNull(assets.find("/" + ref), ref);
        }
    }

    @Test
    void nothingElseIsFound() {
        for (String path : new String[] {"", "index.html", "/../index.html", "/%2e%2e/index.html", "/%2e%2e%2findex.html",
                "/a/../index.html", "/.%2Findex.html", "/..\\index.html", "/%5cindex.html", "/io/warren/server/management/console/index.html",
                "/ConsoleAssets.class", "/%zz", "/index.html%00", "/INDEX.HTML"}) {
            assertNull(assets.find(path), path);
        }
        assertNotNull(assets.find("/console%2Ejs"), "percent-encoded letters of a real name still name it");
    }
}
