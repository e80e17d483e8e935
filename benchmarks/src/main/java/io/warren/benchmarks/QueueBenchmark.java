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
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class QueueBenchmark {
    private static final ByteBuf BODY = Unpooled.unreleasableBuffer(Unpooled.directBuffer(100).writeZero(100));
    private static final ByteBuf PROPERTIES = Unpooled.unreleasableBuffer(Unpooled.directBuffer(16).writeZero(16));

    private static Message message() {
        return new Message("", "bench", PROPERTIES.duplicate(), BODY.duplicate(), false, b -> Map.of());
    }

    /** A queue with one consumer whose prefetch window is {@code prefetch}. */
    @State(Scope.Thread)
    public static class WithConsumer {
        @Param({"1", "100"})
        int prefetch;

        MessageQueue queue;
        final ArrayDeque<QueueEntry> unacked = new ArrayDeque<>();

        @Setup
        public void setup() {
            queue = new MessageQueue("bench-consume", "/", false, false, null, Map.of(),
                    ImmediateEventExecutor.INSTANCE, q -> { });
            queue.addConsumer(new Consumer() {
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
                public void deliver(MessageQueue q, QueueEntry entry) {
                    unacked.addLast(entry);
                }

                @Override
                public void cancelledByQueue(MessageQueue q) {
                }
            });
        }
    }

    /** A queue holding {@code backlog} ready messages and no consumer. */
    @State(Scope.Thread)
    public static class WithBacklog {
        @Param({"10000"})
        int backlog;

        MessageQueue queue;

        @Setup
        public void setup() {
            queue = new MessageQueue("bench-backlog", "/", false, false, null, Map.of(),
                    ImmediateEventExecutor.INSTANCE, q -> { });
            for (int i = 0; i < backlog; i++) {
                queue.enqueue(message(), QueueEntry.NOT_STORED);
            }
        }
    }

    @Benchmark
    public void publishDeliverAck(WithConsumer s, Blackhole bh) {
        s.queue.enqueue(message(), QueueEntry.NOT_STORED);
        if (s.unacked.size() >= s.prefetch) {
            int n = s.unacked.size();
            while (!s.unacked.isEmpty()) {
                s.queue.discard(s.unacked.pollFirst());
            }
            s.queue.acked(n);
            s.queue.scheduleDispatch();
        }
        bh.consume(s.unacked.size());
    }

    @Benchmark
    public void backlogPublishGet(WithBacklog s, Blackhole bh) {
        s.queue.enqueue(message(), QueueEntry.NOT_STORED);
        s.queue.get((e, left) -> {
            bh.consume(left);
            s.queue.discard(e);
        });
    }
}
