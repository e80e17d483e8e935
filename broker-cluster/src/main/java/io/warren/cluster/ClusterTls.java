package io.warren.cluster;

import org.apache.ratis.grpc.GrpcTlsConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509ExtendedTrustManager;
import java.io.ByteArrayInputStream;
import java.math.BigInteger;
import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * This node's credentials for the traffic between cluster members, made from the
 * {@link ClusterSecret}: mutual TLS in which each side accepts only a peer that knows the secret.
 *
 * <p>At each start a node makes a fresh EC P-256 key pair (it lives in memory only) and a
 * self-signed certificate for it that carries, in a private extension, an HMAC-SHA256 under the
 * secret of the certificate's public key (its encoded SubjectPublicKeyInfo). The TLS handshake
 * proves that the peer holds the private key of the certificate it sent; the HMAC proves that
 * whoever made that certificate knew the secret. A copied certificate is of no use without its
 * private key, and a certificate for another key needs another HMAC, which only the secret makes.
 *
 * <p>{@link #trustManager()} accepts a peer, as client and as server alike, only if it sent one
 * certificate, that certificate is within its validity, its signature verifies with its own
 * public key, and its HMAC is right. Host names are not checked: members are named by the
 * member list, and a member's certificate names no host.
 */
public final class ClusterTls {
    private static final Logger log = LoggerFactory.getLogger(ClusterTls.class);

    /**
     * The certificate extension that holds the HMAC: an OID under 2.25 (ITU-T X.667), made from
     * a random UUID, so it needs no registration and clashes with nothing.
     */
    static final String MAC_EXTENSION_OID = "2.25.316679444511091596596679945446636086615";
    private static final String ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2";
    private static final String COMMON_NAME = "2.5.4.3";
    private static final String SUBJECT = "warren cluster member";
    /** Backdated so that a peer whose clock is behind this node's still finds it valid. */
    private static final Duration CLOCK_SKEW = Duration.ofDays(1);
    /** A certificate lives as long as its node's process: it is made anew at every start. */
    private static final Duration LIFETIME = Duration.ofDays(3650);
    private static final long WARN_EVERY_NANOS = Duration.ofMinutes(1).toNanos();

    private final X509Certificate certificate;
    private final X509ExtendedKeyManager keyManager;
    private final X509ExtendedTrustManager trustManager;

    private ClusterTls(X509Certificate certificate, X509ExtendedKeyManager keyManager,
                       X509ExtendedTrustManager trustManager) {
        this.certificate = certificate;
        this.keyManager = keyManager;
        this.trustManager = trustManager;
    }

    /** Makes this node's key pair and certificate, and the trust manager that checks its peers' against {@code secret}. */
    public static ClusterTls create(ClusterSecret secret) {
        try {
            KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
            generator.initialize(new ECGenParameterSpec("secp256r1"));
            KeyPair keys = generator.generateKeyPair();
            Instant now = Instant.now().truncatedTo(ChronoUnit.SECONDS);
            X509Certificate certificate = selfSigned(keys, secret.certificateMac(keys.getPublic().getEncoded()),
                    now.minus(CLOCK_SKEW), now.plus(LIFETIME));
            return new ClusterTls(certificate, keyManager(keys, certificate), new SecretTrustManager(secret));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot make this node's cluster certificate", e);
        }
    }

    /** This node's certificate, as its peers receive it. */
    public X509Certificate certificate() {
        return certificate;
    }

    /** Presents this node's certificate, as a TLS server and as a TLS client. */
    public X509ExtendedKeyManager keyManager() {
        return keyManager;
    }

    /** Accepts only peers that know the cluster's secret, as described on this class. */
    public X509ExtendedTrustManager trustManager() {
        return trustManager;
    }

    /** Ratis' TLS settings: this node's credentials, the secret's trust manager, and mutual TLS (a server requires the client's certificate). */
    GrpcTlsConfig grpcTlsConfig() {
        return new GrpcTlsConfig(keyManager, trustManager, true);
    }

    /** A self-signed X.509 v3 certificate for {@code keys} that carries {@code mac} in its extension. */
    static X509Certificate selfSigned(KeyPair keys, byte[] mac, Instant notBefore, Instant notAfter)
            throws GeneralSecurityException {
        byte[] signatureAlgorithm = Der.sequence(Der.oid(ECDSA_WITH_SHA256));
        byte[] name = Der.sequence(Der.set(Der.sequence(Der.oid(COMMON_NAME), Der.utf8String(SUBJECT))));
        byte[] serial = new byte[16];
        new SecureRandom().nextBytes(serial);
        serial[0] &= 0x7F; // positive, and RFC 5280 allows at most 20 bytes
        serial[0] |= 0x40; // and never zero
        byte[] tbs = Der.sequence(
                Der.explicit(0, Der.integer(2)), // v3: extensions follow
                Der.integer(new BigInteger(serial)),
                signatureAlgorithm,
                name,
                Der.sequence(Der.time(notBefore), Der.time(notAfter)),
                name,
                keys.getPublic().getEncoded(), // already a DER SubjectPublicKeyInfo
                Der.explicit(3, Der.sequence(
                        // Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
                        Der.sequence(Der.oid(MAC_EXTENSION_OID), Der.octetString(Der.octetString(mac))))));
        Signature signer = Signature.getInstance("SHA256withECDSA");
        signer.initSign(keys.getPrivate());
        signer.update(tbs);
        byte[] encoded = Der.sequence(tbs, signatureAlgorithm, Der.bitString(signer.sign()));
        return (X509Certificate) CertificateFactory.getInstance("X.509")
                .generateCertificate(new ByteArrayInputStream(encoded));
    }

    /**
     * Presents {@code certificate} with its private key, whatever the peer asks for. Not the JDK's
     * PKIX key manager over a PKCS12 key store: that one reads the key back out of the store at
     * every handshake, which decrypts it (PBKDF2, 10,000 rounds, even with an empty password), and
     * the status probes alone shake hands several times a second.
     */
    static X509ExtendedKeyManager keyManager(KeyPair keys, X509Certificate certificate) {
        return new MemberKeyManager(keys.getPrivate(), certificate);
    }

    private static final class MemberKeyManager extends X509ExtendedKeyManager {
        private static final String ALIAS = "member";
        private final java.security.PrivateKey key;
        private final X509Certificate[] chain;

        MemberKeyManager(java.security.PrivateKey key, X509Certificate certificate) {
            this.key = key;
            this.chain = new X509Certificate[] {certificate};
        }

        @Override public String[] getClientAliases(String keyType, java.security.Principal[] issuers) {
            return new String[] {ALIAS};
        }

        @Override public String chooseClientAlias(String[] keyType, java.security.Principal[] issuers, Socket socket) {
            return ALIAS;
        }

        @Override public String chooseEngineClientAlias(String[] keyType, java.security.Principal[] issuers,
                                                        SSLEngine engine) {
            return ALIAS;
        }

        @Override public String[] getServerAliases(String keyType, java.security.Principal[] issuers) {
            return new String[] {ALIAS};
        }

        @Override public String chooseServerAlias(String keyType, java.security.Principal[] issuers, Socket socket) {
            return ALIAS;
        }

        @Override public String chooseEngineServerAlias(String keyType, java.security.Principal[] issuers,
                                                        SSLEngine engine) {
            return ALIAS;
        }

        @Override public X509Certificate[] getCertificateChain(String alias) {
            return ALIAS.equals(alias) ? chain.clone() : null;
        }

        @Override public java.security.PrivateKey getPrivateKey(String alias) {
            return ALIAS.equals(alias) ? key : null;
        }
    }

    /**
     * Trusts exactly the certificates {@link #selfSigned} makes under the same secret. As an
     * {@link X509ExtendedTrustManager} it is handed the whole decision: the JDK adds no host name
     * check of its own.
     */
    static final class SecretTrustManager extends X509ExtendedTrustManager {
        private final ClusterSecret secret;
        private final AtomicLong lastWarned = new AtomicLong(System.nanoTime() - WARN_EVERY_NANOS);

        SecretTrustManager(ClusterSecret secret) {
            this.secret = secret;
        }

        /** Throws unless {@code chain} is one certificate made by a holder of the secret. */
        void check(X509Certificate[] chain) throws CertificateException {
            if (chain == null || chain.length != 1) {
                throw new CertificateException("a cluster member sends exactly one certificate, got "
                        + (chain == null ? "none" : chain.length));
            }
            X509Certificate peer = chain[0];
            peer.checkValidity(); // throws CertificateExpiredException / CertificateNotYetValidException
            try {
                peer.verify(peer.getPublicKey());
            } catch (GeneralSecurityException e) {
                throw new CertificateException("the peer's certificate is not signed by its own key: " + e.getMessage());
            }
            byte[] expected = Der.octetString(Der.octetString(secret.certificateMac(peer.getPublicKey().getEncoded())));
            byte[] found = peer.getExtensionValue(MAC_EXTENSION_OID);
            if (found == null || !MessageDigest.isEqual(expected, found)) {
                throw new CertificateException("the peer does not know this cluster's secret"
                        + " (its cluster.secret_file differs from this node's)");
            }
        }

        private void check(X509Certificate[] chain, String peerHost) throws CertificateException {
            try {
                check(chain);
            } catch (CertificateException e) {
                long now = System.nanoTime();
                long last = lastWarned.get();
                if (now - last >= WARN_EVERY_NANOS && lastWarned.compareAndSet(last, now)) {
                    log.warn("refused a cluster connection{}: {} (logged at most once a minute)",
                            peerHost == null ? "" : " with " + peerHost, e.getMessage());
                }
                throw e;
            }
        }

        private static String host(Socket socket) {
            return socket == null || socket.getInetAddress() == null ? null : socket.getInetAddress().getHostAddress();
        }

        private static String host(SSLEngine engine) {
            return engine == null ? null : engine.getPeerHost();
        }

        @Override public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            check(chain, null);
        }

        @Override public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            check(chain, null);
        }

        @Override public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
                throws CertificateException {
            check(chain, host(socket));
        }

        @Override public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
                throws CertificateException {
            check(chain, host(socket));
        }

        @Override public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
                throws CertificateException {
            check(chain, host(engine));
        }

        @Override public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
                throws CertificateException {
            check(chain, host(engine));
        }

        /** No CA: a server asks for a client certificate without naming an issuer. */
        @Override public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }
}
