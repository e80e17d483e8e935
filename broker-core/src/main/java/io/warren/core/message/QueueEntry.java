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

    /** @param ref the message's store slot for this queue, or {@link #NOT_STORED} */
    public QueueEntry(Message message, long seq, boolean redelivered, long ref) {
        this.message = message;
        this.seq = seq;
        this.redelivered = redelivered;
        this.ref = ref;
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

    public void markRedelivered() {
        redelivered = true;
    }
}
