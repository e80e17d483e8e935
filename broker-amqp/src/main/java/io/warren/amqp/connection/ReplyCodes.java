package io.warren.amqp.connection;

import io.warren.amqp.protocol.ReplyCode;
import io.warren.core.BrokerException;

/** Maps the core's protocol-neutral failure reasons to AMQP reply codes. */
public final class ReplyCodes {
    private ReplyCodes() {}

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
