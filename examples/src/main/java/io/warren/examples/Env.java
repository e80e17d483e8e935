package io.warren.examples;

import com.rabbitmq.client.ConnectionFactory;

/**
 * Where the examples connect: {@code AMQP_HOST} (default {@code localhost}) and {@code AMQP_PORT}
 * (default {@code 5672}), as guest/guest, the client's defaults.
 */
final class Env {
    private Env() {
    }

    static ConnectionFactory connectionFactory() {
        ConnectionFactory factory = new ConnectionFactory();
        factory.setHost(get("AMQP_HOST", "localhost"));
        factory.setPort(Integer.parseInt(get("AMQP_PORT", "5672")));
        return factory;
    }

    /**
     * How long one '.' of a work-queue task takes, in milliseconds: {@code WARREN_EXAMPLE_DOT_MS},
     * default 1000 (one second, as in the tutorial). Tests set it lower to run quickly.
     */
    static long dotMillis() {
        return Long.parseLong(get("WARREN_EXAMPLE_DOT_MS", "1000"));
    }

    private static String get(String name, String fallback) {
        String value = System.getenv(name);
        return value == null || value.isBlank() ? fallback : value.trim();
    }
}
