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
    private ByteBuf properties;
    private ByteBuf body;
    private final int storedBodySize;
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
        this.storedBodySize = -1;
    }

    private Message(String exchange, String routingKey, int bodySize) {
        this.exchange = exchange;
        this.routingKey = routingKey;
        this.persistent = true;
        this.headersReader = b -> null;
        this.storedBodySize = bodySize;
    }

    /**
     * A message recovered from the store: routing info only, its properties and body stay on
     * disk until {@link #attach} (so recovery does not fill the heap with bodies).
     */
    public static Message recovered(String exchange, String routingKey, int bodySize) {
        return new Message(exchange, routingKey, bodySize);
    }

    /** False for a recovered message whose content is still on disk. */
    public boolean loaded() {
        return body != null;
    }

    /** Gives a recovered message its content (ownership passes here). Owner: the queue's loop. */
    public void attach(ByteBuf loadedProperties, ByteBuf loadedBody) {
        if (body != null || refCnt() == 0) {
            // Already loaded, or purged/deleted while the load was in flight.
            loadedProperties.release();
            loadedBody.release();
            return;
        }
        properties = loadedProperties;
        body = loadedBody;
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
        return body == null ? storedBodySize : body.readableBytes();
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
        if (body != null) {
            properties.release();
            body.release();
        }
    }

    @Override public ReferenceCounted touch(Object hint) {
        if (body != null) {
            body.touch(hint);
        }
        return this;
    }
}
