package io.warren.it.flow;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.GetResponse;
import io.warren.core.queue.MessageQueue;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.ByteBuffer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * A recovered backlog larger than a queue's bound does not come back into the heap whole: past
 * the bound, the recovered entries (routing info and journal slot, no content) go to the spill
 * and return in order as consumers need them. A paging ratio of 0 keeps the broker under memory
 * pressure from the start (recovery included), so the bound is the small pressure bound.
 */
class RecoveryPagingTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker(c -> c.withMemoryPagingRatio(0.0));

    static final int N = 20_000;
    static final int BODY = 1000;

    @BeforeAll
    static void needsItsOwnBroker() {
        assumeFalse(WarrenBroker.external(), "restarts the broker and reads its paging counters");
    }

    private static byte[] body(int i) {
        byte[] b = new byte[BODY];
        ByteBuffer.wrap(b).putInt(i).putInt(~i);
        b[BODY - 1] = (byte) i;
        return b;
    }

    @Test
    void aRecoveredBacklogSpillsPastTheBoundAndDrainsInOrder() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = ch.queueDeclare("recovery-paging", true, false, false, null).getQueue();
        ch.confirmSelect();
        for (int i = 0; i < N; i++) {
            ch.basicPublish("", q, new AMQP.BasicProperties.Builder().deliveryMode(2).messageId("m" + i).build(), body(i));
        }
        ch.waitForConfirmsOrDie(60_000);
        broker.restart();

        MessageQueue mq = broker.broker().vhost("/").queue(q);
        long bound = broker.broker().paging().pressureBound();
        assertTrue(broker.broker().paging().pressure(), "a paging ratio of 0 means pressure from the start");
        long inMemory = mq.loop().submit(mq::inMemoryBytes).get();
        long spilled = mq.loop().submit(mq::pagedOutCount).get();
        assertTrue(inMemory <= bound, "recovered entries in memory: " + inMemory + " B > " + bound);
        assertTrue(spilled >= N - bound / 256, "recovered entries spilled: " + spilled);

        Channel after = broker.connect().createChannel();
        assertEquals(N, after.queueDeclarePassive(q).getMessageCount());
        for (int i = 0; i < N; i++) {
            GetResponse r = after.basicGet(q, true);
            assertArrayEquals(body(i), r.getBody(), "message " + i);
            assertEquals("m" + i, r.getProps().getMessageId());
            assertTrue(r.getEnvelope().isRedeliver());
        }
        assertNull(after.basicGet(q, true));
        after.queueDelete(q);
    }
}
