package io.warren.server.flow;

import io.warren.core.flow.ResourceAlarms;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Sets the disk alarm when the free space on the data dir's file system falls below
 * {@code disk_free_limit} (absolute bytes, or relative: a multiple of the machine's RAM, as in
 * RabbitMQ). Runs on the monitor thread, never on an event loop (statfs is a system call).
 */
public final class DiskMonitor {
    private static final Logger log = LoggerFactory.getLogger(DiskMonitor.class);

    private final ResourceAlarms alarms;
    private final Path dataDir;
    private volatile Watermark limit;
    /** Free bytes at the last check; -1 before the first one or when unreadable. */
    private volatile long lastFree = -1;
    private boolean warnedUnreadable;

    public DiskMonitor(ResourceAlarms alarms, Path dataDir, Watermark limit) {
        this.alarms = alarms;
        this.dataDir = dataDir;
        this.limit = limit;
    }

    /**
     * Total physical memory: what a relative disk limit is a multiple of. Read once: the MXBean
     * reads /proc/meminfo and the cgroup files on every call, which was ~3% of the broker's
     * sampled CPU at four disk checks a second (bench/profile.sh).
     */
    public static long totalRam() {
        return TOTAL_RAM;
    }

    private static final long TOTAL_RAM = readTotalRam();

    private static long readTotalRam() {
        var os = ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean sun) {
            return sun.getTotalMemorySize();
        }
        return Runtime.getRuntime().maxMemory();
    }

    /** Free disk space in bytes as of the last check (every 250 ms), or -1 if unknown. */
    public long free() {
        return lastFree;
    }

    public long limit() {
        return limit.bytes(totalRam());
    }

    public Watermark watermark() {
        return limit;
    }

    /** Changes the limit at run time (warrenctl set_disk_free_limit); checks at once. */
    public void setLimit(Watermark w) {
        limit = w;
        check();
    }

    public synchronized void check() {
        long free;
        try {
            FileStore store = Files.getFileStore(dataDir);
            free = store.getUsableSpace();
            lastFree = free;
        } catch (IOException e) {
            if (!warnedUnreadable) {
                warnedUnreadable = true;
                log.warn("cannot read the free space of {}: {}", dataDir, e.toString());
            }
            return;
        }
        long min = limit();
        boolean low = free < min;
        if (low != alarms.active(ResourceAlarms.Resource.DISK)) {
            alarms.set(ResourceAlarms.Resource.DISK, low, "free disk space " + MemoryMonitor.mb(free) + " on "
                    + dataDir + (low ? " < " : " >= ") + "disk_free_limit " + MemoryMonitor.mb(min));
        }
    }
}
