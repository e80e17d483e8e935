package io.warren.amqp.testing;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.UnpooledByteBufAllocator;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.util.List;
import java.util.function.Predicate;

/**
 * Fails a test class when Netty reported a buffer leak while it ran (DESIGN.md §4: "tests
 * run with paranoid leak detection and fail on a LEAK report").
 *
 * <p>Registered for every test class through JUnit's extension auto-detection
 * ({@code META-INF/services/org.junit.jupiter.api.extension.Extension}, switched on with
 * {@code -Djunit.jupiter.extensions.autodetection.enabled=true} in the {@code leak.gate} pom
 * property). Auto-detected extensions are registered before a class's own, so this afterAll
 * runs after e.g. the broker extension has stopped the broker and its buffers are garbage.
 *
 * <p>A leaked buffer is only noticed once it has been garbage collected and Netty tracks
 * another resource, so afterAll forces several GCs and then allocates, tracks and releases.
 * Without {@code -Dio.netty.customResourceLeakDetector} (e.g. a test started from an IDE) the
 * gate is inactive; with it but the detector not loaded, the gate fails rather than pass blind.
 */
public final class LeakGate implements AfterAllCallback {
    private static final String DETECTOR_PROPERTY = "io.netty.customResourceLeakDetector";

    @Override public void afterAll(ExtensionContext context) {
        if (System.getProperty(DETECTOR_PROPERTY) == null) {
            return;
        }
        List<String> leaks = collect(r -> true);
        if (!leaks.isEmpty()) {
            throw new AssertionError(leaks.size() + " Netty LEAK report(s) while " + context.getDisplayName()
                    + " (or a class before it) ran:\n\n" + String.join("\n\n", leaks));
        }
    }

    /**
     * Forces collection of unreachable buffers, makes Netty report them, and removes and
     * returns the reports matching {@code filter}.
     */
    public static List<String> collect(Predicate<String> filter) {
        for (int i = 0; i < 4; i++) {
            System.gc();
            try {
                // The reference handler thread enqueues collected references asynchronously.
                Thread.sleep(25);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            allocateAndRelease(ByteBufAllocator.DEFAULT);
            allocateAndRelease(PooledByteBufAllocator.DEFAULT);
            allocateAndRelease(UnpooledByteBufAllocator.DEFAULT);
            LeakRecordingDetector.pollAll();
        }
        if (!LeakRecordingDetector.installed()) {
            throw new AssertionError("leak gate misconfigured: -D" + DETECTOR_PROPERTY + "="
                    + System.getProperty(DETECTOR_PROPERTY) + " is set but Netty did not load it"
                    + " (look for 'Could not load custom resource leak detector' in the log)");
        }
        return LeakRecordingDetector.drain(filter);
    }

    private static void allocateAndRelease(ByteBufAllocator alloc) {
        for (int i = 0; i < 16; i++) {
            ByteBuf b = alloc.buffer(64);
            b.writeLong(i);
            b.release();
        }
    }
}
