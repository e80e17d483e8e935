package io.warren.it.badinput;

import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * An AMQP 0-9-1 client over a bare {@link Socket} that builds every byte by hand, so a test can
 * send what no real client would: broken frames, frames in the wrong place, half frames.
 * {@link #handshake} does protocol header, start-ok (PLAIN guest/guest), tune-ok, connection.open
 * and channel.open on channel 1.
 */
final class RawClient implements Closeable {
    static final byte[] PROTOCOL_HEADER = {'A', 'M', 'Q', 'P', 0, 0, 9, 1};
    static final int METHOD = 1;
    static final int HEADER = 2;
    static final int BODY = 3;
    static final int HEARTBEAT = 8;
    static final int FRAME_END = 0xCE;
    /** How long to wait for the broker's reaction; generous for a loaded 2-core machine. */
    static final int READ_TIMEOUT_MS = 10_000;

    private final Socket socket;
    private final DataInputStream in;
    private final OutputStream out;
    /** Negotiated in the handshake. */
    int channelMax;
    long frameMax;

    RawClient(String host, int port) throws IOException {
        socket = new Socket(host, port);
        socket.setTcpNoDelay(true);
        socket.setSoTimeout(READ_TIMEOUT_MS);
        in = new DataInputStream(socket.getInputStream());
        out = socket.getOutputStream();
    }

    /** A received frame. */
    record Frame(int type, int channel, byte[] payload) {
        int classId() {
            return type == METHOD ? ByteBuffer.wrap(payload).getShort(0) & 0xFFFF : -1;
        }

        int methodId() {
            return type == METHOD ? ByteBuffer.wrap(payload).getShort(2) & 0xFFFF : -1;
        }

        boolean is(int classId, int methodId) {
            return type == METHOD && classId() == classId && methodId() == methodId;
        }

        @Override public String toString() {
            return "Frame[type " + type + ", channel " + channel + (type == METHOD ? ", method " + classId() + "."
                    + methodId() : "") + ", " + payload.length + " bytes]";
        }
    }

    /** A connection.close or channel.close received from the broker. */
    record Close(boolean connection, int channel, int replyCode, String replyText, int classId, int methodId) {
        @Override public String toString() {
            return (connection ? "connection.close" : "channel.close on channel " + channel) + " " + replyCode
                    + " '" + replyText + "' (" + classId + ", " + methodId + ")";
        }
    }

    // ---- the handshake ------------------------------------------------------------------------

    /** Everything up to an open channel 1, offering {@code channelMax} (0 = accept the broker's). */
    RawClient handshake(int wantChannelMax) throws IOException {
        write(PROTOCOL_HEADER);
        expectMethod(0, 10, 10); // connection.start
        send(method(0, 10, 11, new Args().table().shortStr("PLAIN").longStr("\0guest\0guest").shortStr("en_US")));
        Frame tune = expectMethod(0, 10, 30);
        ByteBuffer t = ByteBuffer.wrap(tune.payload(), 4, tune.payload().length - 4);
        int offeredChannelMax = t.getShort() & 0xFFFF;
        frameMax = t.getInt() & 0xFFFFFFFFL;
        channelMax = wantChannelMax == 0 ? offeredChannelMax : Math.min(wantChannelMax, offeredChannelMax);
        // heartbeat 0: a test must not be disturbed by heartbeats it does not answer
        send(method(0, 10, 31, new Args().shortInt(channelMax).longInt(frameMax).shortInt(0)));
        send(method(0, 10, 40, new Args().shortStr("/").shortStr("").octet(0)));
        expectMethod(0, 10, 41); // connection.open-ok
        send(method(1, 20, 10, new Args().shortStr("")));
        expectMethod(1, 20, 11); // channel.open-ok
        return this;
    }

    // ---- frames out ---------------------------------------------------------------------------

    static byte[] frame(int type, int channel, byte[] payload) {
        return frame(type, channel, payload, FRAME_END);
    }

    static byte[] frame(int type, int channel, byte[] payload, int end) {
        ByteBuffer b = ByteBuffer.allocate(8 + payload.length);
        b.put((byte) type).putShort((short) channel).putInt(payload.length).put(payload).put((byte) end);
        return b.array();
    }

    static byte[] method(int channel, int classId, int methodId, Args args) {
        return frame(METHOD, channel, methodPayload(classId, methodId, args));
    }

    static byte[] methodPayload(int classId, int methodId, Args args) {
        return new Args().shortInt(classId).shortInt(methodId).bytes(args.toByteArray()).toByteArray();
    }

    /** A content header for class basic with no properties. */
    static byte[] contentHeader(int channel, long bodySize) {
        return frame(HEADER, channel, new Args().shortInt(60).shortInt(0).longLong(bodySize).shortInt(0)
                .toByteArray());
    }

    /** A content header for class basic with the given property flags and property list. */
    static byte[] contentHeader(int channel, long bodySize, byte[] properties) {
        return frame(HEADER, channel, new Args().shortInt(60).shortInt(0).longLong(bodySize).bytes(properties)
                .toByteArray());
    }

    /**
     * A field table nested {@code depth} levels deep (the outermost is level 1): each level holds
     * the next under key "n", the innermost is empty.
     */
    static byte[] nestedTable(int depth) {
        byte[] table = {0, 0, 0, 0};
        for (int level = depth - 1; level >= 1; level--) {
            table = new Args().longInt(3 + table.length).shortStr("n").octet('F').bytes(table).toByteArray();
        }
        return table;
    }

    static byte[] body(int channel, int size) {
        byte[] b = new byte[size];
        java.util.Arrays.fill(b, (byte) 'x');
        return frame(BODY, channel, b);
    }

    /** basic.publish to the default exchange with routing key {@code queue}. */
    static byte[] publish(int channel, String queue) {
        return method(channel, 60, 40, new Args().shortInt(0).shortStr("").shortStr(queue).octet(0));
    }

    /** queue.declare of a server-named, exclusive, auto-delete queue. */
    static byte[] queueDeclare(int channel) {
        return method(channel, 50, 10, new Args().shortInt(0).shortStr("").octet(0b01100).table());
    }

    void send(byte[]... frames) throws IOException {
        for (byte[] f : frames) {
            out.write(f);
        }
        out.flush();
    }

    void write(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
    }

    // ---- frames in ----------------------------------------------------------------------------

    /** The next frame; throws {@link EOFException} when the broker closed the socket. */
    Frame read() throws IOException {
        int type = in.readUnsignedByte();
        int channel = in.readUnsignedShort();
        int size = in.readInt();
        if (size < 0 || size > 16 * 1024 * 1024) {
            throw new IOException("implausible frame size " + (size & 0xFFFFFFFFL) + " (type " + type + ")");
        }
        byte[] payload = new byte[size];
        in.readFully(payload);
        int end = in.readUnsignedByte();
        if (end != FRAME_END) {
            throw new IOException("broker sent frame end " + end);
        }
        return new Frame(type, channel, payload);
    }

    Frame expectMethod(int channel, int classId, int methodId) throws IOException {
        Frame f = read();
        if (f.channel() != channel || !f.is(classId, methodId)) {
            throw new IOException("expected method " + classId + "." + methodId + " on channel " + channel
                    + ", got " + f + describeClose(f));
        }
        return f;
    }

    private static String describeClose(Frame f) {
        Close c = toClose(f);
        return c == null ? "" : ": " + c;
    }

    /** Reads up to {@code n} bytes: what the broker sends before closing (e.g. its protocol header). */
    byte[] readUntilEof(int n) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        while (b.size() < n) {
            int c;
            try {
                c = in.read();
            } catch (SocketException e) {
                break; // reset: the broker is gone from this socket
            }
            if (c < 0) {
                break;
            }
            b.write(c);
        }
        return b.toByteArray();
    }

    /**
     * Waits for the broker to close the connection or a channel. Skips other frames (e.g. a
     * basic.qos-ok sent before the error). Returns null when the socket closed without a close
     * method. Answers a close with close-ok, as a client must.
     */
    Close awaitClose() throws IOException {
        while (true) {
            Frame f;
            try {
                f = read();
            } catch (EOFException | SocketException e) {
                return null;
            }
            Close c = toClose(f);
            if (c != null) {
                if (c.connection()) {
                    send(method(0, 10, 51, new Args()));
                } else {
                    send(method(c.channel(), 20, 41, new Args()));
                }
                return c;
            }
        }
    }

    private static Close toClose(Frame f) {
        boolean conn = f.channel() == 0 && f.is(10, 50);
        boolean chan = f.is(20, 40);
        if (!conn && !chan) {
            return null;
        }
        ByteBuffer b = ByteBuffer.wrap(f.payload(), 4, f.payload().length - 4);
        int code = b.getShort() & 0xFFFF;
        byte[] text = new byte[b.get() & 0xFF];
        b.get(text);
        int classId = b.getShort() & 0xFFFF;
        int methodId = b.getShort() & 0xFFFF;
        return new Close(conn, f.channel(), code, new String(text, StandardCharsets.UTF_8), classId, methodId);
    }

    /** True when the broker closes the socket within the read timeout (discarding anything it sends). */
    boolean closedByBroker() throws IOException {
        try {
            while (in.read() >= 0) {
                // drain
            }
            return true;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (SocketException e) {
            return true; // connection reset
        }
    }

    /** Drops the connection with a TCP RST, as a crashing client would. */
    void abort() throws IOException {
        socket.setSoLinger(true, 0);
        socket.close();
    }

    @Override public void close() throws IOException {
        socket.close();
    }

    /** Method arguments, big-endian, AMQP encodings. */
    static final class Args {
        private final ByteArrayOutputStream b = new ByteArrayOutputStream();

        Args octet(int v) {
            b.write(v);
            return this;
        }

        Args shortInt(int v) {
            b.write(v >>> 8);
            b.write(v);
            return this;
        }

        Args longInt(long v) {
            shortInt((int) (v >>> 16) & 0xFFFF);
            return shortInt((int) v & 0xFFFF);
        }

        Args longLong(long v) {
            longInt(v >>> 32);
            return longInt(v & 0xFFFFFFFFL);
        }

        Args shortStr(String s) {
            byte[] x = s.getBytes(StandardCharsets.UTF_8);
            octet(x.length);
            return bytes(x);
        }

        Args longStr(String s) {
            byte[] x = s.getBytes(StandardCharsets.UTF_8);
            longInt(x.length);
            return bytes(x);
        }

        /** An empty field table. */
        Args table() {
            return longInt(0);
        }

        Args bytes(byte[] x) {
            b.write(x, 0, x.length);
            return this;
        }

        byte[] toByteArray() {
            return b.toByteArray();
        }
    }
}
