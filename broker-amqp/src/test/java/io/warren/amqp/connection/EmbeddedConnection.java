package io.warren.amqp.connection;

import io.netty.buffer.ByteBuf;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.concurrent.EventExecutor;
import io.warren.amqp.codec.Frame;
import io.warren.amqp.codec.FrameDecoder;
import io.warren.amqp.protocol.AmqpMethod;
import io.warren.amqp.protocol.ChannelOpen;
import io.warren.amqp.protocol.ConnectionOpen;
import io.warren.amqp.protocol.ConnectionStartOk;
import io.warren.amqp.protocol.ConnectionTuneOk;
import io.warren.amqp.server.AmqpSettings;
import io.warren.amqp.server.BrokerContext;
import io.warren.core.vhost.VirtualHosts;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * An {@link AmqpConnection} on an {@link EmbeddedChannel}, fed decoded {@link Frame}s directly
 * (no frame decoder in front), so a test can hand the connection and its channels what the
 * decoder would refuse. Queues live on the embedded loop; {@link #run} runs their tasks.
 */
final class EmbeddedConnection implements AutoCloseable {
    final EmbeddedChannel channel;
    final BrokerContext broker; // no resource alarms: they never block here

    /** A frame the broker sent: type, channel, and for methods class/method ids and arguments. */
    record Sent(int type, int channel, int classId, int methodId, ByteBuf args) {
        boolean is(int c, int m) {
            return type == 1 && classId == c && methodId == m;
        }
    }

    /** A connection.close the broker sent. */
    record Close(int replyCode, String replyText, int classId, int methodId) {}

    EmbeddedConnection() {
        channel = new EmbeddedChannel() {
            @Override protected SocketAddress remoteAddress0() {
                return new InetSocketAddress("127.0.0.1", 40000);
            }
        };
        EventExecutor[] loops = {channel.eventLoop()};
        io.warren.core.auth.AccessControl access = new io.warren.core.auth.AccessControl(null, Set.of());
        access.putUser("guest", "guest", java.util.List.of("administrator"));
        access.setPermissions("guest", "/", ".*", ".*", ".*");
        broker = new BrokerContext(new VirtualHosts(loops, "/"), access,
                new AmqpSettings(0, 131072, 2047, 128L * 1024 * 1024), null);
        channel.pipeline().addLast("amqp", new AmqpConnection(broker, new FrameDecoder()));
    }

    /** Handshake as guest on vhost "/", then channel 1 open; everything sent so far is discarded. */
    EmbeddedConnection open() {
        channel.pipeline().fireUserEventTriggered(FrameDecoder.ProtocolHeaderReceived.INSTANCE);
        send(0, new ConnectionStartOk(Map.of(), "PLAIN", "\0guest\0guest".getBytes(StandardCharsets.UTF_8), "en_US"));
        send(0, new ConnectionTuneOk(2047, 131072, 0));
        send(0, new ConnectionOpen("/", "", false));
        send(1, new ChannelOpen(""));
        List<Sent> sent = sent();
        if (sent.stream().noneMatch(f -> f.is(20, 11))) {
            throw new AssertionError("no channel.open-ok after the handshake: " + sent);
        }
        return this;
    }

    void send(int ch, AmqpMethod m) {
        write(new Frame.Method(ch, m));
    }

    void write(Frame f) {
        channel.writeInbound(f);
        run();
    }

    /** Runs the loop's pending tasks (queue work, flushes) until none are left. */
    void run() {
        for (int i = 0; i < 100; i++) {
            channel.runPendingTasks();
            if (!channel.hasPendingTasks()) {
                return;
            }
        }
    }

    /** Every frame the broker wrote since the last call (their buffers released). */
    List<Sent> sent() {
        run();
        List<Sent> out = new ArrayList<>();
        ByteBuf b;
        while ((b = channel.readOutbound()) != null) {
            try {
                while (b.readableBytes() >= 8) {
                    int type = b.readUnsignedByte();
                    int ch = b.readUnsignedShort();
                    int size = b.readInt();
                    ByteBuf payload = b.readSlice(size);
                    b.skipBytes(1);
                    if (type == 1) {
                        int c = payload.readUnsignedShort();
                        int m = payload.readUnsignedShort();
                        out.add(new Sent(type, ch, c, m, io.netty.buffer.Unpooled.copiedBuffer(payload)));
                    } else {
                        out.add(new Sent(type, ch, -1, -1, null));
                    }
                }
            } finally {
                b.release();
            }
        }
        return out;
    }

    /** The connection.close among what was sent since the last call, or null. */
    Close connectionClose() {
        for (Sent f : sent()) {
            if (f.channel() == 0 && f.is(10, 50)) {
                ByteBuf a = f.args();
                int code = a.readUnsignedShort();
                String text = a.readCharSequence(a.readUnsignedByte(), StandardCharsets.UTF_8).toString();
                return new Close(code, text, a.readUnsignedShort(), a.readUnsignedShort());
            }
        }
        return null;
    }

    /** Closes the connection, then the queues (releasing what they hold, as the broker does at shutdown). */
    @Override public void close() {
        channel.close();
        run();
        for (var v : broker.vhosts().all()) {
            v.queues().forEach(q -> q.close());
        }
        run();
        channel.finishAndReleaseAll();
    }
}
