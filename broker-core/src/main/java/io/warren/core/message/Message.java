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
    private final String[] ccRoutes;
    private ByteBuf properties;
    private ByteBuf body;
    /** After {@link #compact}: the one buffer holding properties and body (their slices); released last. */
    private ByteBuf owner;
    private int storedBodySize;
    private final boolean persistent;
    private final Function<ByteBuf, Map<String, Object>> headersReader;
    private Map<String, Object> headers;
    private boolean headersRead;
    /** The per-message TTL in ms (the {@code expiration} property), or -1: none. */
    private long ttl = -1;
    /** The {@code priority} property, 0..255 (0 when absent), as an unsigned byte. */
    private byte priority;

    /**
     * @param properties property flags and property list, as received (ownership passes here)
     * @param body the body (ownership passes here)
     * @param headersReader decodes the headers table from {@code properties}, on demand
     */
    public Message(String exchange, String routingKey, ByteBuf properties, ByteBuf body, boolean persistent,
                   Function<ByteBuf, Map<String, Object>> headersReader) {
        this(exchange, routingKey, properties, body, persistent, headersReader, null);
    }

    /**
     * @param ccRoutes the routing keys of the CC and BCC headers (sender-selected distribution),
     *        routed by as well as {@code routingKey}; null when there are none
     */
    public Message(String exchange, String routingKey, ByteBuf properties, ByteBuf body, boolean persistent,
                   Function<ByteBuf, Map<String, Object>> headersReader, String[] ccRoutes) {
        this.ccRoutes = ccRoutes;
        this.exchange = exchange;
        this.routingKey = routingKey;
        this.properties = properties;
        this.body = body;
        this.persistent = persistent;
        this.headersReader = headersReader;
        this.storedBodySize = -1;
    }

    private Message(String exchange, String routingKey, int bodySize, boolean persistent) {
        this.ccRoutes = null;
        this.exchange = exchange;
        this.routingKey = routingKey;
        this.persistent = persistent;
        this.headersReader = b -> null;
        this.storedBodySize = bodySize;
    }

    /**
     * A message recovered from the store: routing info only, its properties and body stay on
     * disk until {@link #attach} (so recovery does not fill the heap with bodies).
     */
    public static Message recovered(String exchange, String routingKey, int bodySize) {
        return new Message(exchange, routingKey, bodySize, true);
    }

    /**
     * A message whose content a queue let go while the store keeps it (a quorum queue's
     * dead-lettered backlog): as {@link #recovered}, keeping its persistence, since a quorum
     * queue journals transient messages too.
     */
    public static Message unloaded(String exchange, String routingKey, int bodySize, boolean persistent) {
        return new Message(exchange, routingKey, bodySize, persistent);
    }

    /**
     * A message read back from the page-out store: {@code content} (ownership passes here) holds
     * the properties ({@code propertiesLength} bytes) followed by the body, as after {@link #compact}.
     */
    public static Message restored(String exchange, String routingKey, ByteBuf content, int propertiesLength,
                                   boolean persistent, Function<ByteBuf, Map<String, Object>> headersReader) {
        Message m = new Message(exchange, routingKey, content.slice(0, propertiesLength),
                content.slice(propertiesLength, content.readableBytes() - propertiesLength), persistent, headersReader);
        m.owner = content;
        return m;
    }

    /**
     * The dead-lettered copy of this (loaded) message: routed from {@code dlx} by {@code rk} and
     * {@code cc}, with {@code newProperties} (ownership passes to the copy) decoded by
     * {@code reader}, the same body (a retained slice) and persistence, no TTL. This message is not changed; the caller still
     * holds its reference. Owner: the dead-lettering queue's loop.
     */
    public Message deadLettered(String dlx, String rk, String[] cc, ByteBuf newProperties,
                                Function<ByteBuf, Map<String, Object>> reader) {
        return new Message(dlx, rk, newProperties, body.retainedSlice(), persistent, reader, cc);
    }

    /** The per-message TTL in ms from the {@code expiration} property, or -1 when it has none. */
    public long ttl() {
        return ttl;
    }

    /** Set by the protocol layer once, before the message is routed (it parsed and checked the property). */
    public void ttl(long ms) {
        ttl = ms;
    }

    /** The {@code priority} property (0..255; 0 when the message has none). */
    public int priority() {
        return priority & 0xFF;
    }

    /**
     * Set by the protocol layer once, before the message is routed, or by recovery and the
     * page-out read-back before the message is queued (priority queues order by it).
     */
    public void priority(int p) {
        priority = (byte) p;
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

    /**
     * Bodies up to this size are copied when they park in a queue. A received body is a slice of
     * a socket read buffer (up to 64 KiB), so a small parked message would pin a whole read
     * buffer; larger bodies fill most of the buffers they span, and copying them costs more
     * than it saves.
     */
    public static final int COMPACT_MAX = 64 * 1024;

    /**
     * Copy-on-park: replaces properties and body, slices of read buffers, with one exact-size
     * buffer, so a message that waits in a queue holds only its own bytes. Only when the caller
     * holds the only reference (a message in one queue: no other thread can be reading it);
     * a message shared by several queues keeps its slices. Returns true when it copied.
     * Owner: the queue's loop.
     */
    public boolean compact() {
        if (body == null || owner != null || refCnt() != 1) {
            return false;
        }
        int p = properties.readableBytes();
        int b = body.readableBytes();
        if (b > COMPACT_MAX) {
            return false;
        }
        ByteBuf copy = io.netty.buffer.PooledByteBufAllocator.DEFAULT.directBuffer(p + b, p + b);
        copy.writeBytes(properties, properties.readerIndex(), p);
        copy.writeBytes(body, body.readerIndex(), b);
        properties.release();
        body.release();
        owner = copy;
        properties = copy.slice(0, p);
        body = copy.slice(p, b);
        return true;
    }

    /** Bytes held in memory for this message's content (0 while it is on disk only). */
    public int memoryBytes() {
        return body == null ? 0 : properties.readableBytes() + body.readableBytes();
    }

    public String exchange() {
        return exchange;
    }

    public String routingKey() {
        return routingKey;
    }

    /**
     * The extra routing keys from the CC and BCC headers (sender-selected distribution), routed by
     * as well as {@link #routingKey()} by the exchanges that route by key; null when there are
     * none. Callers must not modify it.
     */
    public String[] ccRoutes() {
        return ccRoutes;
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
        if (owner != null) {
            owner.release();
        } else if (body != null) {
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
