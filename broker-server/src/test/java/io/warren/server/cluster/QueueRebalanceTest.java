package io.warren.server.cluster;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The rebalance's choices, as RabbitMQ 3.10's rabbit_amqqueue:rebalance makes them, over a recording mover. */
class QueueRebalanceTest {
    private static final List<String> THREE = List.of("a", "b", "c");

    private static QueueRebalance.Queue q(String leader, long length, String... members) {
        return new QueueRebalance.Queue(null, leader, List.of(members), length);
    }

    /** Moves every queue asked, except to the nodes in {@code refusing}; records "from>to length". */
    private static final class Recorder implements QueueRebalance.Mover {
        final List<String> moves = new ArrayList<>();
        final Set<String> refusing;

        Recorder(String... refusing) {
            this.refusing = Set.of(refusing);
        }

        @Override public boolean move(QueueRebalance.Queue q, String target) {
            moves.add(q.leader() + ">" + target + " " + q.length());
            return !refusing.contains(target);
        }
    }

    private static Map<String, Integer> counts(List<QueueRebalance.NodeCount> l) {
        Map<String, Integer> m = new HashMap<>();
        l.forEach(c -> m.put(c.node(), c.quorumQueues()));
        return m;
    }

    @Test
    void sixQueuesLedByOneNodeEndTwoANode() {
        List<QueueRebalance.Queue> qs = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            qs.add(q("a", 10 - i, "a", "b", "c"));
        }
        Recorder r = new Recorder();
        List<QueueRebalance.NodeCount> out = QueueRebalance.run(qs, THREE, r);
        assertEquals(Map.of("a", 2, "b", 2, "c", 2), counts(out));
        // the shortest first, each to the member leading fewest (ties: member order)
        assertEquals(List.of("a>b 5", "a>c 6", "a>b 7", "a>c 8"), r.moves);
    }

    @Test
    void balancedQueuesAreNotMoved() {
        List<QueueRebalance.Queue> qs = List.of(q("a", 0, "a", "b", "c"), q("b", 0, "b", "c", "a"),
                q("c", 0, "c", "a", "b"), q("a", 0, "a", "b", "c"));
        Recorder r = new Recorder();
        // 4 queues over 3 nodes: a share of 2, which a is within
        assertEquals(Map.of("a", 2, "b", 1, "c", 1), counts(QueueRebalance.run(qs, THREE, r)));
        assertEquals(List.of(), r.moves);
    }

    @Test
    void aRefusedOrImpossibleMoveIsNotTriedAgain() {
        List<QueueRebalance.Queue> qs = List.of(q("a", 1, "a", "c"), q("a", 2, "a"), q("a", 3, "a", "b"),
                q("a", 4, "a", "b"));
        Recorder r = new Recorder("c");
        List<QueueRebalance.NodeCount> out = QueueRebalance.run(qs, THREE, r);
        // share 2: c refuses the first, the second has no other member (the mover is not asked),
        // the third and fourth go to b; a then leads the two tried ones
        assertEquals(List.of("a>c 1", "a>b 3", "a>b 4"), r.moves);
        assertEquals(Map.of("a", 2, "b", 2), counts(out));
    }

    @Test
    void queuesWithoutAnotherMemberStayAndTheRebalanceEnds() {
        List<QueueRebalance.Queue> qs = List.of(q("a", 0, "a"), q("a", 0, "a"), q("a", 0, "a"), q("a", 0, "a"));
        Recorder r = new Recorder();
        assertEquals(Map.of("a", 4), counts(QueueRebalance.run(qs, THREE, r)));
        assertEquals(List.of(), r.moves);
    }

    @Test
    void onlyRunningMembersTakeQueuesAndUnknownLeadersStay() {
        List<QueueRebalance.Queue> qs = List.of(q("a", 0, "a", "b", "c"), q("a", 0, "a", "b", "c"),
                q("a", 0, "a", "b", "c"), q(null, 0, "a", "b", "c"));
        Recorder r = new Recorder();
        // c is down: a share of 2 over a and b (the queue without a leader is not counted)
        List<QueueRebalance.NodeCount> out = QueueRebalance.run(qs, List.of("a", "b"), r);
        assertEquals(List.of("a>b 0"), r.moves);
        assertEquals(Map.of("a", 2, "b", 1), counts(out));
    }

    @Test
    void nothingToRebalanceListsNoNode() {
        assertEquals(List.of(), QueueRebalance.run(List.of(), THREE, new Recorder()));
    }
}
