package io.warren.server;

/** Wires the broker from a {@link WarrenConfig} and owns its lifecycle. (Being written.) */
public final class Broker implements AutoCloseable {
    private final WarrenConfig config;

    public Broker(WarrenConfig config) {
        this.config = config;
    }

    /** Binds the AMQP listener; returns once it accepts connections. */
    public void start() throws Exception {
        throw new UnsupportedOperationException("not wired yet");
    }

    /** The bound AMQP port (useful when configured with port 0). */
    public int port() {
        return config.listenPort();
    }

    /** Closes every client connection with 320 CONNECTION_FORCED, then the listener. */
    @Override public void close() {
    }
}
