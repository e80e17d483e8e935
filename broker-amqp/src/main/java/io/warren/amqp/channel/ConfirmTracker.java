package io.warren.amqp.channel;

import io.warren.amqp.protocol.AmqpMethod;
import io.warren.amqp.protocol.BasicAck;

import java.util.function.Consumer;

/**
 * Publisher confirms of one channel. Confirms are coalesced: at the end of each read batch one
 * basic.ack with {@code multiple = true} covers every message confirmed since the last one.
 * Messages are confirmed in publish order, so "everything up to N" is always exact.
 */
final class ConfirmTracker {
    private boolean enabled;
    private long nextSeq = 1;
    private long confirmedUpTo;
    private long sentUpTo;

    boolean enabled() {
        return enabled;
    }

    void enable() {
        enabled = true;
    }

    long nextSeq() {
        return nextSeq++;
    }

    void confirmed(long seq) {
        confirmedUpTo = Math.max(confirmedUpTo, seq);
    }

    void flush(Consumer<AmqpMethod> send) {
        if (confirmedUpTo > sentUpTo) {
            send.accept(new BasicAck(confirmedUpTo, confirmedUpTo - sentUpTo > 1));
            sentUpTo = confirmedUpTo;
        }
    }
}
