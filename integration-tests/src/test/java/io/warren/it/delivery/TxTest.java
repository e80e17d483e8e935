package io.warren.it.delivery;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static io.warren.it.delivery.ConsumeTest.bodies;
import static io.warren.it.delivery.ConsumeTest.publish;
import static io.warren.it.support.AmqpAssertions.assertClose;
import static io.warren.it.support.AmqpAssertions.assertConnectionUsable;
import static io.warren.it.support.AmqpAssertions.channelError;
import static io.warren.it.support.AmqpAssertions.newQueue;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/** tx.select / tx.commit / tx.rollback over publishes and acknowledgements. */
class TxTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private static int ready(Channel ch, String q) throws Exception {
        return ch.queueDeclarePassive(q).getMessageCount();
    }

    private static List<String> drain(Channel ch, String q) throws Exception {
        List<String> out = new ArrayList<>();
        GetResponse r;
        while ((r = ch.basicGet(q, true)) != null) {
            out.add(new String(r.getBody(), StandardCharsets.UTF_8) + (r.getEnvelope().isRedeliver() ? "*" : ""));
        }
        return out;
    }

    @Test
    void uncommittedPublishesAreInvisibleUntilCommit() throws Exception {
        Connection conn = broker.connect();
        Channel tx = conn.createChannel();
        Channel observer = conn.createChannel();
        String q = newQueue(observer);
        tx.txSelect();
        publish(tx, q, "a", "b", "c");
        assertEquals(0, ready(observer, q));
        assertEquals(null, observer.basicGet(q, true));
        tx.txCommit();
        assertEquals(3, ready(observer, q));
        assertEquals(List.of("a", "b", "c"), drain(observer, q));
    }

    @Test
    void rollbackDiscardsPublishesAndTheChannelStaysTransactional() throws Exception {
        Connection conn = broker.connect();
        Channel tx = conn.createChannel();
        Channel observer = conn.createChannel();
        String q = newQueue(observer);
        tx.txSelect();
        publish(tx, q, "dropped1", "dropped2");
        tx.txRollback();
        assertEquals(0, ready(observer, q));
        publish(tx, q, "kept");
        assertEquals(0, ready(observer, q));
        tx.txCommit();
        assertEquals(List.of("kept"), drain(observer, q));
    }

    @Test
    void committedAcksSettleMessages() throws Exception {
        Connection conn = broker.connect();
        Channel tx = conn.createChannel();
        String q = newQueue(tx);
        publish(tx, q, bodies(3));
        tx.txSelect();
        for (int i = 0; i < 3; i++) {
            assertNotNull(tx.basicGet(q, false));
        }
        tx.basicAck(2, true);
        tx.txCommit();
        tx.close();
        assertEquals(List.of("m2*"), drain(conn.createChannel(), q));
    }

    @Test
    void rolledBackAcksLeaveTheMessagesUnacked() throws Exception {
        Connection conn = broker.connect();
        Channel tx = conn.createChannel();
        String q = newQueue(tx);
        publish(tx, q, bodies(3));
        tx.txSelect();
        for (int i = 0; i < 3; i++) {
            assertNotNull(tx.basicGet(q, false));
        }
        tx.basicAck(1, false);
        tx.basicAck(3, false);
        tx.txRollback();
        assertEquals(0, ready(tx, q), "still unacked, not requeued");
        // The rolled-back tags are outstanding again: they can be acked (and committed) anew.
        tx.basicAck(3, false);
        tx.txCommit();
        tx.close();
        assertEquals(List.of("m0*", "m1*"), drain(conn.createChannel(), q));
    }

    @Test
    void uncommittedAcksAreUndoneWhenTheChannelCloses() throws Exception {
        Connection conn = broker.connect();
        Channel tx = conn.createChannel();
        String q = newQueue(tx);
        publish(tx, q, bodies(2));
        tx.txSelect();
        tx.basicGet(q, false);
        tx.basicGet(q, false);
        tx.basicAck(2, true);
        publish(tx, q, "never");
        tx.close();
        assertEquals(List.of("m0*", "m1*"), drain(conn.createChannel(), q));
    }

    @Test
    void nackWithRequeueInsideATransactionTakesEffectOnCommit() throws Exception {
        Connection conn = broker.connect();
        Channel tx = conn.createChannel();
        Channel observer = conn.createChannel();
        String q = newQueue(tx);
        publish(tx, q, "a");
        tx.txSelect();
        tx.basicGet(q, false);
        tx.basicNack(1, false, true);
        assertEquals(0, ready(observer, q));
        tx.txCommit();
        assertEquals(List.of("a*"), drain(observer, q));
    }

    @Test
    void commitWithoutSelectIs406() throws Exception {
        Connection conn = broker.connect();
        Channel ch = conn.createChannel();
        AMQP.Channel.Close close = channelError(ch::txCommit);
        assertClose(406, "PRECONDITION_FAILED - channel is not transactional", close);
        assertConnectionUsable(conn);
    }

    @Test
    void rollbackWithoutSelectIs406() throws Exception {
        Connection conn = broker.connect();
        Channel ch = conn.createChannel();
        AMQP.Channel.Close close = channelError(ch::txRollback);
        assertClose(406, "PRECONDITION_FAILED - channel is not transactional", close);
        assertConnectionUsable(conn);
    }
}
