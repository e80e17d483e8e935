package io.warren.amqp.server;

/**
 * Protocol limits offered in connection.tune and enforced on every connection.
 *
 * @param heartbeatSeconds proposed heartbeat interval (0 disables)
 * @param frameMax largest frame in bytes, header and end octet included
 * @param channelMax highest channel number (and number of open channels)
 * @param maxMessageSize largest accepted message body; a larger publish gets 406
 */
public record AmqpSettings(int heartbeatSeconds, int frameMax, int channelMax, long maxMessageSize) {}
