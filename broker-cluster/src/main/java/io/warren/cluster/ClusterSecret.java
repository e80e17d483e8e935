package io.warren.cluster;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Set;

/**
 * The cluster's shared secret ({@code cluster.secret_file}), like RabbitMQ's Erlang cookie: every
 * node of a cluster holds the same bytes, and a node that does not cannot join or talk to the
 * others. It never travels: each node proves it knows the secret by an HMAC of its own TLS
 * certificate's public key made under the secret (see {@link ClusterTls}).
 *
 * <p>The secret is the file's bytes less trailing whitespace (so an editor's final newline does
 * not change it), at least {@value #MIN_LENGTH} of them.
 */
public final class ClusterSecret {
    private static final Logger log = LoggerFactory.getLogger(ClusterSecret.class);

    /** Fewer bytes than this are refused: a short secret could be guessed from one captured certificate. */
    public static final int MIN_LENGTH = 16;

    /** Binds the HMAC to its one use, so the secret could key other MACs later without a clash. */
    private static final byte[] CERTIFICATE_LABEL =
            "warren cluster certificate key v1\0".getBytes(StandardCharsets.US_ASCII);

    private final byte[] secret;

    private ClusterSecret(byte[] secret) {
        this.secret = secret;
    }

    /**
     * Reads the secret from {@code file}.
     *
     * @throws IllegalArgumentException with a one-line message naming the file if it is missing,
     *                                  unreadable, empty or shorter than {@value #MIN_LENGTH} bytes
     */
    public static ClusterSecret fromFile(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException("cluster secret file " + file + " does not exist");
        } catch (AccessDeniedException e) {
            throw new IllegalArgumentException("cluster secret file " + file + " cannot be read: permission denied");
        } catch (IOException e) {
            throw new IllegalArgumentException("cluster secret file " + file + " cannot be read: " + e);
        }
        byte[] secret = trimTrailingWhitespace(bytes);
        Arrays.fill(bytes, (byte) 0);
        if (secret.length == 0) {
            throw new IllegalArgumentException("cluster secret file " + file + " is empty");
        }
        if (secret.length < MIN_LENGTH) {
            int n = secret.length;
            Arrays.fill(secret, (byte) 0);
            throw new IllegalArgumentException("cluster secret file " + file + " holds " + n
                    + " bytes; a cluster secret needs at least " + MIN_LENGTH);
        }
        warnIfOthersCanRead(file);
        return new ClusterSecret(secret);
    }

    /**
     * A secret from its bytes (copied), for callers that hold it already; the same rule as
     * {@link #fromFile}: at least {@value #MIN_LENGTH} bytes.
     */
    public static ClusterSecret of(byte[] secret) {
        if (secret.length < MIN_LENGTH) {
            throw new IllegalArgumentException("a cluster secret needs at least " + MIN_LENGTH + " bytes, got "
                    + secret.length);
        }
        return new ClusterSecret(secret.clone());
    }

    private static byte[] trimTrailingWhitespace(byte[] bytes) {
        int end = bytes.length;
        while (end > 0 && isWhitespace(bytes[end - 1])) {
            end--;
        }
        return Arrays.copyOf(bytes, end);
    }

    private static boolean isWhitespace(byte b) {
        return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f' || b == 0x0B;
    }

    /** Erlang refuses a cookie others can read; warren warns, as the file may be shared on purpose. */
    private static void warnIfOthersCanRead(Path file) {
        PosixFileAttributeView view = Files.getFileAttributeView(file, PosixFileAttributeView.class);
        if (view == null) {
            return; // not a POSIX file system: nothing to check
        }
        try {
            Set<PosixFilePermission> permissions = view.readAttributes().permissions();
            Set<PosixFilePermission> open = EnumSet.of(PosixFilePermission.GROUP_READ, PosixFilePermission.OTHERS_READ);
            open.retainAll(permissions);
            if (!open.isEmpty()) {
                log.warn("cluster secret file {} can be read by {}; make it readable by its owner only (chmod 400)",
                        file, open.contains(PosixFilePermission.OTHERS_READ) ? "anyone" : "its group");
            }
        } catch (IOException e) {
            log.warn("cannot read the permissions of cluster secret file {}: {}", file, e.toString());
        }
    }

    /** The proof that whoever made {@code publicKey} (its encoded SubjectPublicKeyInfo) knows the secret. */
    byte[] certificateMac(byte[] publicKey) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret, "HmacSHA256"));
            mac.update(CERTIFICATE_LABEL);
            return mac.doFinal(publicKey);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
        }
    }

    /**
     * The proof, for an AMQP link between nodes (the WARREN-LINK login), that the node answering
     * {@code challenge} (random bytes of the node logged in to) knows the secret; {@code response}
     * (the user and node the link logs in as) is bound into it, so a proof cannot be reused for
     * another user. Labelled apart from the certificate MACs, so neither can stand for the other.
     */
    public byte[] linkProof(byte[] challenge, byte[] response) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret, "HmacSHA256"));
            mac.update(LINK_LABEL);
            mac.update(intBytes(challenge.length));
            mac.update(challenge);
            return mac.doFinal(response);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
        }
    }

    private static final byte[] LINK_LABEL = "warren amqp link v1\0".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    private static byte[] intBytes(int n) {
        return new byte[] {(byte) (n >>> 24), (byte) (n >>> 16), (byte) (n >>> 8), (byte) n};
    }

    /** Whether {@code mac} is {@link #certificateMac} of {@code publicKey}, compared in constant time. */
    boolean certifies(byte[] publicKey, byte[] mac) {
        return MessageDigest.isEqual(certificateMac(publicKey), mac);
    }

    /** Never the secret itself: this object may end up in a log line or an exception. */
    @Override public String toString() {
        return "ClusterSecret[" + secret.length + " bytes]";
    }
}
