package io.warren.cluster;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MemberTest {
    @Test void parsesHostAndPort() {
        Member m = new Member("n1", "127.0.0.1:7001");
        assertEquals("127.0.0.1", m.host());
        assertEquals(7001, m.port());
    }

    @Test void refusesBadIdsAndAddresses() {
        assertThrows(IllegalArgumentException.class, () -> new Member("", "h:1"));
        assertThrows(IllegalArgumentException.class, () -> new Member("a/b", "h:1"));
        assertThrows(IllegalArgumentException.class, () -> new Member("n", "h"));
        assertThrows(IllegalArgumentException.class, () -> new Member("n", "h:"));
        assertThrows(IllegalArgumentException.class, () -> new Member("n", "h:x"));
        assertThrows(IllegalArgumentException.class, () -> new Member("n", "h:70000"));
    }

    @Test void aGroupNeedsItselfAndUniqueMembers() {
        Member a = new Member("a", "127.0.0.1:7001");
        Member b = new Member("b", "127.0.0.1:7002");
        RecordingState state = new RecordingState();
        Path nowhere = Path.of("unused");
        IllegalArgumentException notIn = assertThrows(IllegalArgumentException.class,
                () -> MetadataGroup.start(a, List.of(b), TestCluster.SECRET, nowhere, RaftSettings.DEFAULT, state));
        assertTrue(notIn.getMessage().contains("not in the member list"), notIn.getMessage());
        assertThrows(IllegalArgumentException.class, () -> MetadataGroup.start(a,
                List.of(a, new Member("a", "127.0.0.1:7003")), TestCluster.SECRET, nowhere, RaftSettings.DEFAULT, state));
        assertThrows(IllegalArgumentException.class, () -> MetadataGroup.start(a,
                List.of(a, new Member("c", "127.0.0.1:7001")), TestCluster.SECRET, nowhere, RaftSettings.DEFAULT, state));
    }
}
