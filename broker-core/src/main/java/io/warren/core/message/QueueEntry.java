package io.warren.core.message;

/**
 * A message's place in one queue: its sequence number there (FIFO order, also on requeue)
 * and whether it was delivered before. Owned by the queue's loop while ready, by the
 * consuming channel while unacknowledged.
 */
public final class QueueEntry {
    private final Message message;
    private final long seq;
    private boolean redelivered;

    public QueueEntry(Message message, long seq, boolean redelivered) {
        this.message = message;
        this.seq = seq;
        this.redelivered = redelivered;
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
