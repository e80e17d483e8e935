package io.warren.core.deadletter;

import io.netty.buffer.ByteBuf;

/**
 * Rewrites a dead-lettered message's raw properties (broker-core holds them as bytes; the codec
 * lives with the protocol and is injected by the server, as the headers reader is). Only
 * dead-lettering calls it: the publish path never decodes for it.
 */
public interface DeadLetterCodec {
    /**
     * The properties of the dead-lettered copy, as RabbitMQ 3.10's rabbit_dead_letter:make_msg
     * writes them: the {@code x-death} entry for ({@code queue}, {@code reason}) added first or
     * its count incremented, {@code x-first-death-*} on the first death, {@code x-last-death-*}
     * always, the {@code expiration} property removed (kept as {@code original-expiration}), and
     * the {@code CC} header removed when {@code dropCc} (a dead-letter routing key replaces the
     * original keys). {@code routingKey} is the key the message was published with. Reads
     * {@code properties} without moving its indexes; the caller owns the returned buffer.
     */
    ByteBuf rewrite(ByteBuf properties, String reason, String queue, String exchange, String routingKey,
                    long nowSeconds, boolean dropCc);

    /**
     * The headers table of raw {@code properties} (null: none), without moving its indexes: the
     * reader dead-lettered copies get (a recovered message has none of its own), for the cycle
     * check, the headers exchange and the CC keys of a message that lost them (paged out,
     * recovered).
     */
    java.util.Map<String, Object> headers(ByteBuf properties);
}
