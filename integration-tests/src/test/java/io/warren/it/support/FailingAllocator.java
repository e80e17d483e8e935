package io.warren.it.support;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;

import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntPredicate;

/**
 * Netty's default allocator, except that every {@code n}th allocation whose requested size
 * matches {@code target} throws {@link OutOfMemoryError}, as a full direct memory does.
 * Targeting by size lets a test hit one kind of buffer (e.g. the frames of deliveries of ~1 KB
 * bodies) and leave socket reads and small method frames alone.
 */
public final class FailingAllocator implements ByteBufAllocator {
    private final ByteBufAllocator d = ByteBufAllocator.DEFAULT;
    private final int every;
    private final IntPredicate target;
    private final AtomicLong matching = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private volatile boolean armed = true;

    public FailingAllocator(int every, IntPredicate target) {
        this.every = every;
        this.target = target;
    }

    /** How many allocations were made to fail so far. */
    public long failures() {
        return failed.get();
    }

    public void disarm() {
        armed = false;
    }

    private void maybeFail(int size) {
        if (armed && target.test(size) && matching.incrementAndGet() % every == 0) {
            failed.incrementAndGet();
            throw new OutOfMemoryError("injected: cannot reserve " + size + " bytes of direct buffer memory");
        }
    }

    @Override public ByteBuf buffer() {
        return d.buffer();
    }

    @Override public ByteBuf buffer(int initialCapacity) {
        maybeFail(initialCapacity);
        return d.buffer(initialCapacity);
    }

    @Override public ByteBuf buffer(int initialCapacity, int maxCapacity) {
        maybeFail(initialCapacity);
        return d.buffer(initialCapacity, maxCapacity);
    }

    @Override public ByteBuf ioBuffer() {
        return d.ioBuffer();
    }

    @Override public ByteBuf ioBuffer(int initialCapacity) {
        maybeFail(initialCapacity);
        return d.ioBuffer(initialCapacity);
    }

    @Override public ByteBuf ioBuffer(int initialCapacity, int maxCapacity) {
        maybeFail(initialCapacity);
        return d.ioBuffer(initialCapacity, maxCapacity);
    }

    @Override public ByteBuf heapBuffer() {
        return d.heapBuffer();
    }

    @Override public ByteBuf heapBuffer(int initialCapacity) {
        maybeFail(initialCapacity);
        return d.heapBuffer(initialCapacity);
    }

    @Override public ByteBuf heapBuffer(int initialCapacity, int maxCapacity) {
        maybeFail(initialCapacity);
        return d.heapBuffer(initialCapacity, maxCapacity);
    }

    @Override public ByteBuf directBuffer() {
        return d.directBuffer();
    }

    @Override public ByteBuf directBuffer(int initialCapacity) {
        maybeFail(initialCapacity);
        return d.directBuffer(initialCapacity);
    }

    @Override public ByteBuf directBuffer(int initialCapacity, int maxCapacity) {
        maybeFail(initialCapacity);
        return d.directBuffer(initialCapacity, maxCapacity);
    }

    @Override public CompositeByteBuf compositeBuffer() {
        return d.compositeBuffer();
    }

    @Override public CompositeByteBuf compositeBuffer(int maxNumComponents) {
        return d.compositeBuffer(maxNumComponents);
    }

    @Override public CompositeByteBuf compositeHeapBuffer() {
        return d.compositeHeapBuffer();
    }

    @Override public CompositeByteBuf compositeHeapBuffer(int maxNumComponents) {
        return d.compositeHeapBuffer(maxNumComponents);
    }

    @Override public CompositeByteBuf compositeDirectBuffer() {
        return d.compositeDirectBuffer();
    }

    @Override public CompositeByteBuf compositeDirectBuffer(int maxNumComponents) {
        return d.compositeDirectBuffer(maxNumComponents);
    }

    @Override public boolean isDirectBufferPooled() {
        return d.isDirectBufferPooled();
    }

    @Override public int calculateNewCapacity(int minNewCapacity, int maxCapacity) {
        return d.calculateNewCapacity(minNewCapacity, maxCapacity);
    }
}
