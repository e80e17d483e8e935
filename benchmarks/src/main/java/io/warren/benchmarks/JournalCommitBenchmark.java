package io.warren.benchmarks;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.warren.store.journal.JournalMessageStore;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The message journal's group commit, on the disk of the working directory's file system:
 * {@code batch} persistent 1 KB messages appended at once and waited for (one frame, one
 * fdatasync when they fit one commit), then acked (the removes ride on the next commit). The
 * figure is the time per batch: with 1 it is a confirm's latency with one message in flight,
 * with 100 and 1000 it shows what one fsync is shared by. {@code preallocate} compares
 * zero-filled segments (the default) with segments that grow with each append.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class JournalCommitBenchmark {
    @Param({"1", "100", "1000"})
    int batch;

    @Param({"true", "false"})
    boolean preallocate;

    private Path dir;
    private JournalMessageStore store;
    private ByteBuf body;
    private long[] refs;
    private final long[] queues = {1};

    @Setup(Level.Trial)
    public void open() throws IOException {
        dir = Files.createTempDirectory(Path.of(System.getProperty("user.dir")), "jmh-journal-");
        store = JournalMessageStore.open(dir, JournalMessageStore.DEFAULT_SEGMENT_SIZE,
                JournalMessageStore.DEFAULT_COMPACT_BELOW, JournalMessageStore.DEFAULT_MAX_BACKLOG, preallocate);
        body = Unpooled.directBuffer(1000).writeZero(1000);
        refs = new long[batch];
    }

    @Benchmark
    public void appendCommitAck() throws InterruptedException {
        CountDownLatch durable = new CountDownLatch(batch);
        for (int i = 0; i < batch; i++) {
            refs[i] = store.append("", "bench", Unpooled.EMPTY_BUFFER, body.duplicate(), queues, failure -> {
                if (failure != null) {
                    throw new IllegalStateException(failure);
                }
                durable.countDown();
            });
        }
        if (!durable.await(30, TimeUnit.SECONDS)) {
            throw new IllegalStateException("commit did not finish");
        }
        for (long ref : refs) {
            store.remove(ref);
        }
    }

    @TearDown(Level.Trial)
    public void close() throws IOException {
        store.close();
        body.release();
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
