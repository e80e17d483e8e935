package io.warren.benchmarks;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.ReferenceCountUtil;
import io.warren.amqp.codec.FrameDecoder;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/**
 * The frame decoder on a publisher's bytes: {@link #BATCH} publishes (basic.publish method
 * frame, content header, one body frame of {@code bodySize} bytes) arriving in one read, as a
 * busy publisher's socket delivers them. The figure is the time per published message.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class FrameDecodeBenchmark {
    static final int BATCH = 64;

    @Param({"16", "1000"})
    int bodySize;

    private EmbeddedChannel channel;
    private byte[] batch;

    @Setup
    public void setup() {
        FrameDecoder decoder = new FrameDecoder();
        decoder.frameMax(131072);
        channel = new EmbeddedChannel(decoder);
        channel.writeInbound(Unpooled.wrappedBuffer(FrameDecoder.PROTOCOL_HEADER));
        ByteBuf b = Unpooled.buffer();
        for (int i = 0; i < BATCH; i++) {
            writePublish(b, "amq.direct", "orders.eu", bodySize);
        }
        batch = new byte[b.readableBytes()];
        b.readBytes(batch);
    }

    static void frame(ByteBuf out, int type, ByteBuf payload) {
        out.writeByte(type).writeShort(1).writeInt(payload.readableBytes()).writeBytes(payload).writeByte(0xCE);
    }

    static void shortStr(ByteBuf b, String s) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        b.writeByte(bytes.length).writeBytes(bytes);
    }

    static void writePublish(ByteBuf out, String exchange, String key, int bodySize) {
        ByteBuf method = Unpooled.buffer();
        method.writeShort(60).writeShort(40).writeShort(0); // basic.publish, reserved
        shortStr(method, exchange);
        shortStr(method, key);
        method.writeByte(0); // mandatory, immediate
        frame(out, 1, method);
        ByteBuf header = Unpooled.buffer();
        header.writeShort(60).writeShort(0).writeLong(bodySize).writeShort(0); // no properties
        frame(out, 2, header);
        frame(out, 3, Unpooled.wrappedBuffer(new byte[bodySize]));
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void decode(Blackhole bh) {
        channel.writeInbound(Unpooled.wrappedBuffer(batch));
        Object f;
        while ((f = channel.readInbound()) != null) {
            bh.consume(f);
            ReferenceCountUtil.release(f);
        }
    }

    @TearDown
    public void close() {
        channel.finishAndReleaseAll();
    }
}
