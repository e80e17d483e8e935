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

    /** One write holding connection.close and then {@code publishes} basic.publish frames (with content). */
    private static void closeFollowedByPublishes(RawAmqp raw, int publishes) throws Exception {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        java.io.DataOutputStream out = new java.io.DataOutputStream(bytes);
        new AMQImpl.Connection.Close(200, "bye", 0, 0).toFrame(0).writeTo(out);
        byte[] body = new byte[100];
        for (int i = 0; i < publishes; i++) {
            new AMQImpl.Basic.Publish(0, "", "nowhere", false, false).toFrame(1).writeTo(out);
            // content header: class 60, weight 0, body size, no properties; then the body
            out.write(new byte[] {RawAmqp.FRAME_HEADER, 0, 1, 0, 0, 0, 14, 0, 60, 0, 0});
            out.writeLong(body.length);
            out.write(new byte[] {0, 0, (byte) 0xCE, RawAmqp.FRAME_BODY, 0, 1});
            out.writeInt(body.length);
            out.write(body);
            out.write(0xCE);
        }
        out.flush();
        raw.sendRaw(bytes.toByteArray());
    }

    /**
     * As RabbitMQ: what arrives after connection.close is discarded, close-ok is sent, and the
     * socket is left for the client to close (0-9-1 §4.2.8: the peer that receives close-ok
     * closes). Closing it at once would reset a client whose later frames are still arriving.
     */
    @Test
    void aClientCloseFollowedByMoreFramesIsAnsweredAndTheSocketLeftToTheClient() throws Exception {
        try (RawAmqp raw = RawAmqp.open(broker, "/", -1, -1, 0)) {
            openChannel(raw, 1);
            closeFollowedByPublishes(raw, 10);
            raw.expect(AMQP.Connection.CloseOk.class);
            assertFalse(raw.closedByPeerWithin(1_000), "the broker closed the socket before the client did");
        }
    }

    /**
     * An ack written after a basic.cancel and before connection.close, in one write, settles its
     * message: the close waits for the channel to handle the frames it held behind the cancel
     * (whose cancel-ok comes from the queue's loop), as RabbitMQ's channel handles what it read
     * before the reader closes it. Dropping them requeued an acknowledged message.
     */
    @Test
    void anAckBetweenACancelAndTheConnectionCloseIsHonoured() throws Exception {
        // Queues on several event loops: a cancel is held only when the queue's loop is not the
        // connection's (on its own loop the cancel-ok is sent at once).
        int queues = 4;
        try (com.rabbitmq.client.Connection c = broker.connect()) {
            com.rabbitmq.client.Channel ch = c.createChannel();
            for (int i = 0; i < queues; i++) {
                ch.queueDeclare("ack-before-close-" + i, false, false, false, null);
                ch.basicPublish("", "ack-before-close-" + i, null, "m".getBytes(java.nio.charset.StandardCharsets.UTF_8));
            }
        }
        try (RawAmqp raw = RawAmqp.open(broker, "/", -1, -1, 0)) {
            openChannel(raw, 1);
            long[] tags = new long[queues];
            for (int i = 0; i < queues; i++) {
                raw.send(1, new AMQImpl.Basic.Consume(0, "ack-before-close-" + i, "c" + i, false, false, false, false,
                        Map.of()));
                raw.expect(AMQP.Basic.ConsumeOk.class);
                tags[i] = raw.expect(AMQP.Basic.Deliver.class).getDeliveryTag();
                assertEquals(RawAmqp.FRAME_HEADER, raw.readFrame().getType());
                assertEquals(RawAmqp.FRAME_BODY, raw.readFrame().getType());
            }
            java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
            java.io.DataOutputStream out = new java.io.DataOutputStream(bytes);
            for (int i = 0; i < queues; i++) {
                new AMQImpl.Basic.Cancel("c" + i, false).toFrame(1).writeTo(out);
                new AMQImpl.Basic.Ack(tags[i], false).toFrame(1).writeTo(out);
            }
            new AMQImpl.Connection.Close(200, "bye", 0, 0).toFrame(0).writeTo(out);
            out.flush();
            raw.sendRaw(bytes.toByteArray());
            for (int i = 0; i < queues; i++) {
                assertEquals("c" + i, raw.expect(AMQP.Basic.CancelOk.class).getConsumerTag());
            }
            raw.expect(AMQP.Connection.CloseOk.class);
        }
        try (com.rabbitmq.client.Connection c = broker.connect()) {
            com.rabbitmq.client.Channel ch = c.createChannel();
            for (int i = 0; i < queues; i++) {
                AMQP.Queue.DeclareOk ok = ch.queueDeclarePassive("ack-before-close-" + i);
                assertEquals(0, ok.getMessageCount(), "queue " + i + ": its acknowledged message was requeued");
                assertEquals(0, ok.getConsumerCount());
            }
        }
    }

    /** A client that never closes its socket after close-ok loses it after a grace period (RabbitMQ: the heartbeat interval). */
    @Test
    void aClientThatKeepsTheSocketAfterCloseOkIsDisconnected() throws Exception {
        try (RawAmqp raw = RawAmqp.open(broker, "/", -1, -1, 1)) {
            openChannel(raw, 1);
            closeFollowedByPublishes(raw, 2);
            raw.expect(AMQP.Connection.CloseOk.class);
            assertTrue(raw.closedByPeerWithin(5_000), "still connected 5 s after close-ok");
        }
    }

    /**
     * RabbitMQ 3.10 (rabbit_reader) refuses channel_max = 0 ("no limit") in tune-ok when it
     * offered a limit, as any value above its offer. Like every handshake error but a refused
     * login or vhost, it is not answered: RabbitMQ logs the reason and drops the socket after
     * 3 s, so a client cannot hammer it with bad handshakes.
     */
    @Test
    void tuneOkWithoutAChannelLimitIsRefusedWhenTheBrokerHasOne() throws Exception {
        ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> lines =
                new ch.qos.logback.core.read.ListAppender<>();
        ch.qos.logback.classic.Logger warren = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory
                .getLogger("io.warren");
        lines.start();
        warren.addAppender(lines);
        try {
            for (int channelMax : new int[] {0, 4000}) {
                try (RawAmqp raw = new RawAmqp(broker.host(), broker.port())) {
                    raw.tuneAndWait(channelMax, -1);
                    long start = System.currentTimeMillis();
                    assertTrue(raw.closedByPeerWithin(6_000), "still connected 6 s after a refused tune-ok");
                    long took = System.currentTimeMillis() - start;
                    assertTrue(took >= 2_000, "dropped after " + took + " ms, without RabbitMQ's pause");
                }
            }
            if (!WarrenBroker.external()) {
                java.util.List<String> logged = lines.list.stream()
                        .map(ch.qos.logback.classic.spi.ILoggingEvent::getFormattedMessage).toList();
                assertTrue(logged.stream().anyMatch(l -> l.endsWith("530 NOT_ALLOWED - negotiated channel_max = 0"
                        + " (no limit) is higher than the maximum allowed value (2047)")), logged.toString());
                assertTrue(logged.stream().anyMatch(l -> l.endsWith("530 NOT_ALLOWED - negotiated channel_max = 4000"
                        + " is higher than the maximum allowed value (2047)")), logged.toString());
            }
        } finally {
            warren.detachAppender(lines);
        }
        // A tune-ok that takes the offer still works.
        try (RawAmqp raw = RawAmqp.open(broker, "/", -1, -1, 0)) {
            openChannel(raw, 1);
        }
    }
}
