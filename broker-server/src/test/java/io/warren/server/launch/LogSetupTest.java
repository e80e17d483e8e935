package io.warren.server.launch;

import ch.qos.logback.classic.Level;
import io.warren.server.WarrenConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LogSetupTest {
    @TempDir
    Path tmp;

    @AfterEach
    void restoreLogging() {
        LogSetup.shutdown();
        ((ch.qos.logback.classic.LoggerContext) LoggerFactory.getILoggerFactory()).reset();
    }

    @Test
    void levelsMapToLogback() {
        assertEquals(Level.DEBUG, LogSetup.level("debug"));
        assertEquals(Level.INFO, LogSetup.level("info"));
        assertEquals(Level.WARN, LogSetup.level("warning"));
        assertEquals(Level.ERROR, LogSetup.level("error"));
        assertEquals(Level.OFF, LogSetup.level("none"));
    }

    @Test
    void logsToTheFileAtTheLevel() throws Exception {
        Path file = tmp.resolve("nested/dir/warren.log");
        LogSetup.configure(config(file, "warning"), false);
        Logger log = LoggerFactory.getLogger("io.warren.test");
        log.info("quiet line");
        log.warn("loud line");
        LogSetup.shutdown();
        String text = Files.readString(file);
        assertTrue(text.contains("WARN") && text.contains("loud line"), text);
        assertFalse(text.contains("quiet line"), text);
    }

    @Test
    void anUnwritableLogFileIsReported() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("is-a-dir"));
        assertThrows(IOException.class, () -> LogSetup.configure(config(dir, "info"), false));
    }

    private WarrenConfig config(Path logFile, String level) {
        WarrenConfig d = WarrenConfig.defaults(tmp);
        return new WarrenConfig(d.listenHost(), d.listenPort(), d.managementIp(), d.managementPort(),
                d.defaultUser(), d.defaultPass(), d.defaultVhost(), d.loopbackUsers(), d.heartbeatSeconds(),
                d.frameMax(), d.channelMax(), d.maxMessageSize(), d.connectionMax(), d.sendTimeoutMs(), d.memoryHighWatermark(), d.memoryPagingRatio(), d.diskFreeLimit(), d.dataDir(),
                logFile, level);
    }
}
