package io.warren.server.flow;

import io.warren.core.flow.ResourceAlarms;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Runs the memory and disk checks on one daemon thread of their own, so no event loop ever
 * waits for them.
 */
public final class ResourceMonitor implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ResourceMonitor.class);
    /**
     * Memory is checked every 100 ms: a publisher at 100 MB/s passes the watermark by at most
     * ~10 MB before it is blocked. The check reads two counters, so this costs nothing.
     */
    static final long MEMORY_INTERVAL_MS = 100;
    /**
     * Free disk space is one statfs call (microseconds), so it is read 4 times a second: a
     * persistent publisher writing 40 MB/s overshoots the limit by at most ~10 MB (RabbitMQ
     * checks every 10 s at most).
     */
    static final long DISK_INTERVAL_MS = 250;

    private final ResourceAlarms alarms = new ResourceAlarms();
    private final MemoryMonitor memory;
    private final DiskMonitor disk;
    private final ScheduledExecutorService timer;

    public ResourceMonitor(Watermark memoryWatermark, Path dataDir, Watermark diskFreeLimit) {
        this(memoryWatermark, dataDir, diskFreeLimit, io.warren.core.queue.Paging.OFF, 0.5);
    }

    /**
     * @param paging told of memory pressure (queues then keep less in memory)
     * @param pagingRatio the share of the high watermark at which pressure starts
     */
    public ResourceMonitor(Watermark memoryWatermark, Path dataDir, Watermark diskFreeLimit,
                           io.warren.core.queue.Paging paging, double pagingRatio) {
        memory = new MemoryMonitor(alarms, memoryWatermark, paging, pagingRatio);
        disk = new DiskMonitor(alarms, dataDir, diskFreeLimit);
        timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "warren-resource-monitor");
            t.setDaemon(true);
            return t;
        });
    }

    /** Checks both at once (so a broker starting in alarm blocks from its first publish), then periodically. */
    public void start() {
        memory.check();
        disk.check();
        log.info("memory high watermark {} (vm_memory_high_watermark {}), disk free limit {} (disk_free_limit {})",
                MemoryMonitor.mb(memory.limit()), memory.watermark(), MemoryMonitor.mb(disk.limit()), disk.watermark());
        timer.scheduleWithFixedDelay(guard(memory::check), MEMORY_INTERVAL_MS, MEMORY_INTERVAL_MS, TimeUnit.MILLISECONDS);
        timer.scheduleWithFixedDelay(guard(disk::check), DISK_INTERVAL_MS, DISK_INTERVAL_MS, TimeUnit.MILLISECONDS);
    }

    private static Runnable guard(Runnable check) {
        return () -> {
            try {
                check.run();
            } catch (RuntimeException e) {
                // A failed check must not cancel the periodic task (a ScheduledExecutor drops it).
                log.error("resource check failed", e);
            }
        };
    }

    public ResourceAlarms alarms() {
        return alarms;
    }

    public MemoryMonitor memory() {
        return memory;
    }

    public DiskMonitor disk() {
        return disk;
    }

    @Override public void close() {
        timer.shutdownNow();
        memory.close();
    }
}
