package io.warren.amqp.server;

/**
 * Proves and checks WARREN-LINK logins: cluster nodes open AMQP connections to one another
 * (links) to consume queues on behalf of their clients, and authenticate with a secret every
 * node shares instead of a user's password, which a node does not know. The server sends a
 * random challenge in connection.secure; the linking node answers with {@link #prove}; the
 * server accepts the login when {@link #verify} holds. Implementations must be thread-safe:
 * proofs are made and checked on event loops of many connections at once.
 */
public interface LinkAuth {
    /**
     * The proof for a challenge: a MAC of challenge and the start-ok response under a key every
     * node of the cluster derives from its shared secret.
     */
    byte[] prove(byte[] challenge, byte[] response);

    /** Constant-time check of a proof. */
    default boolean verify(byte[] challenge, byte[] response, byte[] proof) {
        return java.security.MessageDigest.isEqual(prove(challenge, response), proof);
    }
}
