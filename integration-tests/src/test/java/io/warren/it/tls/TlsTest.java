package io.warren.it.tls;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.GetResponse;
import io.warren.it.support.TestCertificates;
import io.warren.it.support.WarrenBroker;
import io.warren.server.Broker;
import io.warren.server.WarrenConfig;
import io.warren.server.launch.StartupException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * The TLS listener ({@code listeners.ssl.default}, RabbitMQ's {@code ssl_options}): AMQP over
 * TLS beside the plain listener, with the Java client verifying the broker's certificate and
 * host name; client certificates asked for ({@code verify_peer}) and required
 * ({@code fail_if_no_peer_cert}); a client that speaks plain AMQP to the TLS port is dropped
 * while everyone else is served; unusable certificate files fail the start naming the key.
 */
class TlsTest {
    @TempDir
    static Path certDir;
    static TestCertificates certs;

    @TempDir
    Path tmp;
    private final List<WarrenBroker> brokers = new ArrayList<>();
    private final List<Connection> connections = new ArrayList<>();

    @BeforeAll
    static void makeCertificates() throws Exception {
        assumeFalse(WarrenBroker.external(), "starts brokers with TLS settings of their own");
        certs = TestCertificates.create(certDir);
    }

    @AfterEach
    void stop() throws IOException {
        for (Connection c : connections) {
            if (c.isOpen()) {
                c.abort(1000);
            }
        }
        for (WarrenBroker b : brokers) {
            b.stop();
        }
    }

    private WarrenBroker broker(boolean verifyPeer, boolean failIfNoPeerCert) throws Exception {
        WarrenBroker b = new WarrenBroker(c -> c.withTls(new WarrenConfig.TlsConfig("127.0.0.1", 0,
                certs.server.certPem(), certs.server.keyPem(), null,
                verifyPeer ? certs.client.certPem() : null, verifyPeer, failIfNoPeerCert)));
        brokers.add(b);
        b.start();
        return b;
    }

    private Connection tls(WarrenBroker b, TestCertificates.Identity as) throws Exception {
        ConnectionFactory f = b.factory();
        f.setPort(b.broker().tlsPort());
        f.useSslProtocol(certs.clientContext(as));
        f.enableHostnameVerification();
        // A refused client certificate shows up after the TLS 1.3 handshake, as a closed socket
        // while the client waits for connection.start: do not wait the default 10 s for it.
        f.setHandshakeTimeout(3000);
        Connection c = f.newConnection();
        connections.add(c);
        return c;
    }

    private static void roundTrip(Connection c, String text) throws Exception {
        Channel ch = c.createChannel();
        String q = ch.queueDeclare().getQueue();
        byte[] body = text.getBytes(StandardCharsets.UTF_8);
        ch.basicPublish("", q, null, body);
        GetResponse r = null;
        for (int i = 0; i < 100 && r == null; i++) {
            r = ch.basicGet(q, true);
            if (r == null) {
                Thread.sleep(20);
            }
        }
        assertArrayEquals(body, r == null ? null : r.getBody());
    }

    @Test
    void amqpOverTlsBesideThePlainListener() throws Exception {
        WarrenBroker b = broker(false, false);
        assertNotEquals(-1, b.broker().tlsPort());
        assertNotEquals(b.port(), b.broker().tlsPort());
        Connection c = tls(b, null);
        // The client verified the broker's certificate and host name to get here.
        roundTrip(c, "over TLS");
        // A large message crosses many TLS records.
        Channel ch = c.createChannel();
        String q = ch.queueDeclare().getQueue();
        byte[] big = new byte[3 << 20];
        for (int i = 0; i < big.length; i++) {
            big[i] = (byte) (i * 31);
        }
        ch.basicPublish("", q, null, big);
        GetResponse r = null;
        for (int i = 0; i < 200 && r == null; i++) {
            r = ch.basicGet(q, true);
            if (r == null) {
                Thread.sleep(20);
            }
        }
        assertArrayEquals(big, r == null ? null : r.getBody());
        roundTrip(b.connect(), "plain listener still serves");
    }

    @Test
    void plainAmqpOnTheTlsPortIsDroppedAndOthersAreServed() throws Exception {
        WarrenBroker b = broker(false, false);
        ConnectionFactory plain = b.factory();
        plain.setPort(b.broker().tlsPort());
        plain.setConnectionTimeout(5000);
        plain.setHandshakeTimeout(5000);
        assertThrows(IOException.class, plain::newConnection);
        roundTrip(tls(b, null), "still serving TLS clients");
    }

    @Test
    void verifyPeerAsksForAClientCertificateAndFailIfNoPeerCertRequiresIt() throws Exception {
        WarrenBroker optional = broker(true, false);
        roundTrip(tls(optional, null), "no certificate, verify_peer without fail_if_no_peer_cert");
        roundTrip(tls(optional, certs.client), "trusted client certificate");

        WarrenBroker required = broker(true, true);
        assertThrows(IOException.class, () -> tls(required, null));
        roundTrip(tls(required, certs.client), "trusted client certificate, required");
        // A certificate the broker's CA file does not hold is refused too.
        TestCertificates other = TestCertificates.create(tmp.resolve("other"));
        assertThrows(IOException.class, () -> tls(required, other.client));
    }

    /**
     * SASL EXTERNAL (auth_mechanisms): a TLS client with a verified certificate logs in as the
     * user its subject names, without a password; EXTERNAL is offered to nobody else.
     */
    @Test
    void externalLoginByClientCertificate() throws Exception {
        for (String from : List.of("distinguished_name", "common_name")) {
            WarrenBroker b = new WarrenBroker(c -> c.withTls(new WarrenConfig.TlsConfig("127.0.0.1", 0,
                    certs.server.certPem(), certs.server.keyPem(), null, certs.client.certPem(), true, false))
                    .withAuth(new WarrenConfig.AuthConfig(List.of("EXTERNAL", "PLAIN"), from)));
            brokers.add(b);
            b.start();
            String user = from.equals("common_name") ? "warren-test-client" : "CN=warren-test-client";
            ConnectionFactory f = b.factory();
            f.setPort(b.broker().tlsPort());
            f.useSslProtocol(certs.clientContext(certs.client));
            f.setSaslConfig(com.rabbitmq.client.DefaultSaslConfig.EXTERNAL);
            // Not a user yet: refused like a wrong password.
            assertThrows(com.rabbitmq.client.AuthenticationFailureException.class, f::newConnection);
            b.broker().access().putUser(user, null, List.of());
            b.broker().access().setPermissions(user, "/", ".*", ".*", ".*");
            Connection c = f.newConnection();
            connections.add(c);
            roundTrip(c, "logged in by certificate as " + user);
            assertTrue(b.broker().connections().stream().anyMatch(x -> user.equals(x.user())), "logged in as " + user);
            // Without a client certificate EXTERNAL is not offered: the client finds no mechanism it can use.
            ConnectionFactory none = b.factory();
            none.setPort(b.broker().tlsPort());
            none.useSslProtocol(certs.clientContext(null));
            none.setSaslConfig(com.rabbitmq.client.DefaultSaslConfig.EXTERNAL);
            none.setHandshakeTimeout(3000);
            assertThrows(IOException.class, none::newConnection);
            // PLAIN still works, on the plain port too.
            roundTrip(b.connect(), "PLAIN beside EXTERNAL");
        }
    }

    @Test
    void unusableCertificateFilesFailTheStartNamingTheKey() throws Exception {
        Path garbage = Files.writeString(tmp.resolve("garbage.pem"), "not a certificate\n");
        WarrenConfig base = WarrenConfig.defaults(tmp).withListener("127.0.0.1", 0, tmp.resolve("data"));
        StartupException missing = assertThrows(StartupException.class, () -> new Broker(base.withTls(
                new WarrenConfig.TlsConfig(null, 0, tmp.resolve("absent.pem"), certs.server.keyPem(), null, null,
                        false, false))).start());
        assertTrue(missing.getMessage().startsWith("ssl_options.certfile " + tmp.resolve("absent.pem") + ": no such file"),
                missing.getMessage());
        StartupException badCert = assertThrows(StartupException.class, () -> new Broker(base.withTls(
                new WarrenConfig.TlsConfig(null, 0, garbage, certs.server.keyPem(), null, null, false, false))).start());
        assertTrue(badCert.getMessage().startsWith("ssl_options.certfile " + garbage), badCert.getMessage());
        StartupException badKey = assertThrows(StartupException.class, () -> new Broker(base.withTls(
                new WarrenConfig.TlsConfig(null, 0, certs.server.certPem(), garbage, null, null, false, false))).start());
        assertTrue(badKey.getMessage().startsWith("ssl_options.keyfile " + garbage), badKey.getMessage());
        StartupException badCa = assertThrows(StartupException.class, () -> new Broker(base.withTls(
                new WarrenConfig.TlsConfig(null, 0, certs.server.certPem(), certs.server.keyPem(), null, garbage,
                        true, false))).start());
        assertTrue(badCa.getMessage().startsWith("ssl_options.cacertfile " + garbage), badCa.getMessage());
    }
}
