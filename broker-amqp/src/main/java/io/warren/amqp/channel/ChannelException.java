package io.warren.amqp.channel;

import io.warren.amqp.protocol.ReplyCode;

/** A soft error: the channel is closed with {@code code}, the connection stays. */
public class ChannelException extends RuntimeException {
    private final ReplyCode code;

    public ChannelException(ReplyCode code, String text) {
        super(text, null, false, false);
        this.code = code;
    }

    public ReplyCode code() {
        return code;
    }
}
