package io.warren.amqp.channel;

import io.netty.buffer.ByteBuf;
import io.warren.amqp.codec.Wire;
import io.warren.amqp.protocol.BasicProperties;
import io.warren.core.BrokerException;
import io.warren.core.message.TableValue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Decodes a message's headers table from its raw properties, on demand (headers exchange), and
 * reads the CC and BCC headers of sender-selected distribution.
 */
public final class MessageHeaders {
    /** The decoder every message gets, also those read back from the page-out store. */
    public static final Function<ByteBuf, Map<String, Object>> READER =
            p -> PublishAssembler.decode(p, BasicProperties::readHeaders);

    /** The headers bit of the property flags (0-9-1 basic properties: 3rd of 14). */
    private static final int HEADERS_FLAG = 1 << 13;

    public static final String CC = "CC";
    public static final String BCC = "BCC";

    private MessageHeaders() {
    }

    /** Whether raw {@code properties} have a headers table: the flag word only, nothing decoded. */
    static boolean present(ByteBuf properties) {
        return properties.readableBytes() >= 2
                && (properties.getUnsignedShort(properties.readerIndex()) & HEADERS_FLAG) != 0;
    }

    private static final byte[] CC_NAME = CC.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    private static final byte[] BCC_NAME = BCC.getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    /**
     * Whether raw {@code properties} have a CC or BCC header: the flag word, then a scan of the
     * headers table's field names; nothing is decoded or allocated for a message without them.
     */
    static boolean hasCcOrBcc(ByteBuf properties) {
        return present(properties) && PublishAssembler.decode(properties, in -> {
            skipToHeaders(in);
            return Wire.tableHasField(in, CC_NAME, BCC_NAME);
        });
    }

    /**
     * Reads the property flags and skips content-type and content-encoding, the two properties
     * before the headers table; returns the flags ({@code in} is then where the table is, if
     * {@link #HEADERS_FLAG} is set).
     */
    private static int skipToHeaders(ByteBuf in) {
        int flags = in.readUnsignedShort();
        if ((flags & (1 << 15)) != 0) { // content-type
            in.skipBytes(in.readUnsignedByte());
        }
        if ((flags & (1 << 14)) != 0) { // content-encoding
            in.skipBytes(in.readUnsignedByte());
        }
        return flags;
    }

    /**
     * The routing keys of the CC and BCC headers (RabbitMQ's rabbit_basic:header_routes): the
     * long strings of each array, other entries skipped; null when neither header is there. A
     * CC or BCC that is not an array makes the message invalid (PRECONDITION_FAILED, RabbitMQ's
     * text).
     */
    public static String[] ccRoutes(Map<String, Object> headers) {
        if (headers == null || (!headers.containsKey(CC) && !headers.containsKey(BCC))) {
            return null;
        }
        List<String> routes = new ArrayList<>();
        for (String key : new String[] {CC, BCC}) {
            if (!headers.containsKey(key)) {
                continue;
            }
            Object v = headers.get(key);
            if (!(v instanceof List<?> list)) {
                throw BrokerException.preconditionFailed("invalid message: {unacceptable_type_in_header,\"%s\",%s}",
                        key, TableValue.typeNameOf(v));
            }
            for (Object e : list) {
                if (e instanceof TableValue t && "longstr".equals(t.typeName())) {
                    routes.add(t.toString());
                } else if (e instanceof String s) {
                    routes.add(s);
                }
            }
        }
        return routes.isEmpty() ? null : routes.toArray(new String[0]);
    }

    /**
     * {@code props} without the BCC header (RabbitMQ strips it before the message is stored or
     * delivered; the headers table stays, empty if BCC was all it had); {@code props} itself
     * when there is no BCC.
     */
    public static BasicProperties withoutBcc(BasicProperties props) {
        if (props.headers() == null || !props.headers().containsKey(BCC)) {
            return props;
        }
        Map<String, Object> headers = new LinkedHashMap<>(props.headers());
        headers.remove(BCC);
        return new BasicProperties(props.contentType(), props.contentEncoding(), headers, props.deliveryMode(),
                props.priority(), props.correlationId(), props.replyTo(), props.expiration(), props.messageId(),
                props.timestamp(), props.type(), props.userId(), props.appId(), props.clusterId());
    }

    /**
     * The TTL in ms of an {@code expiration} property value (null: none, -1), checked as
     * basic.publish checks it; throws PRECONDITION_FAILED with RabbitMQ's text
     * ({@code invalid expiration '-1': {value_negative,-1}}).
     */
    public static long expirationMillis(String expiration) {
        if (expiration == null) {
            return -1;
        }
        try {
            return Expiration.parse(expiration);
        } catch (Expiration.Invalid e) {
            throw BrokerException.preconditionFailed("%s", e.getMessage());
        }
    }

    /** The header quorum queues (and queues with x-delivery-limit) add to each delivery. */
    static final String DELIVERY_COUNT = "x-delivery-count";

    /**
     * Raw properties for a delivery from a queue that counts deliveries: {@code properties} with
     * the {@code x-delivery-count} header set to {@code count} (a long, as RabbitMQ 3.10 writes
     * it), in a new buffer the caller releases. The header is appended to the raw headers table
     * (or a table of it alone is added), the other bytes copied as they are: decoding and
     * re-encoding the whole property list for each delivery cost a quorum queue's leader 9% of
     * its event loop's time (async-profiler, bench/quorum.sh through a follower). Properties
     * that already carry the header are decoded and re-encoded, to replace it in place.
     */
    static ByteBuf withDeliveryCount(io.netty.buffer.ByteBufAllocator alloc, ByteBuf properties, long count) {
        ByteBuf spliced = appendDeliveryCount(alloc, properties, count);
        if (spliced != null) {
            return spliced;
        }
        BasicProperties p = PublishAssembler.decode(properties, BasicProperties::read);
        Map<String, Object> headers = p.headers() == null ? new LinkedHashMap<>() : new LinkedHashMap<>(p.headers());
        headers.put(DELIVERY_COUNT, count);
        return encode(alloc, withHeaders(p, headers), properties.readableBytes() + 32);
    }

    private static final byte[] DELIVERY_COUNT_NAME = DELIVERY_COUNT.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    /** The header's field: name length, name, type 'l', a 64-bit value. */
    private static final int DELIVERY_COUNT_FIELD = 1 + DELIVERY_COUNT_NAME.length + 1 + 8;

    /** {@link #withDeliveryCount} by splicing; null when the properties already have the header. */
    private static ByteBuf appendDeliveryCount(io.netty.buffer.ByteBufAllocator alloc, ByteBuf properties, long count) {
        int start = properties.readerIndex();
        int end = properties.writerIndex();
        // The bytes before the headers table (flags, content-type, content-encoding) and the table's
        // extent, checked as the decoder checks them (a malformed list fails the same way).
        int[] at = PublishAssembler.decode(properties, in -> {
            int flags = skipToHeaders(in);
            int tableAt = in.readerIndex();
            if ((flags & HEADERS_FLAG) == 0) {
                return new int[] {flags, tableAt, -1};
            }
            if (Wire.tableHasField(in.duplicate(), DELIVERY_COUNT_NAME, DELIVERY_COUNT_NAME)) {
                return null;
            }
            long length = in.getUnsignedInt(tableAt);
            return new int[] {flags, tableAt, (int) length};
        });
        if (at == null) {
            return null;
        }
        int flags = at[0];
        int tableAt = at[1];
        int tableLength = at[2];
        ByteBuf out = alloc.heapBuffer(end - start + 4 + DELIVERY_COUNT_FIELD);
        out.writeShort(flags | HEADERS_FLAG);
        out.writeBytes(properties, start + 2, tableAt - start - 2);
        int rest;
        if (tableLength < 0) {
            out.writeInt(DELIVERY_COUNT_FIELD);
            rest = tableAt;
        } else {
            out.writeInt(tableLength + DELIVERY_COUNT_FIELD);
            out.writeBytes(properties, tableAt + 4, tableLength);
            rest = tableAt + 4 + tableLength;
        }
        out.writeByte(DELIVERY_COUNT_NAME.length).writeBytes(DELIVERY_COUNT_NAME).writeByte('l').writeLong(count);
        out.writeBytes(properties, rest, end - rest);
        return out;
    }

    /**
     * Cluster: the header a node adds to a message it forwards to the node that holds a classic
     * queue the message was routed to (the queue's name, a long string). The holder reads it
     * on a node's own link only ({@code AmqpConnection#nodeLink}) and removes it before the
     * message is stored or delivered; from anyone else it is just a header.
     */
    public static final String FORWARD_TO = "x-warren-forward-to";

    /** Raw {@code properties} with {@link #FORWARD_TO} set to {@code queue}, in a new buffer the caller releases. */
    public static ByteBuf withForwardTo(io.netty.buffer.ByteBufAllocator alloc, ByteBuf properties, String queue) {
        BasicProperties p = PublishAssembler.decode(properties, BasicProperties::read);
        Map<String, Object> headers = p.headers() == null ? new LinkedHashMap<>() : new LinkedHashMap<>(p.headers());
        headers.put(FORWARD_TO, queue);
        return encode(alloc, withHeaders(p, headers), properties.readableBytes() + 32 + queue.length() * 3);
    }

    /** A forwarded message's queue and its properties without {@link #FORWARD_TO} (a buffer the caller owns). */
    record Forwarded(String queue, ByteBuf properties) {}

    /**
     * Reads and removes {@link #FORWARD_TO} from raw {@code properties} (not released here); null
     * when the header is missing or not a string. A headers table left empty is dropped, so a
     * message forwarded without headers arrives as it was published (one published with an
     * empty table arrives without one).
     */
    static Forwarded takeForwardTo(io.netty.buffer.ByteBufAllocator alloc, ByteBuf properties) {
        if (!present(properties)) {
            return null;
        }
        BasicProperties p = PublishAssembler.decode(properties, BasicProperties::read);
        Object queue = p.headers() == null ? null : p.headers().get(FORWARD_TO);
        if (queue instanceof TableValue t && "longstr".equals(t.typeName())) {
            queue = t.toString();
        }
        if (!(queue instanceof String name)) {
            return null;
        }
        Map<String, Object> headers = new LinkedHashMap<>(p.headers());
        headers.remove(FORWARD_TO);
        return new Forwarded(name, encode(alloc, withHeaders(p, headers.isEmpty() ? null : headers),
                properties.readableBytes()));
    }

    private static BasicProperties withHeaders(BasicProperties p, Map<String, Object> headers) {
        return new BasicProperties(p.contentType(), p.contentEncoding(), headers, p.deliveryMode(), p.priority(),
                p.correlationId(), p.replyTo(), p.expiration(), p.messageId(), p.timestamp(), p.type(), p.userId(),
                p.appId(), p.clusterId());
    }

    private static ByteBuf encode(io.netty.buffer.ByteBufAllocator alloc, BasicProperties p, int sizeHint) {
        ByteBuf out = alloc.heapBuffer(sizeHint);
        try {
            p.write(out);
        } catch (RuntimeException e) {
            out.release();
            throw e;
        }
        return out;
    }
}
