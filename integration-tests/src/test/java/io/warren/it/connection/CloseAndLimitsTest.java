package io.warren.it.connection;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.impl.AMQImpl;
import io.warren.it.support.RawAmqp;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.Map;

import static io.warren.it.support.AmqpAssertions.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The close handshakes in both directions and channel_max, spoken over a raw socket: RabbitMQ's
 * Java client neither exceeds channel_max nor shows when the socket goes.
 */
class CloseAndLimitsTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private static void openChannel(RawAmqp raw, int id) throws Exception {
        raw.send(id, new AMQImpl.Channel.Open(""));
        raw.expect(AMQP.Channel.OpenOk.class);
    }

    @Test
    void channelMaxLimitsHowManyChannelsAreOpen() throws Exception {
        try (RawAmqp raw = RawAmqp.open(broker, "/", 2, -1, 0)) {
            openChannel(raw, 1);
            openChannel(raw, 2);
            raw.send(3, new AMQImpl.Channel.Open(""));
            AMQP.Connection.Close close = raw.expect(AMQP.Connection.Close.class);
            assertClose(530, "NOT_ALLOWED - number of channels opened (2) has reached the negotiated channel_max (2)",
                    close);
            raw.send(0, new AMQImpl.Connection.CloseOk());
            assertTrue(raw.closedByPeerWithin(2_000));
        }
    }

    @Test
    void channelMaxCountsChannelsNotChannelNumbersLikeRabbitMQ() throws Exception {
        try (RawAmqp raw = RawAmqp.open(broker, "/", 2, -1, 0)) {
            openChannel(raw, 7);
            // A closed channel no longer counts.
            raw.send(7, new AMQImpl.Channel.Close(200, "", 0, 0));
            raw.expect(AMQP.Channel.CloseOk.class);
            openChannel(raw, 1);
            openChannel(raw, 2);
        }
    }

    @Test
    void theDefaultChannelMaxIs2047() throws Exception {
        try (RawAmqp raw = new RawAmqp(broker.host(), broker.port())) {
            AMQP.Connection.Tune tune = raw.handshake("/", -1, -1, 0);
            assertEquals(2047, tune.getChannelMax());
            for (int i = 1; i <= 2047; i++) {
                raw.send(i, new AMQImpl.Channel.Open(""));
            }
            for (int i = 1; i <= 2047; i++) {
                raw.expect(AMQP.Channel.OpenOk.class);
            }
            raw.send(2048, new AMQImpl.Channel.Open(""));
            assertClose(530, "NOT_ALLOWED - number of channels opened (2047) has reached the negotiated channel_max"
                    + " (2047)", raw.expect(AMQP.Connection.Close.class));
        }
    }

    @Test
    void aClientCloseIsAnsweredWithCloseOk() throws Exception {
        try (RawAmqp raw = RawAmqp.open(broker, "/", -1, -1, 0)) {
            openChannel(raw, 1);
            raw.send(0, new AMQImpl.Connection.Close(200, "bye", 0, 0));
            raw.expect(AMQP.Connection.CloseOk.class);
        }
    }

    @Test
    void aBrokerCloseWaitsForCloseOkThenDropsTheSocket() throws Exception {
        try (RawAmqp raw = RawAmqp.open(broker, "/", -1, -1, 0)) {
            // A method on a channel that was never opened is a connection error (504).
            raw.send(3, new AMQImpl.Queue.Declare(0, "", false, false, true, true, false, Map.of()));
            AMQP.Connection.Close close = raw.expect(AMQP.Connection.Close.class);
            assertClose(504, "CHANNEL_ERROR - expected 'channel.open'", close);
            assertEquals(50, close.getClassId());
            assertEquals(10, close.getMethodId());
            // The socket stays until the client confirms ...
            assertFalse(raw.closedByPeerWithin(200));
            raw.send(0, new AMQImpl.Connection.CloseOk());
            // ... and goes at once afterwards (well before any close-ok timeout).
            assertTrue(raw.closedByPeerWithin(1_000));
        }
    }

    @Test
    void aChannelClosedByTheBrokerCanBeOpenedAgainAfterCloseOk() throws Exception {
        try (RawAmqp raw = RawAmqp.open(broker, "/", -1, -1, 0)) {
            openChannel(raw, 1);
            raw.send(1, new AMQImpl.Queue.Declare(0, "no-such-queue", true, false, false, false, false, Map.of()));
            AMQP.Channel.Close close = raw.expect(AMQP.Channel.Close.class);
            assertClose(404, "NOT_FOUND - no queue 'no-such-queue' in vhost '/'", close);
            raw.send(1, new AMQImpl.Channel.CloseOk());
            openChannel(raw, 1);
            raw.send(1, new AMQImpl.Queue.Declare(0, "", false, false, true, true, false, Map.of()));
            raw.expect(AMQP.Queue.DeclareOk.class);
        }
    }

    @Test
    void aClientChannelCloseIsAnsweredAndFreesTheNumber() throws Exception {
        try (RawAmqp raw = RawAmqp.open(broker, "/", -1, -1, 0)) {
            openChannel(raw, 1);
            raw.send(1, new AMQImpl.Channel.Close(200, "done", 0, 0));
            raw.expect(AMQP.Channel.CloseOk.class);
            openChannel(raw, 1);
        }
    }
}
