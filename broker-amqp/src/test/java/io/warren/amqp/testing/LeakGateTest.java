package io.warren.amqp.testing;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.util.ResourceLeakDetector;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Proves the leak gate sees leaks: leaks one buffer on purpose, checks that it is reported,
 * and removes only that report, so the gate stays green while it keeps failing on real leaks.
 */
class LeakGateTest {
    @Test
    void aDeliberateLeakIsReported() {
        assumeTrue(System.getProperty("io.netty.customResourceLeakDetector") != null,
                "leak gate not configured in this JVM (run through Maven)");
        assumeTrue(ResourceLeakDetector.getLevel() == ResourceLeakDetector.Level.PARANOID,
                "needs paranoid leak detection to track the one buffer");
        String hint = LeakRecordingDetector.DELIBERATE + UUID.randomUUID();
        leakOneBuffer(hint);
        List<String> reports = LeakGate.collect(r -> r.contains(hint));
        assertEquals(1, reports.size(), "the deliberately leaked buffer was not reported: " + reports);
        assertTrue(reports.get(0).contains("LeakGateTest.leakOneBuffer"), reports.get(0));
    }

    private static void leakOneBuffer(String hint) {
        ByteBuf b = ByteBufAllocator.DEFAULT.buffer(16);
        b.writeLong(42);
        b.touch(hint);
        // no release: becomes garbage when this method returns
    }
}
