package io.warren.server.cluster;

import io.warren.core.queue.MessageQueue;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * rabbitmq-queues rebalance: moves quorum queues' leaders off the nodes that lead more than their
 * share, as RabbitMQ 3.10's {@code rabbit_amqqueue:rebalance} does. A node's share is the
 * queues to rebalance over the running nodes, rounded up. While a node leads more than that, its
 * next queue not yet moved or tried (the shortest first: a new leader rebuilds the queue from its
 * copy) goes to the running member of that queue that leads the fewest of the queues
 * (ties: member order); a queue with no running other member, or whose transfer fails, stays
 * and is not tried again. The nodes are looked at in order, one move at a time, from the
 * first again after each, until no node has a queue left to move.
 */
public final class QueueRebalance {
    /** A quorum queue: its leader's node (null: none known, not moved), its members' nodes, its messages. */
    public record Queue(MessageQueue queue, String leader, List<String> members, long length) { }

    /** How many of the rebalanced queues a node leads afterwards. */
    public record NodeCount(String node, int quorumQueues) { }

    /** Moves a queue's lead to {@code target}: true when the target leads it now. Blocks. */
    @FunctionalInterface
    public interface Mover {
        boolean move(Queue q, String target);
    }

    private record Entry(Queue queue, boolean done) { }

    private QueueRebalance() { }

    /**
     * Rebalances {@code queues} (those with no known leader are left out) over the nodes of
     * {@code running}, in node-list order, through {@code mover}; returns each node that leads
     * any of them, before or after, with how many it leads afterwards, in the order the nodes
     * were first seen (running nodes first, in their order).
     */
    public static List<NodeCount> run(List<Queue> queues, List<String> running, Mover mover) {
        Map<String, Deque<Entry>> byNode = new LinkedHashMap<>();
        for (String n : running) {
            byNode.put(n, new ArrayDeque<>());
        }
        List<Queue> sorted = new ArrayList<>();
        for (Queue q : queues) {
            if (q.leader() != null) {
                sorted.add(q);
            }
        }
        sorted.sort(Comparator.comparingLong(Queue::length));
        for (Queue q : sorted) {
            byNode.computeIfAbsent(q.leader(), k -> new ArrayDeque<>()).add(new Entry(q, false));
        }
        int max = running.isEmpty() ? Integer.MAX_VALUE : (sorted.size() + running.size() - 1) / running.size();
        while (moveOne(byNode, running, max, mover)) {
            // one queue moved or tried; the nodes are looked at again from the first
        }
        List<NodeCount> out = new ArrayList<>();
        byNode.forEach((n, l) -> {
            if (!l.isEmpty() || leadsAnyBefore(n, sorted)) {
                out.add(new NodeCount(n, l.size()));
            }
        });
        return out;
    }

    private static boolean leadsAnyBefore(String node, List<Queue> queues) {
        return queues.stream().anyMatch(q -> q.leader().equals(node));
    }

    /** Moves or tries the next queue of the first node over its share; false when there is none. */
    private static boolean moveOne(Map<String, Deque<Entry>> byNode, List<String> running, int max, Mover mover) {
        for (Map.Entry<String, Deque<Entry>> e : byNode.entrySet()) {
            Deque<Entry> led = e.getValue();
            if (led.size() <= max || led.peekFirst().done()) {
                continue; // within its share, or every queue it leads was moved here or tried
            }
            Entry next = led.pollFirst();
            String from = e.getKey();
            String target = null;
            for (String m : next.queue().members()) {
                if (!m.equals(from) && running.contains(m)
                        && (target == null || byNode.get(m).size() < byNode.get(target).size())) {
                    target = m;
                }
            }
            if (target != null && mover.move(next.queue(), target)) {
                byNode.get(target).addLast(new Entry(next.queue(), true));
            } else {
                led.addLast(new Entry(next.queue(), true));
            }
            return true;
        }
        return false;
    }
}
