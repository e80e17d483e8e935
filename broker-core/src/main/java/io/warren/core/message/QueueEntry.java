package io.warren.core.message;

/**
 * A message's place in one queue: its sequence number there (FIFO order, also on requeue)
 * and whether it was delivered before. Owned by the queue's loop while ready, by the
 * consuming channel while unacknowledged.
 */
public final class QueueEntry {
    private final Message message;
    /** No store slot: a transient message, or a queue that is not durable. */
    public static final long NOT_STORED = -1;

    private final long seq;
    private final long ref;
    private boolean redelivered;
    /** When the message expires in this queue (epoch ms), or {@link #NEVER}; kept across requeues. */
    private long expiresAt = NEVER;
    private boolean ownExpiry;
    /** How often the entry went back to its queue after a delivery (x-delivery-count). */
    private int deliveryCount;
    /** When it was enqueued (epoch ms), as its page-out record keeps it; {@link #UNKNOWN} otherwise. */
    private long enqueuedAt = UNKNOWN;
    /** Read back from the page-out store after a sweep already expired (dead-lettered) it: drop it. */
    private boolean swept;
    public static final long UNKNOWN = Long.MIN_VALUE;
    /** No expiry: neither the queue nor the message has a TTL. */
    public static final long NEVER = Long.MAX_VALUE;

    /** Cluster: where a delivery relayed from another node settles (null: this node's own entry). */
    private final Remote remote;

    /** @param ref the message's store slot for this queue, or {@link #NOT_STORED} */
    public QueueEntry(Message message, long seq, boolean redelivered, long ref) {
        this(message, seq, redelivered, ref, null);
    }

    /** A delivery relayed from the node that holds the queue: {@code remote} settles it there. */
    public QueueEntry(Message message, long seq, boolean redelivered, Remote remote) {
        this(message, seq, redelivered, NOT_STORED, remote);
    }

    private QueueEntry(Message message, long seq, boolean redelivered, long ref, Remote remote) {
        this.message = message;
        this.seq = seq;
        this.redelivered = redelivered;
        this.ref = ref;
        this.remote = remote;
    }

    /**
     * Cluster: how a delivery relayed from the queue's holder is settled there. Each is called at
     * most once per entry, on any thread, and never blocks.
     */
    public interface Remote {
        /** basic.ack at the holder. */
        void ack();

        /** basic.nack with requeue: back to the queue at the holder. */
        void requeue();

        /** basic.reject without requeue: dead-lettered or dropped at the holder. */
        void reject();
    }

    /** The relayed delivery's settlement at its holder, or null for this node's own entry. */
    public Remote remote() {
        return remote;
    }

    /** The store slot to release when the queue is done with the message, or {@link #NOT_STORED}. */
    public long ref() {
        return ref;
    }

    public Message message() {
        return message;
    }

    public long seq() {
        return seq;
    }

    public boolean redelivered() {
        return redelivered;
    }

    /** The entry's expiry (epoch ms), or {@link #NEVER}. */
    public long expiresAt() {
        return expiresAt;
    }

    /** Set by the queue when the entry is created (enqueue, recovery, read-back from the spill). */
    public void expiresAt(long at, boolean own) {
        expiresAt = at;
        ownExpiry = own;
    }

    /**
     * True when the expiry comes from the message's own TTL (shorter than the queue's): such
     * entries expire out of FIFO order, so the queue sweeps for them; the others expire in order.
     */
    public boolean ownExpiry() {
        return ownExpiry;
    }

    /** How often the entry was returned to its queue after a delivery (reject, nack, channel closed). */
    public int deliveryCount() {
        return deliveryCount;
    }

    /** The entry was returned after a delivery. */
    public void returned() {
        deliveryCount++;
    }

    /** Recovery: the count its store kept (see {@link io.warren.core.store.MessageStore#returned}). */
    public void deliveryCount(int count) {
        deliveryCount = count;
    }

    public void markRedelivered() {
        redelivered = true;
    }

    public long enqueuedAt() {
        return enqueuedAt;
    }

    public void enqueuedAt(long at) {
        enqueuedAt = at;
    }

    public boolean swept() {
        return swept;
    }

    public void markSwept() {
        swept = true;
    }

    /**
     * The expiry an entry enqueued at {@code enqueuedAt} gets from its own TTL {@code own} and the
     * queue's {@code ttl} (-1: none): the smaller one decides; {@link #NEVER} when neither is set.
     */
    public static long expiry(long enqueuedAt, long own, long ttl) {
        if (own >= 0 && (ttl < 0 || own < ttl)) {
            return enqueuedAt + own;
        }
        return ttl >= 0 ? enqueuedAt + ttl : NEVER;
    }

    /** Whether {@link #expiry} takes the entry's own TTL. */
    public static boolean ownDecides(long own, long ttl) {
        return own >= 0 && (ttl < 0 || own < ttl);
    }
}
