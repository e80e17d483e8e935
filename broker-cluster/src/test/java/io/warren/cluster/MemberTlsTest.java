package io.warren.cluster;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509ExtendedTrustManager;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What a member's port does with clients that lack the cluster's secret: it serves them nothing,
 * while a client with the secret reaches its HTTP/2 (gRPC) server.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class MemberTlsTest {
    private static final ClusterSecret OTHER = ClusterSecret.of("another cluster's secret".getBytes(StandardCharsets.UTF_8));

    @TempDir static Path dir;
    private static TestCluster member;

    /** One member (a group of one) whose port the socket tests knock on. */
    @BeforeAll static void startAMember() throws IOException {
        member = new TestCluster(1, dir, RaftSettings.DEFAULT).startAll();
    }

    @AfterAll static void stopTheMember() {
        if (member != null) {
            member.close();
        }
    }

    /** The control: with the secret, a TLS client gets through to the member's HTTP/2 server. */
    @Test void aClientWithTheSecretReachesTheMembersHttp2Server() throws Exception {
        ClusterTls tls = ClusterTls.create(TestCluster.SECRET);
        try (SSLSocket socket = tlsSocket(new KeyManager[] {tls.keyManager()}, tls.trustManager())) {
            socket.startHandshake();
            assertEquals("h2", socket.getApplicationProtocol());
            assertEquals(4, firstHttp2FrameType(socket), "the server's first frame is not SETTINGS");
        }
    }

    @Test void aClientWithAnotherSecretIsRefusedInTheHandshake() throws Exception {
        ClusterTls outsider = ClusterTls.create(OTHER);
        // It trusts any server, so that what stops it is the member's check of its certificate.
        try (SSLSocket socket = tlsSocket(new KeyManager[] {outsider.keyManager()}, TRUST_ANY)) {
            SSLException e = assertThrows(SSLException.class, () -> {
                socket.startHandshake();
                firstHttp2FrameType(socket); // in TLS 1.3 the server's refusal comes after the client's Finished
            });
            assertTrue(String.valueOf(e.getMessage()).contains("alert"), "not refused by the server: " + e);
        }
    }

    @Test void aClientWithoutACertificateIsRefusedInTheHandshake() throws Exception {
        try (SSLSocket socket = tlsSocket(new KeyManager[0], TRUST_ANY)) {
            SSLException e = assertThrows(SSLException.class, () -> {
                socket.startHandshake();
                firstHttp2FrameType(socket);
            });
            assertTrue(String.valueOf(e.getMessage()).contains("alert"), "not refused by the server: " + e);
        }
    }

    @Test void aPlainConnectionGetsNothing() throws Exception {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", member.memberAt(0).port()), 5000);
            socket.setSoTimeout(5000);
            int frame;
            try {
                writeHttp2Preface(socket);
                frame = firstHttp2FrameType(socket);
            } catch (IOException e) {
                frame = -1; // reset: the server dropped the connection
            }
            assertEquals(-1, frame, "a plain-text client got an HTTP/2 frame");
        }
    }

    // --- helpers ---

    /**
     * Returns the type of the first HTTP/2 frame the server sends, or -1 if it closes the
     * connection first. A gRPC server sends its SETTINGS as soon as the connection is up (after
     * the TLS handshake), before the client's preface, so nothing is written here: over TLS 1.3
     * the client's handshake ends before the server has judged the client's certificate, and a
     * write could meet the closed connection (broken pipe) before the server's alert is read.
     */
    private static int firstHttp2FrameType(Socket socket) throws IOException {
        byte[] header = socket.getInputStream().readNBytes(9);
        return header.length < 9 ? -1 : header[3];
    }

    /** Sends HTTP/2's client preface and an empty SETTINGS frame: what a plain-text (h2c) gRPC client would. */
    private static void writeHttp2Preface(Socket socket) throws IOException {
        OutputStream out = socket.getOutputStream();
        out.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        out.write(new byte[] {0, 0, 0, 4, 0, 0, 0, 0, 0}); // length 0, type SETTINGS, no flags, stream 0
        out.flush();
    }

    private static SSLSocket tlsSocket(KeyManager[] keyManagers, TrustManager trustManager) throws Exception {
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(keyManagers, new TrustManager[] {trustManager}, null);
        SSLSocket socket = (SSLSocket) context.getSocketFactory().createSocket();
        socket.connect(new InetSocketAddress("127.0.0.1", member.memberAt(0).port()), 5000);
        socket.setSoTimeout(5000);
        SSLParameters parameters = socket.getSSLParameters();
        parameters.setApplicationProtocols(new String[] {"h2"}); // gRPC's server talks nothing else
        socket.setSSLParameters(parameters);
        return socket;
    }

    private static final X509ExtendedTrustManager TRUST_ANY = new X509ExtendedTrustManager() {
        @Override public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) {}
        @Override public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) {}
        @Override public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {}
        @Override public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {}
        @Override public void checkClientTrusted(X509Certificate[] chain, String authType) {}
        @Override public void checkServerTrusted(X509Certificate[] chain, String authType) {}
        @Override public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    };
}
