package io.warren.server.launch;

import io.warren.core.store.StoreException;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.BindException;

import static org.junit.jupiter.api.Assertions.assertEquals;

class StartupFailureTest {
    @Test
    void portInUseIsNamed() {
        String expected = "cannot listen on 0.0.0.0:5672: address already in use (is another broker running?)";
        assertEquals(expected, StartupFailure.describe(new BindException("Address already in use"), "0.0.0.0:5672"));
        // Netty's epoll transport: a NativeIoException (an IOException) wrapped by the caller
        Exception wrapped = new RuntimeException(new IOException("bind(..) failed: Address already in use"));
        assertEquals(expected, StartupFailure.describe(wrapped, "0.0.0.0:5672"));
    }

    @Test
    void aStoreFailureIsTheStoresMessageNotItsCause() {
        Exception e = new StoreException("definition store /d/definitions.dat is damaged: checksum mismatch"
                + " (stored CRC32C 1a2b3c4d, content has 5e6f7a8b)\nsecond line",
                new java.nio.BufferUnderflowException());
        assertEquals("failed to start: definition store /d/definitions.dat is damaged: checksum mismatch"
                + " (stored CRC32C 1a2b3c4d, content has 5e6f7a8b)",
                StartupFailure.describe(new RuntimeException(e), "x"));
    }

    @Test
    void otherwiseTheRootCauseInOneLine() {
        Exception e = new IllegalStateException("outer", new IOException("disk full\nmore detail"));
        assertEquals("failed to start: IOException: disk full", StartupFailure.describe(e, "x"));
        assertEquals("failed to start: UnsupportedOperationException",
                StartupFailure.describe(new UnsupportedOperationException(), "x"));
    }
}
