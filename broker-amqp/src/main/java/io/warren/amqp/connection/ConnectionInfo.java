package io.warren.amqp.connection;

import io.warren.amqp.channel.ChannelInfo;

import java.util.List;
import java.util.Map;

/**
 * What the management API shows of one connection: a copy taken on the connection's loop
 * ({@link AmqpConnection#snapshot}), so other threads read it without touching live state.
 *
 * @param name RabbitMQ's connection name, {@code "PEER_HOST:PEER_PORT -> HOST:PORT"}
 * @param state RabbitMQ's names: starting, tuning, opening, running, blocked, closing, closed
 * @param clientProperties as the client sent them in connection.start-ok (AMQP table values)
 * @param connectedAt when the socket was accepted, ms since the epoch
 * @param heartbeat the negotiated heartbeat in seconds (RabbitMQ's {@code timeout})
 */
public record ConnectionInfo(String name, String peerHost, int peerPort, String host, int port, String user,
                             String vhost, String state, String authMechanism, Map<String, Object> clientProperties,
                             long connectedAt, int channelMax, long frameMax, int heartbeat,
                             List<ChannelInfo> channels) {
}
