package io.warren.amqp.channel;

import io.netty.buffer.ByteBuf;
import io.warren.amqp.protocol.BasicProperties;

import java.util.Map;
import java.util.function.Function;

/** Decodes a message's headers table from its raw properties, on demand (headers exchange). */
public final class MessageHeaders {
    /** The decoder every message gets, also those read back from the page-out store. */
    public static final Function<ByteBuf, Map<String, Object>> READER =
            p -> PublishAssembler.decode(p, BasicProperties::readHeaders);

    private MessageHeaders() {
    }
}
