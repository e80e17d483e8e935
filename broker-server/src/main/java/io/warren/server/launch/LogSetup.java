package io.warren.server.launch;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.filter.ThresholdFilter;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.Appender;
import ch.qos.logback.core.ConsoleAppender;
import ch.qos.logback.core.FileAppender;
import ch.qos.logback.core.encoder.Encoder;
import io.warren.server.WarrenConfig;
import org.slf4j.ILoggerFactory;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Points logback at {@code log.file} / {@code log.level} and RabbitMQ's per-output keys
 * ({@code log.console}, {@code log.console.level}, {@code log.file.level}, {@code log.*.formatter}). Done in code rather than with an XML
 * file because {@code log.file = false} (console only) would need conditionals, which logback
 * XML only has with Janino on the classpath. An operator who wants full control passes
 * {@code -Dlogback.configurationFile=...} in WARREN_JAVA_OPTS, and then this class keeps out.
 */
public final class LogSetup {
    static final String PATTERN = "%d{yyyy-MM-dd HH:mm:ss.SSS} %-5level [%thread] %logger{36} - %msg%n";

    private LogSetup() {
    }

    /** RabbitMQ's level names (validated by the parser) to logback's. */
    public static Level level(String rabbitLevel) {
        return switch (rabbitLevel) {
            case "debug" -> Level.DEBUG;
            case "info" -> Level.INFO;
            case "warning" -> Level.WARN;
            case "error" -> Level.ERROR;
            case "none" -> Level.OFF;
            default -> throw new IllegalArgumentException("log level " + rabbitLevel);
        };
    }

    /**
     * Logs to {@code config.logFile()} (parents created) and to stdout when the config's
     * {@code log.console} says so, each at its own level and format; {@code alsoConsole} adds
     * stdout to a file log (for {@code bin/warren run} on a terminal). Both outputs are written
     * by one writer thread behind a bounded queue ({@link AsyncLogAppender}): a thread that logs,
     * an event loop among them, never waits for the disk; past 8192 waiting lines new ones are
     * dropped and counted.
     *
     * @throws IOException when the log file cannot be created or opened for append
     */
    public static void configure(WarrenConfig config, boolean alsoConsole) throws IOException {
        if (System.getProperty("logback.configurationFile") != null) {
            return;
        }
        ILoggerFactory factory = LoggerFactory.getILoggerFactory();
        if (!(factory instanceof LoggerContext ctx)) {
            return; // another slf4j binding won; it configures itself
        }
        Path file = config.logFile();
        if (file != null) {
            // Open it ourselves first: logback only records an unopenable file in its status
            // list, and the operator should get the real reason (permission, a directory...).
            Files.createDirectories(file.toAbsolutePath().getParent());
            try (OutputStream probe = Files.newOutputStream(file, StandardOpenOption.CREATE, StandardOpenOption.APPEND)) {
                probe.flush();
            }
        }
        WarrenConfig.LogOutputs outputs = config.logOutputs();
        boolean console = outputs.console() || (file != null && alsoConsole);
        ctx.reset();
        Logger root = ctx.getLogger(Logger.ROOT_LOGGER_NAME);
        Level fileLevel = level(outputs.fileLevel());
        Level consoleLevel = level(outputs.consoleLevel());
        // The root lets through what the most talkative output wants; each output filters the rest.
        Level level = Level.OFF;
        if (file != null && fileLevel.toInt() < level.toInt()) {
            level = fileLevel;
        }
        if (console && consoleLevel.toInt() < level.toInt()) {
            level = consoleLevel;
        }
        root.setLevel(level);
        // Netty logs its own setup at DEBUG in great detail; warren's debug is what operators want.
        ctx.getLogger("io.netty").setLevel(level.isGreaterOrEqual(Level.INFO) ? level : Level.INFO);
        // Ratis (the cluster's Raft) logs every election and connection at INFO: warnings only.
        // Its client logs each retry of a request as an ERROR with a stack trace while no leader is
        // elected; warren says itself what waits for the cluster.
        ctx.getLogger("org.apache.ratis").setLevel(level.isGreaterOrEqual(Level.WARN) ? level : Level.WARN);
        ctx.getLogger("org.apache.ratis.client.impl.OrderedAsync").setLevel(Level.OFF);
        // Several lines a second for each node that is down; warren logs "node X is down" once.
        ctx.getLogger("org.apache.ratis.grpc.server.GrpcLogAppender").setLevel(Level.ERROR);
        if (file == null && !console) {
            return; // log.file = false and log.console = false: no output, as asked
        }
        AsyncLogAppender async = new AsyncLogAppender(AsyncLogAppender.DEFAULT_QUEUE);
        async.setContext(ctx);
        async.setName("async");
        if (file != null) {
            async.addOutput(fileAppender(ctx, file, fileLevel, outputs.fileFormatter()));
        }
        if (console) {
            async.addOutput(consoleAppender(ctx, consoleLevel, outputs.consoleFormatter()));
        }
        async.start();
        root.addAppender(async);
    }

    /** Flushes and closes the appenders; call last thing before the JVM exits. */
    public static void shutdown() {
        if (LoggerFactory.getILoggerFactory() instanceof LoggerContext ctx) {
            // The writer thread drains its queue when its appender stops; done here and not left
            // to ctx.stop(), which does nothing on a context that was stopped and reset before.
            ctx.getLogger(Logger.ROOT_LOGGER_NAME).detachAndStopAllAppenders();
            ctx.stop();
        }
    }

    private static Appender<ILoggingEvent> fileAppender(LoggerContext ctx, Path file, Level level, String formatter)
            throws IOException {
        FileAppender<ILoggingEvent> a = new FileAppender<>();
        a.setContext(ctx);
        a.setName("file");
        a.setFile(file.toString());
        a.setAppend(true);
        a.setEncoder(encoder(ctx, formatter));
        a.addFilter(threshold(ctx, level));
        a.start();
        if (!a.isStarted()) {
            throw new IOException("logback could not open " + file);
        }
        return a;
    }

    private static Appender<ILoggingEvent> consoleAppender(LoggerContext ctx, Level level, String formatter) {
        ConsoleAppender<ILoggingEvent> a = new ConsoleAppender<>();
        a.setContext(ctx);
        a.setName("console");
        a.setEncoder(encoder(ctx, formatter));
        a.addFilter(threshold(ctx, level));
        a.start();
        return a;
    }

    private static ThresholdFilter threshold(LoggerContext ctx, Level level) {
        ThresholdFilter f = new ThresholdFilter();
        f.setContext(ctx);
        f.setLevel(level.toString());
        f.start();
        return f;
    }

    private static Encoder<ILoggingEvent> encoder(LoggerContext ctx, String formatter) {
        if (WarrenConfig.LogOutputs.JSON.equals(formatter)) {
            JsonLogEncoder j = new JsonLogEncoder();
            j.setContext(ctx);
            j.start();
            return j;
        }
        PatternLayoutEncoder e = new PatternLayoutEncoder();
        e.setContext(ctx);
        e.setPattern(PATTERN);
        e.start();
        return e;
    }
}
