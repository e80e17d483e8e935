package io.warren.server.launch;

import io.warren.core.store.StoreException;

import java.net.BindException;

/** Turns an exception from {@code Broker.start()} into the one line an operator needs. */
public final class StartupFailure {
    private StartupFailure() {
    }

    public static String describe(Throwable failure, String address) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof StartupException) {
                return "failed to start: " + t.getMessage();
            }
        }
        for (Throwable t = failure; t != null; t = t.getCause()) {
            String m = String.valueOf(t.getMessage());
            // Netty's native transport reports EADDRINUSE as a plain IOException subclass.
            if (t instanceof BindException || m.contains("Address already in use")) {
                return "cannot listen on " + address + ": address already in use (is another broker running?)";
            }
        }
        for (Throwable t = failure; t != null; t = t.getCause()) {
            // The store's own message names the file and what is wrong with it; its cause
            // (a low-level I/O exception) knows neither.
            if (t instanceof StoreException && t.getMessage() != null) {
                return "failed to start: " + t.getMessage().lines().findFirst().orElse("");
            }
        }
        Throwable root = failure;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String message = root.getMessage() == null ? "" : ": " + root.getMessage().lines().findFirst().orElse("");
        return "failed to start: " + root.getClass().getSimpleName() + message;
    }
}
