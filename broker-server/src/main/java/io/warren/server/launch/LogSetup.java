package io.warren.server.launch;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.Appender;
import ch.qos.logback.core.ConsoleAppender;
import ch.qos.logback.core.FileAppender;
import io.warren.server.WarrenConfig;
import org.slf4j.ILoggerFactory;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Points logback at {@code log.file} / {@code log.level}. Done in code rather than with an XML
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
     * Logs to {@code config.logFile()} (parents created), or to stdout when it is null;
     * {@code alsoConsole} adds stdout to a file log (for {@code bin/warren run} on a terminal).
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
        ctx.reset();
        Logger root = ctx.getLogger(Logger.ROOT_LOGGER_NAME);
        Level level = level(config.logLevel());
        root.setLevel(level);
        // Netty logs its own setup at DEBUG in great detail; warren's debug is what operators want.
        ctx.getLogger("io.netty").setLevel(level.isGreaterOrEqual(Level.INFO) ? level : Level.INFO);
        if (file != null) {
            root.addAppender(fileAppender(ctx, file));
        }
        if (file == null || alsoConsole) {
            root.addAppender(consoleAppender(ctx));
        }
    }

    /** Flushes and closes the appenders; call last thing before the JVM exits. */
    public static void shutdown() {
        if (LoggerFactory.getILoggerFactory() instanceof LoggerContext ctx) {
            ctx.stop();
        }
    }

    private static Appender<ILoggingEvent> fileAppender(LoggerContext ctx, Path file) throws IOException {
        FileAppender<ILoggingEvent> a = new FileAppender<>();
        a.setContext(ctx);
        a.setName("file");
        a.setFile(file.toString());
        a.setAppend(true);
        a.setEncoder(encoder(ctx));
        a.start();
        if (!a.isStarted()) {
            throw new IOException("logback could not open " + file);
        }
        return a;
    }

    private static Appender<ILoggingEvent> consoleAppender(LoggerContext ctx) {
        ConsoleAppender<ILoggingEvent> a = new ConsoleAppender<>();
        a.setContext(ctx);
        a.setName("console");
        a.setEncoder(encoder(ctx));
        a.start();
        return a;
    }

    private static PatternLayoutEncoder encoder(LoggerContext ctx) {
        PatternLayoutEncoder e = new PatternLayoutEncoder();
        e.setContext(ctx);
        e.setPattern(PATTERN);
        e.start();
        return e;
    }
}
