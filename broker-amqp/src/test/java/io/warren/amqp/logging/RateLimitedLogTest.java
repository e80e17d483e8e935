package io.warren.amqp.logging;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

/** {@link RateLimitedLog} into a logback {@link ListAppender}: a burst becomes its budget plus one summary line. */
class RateLimitedLogTest {
    private final Logger logger = (Logger) LoggerFactory.getLogger("test.RateLimitedLog");
    private final ListAppender<ILoggingEvent> lines = new ListAppender<>();
    private final AtomicLong now = new AtomicLong();
    private final List<Runnable> scheduled = new ArrayList<>();
    private final RateLimitedLog log = new RateLimitedLog(new LogLimiter(10, 1_000_000_000L, now::get),
            (task, delay) -> scheduled.add(task));

    @BeforeEach
    void capture() {
        lines.start();
        logger.addAppender(lines);
        logger.setLevel(Level.INFO);
    }

    @AfterEach
    void release() {
        logger.detachAppender(lines);
    }

    @Test
    void aBurstIsItsBudgetThenOneSummary() {
        AtomicInteger formatted = new AtomicInteger();
        Object arg = new Object() {
            @Override public String toString() {
                formatted.incrementAndGet();
                return "peer";
            }
        };
        for (int i = 0; i < 1_000; i++) {
            log.warn(logger, "connection error 501", "closing connection from {}: {}", arg, i);
        }
        assertEquals(10, lines.list.size());
        lines.list.forEach(ILoggingEvent::getFormattedMessage);
        assertEquals(10, formatted.get(), "suppressed lines must not be formatted");
        assertEquals(1, scheduled.size(), "one summary scheduled for the window");
        now.addAndGet(1_001_000_000L);
        scheduled.get(0).run();
        ILoggingEvent summary = lines.list.get(10);
        assertEquals(Level.WARN, summary.getLevel());
        assertEquals("suppressed 990 similar messages (connection error 501)", summary.getFormattedMessage());
        scheduled.get(0).run();
        assertEquals(11, lines.list.size(), "reported once");
    }

    /** When the next line of the kind comes first, it reports the count, and the summary task stays silent. */
    @Test
    void theNextLineReportsFirst() {
        for (int i = 0; i < 15; i++) {
            log.warn(logger, "k", "line {}", i);
        }
        now.addAndGet(2_000_000_000L);
        log.warn(logger, "k", "line after");
        scheduled.forEach(Runnable::run);
        List<String> text = lines.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
        assertEquals(12, text.size(), String.join("\n", text));
        assertEquals("suppressed 5 similar messages (k)", text.get(10));
        assertEquals("line after", text.get(11));
    }

    /** Internal errors keep their stack trace, within the same budget per kind. */
    @Test
    void errorsCarryTheirTraceAndAreLimitedToo() {
        for (int i = 0; i < 50; i++) {
            log.error(logger, "internal error java.lang.IllegalStateException", "internal error", new IllegalStateException("x"));
        }
        assertEquals(10, lines.list.size());
        assertNotNull(lines.list.get(0).getThrowableProxy());
        now.addAndGet(1_001_000_000L);
        scheduled.forEach(Runnable::run);
        assertNull(lines.list.get(10).getThrowableProxy());
        assertEquals("suppressed 40 similar messages (internal error java.lang.IllegalStateException)",
                lines.list.get(10).getFormattedMessage());
    }
}
