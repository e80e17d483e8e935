package io.warren.it.support;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.impl.LongStringHelper;
import com.rabbitmq.client.impl.AMQImpl;
import com.rabbitmq.client.impl.Frame;
import com.rabbitmq.client.impl.Method;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.Closeable;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * A bare AMQP 0-9-1 peer over a plain socket, for what RabbitMQ's Java client will not do on
 * purpose: ignore heartbeats, exceed the negotiated channel_max, look at single frames. It
 * uses the client's frame and method codecs, so only the conversation is hand-written.
 */
public final class RawAmqp implements Closeable {
    public static final int FRAME_METHOD = 1;
    public static final int FRAME_HEADER = 2;
    public static final int FRAME_BODY = 3;
    public static final int FRAME_HEARTBEAT = 8;

    private final Socket socket;
    private final DataInputStream in;
    private final DataOutputStream out;

    public RawAmqp(String host, int port) throws IOException {
        this(host, port, 0);
    }

    /**
     * A socket whose receive buffer is fixed at {@code receiveBuffer} bytes before it connects
     * (0: the system's, which Linux grows up to tens of MB for a client that does not read).
     */
    public RawAmqp(String host, int port, int receiveBuffer) throws IOException {
        socket = new Socket();
        if (receiveBuffer > 0) {
            socket.setReceiveBufferSize(receiveBuffer);
        }
        socket.connect(new java.net.InetSocketAddress(host, port), 10_000);
        socket.setTcpNoDelay(true);
        socket.setSoTimeout(10_000);
        in = new DataInputStream(new BufferedInputStream(socket.getInputStream()));
        out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream()));
    }

    /** Opens a socket and runs the handshake as guest/guest with the given tune-ok values. */
    public static RawAmqp open(WarrenBroker broker, String vhost, int channelMax, int frameMax, int heartbeat)
            throws IOException {
        RawAmqp raw = new RawAmqp(broker.host(), broker.port());
        raw.handshake(vhost, channelMax, frameMax, heartbeat);
        return raw;
    }

    /**
     * Protocol header, start-ok (PLAIN guest/guest), tune-ok with these values (-1: take the
     * broker's offer), open; returns the broker's tune.
     */
    public AMQP.Connection.Tune handshake(String vhost, int channelMax, int frameMax, int heartbeat) throws IOException {
        out.write(new byte[] {'A', 'M', 'Q', 'P', 0, 0, 9, 1});
        out.flush();
        expect(AMQP.Connection.Start.class);
        send(0, new AMQImpl.Connection.StartOk(Map.of(), "PLAIN",
                LongStringHelper.asLongString("\0guest\0guest".getBytes(StandardCharsets.UTF_8)), "en_US"));
        AMQP.Connection.Tune tune = expect(AMQP.Connection.Tune.class);
        send(0, new AMQImpl.Connection.TuneOk(channelMax < 0 ? tune.getChannelMax() : channelMax,
                frameMax < 0 ? tune.getFrameMax() : frameMax, heartbeat < 0 ? tune.getHeartbeat() : heartbeat));
        send(0, new AMQImpl.Connection.Open(vhost, "", false));
        expect(AMQP.Connection.OpenOk.class);
        return tune;
    }

    /**
     * Protocol header, start-ok, then a tune-ok with these values (-1: take the offer), without
     * connection.open: for a tune-ok the broker refuses.
     */
    public AMQP.Connection.Tune tuneAndWait(int channelMax, int frameMax) throws IOException {
        out.write(new byte[] {'A', 'M', 'Q', 'P', 0, 0, 9, 1});
        out.flush();
        expect(AMQP.Connection.Start.class);
        send(0, new AMQImpl.Connection.StartOk(Map.of(), "PLAIN",
                LongStringHelper.asLongString("\0guest\0guest".getBytes(StandardCharsets.UTF_8)), "en_US"));
        AMQP.Connection.Tune tune = expect(AMQP.Connection.Tune.class);
        send(0, new AMQImpl.Connection.TuneOk(channelMax < 0 ? tune.getChannelMax() : channelMax,
                frameMax < 0 ? tune.getFrameMax() : frameMax, 0));
        return tune;
    }

    /** Writes {@code bytes} as they are, in one write. */
    public void sendRaw(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
    }

    public void send(int channel, Method m) throws IOException {
        m.toFrame(channel).writeTo(out);
        out.flush();
    }

    public void send(Frame f) throws IOException {
        f.writeTo(out);
        out.flush();
    }

    /** The next frame, heartbeats included; throws EOFException when the broker closed the socket. */
    public Frame readFrame() throws IOException {
        Frame f = Frame.readFrom(in, () -> Integer.MAX_VALUE);
        if (f == null) {
            throw new SocketTimeoutException("no frame within the socket timeout");
        }
        return f;
    }

    /** The next method, skipping heartbeats. */
    public Method readMethod() throws IOException {
        while (true) {
            Frame f = readFrame();
            if (f.getType() == FRAME_HEARTBEAT) {
                continue;
            }
            if (f.getType() != FRAME_METHOD) {
                throw new IOException("expected a method frame, got " + f);
            }
            return AMQImpl.readMethodFrom(f.getInputStream());
        }
    }

    public <T> T expect(Class<T> type) throws IOException {
        Method m = readMethod();
        if (!type.isInstance(m)) {
            StringBuilder sb = new StringBuilder();
            m.appendArgumentDebugStringTo(sb);
            throw new AssertionError("expected " + type.getSimpleName() + ", got " + m.protocolMethodName() + sb);
        }
        return type.cast(m);
    }

    /**
     * Reads (and drops) whatever arrives until the broker closes the socket: true on EOF or
     * reset, false when the socket stays open for {@code millis}.
     */
    public boolean closedByPeerWithin(long millis) throws IOException {
        long deadline = System.currentTimeMillis() + millis;
        try {
            while (true) {
                long left = deadline - System.currentTimeMillis();
                if (left <= 0) {
                    return false;
                }
                socket.setSoTimeout((int) left);
                if (in.read() < 0) {
                    return true;
                }
            }
        } catch (SocketTimeoutException e) {
            return false;
        } catch (EOFException | SocketException e) {
            return true;
        }
    }

    public void setSoTimeout(int millis) throws SocketException {
        socket.setSoTimeout(millis);
    }

    @Override public void close() throws IOException {
        socket.close();
    }
}
