package io.warren.amqp.connection;

import io.warren.amqp.protocol.ReplyCode;
import io.warren.core.BrokerException;

import java.nio.charset.StandardCharsets;

/** Maps the core's protocol-neutral failure reasons to AMQP reply codes. */
public final class ReplyCodes {
    private ReplyCodes() {}

    /**
     * A reply text that fits a shortstr (255 bytes), cut as RabbitMQ cuts it
     * (rabbit_binary_generator:amqp_exception_explanation): the first 252 bytes, then "...".
     * Clients compare these texts, so the cut must be the same.
     */
    public static String replyText(String text) {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        return b.length <= 255 ? text : new String(b, 0, 252, StandardCharsets.UTF_8) + "...";
    }

    public static ReplyCode of(BrokerException.Reason reason) {
        return switch (reason) {
            case NOT_FOUND -> ReplyCode.NOT_FOUND;
            case ACCESS_REFUSED -> ReplyCode.ACCESS_REFUSED;
            case RESOURCE_LOCKED -> ReplyCode.RESOURCE_LOCKED;
            case PRECONDITION_FAILED -> ReplyCode.PRECONDITION_FAILED;
            case NOT_ALLOWED -> ReplyCode.NOT_ALLOWED;
            case COMMAND_INVALID -> ReplyCode.COMMAND_INVALID;
            case NOT_IMPLEMENTED -> ReplyCode.NOT_IMPLEMENTED;
            case INTERNAL_ERROR -> ReplyCode.INTERNAL_ERROR;
            case CHANNEL_ERROR -> ReplyCode.CHANNEL_ERROR;
            case SYNTAX_ERROR -> ReplyCode.SYNTAX_ERROR;
            case UNEXPECTED_FRAME -> ReplyCode.UNEXPECTED_FRAME;
            case FRAME_ERROR -> ReplyCode.FRAME_ERROR;
            case RESOURCE_ERROR -> ReplyCode.RESOURCE_ERROR;
            case CONNECTION_FORCED -> ReplyCode.CONNECTION_FORCED;
        };
    }
}
