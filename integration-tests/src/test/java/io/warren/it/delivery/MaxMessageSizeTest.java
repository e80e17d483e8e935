package io.warren.it.delivery;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import io.warren.it.support.WarrenBroker;
import io.warren.server.WarrenConfig;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static io.warren.it.support.AmqpAssertions.assertClose;
import static io.warren.it.support.AmqpAssertions.assertConnectionUsable;
import static io.warren.it.support.AmqpAssertions.awaitChannelClosed;
import static io.warren.it.support.AmqpAssertions.newQueue;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/** max_message_size: a body of exactly the limit is accepted, one byte more closes the channel with 406. */
class MaxMessageSizeTest {
    static final int MAX = 64 * 1024;

    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker(c -> new WarrenConfig(c.listenHost(), c.listenPort(),
            c.managementIp(), c.managementPort(), c.defaultUser(), c.defaultPass(), c.defaultVhost(),
            c.loopbackUsers(), c.heartbeatSeconds(), c.frameMax(), c.channelMax(), MAX, c.connectionMax(), c.sendTimeoutMs(), c.memoryHighWatermark(), c.memoryPagingRatio(),
            c.diskFreeLimit(), c.dataDir(), c.logFile(),
            c.logLevel()));

    @BeforeAll
    static void onlyWithAConfigurableBroker() {
        assumeFalse(WarrenBroker.external(), "needs max_message_size = " + MAX);
    }

    private static Connection connect() throws Exception {
        ConnectionFactory f = broker.factory();
        f.setRequestedFrameMax(4096); // the limit applies to the whole body, not to one frame
        return f.newConnection();
    }

    @Test
    void aBodyOfExactlyTheLimitIsAccepted() throws Exception {
        try (Connection conn = connect()) {
            Channel ch = conn.createChannel();
            String q = newQueue(ch);
            byte[] body = new byte[MAX];
            body[MAX - 1] = 9;
            ch.basicPublish("", q, null, body);
            assertArrayEquals(body, ch.basicGet(q, true).getBody());
        }
    }

    @Test
    void oneByteMoreIs406AndKeepsTheConnection() throws Exception {
        try (Connection conn = connect()) {
            Channel ch = conn.createChannel();
            String q = newQueue(ch);
            ch.basicPublish("", q, null, new byte[MAX + 1]);
            AMQP.Channel.Close close = awaitChannelClosed(ch);
            assertClose(406, "PRECONDITION_FAILED - message size " + (MAX + 1) + " is larger than configured max size "
                    + MAX, close);
            assertEquals(60, close.getClassId());
            assertEquals(40, close.getMethodId());
            assertConnectionUsable(conn);
            Channel again = conn.createChannel();
            assertEquals(0, again.queueDeclarePassive(q).getMessageCount());
            again.basicPublish("", q, null, new byte[10]);
            assertEquals(10, again.basicGet(q, true).getBody().length);
        }
    }
}
