package io.warren.benchmarks;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.util.concurrent.ImmediateEventExecutor;
import io.warren.core.message.Message;
import io.warren.core.message.QueueEntry;
import io.warren.core.queue.Consumer;
import io.warren.core.queue.MessageQueue;
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
import org.openjdk.jmh.infra.Blackhole;

import java.util.ArrayDeque;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One queue's work per message, on its own loop (here the benchmark's thread, through Netty's
 * immediate executor): {@code publishDeliverAck} enqueues a 100 B message that goes straight to
 * a consumer whose prefetch window is {@code prefetch}, acked once the window is full (1: an
 * ack per delivery; 100: a consumer that acks in batches); {@code backlogPublishGet} appends to a
 * backlog of {@code backlog} ready messages and takes the head with basic.get. No store, no
 * sockets: the figure is the queue's own cost per message.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class QueueBenchmark {
    @Param({"1", "100"})
    int prefetch;

    @Param({"10000"})
    int backlog;

    private MessageQueue withConsumer;
    private MessageQueue withBacklog;
    private final ArrayDeque<QueueEntry> unacked = new ArrayDeque<>();
    private ByteBuf body;
    private ByteBuf properties;

    @Setup
    public void setup() {
        body = Unpooled.directBuffer(100).writeZero(100);
        properties = Unpooled.directBuffer(16).writeZero(16);
        withConsumer = new MessageQueue("bench-consume", "/", false, false, null, Map.of(),
                ImmediateEventExecutor.INSTANCE, q -> { });
        withConsumer.addConsumer(new Consumer() {
            @Override
            public String tag() {
                return "bench";
            }

            @Override
            public boolean exclusive() {
                return false;
            }

            @Override
            public boolean tryReserve() {
                return unacked.size() < prefetch;
            }

            @Override
            public void deliver(MessageQueue queue, QueueEntry entry) {
                unacked.addLast(entry);
            }

            @Override
            public void cancelledByQueue(MessageQueue queue) {
            }
        });
        withBacklog = new MessageQueue("bench-backlog", "/", false, false, null, Map.of(),
                ImmediateEventExecutor.INSTANCE, q -> { });
        for (int i = 0; i < backlog; i++) {
            withBacklog.enqueue(message(), QueueEntry.NOT_STORED);
        }
    }

    private Message message() {
        return new Message("", "bench", properties.retainedDuplicate(), body.retainedDuplicate(), false, b -> Map.of());
    }

    @Benchmark
    public void publishDeliverAck(Blackhole bh) {
        withConsumer.enqueue(message(), QueueEntry.NOT_STORED);
        if (unacked.size() >= prefetch) {
            int n = unacked.size();
            while (!unacked.isEmpty()) {
                withConsumer.discard(unacked.pollFirst());
            }
            withConsumer.acked(n);
            withConsumer.scheduleDispatch();
        }
        bh.consume(unacked.size());
    }

    @Benchmark
    public void backlogPublishGet(Blackhole bh) {
        withBacklog.enqueue(message(), QueueEntry.NOT_STORED);
        withBacklog.get((e, left) -> {
            bh.consume(left);
            withBacklog.discard(e);
        });
    }

    @TearDown
    public void tearDown() {
        body.release();
        properties.release();
    }
}
