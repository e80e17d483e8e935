package io.warren.amqp.channel;

import io.netty.buffer.ByteBuf;
import io.warren.core.message.Message;

import java.security.SecureRandom;
import java.util.Base64;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;

/**
 * RabbitMQ's direct reply-to (the pseudo-queue {@code amq.rabbitmq.reply-to}): the live reply
 * consumers of the broker, each under an unguessable token. A channel consuming from the
 * pseudo-queue registers here; its requests carry {@code reply_to = amq.rabbitmq.reply-to.<token>},
 * and a publish to the default exchange with that routing key goes straight to the channel,
 * handed to its connection's loop: no queue, nothing stored, no ack.
 *
 * <p>RabbitMQ's suffix is the channel's pid and a random key; a forged or stale suffix finds
 * nothing (the reply is dropped, a declare answers 404). Here the whole suffix is a random
 * 128-bit token, so it cannot name a channel without having been handed out. Like RabbitMQ,
 * the lookup is broker-wide (not per vhost). The map is thread-safe; each channel adds and
 * removes its own token on its loop, and any loop may look a token up.
 */
public final class DirectReplyTo {
    public static final String QUEUE = "amq.rabbitmq.reply-to";
    static final String PREFIX = QUEUE + ".";
    private static final SecureRandom RANDOM = new SecureRandom();

    private final ConcurrentHashMap<String, AmqpChannel> live = new ConcurrentHashMap<>();

    /** Channel loop: registers {@code channel} as a reply consumer; returns its token. */
    String register(AmqpChannel channel) {
        while (true) {
            byte[] b = new byte[16];
            RANDOM.nextBytes(b);
            String token = Base64.getUrlEncoder().withoutPadding().encodeToString(b);
            if (live.putIfAbsent(token, channel) == null) {
                return token;
            }
        }
    }

    /** Channel loop: the reply consumer was cancelled, or its channel closed. */
    void unregister(String token, AmqpChannel channel) {
        live.remove(token, channel);
    }

    /** True for a routing key (or queue name) in the pseudo-queue's namespace. */
    static boolean isReplyAddress(String name) {
        return name.startsWith(PREFIX);
    }

    /**
     * queue.declare of a name starting with {@code amq.rabbitmq.reply-to}: the pseudo-queue
     * itself always exists; a reply address exists while its consumer does. Any thread.
     */
    boolean exists(String name) {
        if (name.equals(QUEUE)) {
            return true;
        }
        return isReplyAddress(name) && live.containsKey(name.substring(PREFIX.length()));
    }

    /**
     * Hands {@code message} (a publish to the default exchange with a reply address as routing
     * key) to the reply consumer it names, on that consumer's connection loop; without one it is
     * dropped silently. Takes over the caller's reference. Any loop.
     */
    void deliver(String routingKey, Message message) {
        String token = routingKey.substring(PREFIX.length());
        AmqpChannel target = live.get(token);
        if (target == null) {
            message.release();
            return;
        }
        try {
            target.connection().loop().execute(() -> target.deliverReply(token, message));
        } catch (RejectedExecutionException shuttingDown) {
            message.release();
        }
    }

    /** How many reply consumers are live (tests, metrics). */
    public int size() {
        return live.size();
    }

    /**
     * Returns {@code properties} (raw content-header properties, not consumed) with the reply-to
     * property replaced by {@code replyTo}, as a new buffer; the other properties keep their bytes.
     * The caller has checked that reply-to is present.
     */
    static ByteBuf withReplyTo(io.netty.buffer.ByteBufAllocator alloc, ByteBuf properties, String replyTo) {
        ByteBuf in = properties.duplicate();
        int start = in.readerIndex();
        int flags = in.readUnsignedShort();
        // Properties before reply-to, in list order (0-9-1 basic class): content-type,
        // content-encoding, headers, delivery-mode, priority, correlation-id.
        if ((flags & (1 << 15)) != 0) {
            in.skipBytes(in.readUnsignedByte());
        }
        if ((flags & (1 << 14)) != 0) {
            in.skipBytes(in.readUnsignedByte());
        }
        if ((flags & (1 << 13)) != 0) {
            in.skipBytes((int) in.readUnsignedInt());
        }
        if ((flags & (1 << 12)) != 0) {
            in.skipBytes(1);
        }
        if ((flags & (1 << 11)) != 0) {
            in.skipBytes(1);
        }
        if ((flags & (1 << 10)) != 0) {
            in.skipBytes(in.readUnsignedByte());
        }
        int replyAt = in.readerIndex();
        int oldLength = in.readUnsignedByte();
        int after = replyAt + 1 + oldLength;
        byte[] value = replyTo.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        int end = properties.writerIndex();
        ByteBuf out = alloc.buffer(properties.readableBytes() - oldLength + value.length);
        out.writeBytes(properties, start, replyAt - start);
        out.writeByte(value.length);
        out.writeBytes(value);
        out.writeBytes(properties, after, end - after);
        return out;
    }
}
