package io.warren.amqp.channel;

import io.warren.amqp.protocol.AmqpMethod;
import io.warren.amqp.protocol.BasicAck;
import io.warren.amqp.protocol.BasicNack;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Confirms that wait for the decision of a queue that may refuse (x-overflow reject-publish). */
class ConfirmTrackerTest {
    private final ConfirmTracker t = new ConfirmTracker();
    private final List<AmqpMethod> sent = new ArrayList<>();

    private List<AmqpMethod> flush() {
        sent.clear();
        t.flush(sent::add);
        return sent;
    }

    @Test
    void aPublishWaitingForItsQueuesHoldsBackLaterConfirmsUntilDecided() {
        t.enable();
        t.routed(t.nextSeq());          // 1
        long two = t.nextSeq();
        t.routed(two);
        t.awaitQueues(two);             // 2 waits for a queue
        t.routed(t.nextSeq());          // 3
        assertEquals(List.of(new BasicAck(1, false)), flush());
        t.decided(two, false);
        assertEquals(List.of(new BasicAck(3, true)), flush());
    }

    @Test
    void aRefusalIsNackedAndTheRestStillAcked() {
        t.enable();
        for (int i = 0; i < 4; i++) {
            long seq = t.nextSeq();
            t.routed(seq);
            if (seq == 2 || seq == 3) {
                t.awaitQueues(seq);
            }
        }
        t.decided(3, true);
        // nacks go out first (as for store failures); 2 still holds back the ack of 4
        assertEquals(List.of(new BasicNack(3, false, false), new BasicAck(1, false)), flush());
        t.decided(2, false);
        assertEquals(List.of(new BasicAck(2, false), new BasicAck(4, false)), flush());
    }

    @Test
    void aRefusedPersistentPublishIsNackedOnceWhateverTheStoreSays() {
        t.enable();
        long one = t.nextSeq();
        t.awaitCommit(one);
        t.awaitQueues(one);
        t.decided(one, true);
        assertEquals(List.of(new BasicNack(1, false, false)), flush());
        t.failed(one);
        t.committed(one);
        assertEquals(List.of(), flush());
        long two = t.nextSeq();
        t.routed(two);
        assertEquals(List.of(new BasicAck(2, false)), flush());
    }
}
