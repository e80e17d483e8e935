package io.warren.server.config;

import io.warren.server.WarrenConfig;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Chooses the config file: {@code --config}, then env {@code WARREN_CONFIG}, then
 * {@code <install>/etc/warren.conf}. A file the operator named explicitly must exist (a typo
 * must not start a broker on defaults); the default file is optional.
 */
public final class ConfigLocator {
    public static final String ENV = "WARREN_CONFIG";

    private ConfigLocator() {
    }

    /** The file to read and whether it was named explicitly (and so must exist). */
    public record Choice(Path file, String source, boolean explicit) {
    }

    public static Choice choose(String cliConfig, Map<String, String> env, Path installDir) {
        if (cliConfig != null) {
            return new Choice(Path.of(cliConfig), "--config", true);
        }
        String fromEnv = env.get(ENV);
        if (fromEnv != null && !fromEnv.isBlank()) {
            return new Choice(Path.of(fromEnv), ENV, true);
        }
        return new Choice(installDir.resolve("etc").resolve("warren.conf"), "default", false);
    }

    /** Loads the chosen file, or the defaults when the default file does not exist. */
    public static WarrenConfig load(Choice choice, Path installDir) {
        if (!Files.exists(choice.file())) {
            if (choice.explicit()) {
                throw new ConfigException(choice.file() + ": config file not found (given by " + choice.source() + ")");
            }
            return WarrenConfig.defaults(installDir.toAbsolutePath().normalize());
        }
        return ConfigParser.load(choice.file(), installDir);
    }
}
