package io.warren.core.message;

import io.netty.buffer.ByteBuf;
import io.netty.util.AbstractReferenceCounted;
import io.netty.util.ReferenceCounted;

import java.util.Map;
import java.util.function.Function;

/**
 * A published message: routing info, the content-header properties as raw bytes (never
 * decoded on the hot path) and the body. Shared by every queue it was routed to: each
 * holder retains it once and releases it once; the buffers are released with the last
 * reference.
 */
public final class Message extends AbstractReferenceCounted {
    private final String exchange;
    private final String routingKey;
    private final ByteBuf properties;
    private final ByteBuf body;
    private final boolean persistent;
    private final Function<ByteBuf, Map<String, Object>> headersReader;
    private Map<String, Object> headers;
    private boolean headersRead;

    /**
     * @param properties property flags and property list, as received (ownership passes here)
     * @param body the body (ownership passes here)
     * @param headersReader decodes the headers table from {@code properties}, on demand
     */
    public Message(String exchange, String routingKey, ByteBuf properties, ByteBuf body, boolean persistent,
                   Function<ByteBuf, Map<String, Object>> headersReader) {
        this.exchange = exchange;
        this.routingKey = routingKey;
        this.properties = properties;
        this.body = body;
        this.persistent = persistent;
        this.headersReader = headersReader;
    }

    public String exchange() {
        return exchange;
    }

    public String routingKey() {
        return routingKey;
    }

    /** The raw properties; callers must not move its indexes (use duplicate()/slice()). */
    public ByteBuf properties() {
        return properties;
    }

    /** The body; callers must not move its indexes (use retainedSlice()). */
    public ByteBuf body() {
        return body;
    }

    public int bodySize() {
        return body.readableBytes();
    }

    public boolean persistent() {
        return persistent;
    }

    /** The headers table, decoded once on first use (headers exchange); null when absent. */
    public synchronized Map<String, Object> headers() {
        if (!headersRead) {
            headers = headersReader.apply(properties.duplicate());
            headersRead = true;
        }
        return headers;
    }

    @Override protected void deallocate() {
        properties.release();
        body.release();
    }

    @Override public ReferenceCounted touch(Object hint) {
        body.touch(hint);
        return this;
    }
}
