package io.warren.server.cluster;

import io.warren.core.flow.ResourceAlarms;
import io.warren.core.flow.ResourceAlarms.Resource;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two nodes' alarm exchange without a cluster: what one asks, the other answers, and each sets
 * the other's alarms on its own ResourceAlarms (which blocks its publishers).
 */
class ClusterAlarmsTest {
    private final ResourceAlarms a = new ResourceAlarms();
    private final ResourceAlarms b = new ResourceAlarms();
    private final ClusterAlarms nodeA = new ClusterAlarms("a@h");
    private final ClusterAlarms nodeB = new ClusterAlarms("b@h");
    private final List<String> toldByA = new ArrayList<>();

    ClusterAlarmsTest() {
        nodeA.attach(a, () -> toldByA.add(nodeA.question()));
        nodeB.attach(b, () -> { });
    }

    /** Node a asks node b what the question says (as its probe round or a change does). */
    private void exchange() {
        nodeA.answered("b@h", nodeB.answer(nodeA.question().substring(ClusterAlarms.QUESTION.length())));
    }

    @Test
    void anAlarmOfOneNodeBlocksTheOtherUntilItClears() {
        List<String> reasons = new ArrayList<>();
        b.addListener(reasons::add);
        a.setByOperator(Resource.MEMORY, true);
        assertEquals(1, toldByA.size(), "a local change tells the other nodes");
        assertFalse(b.blocked());
        exchange();
        assertTrue(b.blocked());
        assertEquals("low on memory", b.reason());
        assertEquals(Map.of("a@h", Set.of(Resource.MEMORY)), b.remote());
        assertEquals(Set.of(), b.active(), "b's own alarms: none");

        b.set(Resource.DISK, true, "test");
        exchange();
        assertEquals(Map.of("b@h", Set.of(Resource.DISK)), a.remote(), "the answer carries b's own alarms");
        assertEquals("low on memory & low on disk", a.reason());

        a.setByOperator(Resource.MEMORY, false);
        exchange();
        assertEquals(Map.of(), b.remote());
        assertEquals("low on disk", b.reason(), "b's own alarm still holds");
        b.set(Resource.DISK, false, "test");
        exchange();
        assertNull(a.reason());
        assertNull(b.reason());
        assertEquals(List.of("low on memory", "low on memory & low on disk", "low on disk"), reasons.subList(0, 3));
    }

    @Test
    void aLateAnswerDoesNotUndoANewerOne() {
        String old = nodeA.question();
        a.setByOperator(Resource.DISK, true);
        String newer = nodeA.question();
        nodeB.answer(newer.substring(ClusterAlarms.QUESTION.length()));
        assertTrue(b.blocked());
        nodeB.answer(old.substring(ClusterAlarms.QUESTION.length()));
        assertTrue(b.blocked(), "the older state (no alarm) came late and is dropped");
        assertEquals(Map.of("a@h", Set.of(Resource.DISK)), b.remote());
    }

    @Test
    void aNodeDownNoLongerHoldsPublishersAndBackUpHoldsThemAgain() {
        a.setByOperator(Resource.MEMORY, true);
        exchange();
        nodeB.down("a@h");
        assertFalse(b.blocked());
        // the same state again (same version) once it answers: it still holds
        exchange();
        assertTrue(b.blocked());
    }

    @Test
    void answersOfAnotherKindAndOwnNameAreIgnored() {
        nodeA.answered("b@h", ":5672\nstarted".getBytes(StandardCharsets.UTF_8));
        assertEquals(Map.of(), a.remote());
        nodeB.answer("b@h 99999999999999999 memory");
        assertEquals(Map.of(), b.remote(), "a node never takes alarms under its own name");
        assertEquals(Set.of(Resource.MEMORY, Resource.DISK), ClusterAlarms.parse("disk,memory,other"));
        assertEquals("disk,memory", ClusterAlarms.ids(Set.of(Resource.MEMORY, Resource.DISK)));
    }
}
