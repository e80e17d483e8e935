package io.warren.cluster;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.CertificateException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The certificate a node makes from the cluster's secret, and the trust manager that checks its
 * peers' certificates against the secret.
 */
class ClusterTlsTest {
    private static final ClusterSecret SECRET = ClusterSecret.of("this cluster's secret".getBytes(StandardCharsets.UTF_8));
    private static final ClusterSecret OTHER = ClusterSecret.of("another cluster's secret".getBytes(StandardCharsets.UTF_8));

    @Test void aNodeTrustsANodeWithTheSameSecret() throws Exception {
        ClusterTls a = ClusterTls.create(SECRET);
        ClusterTls b = ClusterTls.create(SECRET);
        X509Certificate cert = a.certificate();
        assertEquals(3, cert.getVersion());
        assertEquals(cert.getSubjectX500Principal(), cert.getIssuerX500Principal());
        assertEquals("EC", cert.getPublicKey().getAlgorithm());
        assertNotNull(cert.getExtensionValue(ClusterTls.MAC_EXTENSION_OID));
        cert.verify(cert.getPublicKey());
        // As server and as client, both ways.
        b.trustManager().checkServerTrusted(new X509Certificate[] {cert}, "ECDHE_ECDSA");
        b.trustManager().checkClientTrusted(new X509Certificate[] {cert}, "EC");
        a.trustManager().checkServerTrusted(new X509Certificate[] {b.certificate()}, "ECDHE_ECDSA");
        a.trustManager().checkClientTrusted(new X509Certificate[] {b.certificate()}, "EC");
        // The MAC is in the extension as written: an OCTET STRING (extnValue) around an OCTET STRING of 32 bytes.
        byte[] mac = SECRET.certificateMac(cert.getPublicKey().getEncoded());
        byte[] extension = cert.getExtensionValue(ClusterTls.MAC_EXTENSION_OID);
        assertArrayEquals(new byte[] {0x04, 34, 0x04, 32}, Arrays.copyOf(extension, 4));
        assertArrayEquals(mac, Arrays.copyOfRange(extension, 4, extension.length));
        assertTrue(cert.getNotBefore().toInstant().isBefore(Instant.now().minus(Duration.ofHours(23))),
                "not backdated for clock skew");
        assertTrue(cert.getNotAfter().toInstant().isAfter(Instant.now().plus(Duration.ofDays(3000))));
    }

    @Test void aNodeWithAnotherSecretIsNotTrusted() {
        X509Certificate outsider = ClusterTls.create(OTHER).certificate();
        ClusterTls node = ClusterTls.create(SECRET);
        CertificateException e = assertThrows(CertificateException.class,
                () -> node.trustManager().checkClientTrusted(new X509Certificate[] {outsider}, "EC"));
        assertTrue(e.getMessage().contains("secret"), e.getMessage());
        assertThrows(CertificateException.class,
                () -> node.trustManager().checkServerTrusted(new X509Certificate[] {outsider}, "ECDHE_ECDSA"));
    }

    @Test void aMacCopiedOntoAnotherKeyIsNotTrusted() throws Exception {
        ClusterTls node = ClusterTls.create(SECRET);
        // A member's certificate is no secret; its MAC on a key the copier holds proves nothing.
        byte[] stolenMac = SECRET.certificateMac(node.certificate().getPublicKey().getEncoded());
        KeyPair copier = ecKeys();
        X509Certificate forged = ClusterTls.selfSigned(copier, stolenMac, Instant.now().minusSeconds(60),
                Instant.now().plusSeconds(3600));
        assertThrows(CertificateException.class,
                () -> node.trustManager().checkClientTrusted(new X509Certificate[] {forged}, "EC"));
    }

    @Test void anExpiredCertificateIsNotTrusted() throws Exception {
        KeyPair keys = ecKeys();
        byte[] mac = SECRET.certificateMac(keys.getPublic().getEncoded());
        X509Certificate expired = ClusterTls.selfSigned(keys, mac, Instant.now().minus(Duration.ofDays(2)),
                Instant.now().minus(Duration.ofDays(1)));
        ClusterTls node = ClusterTls.create(SECRET);
        assertThrows(CertificateExpiredException.class,
                () -> node.trustManager().checkServerTrusted(new X509Certificate[] {expired}, "ECDHE_ECDSA"));
    }

    @Test void aCertificateWhoseSignatureDoesNotVerifyIsNotTrusted() throws Exception {
        ClusterTls node = ClusterTls.create(SECRET);
        byte[] encoded = ClusterTls.create(SECRET).certificate().getEncoded();
        encoded[encoded.length - 1] ^= 0x01; // the last byte of the signature's s
        X509Certificate tampered = (X509Certificate) CertificateFactory.getInstance("X.509")
                .generateCertificate(new ByteArrayInputStream(encoded));
        CertificateException e = assertThrows(CertificateException.class,
                () -> node.trustManager().checkClientTrusted(new X509Certificate[] {tampered}, "EC"));
        assertTrue(e.getMessage().contains("signed"), e.getMessage());
    }

    @Test void onlyAChainOfOneCertificateIsTrusted() {
        ClusterTls node = ClusterTls.create(SECRET);
        X509Certificate good = ClusterTls.create(SECRET).certificate();
        assertThrows(CertificateException.class,
                () -> node.trustManager().checkClientTrusted(new X509Certificate[] {good, good}, "EC"));
        assertThrows(CertificateException.class,
                () -> node.trustManager().checkClientTrusted(new X509Certificate[0], "EC"));
        assertThrows(CertificateException.class, () -> node.trustManager().checkServerTrusted(null, "EC"));
    }

    // --- helpers ---

    private static KeyPair ecKeys() throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
        generator.initialize(new ECGenParameterSpec("secp256r1"));
        return generator.generateKeyPair();
    }
}
