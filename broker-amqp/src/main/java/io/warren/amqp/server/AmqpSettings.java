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
 * @param mechanisms the SASL mechanisms offered (auth_mechanisms); EXTERNAL only to TLS clients
 *        that presented a verified certificate
 * @param certLoginFromCommonName EXTERNAL names the user by the certificate's CN rather than its
 *        subject's RFC 2253 string (ssl_cert_login_from)
 * @param consumerTimeoutMs consumer_timeout: a delivery not acknowledged within this many ms
 *        closes its channel with 406 (0: never; a queue's x-consumer-timeout overrides it)
 */
public record AmqpSettings(int heartbeatSeconds, int frameMax, int channelMax, long maxMessageSize,
                           int connectionMax, long sendTimeoutMs, java.util.List<String> mechanisms,
                           boolean certLoginFromCommonName, long consumerTimeoutMs) {
    /** RabbitMQ's default SASL mechanisms. */
    public static final java.util.List<String> DEFAULT_MECHANISMS = java.util.List.of("PLAIN", "AMQPLAIN");

    /** Limits with no connection limit and RabbitMQ's default send timeout (15 s). */
    public AmqpSettings(int heartbeatSeconds, int frameMax, int channelMax, long maxMessageSize) {
        this(heartbeatSeconds, frameMax, channelMax, maxMessageSize, Integer.MAX_VALUE, 15_000);
    }

    /** With the default mechanisms (PLAIN, AMQPLAIN). */
    public AmqpSettings(int heartbeatSeconds, int frameMax, int channelMax, long maxMessageSize, int connectionMax,
                        long sendTimeoutMs) {
        this(heartbeatSeconds, frameMax, channelMax, maxMessageSize, connectionMax, sendTimeoutMs, DEFAULT_MECHANISMS,
                false, 0);
    }
}
