package io.warren.server.launch;

import ch.qos.logback.classic.Level;
import io.warren.server.WarrenConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
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
    void jsonLinesParseAndCarryRabbitMqFields() throws Exception {
        Path file = tmp.resolve("warren.json.log");
        WarrenConfig c = config(file, "info");
        LogSetup.configure(withOutputs(c, new WarrenConfig.LogOutputs(false, "info", "plaintext", "debug", "json")), false);
        Logger log = LoggerFactory.getLogger("io.warren.test");
        log.debug("fine detail");
        log.warn("a \"quoted\" two-line\nmessage\twith a tab");
        log.atInfo().addKeyValue("user", "guest").addKeyValue("channels", 3).log("structured");
        log.error("failed", new IllegalStateException("boom"));
        LogSetup.shutdown();
        List<String> lines = Files.readAllLines(file);
        assertEquals(4, lines.size(), String.join("\n", lines));
        ObjectMapper json = new ObjectMapper();
        List<JsonNode> nodes = new ArrayList<>();
        for (String line : lines) {
            nodes.add(json.readTree(line)); // each line is a whole object
        }
        assertEquals("debug", nodes.get(0).get("level").asText());
        assertEquals("fine detail", nodes.get(0).get("msg").asText());
        assertEquals("io.warren.test", nodes.get(0).get("logger").asText());
        assertEquals(Thread.currentThread().getName(), nodes.get(0).get("thread").asText());
        // ISO-8601 with an offset, parseable as such
        OffsetDateTime t = OffsetDateTime.parse(nodes.get(0).get("time").asText());
        assertTrue(Math.abs(Duration.between(t.toInstant(), Instant.now()).toSeconds()) < 60, t.toString());
        assertEquals("warning", nodes.get(1).get("level").asText());
        assertEquals("a \"quoted\" two-line\nmessage\twith a tab", nodes.get(1).get("msg").asText());
        assertEquals("guest", nodes.get(2).get("user").asText());
        assertEquals(3, nodes.get(2).get("channels").asInt());
        assertTrue(nodes.get(2).get("channels").isNumber());
        assertEquals("error", nodes.get(3).get("level").asText());
        assertTrue(nodes.get(3).get("exception").asText().contains("IllegalStateException: boom"), lines.get(3));
    }

    @Test
    void eachOutputHasItsOwnLevelAndFormat() throws Exception {
        Path file = tmp.resolve("warren.log");
        PrintStream stdout = System.out;
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        System.setOut(new PrintStream(console, true, StandardCharsets.UTF_8));
        try {
            LogSetup.configure(withOutputs(config(file, "info"),
                    new WarrenConfig.LogOutputs(true, "debug", "json", "error", "plaintext")), false);
            Logger log = LoggerFactory.getLogger("io.warren.test");
            log.debug("debug line");
            log.error("error line");
            LogSetup.shutdown();
        } finally {
            System.setOut(stdout);
        }
        String text = Files.readString(file);
        assertTrue(text.contains("ERROR") && text.contains("error line"), text);
        assertFalse(text.contains("debug line"), text);
        List<String> consoleLines = console.toString(StandardCharsets.UTF_8).lines().toList();
        assertEquals(2, consoleLines.size(), consoleLines.toString());
        ObjectMapper json = new ObjectMapper();
        assertEquals("debug line", json.readTree(consoleLines.get(0)).get("msg").asText());
        assertEquals("error line", json.readTree(consoleLines.get(1)).get("msg").asText());
    }

    @Test
    void aFullQueueDropsAndCountsInsteadOfBlocking() throws Exception {
        ch.qos.logback.classic.LoggerContext ctx = (ch.qos.logback.classic.LoggerContext) LoggerFactory.getILoggerFactory();
        CountDownLatch release = new CountDownLatch(1);
        List<String> written = new CopyOnWriteArrayList<>();
        ch.qos.logback.core.AppenderBase<ch.qos.logback.classic.spi.ILoggingEvent> slow = new ch.qos.logback.core.AppenderBase<>() {
            @Override protected void append(ch.qos.logback.classic.spi.ILoggingEvent e) {
                try {
                    release.await();
                } catch (InterruptedException ex) {
                    Thread.currentThread().interrupt();
                }
                written.add(e.getFormattedMessage());
            }
        };
        slow.setContext(ctx);
        slow.start();
        AsyncLogAppender async = new AsyncLogAppender(4);
        async.setContext(ctx);
        async.addOutput(slow);
        async.start();
        ch.qos.logback.classic.Logger logger = ctx.getLogger("io.warren.async");
        long start = System.nanoTime();
        for (int i = 0; i < 100; i++) {
            async.doAppend(new ch.qos.logback.classic.spi.LoggingEvent(logger.getName(), logger, Level.INFO, "line " + i, null, null));
        }
        // 100 appends against a stuck output return at once: at most 4 wait in the queue and a
        // batch of at most 5 is in the writer's hands (the one it polled and the 4 it drained with
        // it); the rest are dropped and counted
        assertTrue(System.nanoTime() - start < 2_000_000_000L);
        assertTrue(async.dropped() >= 91, "dropped " + async.dropped());
        release.countDown();
        async.stop();
        assertEquals(100 - async.dropped(), written.stream().filter(m -> m.startsWith("line ")).count(), written.toString());
        assertTrue(written.stream().anyMatch(m -> m.matches("dropped \\d+ log lines: .*")), written.toString());
    }

    @Test
    void anUnwritableLogFileIsReported() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("is-a-dir"));
        assertThrows(IOException.class, () -> LogSetup.configure(config(dir, "info"), false));
    }

    private static WarrenConfig withOutputs(WarrenConfig c, WarrenConfig.LogOutputs o) {
        return new WarrenConfig(c.listenHost(), c.listenPort(), c.managementIp(), c.managementPort(), c.defaultUser(),
                c.defaultPass(), c.defaultVhost(), c.loopbackUsers(), c.heartbeatSeconds(), c.frameMax(), c.channelMax(),
                c.maxMessageSize(), c.connectionMax(), c.sendTimeoutMs(), c.memoryHighWatermark(), c.memoryPagingRatio(),
                c.diskFreeLimit(), c.dataDir(), c.logFile(), c.logLevel(), c.tls(), c.auth(), c.consumerTimeoutMs(), o,
                c.prometheus());
    }

    private WarrenConfig config(Path logFile, String level) {
        WarrenConfig d = WarrenConfig.defaults(tmp);
        return new WarrenConfig(d.listenHost(), d.listenPort(), d.managementIp(), d.managementPort(),
                d.defaultUser(), d.defaultPass(), d.defaultVhost(), d.loopbackUsers(), d.heartbeatSeconds(),
                d.frameMax(), d.channelMax(), d.maxMessageSize(), d.connectionMax(), d.sendTimeoutMs(), d.memoryHighWatermark(), d.memoryPagingRatio(), d.diskFreeLimit(), d.dataDir(),
                logFile, level);
    }
}
