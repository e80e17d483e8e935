package io.warren.amqp.server;

/**
 * Protocol limits offered in connection.tune and enforced on every connection.
 *
 * @param heartbeatSeconds proposed heartbeat interval (0 disables)
 * @param frameMax largest frame in bytes, header and end octet included
 * @param channelMax highest channel number (and number of open channels)
 * @param maxMessageSize largest accepted message body; a larger publish gets 406
 * @param connectionMax most open connections ({@link Integer#MAX_VALUE}: no limit)
 * @param sendTimeoutMs a connection whose socket accepts no bytes for this long while output is
 *        pending is closed (0: never)
 */
public record AmqpSettings(int heartbeatSeconds, int frameMax, int channelMax, long maxMessageSize,
                           int connectionMax, long sendTimeoutMs) {
    /** Limits with no connection limit and RabbitMQ's default send timeout (15 s). */
    public AmqpSettings(int heartbeatSeconds, int frameMax, int channelMax, long maxMessageSize) {
        this(heartbeatSeconds, frameMax, channelMax, maxMessageSize, Integer.MAX_VALUE, 15_000);
    }
}
