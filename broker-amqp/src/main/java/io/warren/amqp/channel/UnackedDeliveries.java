package io.warren.amqp.channel;

import io.warren.amqp.protocol.ReplyCode;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A channel's delivery tags and the deliveries awaiting ack, in tag order (a multiple ack
 * walks from the head). Owner: the channel's loop.
 */
final class UnackedDeliveries {
    private final LinkedHashMap<Long, Unacked> byTag = new LinkedHashMap<>();
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

    void add(Unacked u) {
        byTag.put(u.tag(), u);
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
        List<Unacked> out = new ArrayList<>();
        if (multiple && byTag.containsKey(tag)) {
            Iterator<Map.Entry<Long, Unacked>> it = byTag.entrySet().iterator();
            while (it.hasNext()) {
                Map.Entry<Long, Unacked> e = it.next();
                if (e.getKey() > tag) {
                    break;
                }
                out.add(e.getValue());
                it.remove();
            }
            return out;
        }
        Unacked u = byTag.remove(tag);
        if (u == null) {
            throw new ChannelException(ReplyCode.PRECONDITION_FAILED, "PRECONDITION_FAILED - unknown delivery tag "
                    + tag);
        }
        out.add(u);
        return out;
    }

    /** Deliveries awaiting ack per queue (management API). */
    Map<io.warren.core.queue.MessageQueue, Integer> countByQueue() {
        Map<io.warren.core.queue.MessageQueue, Integer> n = new java.util.IdentityHashMap<>();
        for (Unacked u : byTag.values()) {
            n.merge(u.queue(), 1, Integer::sum);
        }
        return n;
    }

    int size() {
        return byTag.size();
    }

    /** The earliest delivery still awaiting ack, or null. */
    Unacked oldest() {
        return byTag.isEmpty() ? null : byTag.values().iterator().next();
    }

    List<Unacked> takeAll() {
        List<Unacked> all = new ArrayList<>(byTag.values());
        byTag.clear();
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
