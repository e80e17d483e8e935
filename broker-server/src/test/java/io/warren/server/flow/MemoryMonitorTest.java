package io.warren.server.flow;

import io.warren.core.flow.ResourceAlarms;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MemoryMonitorTest {
    /**
     * What a young collection leaves can be mostly old-generation garbage: before the alarm is set
     * the monitor collects and counts what is live then. At most once per COLLECT_EVERY_MS, so a
     * second reading over the watermark soon after sets the alarm as it reads.
     */
    @Test
    void aReadingOverTheWatermarkIsCheckedByACollectionBeforeTheAlarmIsSet() {
        ResourceAlarms alarms = new ResourceAlarms();
        long inUse = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
        long limit = inUse + (512L << 20);
        MemoryMonitor monitor = new MemoryMonitor(alarms, new Watermark.Absolute(limit));
        monitor.close(); // no collection notices from here on: only the monitor's own reading moves liveHeap
        monitor.lastCollectionLeft(limit + (1L << 30)); // garbage counted as live

        long before = MemoryMonitor.collections();
        monitor.check();
        assertTrue(MemoryMonitor.collections() > before, "the monitor collected before deciding");
        assertFalse(alarms.active(ResourceAlarms.Resource.MEMORY), "what is live is far below the watermark");
        assertTrue(monitor.used() < limit, "used after the collection: " + monitor.used());

        monitor.lastCollectionLeft(limit + (1L << 30));
        monitor.check();
        assertTrue(alarms.active(ResourceAlarms.Resource.MEMORY),
                "within " + MemoryMonitor.COLLECT_EVERY_MS + " ms of the last collection the reading stands");
    }
}
