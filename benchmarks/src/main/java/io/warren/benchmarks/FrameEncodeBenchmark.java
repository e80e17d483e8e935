package io.warren.benchmarks;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import io.warren.amqp.codec.FrameWriter;
import io.warren.amqp.protocol.BasicDeliver;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * The frame encoder on a consumer's side: one basic.deliver with its content header (a
 * content type and a delivery mode, as PerfTest sends) and body, encoded into the buffer that
 * goes to the socket, then released as the socket's write would. Bodies below 4 KiB are copied
 * into the frame; larger ones go out as retained slices of the stored body (a composite
 * buffer, 128 KiB body frames).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class FrameEncodeBenchmark {
    @Param({"16", "1000", "65536", "1048576"})
    int bodySize;

    private final ByteBufAllocator alloc = PooledByteBufAllocator.DEFAULT;
    private ByteBuf properties;
    private ByteBuf body;
    private long deliveryTag;

    @Setup
    public void setup() {
        // property flags: content-type and delivery-mode; "text/plain", 2
        properties = alloc.directBuffer();
        properties.writeShort(0x8000 | 0x1000);
        properties.writeByte(10).writeBytes("text/plain".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        properties.writeByte(2);
        body = alloc.directBuffer(bodySize);
        body.writerIndex(bodySize);
    }

    @TearDown
    public void tearDown() {
        properties.release();
        body.release();
    }

    @Benchmark
    public int deliver() {
        BasicDeliver m = new BasicDeliver("amq.ctag-bench", ++deliveryTag, false, "amq.direct", "orders.eu");
        ByteBuf frames = FrameWriter.content(alloc, 1, m, 60, properties, body, 131072);
        int n = frames.readableBytes();
        frames.release();
        return n;
    }
}
