package io.warren.amqp.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.warren.amqp.codec.FieldValues.LongString;
import io.warren.amqp.codec.FieldValues.Timestamp;
import io.warren.amqp.protocol.BasicProperties;
import io.warren.core.deadletter.DeadLetterCodec;
import io.warren.core.message.TableValue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The AMQP 0-9-1 side of dead-lettering: rewrites a message's properties as RabbitMQ 3.10's
 * rabbit_dead_letter:make_msg and update_x_death_header do. The layout, checked against
 * the reference RabbitMQ 3.10 with pika on 2026-12-01 (a message with an expiration and a CC
 * header rejected from a work queue whose DLX has a routing key, expired from a TTL'd retry
 * queue back to the work queue, three rounds; warren printed the same layout):
 * <ul>
 * <li>the headers table comes out sorted by key (RabbitMQ's set_table_value sorts it);</li>
 * <li>{@code x-death} is an array of tables, most recent (queue, reason) first; a new entry is
 *     {@code count} (long 1), {@code reason}, {@code queue}, {@code time} (timestamp, seconds),
 *     {@code exchange}, {@code routing-keys} (array: the published key, then the CC keys) and
 *     {@code original-expiration} when the message had an expiration, in that order for the
 *     first death; when the (queue, reason) entry exists, only its count goes up (its time and
 *     keys stay) and it moves to the front, its fields sorted by name, as is a new entry added
 *     to an existing list;</li>
 * <li>{@code x-first-death-reason/queue/exchange} are written on the first death only; RabbitMQ
 *     3.10 writes no {@code x-last-death-*} headers (later versions do), so neither does warren;</li>
 * <li>the {@code expiration} property is removed; {@code CC} is removed when a dead-letter
 *     routing key replaces the original keys.</li>
 * </ul>
 */
public final class AmqpDeadLetterCodec implements DeadLetterCodec {
    @Override public ByteBuf rewrite(ByteBuf properties, String reason, String queue, String exchange,
                                     String routingKey, long nowSeconds, boolean dropCc) {
        BasicProperties p = PublishAssembler.decode(properties, BasicProperties::read);
        Map<String, Object> headers = sorted(p.headers());
        List<Object> keys = new ArrayList<>();
        keys.add(LongString.of(routingKey));
        String[] cc = MessageHeaders.ccRoutes(headers);
        if (cc != null) {
            for (String k : cc) {
                keys.add(LongString.of(k));
            }
        }
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("count", 1L);
        info.put("reason", LongString.of(reason));
        info.put("queue", LongString.of(queue));
        info.put("time", new Timestamp(nowSeconds));
        info.put("exchange", LongString.of(exchange));
        info.put("routing-keys", keys);
        if (p.expiration() != null) {
            info.put("original-expiration", LongString.of(p.expiration()));
        }
        Object existing = headers.get("x-death");
        if (existing instanceof List<?> deaths) {
            List<Object> next = new ArrayList<>(deaths.size() + 1);
            Map<String, Object> entry = null;
            for (Object d : deaths) {
                if (entry == null && d instanceof Map<?, ?> m && queue.equals(text(m.get("queue")))
                        && reason.equals(text(m.get("reason")))) {
                    @SuppressWarnings("unchecked")
                    Map<String, Object> found = new LinkedHashMap<>((Map<String, Object>) m);
                    found.put("count", count(found.get("count")) + 1);
                    entry = found;
                } else {
                    next.add(d);
                }
            }
            next.add(0, sorted(entry != null ? entry : info));
            headers.put("x-death", next);
        } else if (existing != null) {
            // an x-death that is not an array (a client put it there): replaced, as RabbitMQ does
            List<Object> deaths = new ArrayList<>();
            deaths.add(info);
            headers.put("x-death", deaths);
        } else {
            headers.put("x-first-death-reason", LongString.of(reason));
            headers.put("x-first-death-queue", LongString.of(queue));
            headers.put("x-first-death-exchange", LongString.of(exchange));
            List<Object> deaths = new ArrayList<>();
            deaths.add(info);
            headers.put("x-death", deaths);
        }
        if (dropCc) {
            headers.remove(MessageHeaders.CC);
        }
        BasicProperties out = new BasicProperties(p.contentType(), p.contentEncoding(), sorted(headers),
                p.deliveryMode(), p.priority(), p.correlationId(), p.replyTo(), null, p.messageId(), p.timestamp(),
                p.type(), p.userId(), p.appId(), p.clusterId());
        ByteBuf buf = Unpooled.buffer(properties.readableBytes() + 256);
        out.write(buf);
        return buf;
    }

    @Override public Map<String, Object> headers(ByteBuf properties) {
        return MessageHeaders.READER.apply(properties);
    }

    /** A table sorted by key as RabbitMQ sorts field tables (byte order of the names). */
    private static Map<String, Object> sorted(Map<String, Object> table) {
        TreeMap<String, Object> byName = new TreeMap<>((a, b) -> Arrays.compareUnsigned(
                a.getBytes(StandardCharsets.UTF_8), b.getBytes(StandardCharsets.UTF_8)));
        if (table != null) {
            byName.putAll(table);
        }
        return new LinkedHashMap<>(byName);
    }

    private static long count(Object v) {
        if (v instanceof TableValue t && t.comparable() instanceof Number n) {
            return n.longValue();
        }
        return v instanceof Number n ? n.longValue() : 0;
    }

    private static String text(Object v) {
        if (v instanceof TableValue t && t.comparable() instanceof String s) {
            return s;
        }
        return v instanceof CharSequence s ? s.toString() : null;
    }
}
