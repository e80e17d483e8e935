package io.warren.server.flow;

import com.sun.management.GarbageCollectionNotificationInfo;
import io.netty.util.internal.PlatformDependent;
import io.warren.core.flow.ResourceAlarms;

import javax.management.Notification;
import javax.management.NotificationEmitter;
import javax.management.NotificationListener;
import javax.management.openmbean.CompositeData;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.lang.management.MemoryUsage;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Sets the memory alarm when the memory warren uses passes {@code vm_memory_high_watermark}.
 *
 * <p>Used memory is the live heap (what the last garbage collection left, so garbage waiting
 * for the next collection does not trip the alarm) plus the direct memory in use (message
 * bodies live there). A relative watermark is a fraction of what the JVM may use: the heap
 * limit ({@code -Xmx}) plus the direct memory limit ({@code -XX:MaxDirectMemorySize}, by
 * default the heap limit). Where RabbitMQ measures its whole process against the machine's RAM,
 * a JVM cannot go past its own limits, so those are the base.
 */
public final class MemoryMonitor implements AutoCloseable {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(MemoryMonitor.class);
    private final ResourceAlarms alarms;
    private final BufferPoolMXBean directPool;
    private final Set<String> heapPools = new HashSet<>();
    private final List<Runnable> unsubscribe = new ArrayList<>();
    private volatile long liveHeap;
    private volatile Watermark watermark;

    /** Replaced when the application restarts (start_app opens a new page-out store). */
    private volatile io.warren.core.queue.Paging paging;
    private final double pagingRatio;

    public MemoryMonitor(ResourceAlarms alarms, Watermark watermark) {
        this(alarms, watermark, io.warren.core.queue.Paging.OFF, 0.5);
    }

    /**
     * @param paging told when memory in use passes {@code pagingRatio} of the watermark
     *        (RabbitMQ's vm_memory_high_watermark_paging_ratio): queues then page out sooner
     */
    public MemoryMonitor(ResourceAlarms alarms, Watermark watermark, io.warren.core.queue.Paging paging,
                         double pagingRatio) {
        this.alarms = alarms;
        this.watermark = watermark;
        this.paging = paging;
        this.pagingRatio = pagingRatio;
        BufferPoolMXBean direct = null;
        for (BufferPoolMXBean p : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
            if (p.getName().equals("direct")) {
                direct = p;
            }
        }
        directPool = direct;
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
            if (p.getType() == MemoryType.HEAP) {
                heapPools.add(p.getName());
            }
        }
        liveHeap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
        NotificationListener afterGc = this::afterGc;
        for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
            if (gc instanceof NotificationEmitter emitter) {
                emitter.addNotificationListener(afterGc, null, null);
                unsubscribe.add(() -> {
                    try {
                        emitter.removeNotificationListener(afterGc);
                    } catch (javax.management.ListenerNotFoundException ignored) {
                        // already gone
                    }
                });
            }
        }
    }

    private void afterGc(Notification n, Object handback) {
        if (!GarbageCollectionNotificationInfo.GARBAGE_COLLECTION_NOTIFICATION.equals(n.getType())) {
            return;
        }
        GarbageCollectionNotificationInfo info = GarbageCollectionNotificationInfo.from((CompositeData) n.getUserData());
        long live = 0;
        for (var e : info.getGcInfo().getMemoryUsageAfterGc().entrySet()) {
            if (heapPools.contains(e.getKey())) {
                MemoryUsage u = e.getValue();
                live += u.getUsed();
            }
        }
        liveHeap = live;
    }

    /** For tests: as if the last collection had left {@code bytes} of heap in use. */
    void lastCollectionLeft(long bytes) {
        liveHeap = bytes;
    }

    /** The queues' paging to tell of memory pressure from now on (start_app: a new one). */
    public void paging(io.warren.core.queue.Paging p) {
        paging = p;
    }

    /** Heap limit plus direct memory limit: what a relative watermark is a fraction of. */
    public static long memoryLimitBase() {
        return Runtime.getRuntime().maxMemory() + PlatformDependent.maxDirectMemory();
    }

    /** Live heap after the last collection plus direct memory in use, in bytes. */
    public long used() {
        long direct = directPool == null ? 0 : directPool.getMemoryUsed();
        if (PlatformDependent.useDirectBufferNoCleaner()) {
            // Netty then allocates outside the JDK's accounting and counts that memory itself.
            // Otherwise its counter mirrors the JDK's (every buffer is a JDK direct buffer), and
            // adding it would count each byte twice.
            direct += Math.max(0, PlatformDependent.usedDirectMemory());
        }
        return liveHeap + direct;
    }

    /** The high watermark in bytes. */
    public long limit() {
        return watermark.bytes(memoryLimitBase());
    }

    public Watermark watermark() {
        return watermark;
    }

    /** Changes the watermark at run time (warrenctl set_vm_memory_high_watermark); checks at once. */
    public void setWatermark(Watermark w) {
        watermark = w;
        check();
    }

    /** Sets or clears the memory alarm for the memory in use now. */
    public synchronized void check() {
        long used = used();
        long limit = limit();
        boolean pressure = used > (long) (limit * pagingRatio);
        io.warren.core.queue.Paging p = paging;
        if (pressure != p.pressure()) {
            p.pressure(pressure);
            log.info("memory used {} {} {} of the high watermark (vm_memory_high_watermark_paging_ratio): queues {}",
                    mb(used), pressure ? ">" : "<=", pagingRatio, pressure ? "page out sooner" : "keep their usual window");
        }
        boolean over = used > limit;
        if (over && !alarms.active(ResourceAlarms.Resource.MEMORY) && collected()) {
            used = used();
            over = used > limit;
        }
        if (over != alarms.active(ResourceAlarms.Resource.MEMORY)) {
            alarms.set(ResourceAlarms.Resource.MEMORY, over,
                    "memory used " + mb(used) + " (live heap " + mb(liveHeap) + ", direct " + mb(used - liveHeap)
                            + ") " + (over ? ">" : "<=") + " high watermark " + mb(limit)
                            + " (vm_memory_high_watermark " + watermark + ")" + allocators());
        }
    }

    /** At most one collection asked for by {@link #collected} in this many milliseconds. */
    static final long COLLECT_EVERY_MS = 30_000;
    private long lastCollect = System.nanoTime() - java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(COLLECT_EVERY_MS);

    /**
     * Before the alarm is set: a full collection, so that the heap counted is what is live now.
     * What a young collection leaves includes the old generation's garbage, which G1 frees
     * only in its later mixed collections, and a cluster node's quorum-queue messages live just
     * long enough to reach the old generation: on a leader under bench/quorum.sh, "live heap"
     * read 744 MB after young collections while 40 MB was live (jmap -histo:live), and the alarm
     * blocked every publisher for over a minute. A collection of a 1 GB heap takes a fraction of
     * a second, on this monitor's thread, at most every {@value #COLLECT_EVERY_MS} ms and only
     * when the alarm is about to be set. Returns whether a collection ran (the JVM may refuse:
     * -XX:+DisableExplicitGC); {@link #liveHeap} is then the heap used right after it.
     */
    private boolean collected() {
        long now = System.nanoTime();
        if (now - lastCollect < java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(COLLECT_EVERY_MS)) {
            return false;
        }
        lastCollect = now;
        long before = collections();
        System.gc();
        if (collections() == before) {
            return false;
        }
        liveHeap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
        return true;
    }

    /** Collections run so far, every collector. */
    static long collections() {
        long n = 0;
        for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
            n += Math.max(0, gc.getCollectionCount());
        }
        return n;
    }

    private static String allocators() {
        StringBuilder b = new StringBuilder();
        for (io.netty.buffer.ByteBufAllocator a : new io.netty.buffer.ByteBufAllocator[] {
                io.netty.buffer.ByteBufAllocator.DEFAULT, io.netty.buffer.PooledByteBufAllocator.DEFAULT}) {
            if (a instanceof io.netty.buffer.ByteBufAllocatorMetricProvider p) {
                b.append(", ").append(a.getClass().getSimpleName()).append(" direct ")
                        .append(mb(p.metric().usedDirectMemory()));
            }
        }
        return b.toString();
    }

    static String mb(long bytes) {
        return String.format(java.util.Locale.ROOT, "%.1f MB", bytes / 1_000_000.0);
    }

    @Override public void close() {
        unsubscribe.forEach(Runnable::run);
    }
}
