package io.warren.core.auth;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.Map;

/**
 * RabbitMQ's password hashes, so that definitions move between RabbitMQ and warren both ways:
 * base64 of a 4-byte random salt followed by HASH(salt ‖ UTF-8 password). warren writes
 * {@link #SHA256} (RabbitMQ's default); it reads the SHA-512 and MD5 variants RabbitMQ may export.
 * An empty hash is a user without a password, who cannot log in with one.
 */
public final class PasswordHashing {
    public static final String SHA256 = "rabbit_password_hashing_sha256";
    public static final String SHA512 = "rabbit_password_hashing_sha512";
    public static final String MD5 = "rabbit_password_hashing_md5";
    private static final Map<String, String> DIGESTS = Map.of(SHA256, "SHA-256", SHA512, "SHA-512", MD5, "MD5");
    private static final SecureRandom RANDOM = new SecureRandom();

    private PasswordHashing() {
    }

    /** True when warren can check passwords hashed with {@code algorithm}. */
    public static boolean supported(String algorithm) {
        return DIGESTS.containsKey(algorithm);
    }

    /** A new salted hash of {@code password} with {@link #SHA256}, base64. */
    public static String hash(String password) {
        byte[] salt = new byte[4];
        RANDOM.nextBytes(salt);
        return Base64.getEncoder().encodeToString(salted(SHA256, salt, password));
    }

    /** True when {@code password} matches {@code hash} (base64, as stored); false for a malformed or empty hash. */
    public static boolean verify(String algorithm, String hash, String password) {
        if (hash == null || hash.isEmpty() || !supported(algorithm)) {
            return false;
        }
        byte[] stored;
        try {
            stored = Base64.getDecoder().decode(hash);
        } catch (IllegalArgumentException e) {
            return false;
        }
        if (stored.length <= 4) {
            return false;
        }
        byte[] salt = java.util.Arrays.copyOf(stored, 4);
        return MessageDigest.isEqual(stored, salted(algorithm, salt, password));
    }

    /** Whether {@code hash} is well-formed base64 of a salt and a digest of {@code algorithm}'s length (or empty). */
    public static boolean wellFormed(String algorithm, String hash) {
        if (hash.isEmpty()) {
            return true;
        }
        try {
            byte[] b = Base64.getDecoder().decode(hash);
            return b.length == 4 + digest(algorithm).getDigestLength();
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    private static byte[] salted(String algorithm, byte[] salt, String password) {
        MessageDigest md = digest(algorithm);
        md.update(salt);
        md.update(password.getBytes(StandardCharsets.UTF_8));
        byte[] digest = md.digest();
        byte[] out = new byte[salt.length + digest.length];
        System.arraycopy(salt, 0, out, 0, salt.length);
        System.arraycopy(digest, 0, out, salt.length, digest.length);
        return out;
    }

    private static MessageDigest digest(String algorithm) {
        String name = DIGESTS.get(algorithm);
        if (name == null) {
            throw new IllegalArgumentException("unsupported hashing algorithm '" + algorithm + "'");
        }
        try {
            return MessageDigest.getInstance(name);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(name + " is missing from this JVM", e);
        }
    }
}
