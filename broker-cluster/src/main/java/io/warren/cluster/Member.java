package io.warren.cluster;

import java.util.Objects;

/**
 * One member of a Raft group: its id (stable across restarts: it names the member in every
 * vote and in the log's configuration entries) and the {@code host:port} its peers and clients
 * reach it on.
 */
public record Member(String id, String address) {
    public Member {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(address, "address");
        // Ratis' peer ids end up in file and metric names: keep them to a safe alphabet.
        if (!id.matches("[A-Za-z0-9_.-]{1,64}")) {
            throw new IllegalArgumentException("member id '" + id + "': 1 to 64 of A-Z a-z 0-9 _ . -");
        }
        int colon = address.lastIndexOf(':');
        if (colon <= 0 || colon == address.length() - 1) {
            throw new IllegalArgumentException("member " + id + ": address '" + address + "' is not host:port");
        }
        int port;
        try {
            port = Integer.parseInt(address.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("member " + id + ": address '" + address + "' has no numeric port");
        }
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("member " + id + ": port " + port + " is not 1..65535");
        }
    }

    /** The host part of {@link #address}. */
    public String host() {
        return address.substring(0, address.lastIndexOf(':'));
    }

    public int port() {
        return Integer.parseInt(address.substring(address.lastIndexOf(':') + 1));
    }
}
