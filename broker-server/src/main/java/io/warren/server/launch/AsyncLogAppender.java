package io.warren.server.launch;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.LoggingEvent;
import ch.qos.logback.core.Appender;
import ch.qos.logback.core.UnsynchronizedAppenderBase;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Hands events to one writer thread through a bounded queue, so a Netty event loop that logs
 * never waits for the disk or a slow console (a terminal, a full pipe). When the queue is full
 * the event is dropped, never waited for, and counted; the writer then logs one warning with
 * the count. logback's own AsyncAppender with neverBlock drops silently (its offer result is
 * not kept) and by default also throws away INFO and below once the queue is 80% full, which
 * would lose connection lines well before overload.
 *
 * <p>A stop drains what is queued (up to a second) before the outputs close, so the last lines
 * of a shutdown reach the file.
 */
final class AsyncLogAppender extends UnsynchronizedAppenderBase<ILoggingEvent> {
    static final int DEFAULT_QUEUE = 8192;

    private final List<Appender<ILoggingEvent>> outputs = new ArrayList<>();
    private final BlockingQueue<ILoggingEvent> queue;
    private final AtomicLong dropped = new AtomicLong();
    private final AtomicLong droppedTotal = new AtomicLong();
    private Thread writer;
    private volatile boolean closing;

    AsyncLogAppender(int capacity) {
        queue = new ArrayBlockingQueue<>(capacity);
    }

    void addOutput(Appender<ILoggingEvent> a) {
        outputs.add(a);
    }

    /** Events dropped because the queue was full, since the start. */
    long dropped() {
        return droppedTotal.get();
    }

    @Override
    public void start() {
        writer = new Thread(this::run, "warren-log-writer");
        writer.setDaemon(true);
        writer.start();
        super.start();
    }

    @Override
    protected void append(ILoggingEvent event) {
        event.prepareForDeferredProcessing(); // message, thread name and MDC as of now
        if (!queue.offer(event)) {
            dropped.incrementAndGet();
            droppedTotal.incrementAndGet();
        }
    }

    private void run() {
        List<ILoggingEvent> batch = new ArrayList<>(256);
        while (true) {
            try {
                ILoggingEvent first = queue.poll(100, TimeUnit.MILLISECONDS);
                if (first == null) {
                    if (closing) {
                        return;
                    }
                    continue;
                }
                batch.add(first);
                queue.drainTo(batch, 255);
                for (ILoggingEvent e : batch) {
                    write(e);
                }
                batch.clear();
                long lost = dropped.getAndSet(0);
                if (lost > 0) {
                    write(droppedEvent(lost));
                }
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                addError("log writer failed", e); // logback's status list; keep writing
                batch.clear();
            }
        }
    }

    private void write(ILoggingEvent e) {
        for (Appender<ILoggingEvent> a : outputs) {
            a.doAppend(e); // each output applies its own level filter
        }
    }

    private ILoggingEvent droppedEvent(long lost) {
        Logger logger = (Logger) org.slf4j.LoggerFactory.getLogger(AsyncLogAppender.class);
        LoggingEvent e = new LoggingEvent(Logger.FQCN, logger, Level.WARN,
                "dropped {} log lines: logging was faster than the log outputs could write", null,
                new Object[] {lost});
        e.setThreadName(Thread.currentThread().getName());
        return e;
    }

    @Override
    public void stop() {
        if (!isStarted()) {
            return;
        }
        super.stop();
        closing = true;
        try {
            writer.join(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (Appender<ILoggingEvent> a : outputs) {
            a.stop();
        }
    }
}
