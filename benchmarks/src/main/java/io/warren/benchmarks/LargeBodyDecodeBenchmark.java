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

import java.util.concurrent.TimeUnit;

/**
 * The frame decoder on large messages as a socket delivers them: {@link #MESSAGES} publishes of
 * {@code bodySize} bytes (body frames of at most 128 KiB, the negotiated frame_max), arriving in
 * 64 KiB reads (a socket read's usual size), so most body frames are cut by reads. Each decoded
 * frame is held until the batch is done, as a queue holds the body it parks. The figure is the
 * time per published message.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class LargeBodyDecodeBenchmark {
    static final int MESSAGES = 16;
    static final int READ = 64 * 1024;
    static final int FRAME_MAX = 131072;

    @Param({"65536", "1048576"})
    int bodySize;

    private EmbeddedChannel channel;
    private byte[] stream;
    private final java.util.ArrayList<Object> held = new java.util.ArrayList<>();

    @Setup
    public void setup() {
        FrameDecoder decoder = new FrameDecoder();
        decoder.frameMax(FRAME_MAX);
        channel = new EmbeddedChannel(decoder);
        channel.writeInbound(Unpooled.wrappedBuffer(FrameDecoder.PROTOCOL_HEADER));
        ByteBuf b = Unpooled.buffer();
        for (int i = 0; i < MESSAGES; i++) {
            ByteBuf method = Unpooled.buffer();
            method.writeShort(60).writeShort(40).writeShort(0);
            FrameDecodeBenchmark.shortStr(method, "");
            FrameDecodeBenchmark.shortStr(method, "q");
            method.writeByte(0);
            FrameDecodeBenchmark.frame(b, 1, method);
            ByteBuf header = Unpooled.buffer();
            header.writeShort(60).writeShort(0).writeLong(bodySize).writeShort(0);
            FrameDecodeBenchmark.frame(b, 2, header);
            for (int off = 0; off < bodySize; off += FRAME_MAX - 8) {
                FrameDecodeBenchmark.frame(b, 3, Unpooled.wrappedBuffer(new byte[Math.min(FRAME_MAX - 8, bodySize - off)]));
            }
        }
        stream = new byte[b.readableBytes()];
        b.readBytes(stream);
    }

    @Benchmark
    @OperationsPerInvocation(MESSAGES)
    public void decode(Blackhole bh) {
        for (int off = 0; off < stream.length; off += READ) {
            // a read buffer of the channel's allocator, as the socket fills one
            ByteBuf read = channel.alloc().buffer(READ);
            read.writeBytes(stream, off, Math.min(READ, stream.length - off));
            channel.writeInbound(read);
            Object f;
            while ((f = channel.readInbound()) != null) {
                held.add(f);
            }
        }
        bh.consume(held.size());
        for (Object f : held) {
            ReferenceCountUtil.release(f instanceof io.warren.amqp.codec.Frame.ReleasableFrame r ? r.content() : null);
        }
        held.clear();
    }

    @TearDown
    public void close() {
        channel.finishAndReleaseAll();
    }
}
