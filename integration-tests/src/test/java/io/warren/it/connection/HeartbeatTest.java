package io.warren.it.connection;

import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.impl.Frame;
import io.warren.it.support.RawAmqp;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.SocketTimeoutException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Heartbeats: the broker sends them on an idle connection and drops a peer that sends none. */
class HeartbeatTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    @Test
    void anIdleConnectionGetsHeartbeatsAndStaysOpen() throws Exception {
        ConnectionFactory f = broker.factory();
        f.setRequestedHeartbeat(1);
        try (Connection client = f.newConnection();
             RawAmqp raw = RawAmqp.open(broker, "/", -1, -1, 1)) {
            assertEquals(1, client.getHeartbeat());
            // Answer each broker heartbeat with one of ours, for 3 s of otherwise idle connection.
            int heartbeats = 0;
            long end = System.currentTimeMillis() + 3_000;
            for (long left; (left = end - System.currentTimeMillis()) > 0; ) {
                raw.setSoTimeout((int) left);
                Frame frame;
                try {
                    frame = raw.readFrame();
                } catch (SocketTimeoutException e) {
                    break;
                }
                assertEquals(RawAmqp.FRAME_HEARTBEAT, frame.getType(), "only heartbeats on an idle connection");
                assertEquals(0, frame.getChannel());
                heartbeats++;
                raw.send(new Frame(RawAmqp.FRAME_HEARTBEAT, 0));
            }
            assertTrue(heartbeats >= 2, "heartbeats in 3 s at 1 s intervals: " + heartbeats);
            // The Java client gives up after about 2 s without a frame; it heard the broker all along.
            assertTrue(client.isOpen(), "client connection with heartbeat=1 closed: " + client.getCloseReason());
            client.createChannel().queueDeclare("", false, true, true, null);
        }
    }

    @Test
    void aSilentPeerIsDisconnected() throws Exception {
        try (RawAmqp raw = RawAmqp.open(broker, "/", -1, -1, 1)) {
            long start = System.currentTimeMillis();
            // Read (and drop) the broker's heartbeats but never send one; RabbitMQ 3.10 gives up after ~3 s.
            assertTrue(raw.closedByPeerWithin(4_000), "silent peer still connected after 4 s");
            long took = System.currentTimeMillis() - start;
            assertTrue(took >= 1_000, "closed after " + took + " ms: sooner than one heartbeat interval");
        }
    }

    /**
     * RabbitMQ sends a heartbeat when nothing was written for half the negotiated interval
     * (rabbit_heartbeat): a client that times out after one silent interval (the Java client's
     * NIO mode) must hear from the broker well within it.
     */
    @Test
    void heartbeatsComeAtHalfTheInterval() throws Exception {
        try (RawAmqp raw = RawAmqp.open(broker, "/", -1, -1, 2)) {
            java.util.List<Long> at = new java.util.ArrayList<>();
            long end = System.currentTimeMillis() + 4_500;
            for (long left; (left = end - System.currentTimeMillis()) > 0; ) {
                raw.setSoTimeout((int) left);
                Frame frame;
                try {
                    frame = raw.readFrame();
                } catch (SocketTimeoutException e) {
                    break;
                }
                assertEquals(RawAmqp.FRAME_HEARTBEAT, frame.getType(), "only heartbeats on an idle connection");
                at.add(System.currentTimeMillis());
                raw.send(new Frame(RawAmqp.FRAME_HEARTBEAT, 0));
            }
            assertTrue(at.size() >= 3, "heartbeats in 4.5 s with a 2 s interval: " + at.size());
            for (int i = 1; i < at.size(); i++) {
                long gap = at.get(i) - at.get(i - 1);
                assertTrue(gap <= 1_500, "heartbeats " + gap + " ms apart with a 2 s interval");
            }
        }
    }
}
