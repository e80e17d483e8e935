package io.warren.core.queue;

import io.warren.core.message.QueueEntry;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.function.Predicate;

/**
 * The in-memory ready messages of one queue, in delivery order. Two shapes: {@link Fifo}, one
 * {@link ArrayDeque} (every queue without {@code x-max-priority}: the common case stays a deque),
 * and {@link Priority}, one FIFO lane per priority level (RabbitMQ's "Priority Queue" page:
 * higher priorities first, FIFO within a priority). A lane is the entry's message priority capped
 * at the queue's maximum; the queue pages each lane on its own (see {@link MessageQueue}), so the
 * lane index is also the index of the lane's spill. Owner: the queue's loop.
 */
abstract class ReadyList implements Iterable<QueueEntry> {

    static ReadyList create(int maxPriority) {
        return maxPriority > 0 ? new Priority(maxPriority) : new Fifo();
    }

    /** Lanes (spills) the queue needs: 1 for a FIFO queue. */
    abstract int lanes();

    /** The lane of {@code e}: 0 in a FIFO queue, else its priority capped at the maximum. */
    abstract int laneOf(QueueEntry e);

    abstract void addLast(QueueEntry e);

    /** Next to deliver, or null. */
    abstract QueueEntry peekFirst();

    abstract QueueEntry pollFirst();

    /** True when {@code e} (just added) is still the last of its lane: nobody took it. */
    abstract boolean isLast(QueueEntry e);

    /** Removes {@code e}, which {@link #isLast} said is last of its lane. */
    abstract void removeLast(QueueEntry e);

    /** The highest lane holding an entry, or -1 when empty. */
    abstract int topLane();

    abstract boolean isEmpty();

    /**
     * The earliest expiry among the lanes' heads, or {@link QueueEntry#NEVER}. Entries whose
     * expiry is the queue's TTL expire in order within a lane (a requeued entry keeps its expiry
     * and its place), so watching each lane's head finds them all without a timer per message.
     */
    abstract long headExpiry();

    /**
     * Removes, lane by lane, the heads that expired before {@code now}, handing each to
     * {@code expired} (which may enqueue into this list again: the list is consistent by then).
     */
    abstract void dropExpiredHeads(long now, java.util.function.Consumer<QueueEntry> expired);

    abstract int size();

    abstract boolean remove(QueueEntry e);

    abstract boolean removeIf(Predicate<QueueEntry> filter);

    /**
     * Puts entries back at their places: each lane stays ordered by sequence number, so a
     * requeued entry goes back before the later arrivals of its priority (RabbitMQ's requeue keeps
     * the original position). {@code entries} must be sorted by sequence.
     */
    abstract void putBack(List<QueueEntry> entries);

    /** Merges sorted {@code back} into the head of {@code lane} by sequence. */
    static void putBack(ArrayDeque<QueueEntry> lane, List<QueueEntry> back) {
        List<QueueEntry> merged = new ArrayList<>(back);
        long maxSeq = merged.get(merged.size() - 1).seq();
        while (!lane.isEmpty() && lane.peekFirst().seq() < maxSeq) {
            merged.add(lane.pollFirst());
        }
        merged.sort(java.util.Comparator.comparingLong(QueueEntry::seq));
        for (int i = merged.size() - 1; i >= 0; i--) {
            lane.addFirst(merged.get(i));
        }
    }

    /** A plain FIFO: every call is the deque's. */
    static final class Fifo extends ReadyList {
        private final ArrayDeque<QueueEntry> q = new ArrayDeque<>();

        @Override int lanes() {
            return 1;
        }

        @Override int laneOf(QueueEntry e) {
            return 0;
        }

        @Override void addLast(QueueEntry e) {
            q.addLast(e);
        }

        @Override QueueEntry peekFirst() {
            return q.peekFirst();
        }

        @Override QueueEntry pollFirst() {
            return q.pollFirst();
        }

        @Override boolean isLast(QueueEntry e) {
            return q.peekLast() == e;
        }

        @Override void removeLast(QueueEntry e) {
            q.pollLast();
        }

        @Override int topLane() {
            return q.isEmpty() ? -1 : 0;
        }

        @Override boolean isEmpty() {
            return q.isEmpty();
        }

        @Override long headExpiry() {
            QueueEntry h = q.peekFirst();
            return h == null ? QueueEntry.NEVER : h.expiresAt();
        }

        @Override void dropExpiredHeads(long now, java.util.function.Consumer<QueueEntry> expired) {
            QueueEntry h;
            while ((h = q.peekFirst()) != null && h.expiresAt() < now) {
                q.pollFirst();
                expired.accept(h);
            }
        }

        @Override int size() {
            return q.size();
        }

        @Override boolean remove(QueueEntry e) {
            return q.remove(e);
        }

        @Override boolean removeIf(Predicate<QueueEntry> filter) {
            return q.removeIf(filter);
        }

        @Override void putBack(List<QueueEntry> entries) {
            putBack(q, entries);
        }

        @Override public Iterator<QueueEntry> iterator() {
            return q.iterator();
        }
    }

    /**
     * One deque per priority level, created on first use; {@code top} is the highest non-empty
     * lane, so taking the head costs O(1) except when a lane empties (then a scan down over at
     * most 256 slots).
     */
    static final class Priority extends ReadyList {
        private final ArrayDeque<QueueEntry>[] lanes;
        private int top = -1;
        private int size;

        @SuppressWarnings("unchecked")
        Priority(int maxPriority) {
            lanes = new ArrayDeque[maxPriority + 1];
        }

        @Override int lanes() {
            return lanes.length;
        }

        @Override int laneOf(QueueEntry e) {
            return Math.min(e.message().priority(), lanes.length - 1);
        }

        private ArrayDeque<QueueEntry> lane(int p) {
            ArrayDeque<QueueEntry> l = lanes[p];
            if (l == null) {
                l = new ArrayDeque<>();
                lanes[p] = l;
            }
            return l;
        }

        @Override void addLast(QueueEntry e) {
            int p = laneOf(e);
            lane(p).addLast(e);
            size++;
            if (p > top) {
                top = p;
            }
        }

        @Override QueueEntry peekFirst() {
            return top < 0 ? null : lanes[top].peekFirst();
        }

        @Override QueueEntry pollFirst() {
            if (top < 0) {
                return null;
            }
            QueueEntry e = lanes[top].pollFirst();
            size--;
            settleTop();
            return e;
        }

        private void settleTop() {
            while (top >= 0 && (lanes[top] == null || lanes[top].isEmpty())) {
                top--;
            }
        }

        @Override boolean isLast(QueueEntry e) {
            ArrayDeque<QueueEntry> l = lanes[laneOf(e)];
            return l != null && l.peekLast() == e;
        }

        @Override void removeLast(QueueEntry e) {
            lanes[laneOf(e)].pollLast();
            size--;
            settleTop();
        }

        @Override int topLane() {
            return top;
        }

        @Override boolean isEmpty() {
            return size == 0;
        }

        @Override long headExpiry() {
            long min = QueueEntry.NEVER;
            for (int p = top; p >= 0; p--) {
                QueueEntry h = lanes[p] == null ? null : lanes[p].peekFirst();
                if (h != null && h.expiresAt() < min) {
                    min = h.expiresAt();
                }
            }
            return min;
        }

        @Override void dropExpiredHeads(long now, java.util.function.Consumer<QueueEntry> expired) {
            for (int p = top; p >= 0; p--) {
                ArrayDeque<QueueEntry> l = lanes[p];
                QueueEntry h;
                while (l != null && (h = l.peekFirst()) != null && h.expiresAt() < now) {
                    l.pollFirst();
                    size--;
                    settleTop();
                    expired.accept(h);
                }
            }
        }

        @Override int size() {
            return size;
        }

        @Override boolean remove(QueueEntry e) {
            ArrayDeque<QueueEntry> l = lanes[laneOf(e)];
            if (l == null || !l.remove(e)) {
                return false;
            }
            size--;
            settleTop();
            return true;
        }

        @Override boolean removeIf(Predicate<QueueEntry> filter) {
            boolean any = false;
            for (ArrayDeque<QueueEntry> l : lanes) {
                if (l != null) {
                    int before = l.size();
                    if (l.removeIf(filter)) {
                        any = true;
                        size -= before - l.size();
                    }
                }
            }
            settleTop();
            return any;
        }

        @Override void putBack(List<QueueEntry> entries) {
            // entries are sorted by sequence; split them by lane, keeping that order
            List<QueueEntry>[] byLane = null;
            for (QueueEntry e : entries) {
                int p = laneOf(e);
                if (byLane == null) {
                    @SuppressWarnings("unchecked")
                    List<QueueEntry>[] b = new List[lanes.length];
                    byLane = b;
                }
                if (byLane[p] == null) {
                    byLane[p] = new ArrayList<>();
                }
                byLane[p].add(e);
            }
            if (byLane == null) {
                return;
            }
            for (int p = 0; p < byLane.length; p++) {
                if (byLane[p] != null) {
                    putBack(lane(p), byLane[p]);
                    size += byLane[p].size();
                    if (p > top) {
                        top = p;
                    }
                }
            }
        }

        /** Highest lane first, each in order: the delivery order. */
        @Override public Iterator<QueueEntry> iterator() {
            return new Iterator<>() {
                private int p = top;
                private Iterator<QueueEntry> it = p >= 0 ? lanes[p].iterator() : null;

                @Override public boolean hasNext() {
                    while (it != null && !it.hasNext()) {
                        p--;
                        while (p >= 0 && lanes[p] == null) {
                            p--;
                        }
                        it = p >= 0 ? lanes[p].iterator() : null;
                    }
                    return it != null;
                }

                @Override public QueueEntry next() {
                    if (!hasNext()) {
                        throw new NoSuchElementException();
                    }
                    return it.next();
                }
            };
        }

        @Override public String toString() {
            return "priority lanes " + Arrays.stream(lanes).mapToInt(l -> l == null ? 0 : l.size()).boxed().toList();
        }
    }
}
