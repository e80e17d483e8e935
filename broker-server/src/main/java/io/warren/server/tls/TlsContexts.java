package io.warren.server.tls;

import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.warren.server.WarrenConfig;
import io.warren.server.launch.StartupException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;

/**
 * Builds the TLS listener's context from RabbitMQ's {@code ssl_options}: PEM certificate chain,
 * PEM private key (PKCS#8, as Netty reads it without BouncyCastle; {@code openssl pkcs8 -topk8}
 * converts a PKCS#1 "RSA PRIVATE KEY"), optional CA file for client certificates. The JDK's TLS
 * (1.2 and 1.3). Every failure names the key and the file.
 */
public final class TlsContexts {
    private TlsContexts() {
    }

    public static SslContext server(WarrenConfig.TlsConfig tls) {
        certificates("ssl_options.certfile", tls.certFile()); // names the file if it is not one
        X509Certificate[] trusted = tls.caCertFile() == null ? null
                : certificates("ssl_options.cacertfile", tls.caCertFile()).toArray(new X509Certificate[0]);
        byte[] key = read("ssl_options.keyfile", tls.keyFile());
        SslContextBuilder b;
        try (InputStream c = new java.io.ByteArrayInputStream(read("ssl_options.certfile", tls.certFile()));
             InputStream k = new java.io.ByteArrayInputStream(key)) {
            b = SslContextBuilder.forServer(c, k, tls.keyPassword());
        } catch (IllegalArgumentException | IOException e) {
            throw new StartupException("ssl_options.keyfile " + tls.keyFile() + ": not a PKCS#8 PEM private key"
                    + (tls.keyPassword() == null ? "" : " for ssl_options.password") + " (convert a PKCS#1 key with "
                    + "'openssl pkcs8 -topk8 -nocrypt'): " + rootMessage(e), e);
        }
        b.sslProvider(SslProvider.JDK);
        if (trusted != null) {
            b.trustManager(trusted);
        }
        b.clientAuth(!tls.verifyPeer() ? ClientAuth.NONE
                : tls.failIfNoPeerCert() ? ClientAuth.REQUIRE : ClientAuth.OPTIONAL);
        try {
            return b.build();
        } catch (javax.net.ssl.SSLException | IllegalArgumentException e) {
            throw new StartupException("ssl_options.certfile " + tls.certFile() + " / ssl_options.keyfile "
                    + tls.keyFile() + ": cannot make a TLS context: " + rootMessage(e), e);
        }
    }

    private static byte[] read(String key, Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new StartupException(key + " " + file + ": no such file", e);
        } catch (IOException e) {
            throw new StartupException(key + " " + file + ": cannot read: " + e.getMessage(), e);
        }
    }

    private static List<X509Certificate> certificates(String key, Path file) {
        byte[] pem = read(key, file);
        List<X509Certificate> out = new ArrayList<>();
        try {
            for (var c : CertificateFactory.getInstance("X.509").generateCertificates(new java.io.ByteArrayInputStream(pem))) {
                out.add((X509Certificate) c);
            }
        } catch (CertificateException e) {
            throw new StartupException(key + " " + file + ": not a PEM certificate file: " + rootMessage(e), e);
        }
        if (out.isEmpty()) {
            throw new StartupException(key + " " + file + ": no certificate in it (PEM expected)", null);
        }
        return out;
    }

    private static String rootMessage(Throwable e) {
        Throwable r = e;
        while (r.getCause() != null && r.getCause() != r) {
            r = r.getCause();
        }
        return String.valueOf(r.getMessage()).lines().findFirst().orElse("");
    }
}
