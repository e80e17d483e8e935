package io.warren.it.support;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.Key;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Certificates made at test time with the JDK's keytool (Netty 4.2 deprecates its
 * SelfSignedCertificate): a self-signed server certificate for localhost / 127.0.0.1 and a
 * self-signed client certificate, each as PEM certificate + PKCS#8 PEM key (what the broker's
 * {@code ssl_options} read) and as a PKCS#12 store (what the Java client uses).
 */
public final class TestCertificates {
    public static final char[] PASSWORD = "changeit".toCharArray();

    /** One identity's files. */
    public record Identity(Path certPem, Path keyPem, Path pkcs12) {
    }

    public final Identity server;
    public final Identity client;

    private TestCertificates(Identity server, Identity client) {
        this.server = server;
        this.client = client;
    }

    public static TestCertificates create(Path dir) throws Exception {
        Files.createDirectories(dir);
        return new TestCertificates(identity(dir, "server", "CN=localhost", "SAN=dns:localhost,ip:127.0.0.1"),
                identity(dir, "client", "CN=warren-test-client", null));
    }

    private static Identity identity(Path dir, String name, String dname, String ext) throws Exception {
        Path p12 = dir.resolve(name + ".p12");
        List<String> gen = new ArrayList<>(List.of("-genkeypair", "-alias", name, "-keyalg", "RSA", "-keysize", "2048",
                "-dname", dname, "-validity", "2", "-storetype", "PKCS12", "-keystore", p12.toString(),
                "-storepass", new String(PASSWORD), "-keypass", new String(PASSWORD)));
        if (ext != null) {
            gen.add("-ext");
            gen.add(ext);
        }
        keytool(gen);
        Path cert = dir.resolve(name + ".pem");
        keytool(List.of("-exportcert", "-rfc", "-alias", name, "-keystore", p12.toString(), "-storepass",
                new String(PASSWORD), "-file", cert.toString()));
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(p12)) {
            ks.load(in, PASSWORD);
        }
        Key key = ks.getKey(name, PASSWORD);
        Path keyPem = dir.resolve(name + ".key");
        Files.writeString(keyPem, "-----BEGIN PRIVATE KEY-----\n"
                + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(key.getEncoded())
                + "\n-----END PRIVATE KEY-----\n");
        return new Identity(cert, keyPem, p12);
    }

    private static void keytool(List<String> args) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
        cmd.addAll(args);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException("keytool " + args.get(0) + " failed: " + out);
        }
    }

    /** A client context trusting the server certificate, presenting {@code as} (null: no certificate). */
    public SSLContext clientContext(Identity as) throws Exception {
        KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
        trust.load(null, null);
        try (InputStream in = Files.newInputStream(server.certPem())) {
            Certificate c = CertificateFactory.getInstance("X.509").generateCertificate(in);
            trust.setCertificateEntry("warren", c);
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        KeyManagerFactory kmf = null;
        if (as != null) {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            try (InputStream in = Files.newInputStream(as.pkcs12())) {
                ks.load(in, PASSWORD);
            }
            kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, PASSWORD);
        }
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf == null ? null : kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        return ctx;
    }
}
