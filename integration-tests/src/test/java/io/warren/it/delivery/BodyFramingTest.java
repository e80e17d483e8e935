package io.warren.it.delivery;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.impl.AMQImpl;
import com.rabbitmq.client.impl.Frame;
import io.warren.it.support.RawAmqp;
import io.warren.it.support.RecordingConsumer;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static io.warren.it.support.AmqpAssertions.newQueue;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Message bodies of every awkward size travel intact, both ways, over a connection whose
 * frame_max is small (4096): the broker splits outgoing bodies into frames of at most
 * frame_max - 8 payload bytes (0-9-1 §4.2.3: 7 bytes of header and one frame-end octet).
 */
class BodyFramingTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    static final int FRAME_MAX = 4096;
    static final int[] SIZES = {0, 1, FRAME_MAX - 9, FRAME_MAX - 8, FRAME_MAX - 7, 3 * FRAME_MAX + 5, 5 * 1024 * 1024 + 3};

    static Connection conn;

    @BeforeAll
    static void connect() throws Exception {
        ConnectionFactory f = broker.factory();
        f.setRequestedFrameMax(FRAME_MAX);
        conn = f.newConnection();
    }

    @AfterAll
    static void disconnect() throws Exception {
        conn.abort();
    }

    private static byte[] body(int size) {
        byte[] b = new byte[size];
        new Random(size).nextBytes(b);
        return b;
    }

    @Test
    void theClientNegotiatedTheSmallFrameMax() {
        assertEquals(FRAME_MAX, conn.getFrameMax());
    }

    @Test
    void everySizeRoundTripsThroughAConsumer() throws Exception {
        Channel ch = conn.createChannel();
        String q = newQueue(ch);
        for (int size : SIZES) {
            ch.basicPublish("", q, null, body(size));
        }
        RecordingConsumer c = new RecordingConsumer(ch);
        ch.basicConsume(q, true, c);
        c.awaitCount(SIZES.length);
        for (int i = 0; i < SIZES.length; i++) {
            assertArrayEquals(body(SIZES[i]), c.deliveries.get(i).body(), "body of " + SIZES[i] + " bytes");
        }
    }

    @Test
    void everySizeRoundTripsThroughBasicGet() throws Exception {
        Channel ch = conn.createChannel();
        String q = newQueue(ch);
        for (int size : SIZES) {
            ch.basicPublish("", q, null, body(size));
            GetResponse r = ch.basicGet(q, true);
            assertArrayEquals(body(size), r.getBody(), "body of " + size + " bytes");
        }
    }

    @Test
    void aMultiMegabyteBodyFansOutIntact() throws Exception {
        Channel ch = conn.createChannel();
        String q1 = newQueue(ch);
        String q2 = newQueue(ch);
        String x = "it-fanout-" + q1;
        ch.exchangeDeclare(x, "fanout", false, true, null);
        ch.queueBind(q1, x, "");
        ch.queueBind(q2, x, "");
        byte[] big = body(3 * 1024 * 1024 + 17);
        ch.basicPublish(x, "", null, big);
        assertArrayEquals(big, ch.basicGet(q1, true).getBody());
        assertArrayEquals(big, ch.basicGet(q2, true).getBody());
    }

    /** Publishes {@code size} bytes and fetches them with basic.get over a raw socket; returns the body frame sizes. */
    private static List<Integer> bodyFrameSizes(int size) throws Exception {
        try (RawAmqp raw = RawAmqp.open(broker, "/", -1, FRAME_MAX, 0)) {
            raw.send(1, new AMQImpl.Channel.Open(""));
            raw.expect(AMQP.Channel.OpenOk.class);
            raw.send(1, new AMQImpl.Queue.Declare(0, "", false, false, true, true, false, java.util.Map.of()));
            String q = raw.expect(AMQP.Queue.DeclareOk.class).getQueue();
            byte[] body = body(size);
            raw.send(1, new AMQImpl.Basic.Publish(0, "", q, false, false));
            raw.send(new AMQP.BasicProperties().toFrame(1, size));
            for (int off = 0; off < size; off += FRAME_MAX - 8) {
                raw.send(Frame.fromBodyFragment(1, ByteBuffer.wrap(body), off, Math.min(FRAME_MAX - 8, size - off)));
            }
            raw.send(1, new AMQImpl.Basic.Get(0, q, true));
            raw.expect(AMQP.Basic.GetOk.class);
            Frame header = raw.readFrame();
            assertEquals(RawAmqp.FRAME_HEADER, header.getType());
            List<Integer> sizes = new ArrayList<>();
            byte[] received = new byte[size];
            int at = 0;
            while (at < size) {
                Frame f = raw.readFrame();
                assertEquals(RawAmqp.FRAME_BODY, f.getType());
                assertTrue(f.size() <= FRAME_MAX, "frame of " + f.size() + " bytes exceeds frame_max");
                System.arraycopy(f.getPayload(), 0, received, at, f.getPayload().length);
                at += f.getPayload().length;
                sizes.add(f.getPayload().length);
            }
            assertArrayEquals(body, received);
            return sizes;
        }
    }

    @Test
    void outgoingBodiesAreSplitAtFrameMaxMinusEight() throws Exception {
        int max = FRAME_MAX - 8;
        assertEquals(List.of(), bodyFrameSizes(0));
        assertEquals(List.of(1), bodyFrameSizes(1));
        assertEquals(List.of(max - 1), bodyFrameSizes(max - 1));
        assertEquals(List.of(max), bodyFrameSizes(max));
        assertEquals(List.of(max, 1), bodyFrameSizes(max + 1));
        assertEquals(List.of(max, max, max, 3 * FRAME_MAX + 5 - 3 * max), bodyFrameSizes(3 * FRAME_MAX + 5));
    }
}
