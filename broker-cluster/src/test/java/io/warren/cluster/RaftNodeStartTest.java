package io.warren.cluster;

import io.warren.core.store.StoreException;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

/**
 * What a node says when Ratis cannot read its log at start. The message Ratis 3.2.2 gives for
 * an entry past its limit was taken from a real start (2026-12-05: a log of build b944092, whose
 * entries went up to 4 MiB, with 2.5 MB quorum queue messages, started by this build).
 */
class RaftNodeStartTest {
    @Test void anEntryLargerThanThisBuildReadsIsTheOperatorsOneLine() {
        IOException ratis = new IOException("Failed to load segment",
                new IOException("Entry has size 2500078, but MAX_OP_SIZE = 1114112"));
        RuntimeException clear = RaftNode.tooLargeEntry(ratis, Path.of("/var/lib/warren/cluster"));
        assertInstanceOf(StoreException.class, clear);
        assertSame(ratis, clear.getCause());
        assertEquals("a Raft log in /var/lib/warren/cluster holds an entry of 2500078 bytes, more than this build"
                + " reads (1114112): a build before 2026-12-04 22:00 UTC wrote it (a quorum queue message of more"
                + " than about 1 MiB); start that build, consume or purge such messages, then this one",
                clear.getMessage());
    }

    @Test void anyOtherFailureStaysAsItIs() {
        assertNull(RaftNode.tooLargeEntry(new IOException("Resetting to invalid mark"), Path.of("/d")));
        assertNull(RaftNode.tooLargeEntry(new IllegalStateException((String) null), Path.of("/d")));
    }
}
