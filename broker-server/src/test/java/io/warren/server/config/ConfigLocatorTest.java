package io.warren.server.config;

import io.warren.server.WarrenConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ConfigLocatorTest {
    @TempDir
    Path install;

    @Test
    void precedenceIsCliThenEnvThenDefault() {
        Map<String, String> env = Map.of("WARREN_CONFIG", "/env.conf");
        assertEquals(Path.of("/cli.conf"), ConfigLocator.choose("/cli.conf", env, install).file());
        ConfigLocator.Choice fromEnv = ConfigLocator.choose(null, env, install);
        assertEquals(Path.of("/env.conf"), fromEnv.file());
        assertTrue(fromEnv.explicit());
        ConfigLocator.Choice dflt = ConfigLocator.choose(null, Map.of(), install);
        assertEquals(install.resolve("etc/warren.conf"), dflt.file());
        assertFalse(dflt.explicit());
        assertEquals(dflt, ConfigLocator.choose(null, Map.of("WARREN_CONFIG", " "), install));
    }

    @Test
    void missingDefaultFileMeansDefaults() {
        WarrenConfig c = ConfigLocator.load(ConfigLocator.choose(null, Map.of(), install), install);
        assertEquals(WarrenConfig.defaults(install), c);
    }

    @Test
    void missingExplicitFileIsAnErrorNamingIt() {
        Path missing = install.resolve("nope.conf");
        ConfigException cli = assertThrows(ConfigException.class,
                () -> ConfigLocator.load(ConfigLocator.choose(missing.toString(), Map.of(), install), install));
        assertEquals(missing + ": config file not found (given by --config)", cli.getMessage());
        ConfigException env = assertThrows(ConfigException.class, () -> ConfigLocator.load(
                ConfigLocator.choose(null, Map.of("WARREN_CONFIG", missing.toString()), install), install));
        assertEquals(missing + ": config file not found (given by WARREN_CONFIG)", env.getMessage());
    }

    @Test
    void defaultFileIsReadWhenPresent() throws Exception {
        Files.createDirectories(install.resolve("etc"));
        Files.writeString(install.resolve("etc/warren.conf"), "heartbeat = 5\n");
        assertEquals(5, ConfigLocator.load(ConfigLocator.choose(null, Map.of(), install), install).heartbeatSeconds());
    }

    @Test
    void theSampleConfigParsesToTheDefaults() {
        // etc/warren.conf in the repository documents the defaults; it must stay loadable and
        // must not change them.
        Path repo = Path.of("").toAbsolutePath().getParent();
        Path sample = repo.resolve("etc/warren.conf");
        assertTrue(Files.exists(sample), sample + " is missing");
        assertEquals(WarrenConfig.defaults(repo), WarrenConfig.load(sample, repo));
    }
}
