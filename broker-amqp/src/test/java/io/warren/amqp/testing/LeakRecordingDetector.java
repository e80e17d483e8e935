package io.warren.amqp.testing;

import io.netty.util.ResourceLeakDetector;
import io.netty.util.ResourceLeakTracker;

import java.lang.ref.Reference;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.Predicate;

/**
 * A {@link ResourceLeakDetector} that, besides logging, remembers every LEAK report so that
 * {@link LeakGate} can fail the build on it. Netty instantiates it for every resource type
 * when the test JVM runs with
 * {@code -Dio.netty.customResourceLeakDetector=io.warren.amqp.testing.LeakRecordingDetector}
 * (the {@code leak.gate} property in the poms).
 */
public final class LeakRecordingDetector<T> extends ResourceLeakDetector<T> {
    /** Hint prefix of {@link LeakGateTest}'s own leak, recorded but not logged as an error. */
    static final String DELIBERATE = "deliberate-leak-";
    private static final Queue<String> REPORTS = new ConcurrentLinkedQueue<>();
    private static final Set<LeakRecordingDetector<?>> INSTANCES = ConcurrentHashMap.newKeySet();

    public LeakRecordingDetector(Class<?> resourceType, int samplingInterval, long maxActive) {
        this(resourceType, samplingInterval);
    }

    public LeakRecordingDetector(Class<?> resourceType, int samplingInterval) {
        super(resourceType, samplingInterval);
        INSTANCES.add(this);
    }

    /** True once Netty has created at least one detector of this class. */
    static boolean installed() {
        return !INSTANCES.isEmpty();
    }

    /** Report even when the ResourceLeakDetector logger is switched off. */
    @Override protected boolean needReport() {
        return true;
    }

    @Override protected void reportTracedLeak(String resourceType, String records) {
        REPORTS.add("LEAK: " + resourceType + ".release() was not called before it's garbage-collected." + records);
        if (!records.contains(DELIBERATE)) {
            super.reportTracedLeak(resourceType, records);
        }
    }

    @Override protected void reportUntracedLeak(String resourceType) {
        REPORTS.add("LEAK: " + resourceType + ".release() was not called before it's garbage-collected"
                + " (no access records: run with -Dio.netty.leakDetection.level=paranoid to see where)");
        super.reportUntracedLeak(resourceType);
    }

    /**
     * Makes every detector drain its reference queue now. Netty only looks for collected,
     * unreleased resources when it tracks a new one, so track (and close) a probe object.
     */
    @SuppressWarnings({"unchecked", "rawtypes"})
    static void pollAll() {
        for (LeakRecordingDetector d : INSTANCES) {
            Object probe = new Object();
            ResourceLeakTracker tracker = d.trackForcibly(probe);
            if (tracker != null) {
                tracker.close(probe);
            }
            Reference.reachabilityFence(probe);
        }
    }

    /** Removes and returns the reports matching {@code filter}. */
    static List<String> drain(Predicate<String> filter) {
        List<String> out = new ArrayList<>();
        for (String r : REPORTS) {
            if (filter.test(r) && REPORTS.remove(r)) {
                out.add(r);
            }
        }
        return out;
    }
}
