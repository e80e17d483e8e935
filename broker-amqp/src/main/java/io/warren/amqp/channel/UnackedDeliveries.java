package io.warren.amqp.channel;

import io.warren.amqp.protocol.ReplyCode;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * A channel's delivery tags and the deliveries awaiting ack, in tag order (a multiple ack
 * walks from the head). Owner: the channel's loop.
 *
 * <p>Array-backed, no box and no map entry per delivery: tags are handed out in increasing
 * order, so the tracked deliveries sit in a ring sorted by tag ({@code tags} beside
 * {@code items}). A single ack finds its slot by binary search and leaves a hole ({@code null});
 * holes at the head are dropped at once, and the ring is compacted when holes outnumber the live
 * deliveries (a consumer that holds its oldest delivery while acking everything after it), so
 * memory follows the deliveries outstanding, not the tags handed out.
 */
final class UnackedDeliveries {
    private long[] tags = new long[16];
    private Unacked[] items = new Unacked[16];
    /** Slot of the oldest position in use; positions [0, used) from head, holes included. */
    private int head;
    private int used;
    private int live;
    private long nextTag = 1;

    /** The next delivery tag (also used by no-ack deliveries, which are not tracked). */
    long nextTag() {
        return nextTag++;
    }

    /** The tag the next delivery will get, without taking it (RabbitMQ's direct reply-to deliveries). */
    long peekTag() {
        return nextTag;
    }

    /** Takes back {@code tag}, the last one handed out, when its delivery could not be written. */
    void unused(long tag) {
        if (tag == nextTag - 1) {
            nextTag--;
        }
    }

    /** Tracks a delivery; its tag is higher than every tracked one (tags increase). */
    void add(Unacked u) {
        if (used == items.length) {
            reshape(live * 2 >= items.length ? items.length * 2 : items.length);
        }
        int slot = (head + used) & (items.length - 1);
        tags[slot] = u.tag();
        items[slot] = u;
        used++;
        live++;
    }

    /**
     * Removes what an ack/nack/reject names: one tag, every tag up to {@code tag}
     * ({@code multiple}), or everything (multiple with tag 0). A tag that is not outstanding is
     * a 406 and settles nothing, as in RabbitMQ (also for multiple).
     */
    List<Unacked> take(long tag, boolean multiple) {
        if (multiple && tag == 0) {
            return takeAll();
        }
        int pos = find(tag);
        if (pos < 0) {
            throw new ChannelException(ReplyCode.PRECONDITION_FAILED, "PRECONDITION_FAILED - unknown delivery tag "
                    + tag);
        }
        if (!multiple) {
            int slot = slot(pos);
            Unacked u = items[slot];
            items[slot] = null;
            live--;
            afterRemove();
            return List.of(u);
        }
        List<Unacked> out = new ArrayList<>(Math.min(live, pos + 1));
        for (int i = 0; i <= pos; i++) {
            int slot = slot(i);
            if (items[slot] != null) {
                out.add(items[slot]);
                items[slot] = null;
                live--;
            }
        }
        afterRemove();
        return out;
    }

    /** Position (from head) of the live delivery with {@code tag}, or -1. */
    private int find(long tag) {
        int lo = 0;
        int hi = used - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            long t = tags[slot(mid)];
            if (t < tag) {
                lo = mid + 1;
            } else if (t > tag) {
                hi = mid - 1;
            } else {
                return items[slot(mid)] != null ? mid : -1;
            }
        }
        return -1;
    }

    private int slot(int pos) {
        return (head + pos) & (items.length - 1);
    }

    /** Drops holes at the head; compacts when holes outnumber the live deliveries. */
    private void afterRemove() {
        while (used > 0 && items[head] == null) {
            head = (head + 1) & (items.length - 1);
            used--;
        }
        if (used == 0) {
            head = 0;
            if (items.length > 1024) {
                tags = new long[16]; // a burst's arrays are not kept for ever
                items = new Unacked[16];
            }
        } else if (used - live > live + 16) {
            reshape(Math.max(16, Integer.highestOneBit(Math.max(1, live) * 2 - 1) << 1));
        }
    }

    /** Copies the live deliveries, in order, into arrays of {@code capacity} (a power of two). */
    private void reshape(int capacity) {
        long[] t = new long[capacity];
        Unacked[] it = new Unacked[capacity];
        int n = 0;
        for (int i = 0; i < used; i++) {
            int slot = slot(i);
            if (items[slot] != null) {
                t[n] = tags[slot];
                it[n++] = items[slot];
            }
        }
        tags = t;
        items = it;
        head = 0;
        used = n;
    }

    /** Deliveries awaiting ack per queue (management API). */
    Map<io.warren.core.queue.MessageQueue, Integer> countByQueue() {
        Map<io.warren.core.queue.MessageQueue, Integer> n = new java.util.IdentityHashMap<>();
        for (int i = 0; i < used; i++) {
            Unacked u = items[slot(i)];
            if (u != null) {
                n.merge(u.queue(), 1, Integer::sum);
            }
        }
        return n;
    }

    int size() {
        return live;
    }

    /** The earliest delivery still awaiting ack, or null (holes never sit at the head). */
    Unacked oldest() {
        return used == 0 ? null : items[head];
    }

    List<Unacked> takeAll() {
        List<Unacked> all = new ArrayList<>(live);
        for (int i = 0; i < used; i++) {
            int slot = slot(i);
            if (items[slot] != null) {
                all.add(items[slot]);
                items[slot] = null;
            }
        }
        used = 0;
        live = 0;
        afterRemove();
        return all;
    }

    /** Puts deliveries back (a rolled-back transaction's acks), keeping tag order. */
    void restore(List<Unacked> deliveries) {
        if (deliveries.isEmpty()) {
            return;
        }
        List<Unacked> all = takeAll();
        all.addAll(deliveries);
        all.sort(Comparator.comparingLong(Unacked::tag));
        all.forEach(this::add);
    }
}
