package io.warren.it.connection;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.AuthenticationFailureException;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Command;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.DefaultSaslConfig;
import com.rabbitmq.client.LongString;
import com.rabbitmq.client.SaslConfig;
import com.rabbitmq.client.SaslMechanism;
import com.rabbitmq.client.ShutdownSignalException;
import com.rabbitmq.client.impl.LongStringHelper;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static io.warren.it.support.AmqpAssertions.assertClose;
import static io.warren.it.support.AmqpAssertions.assertConnectionUsable;
import static io.warren.it.support.AmqpAssertions.channelError;
import static io.warren.it.support.AmqpAssertions.connectionError;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** connection.start / start-ok / tune / open as RabbitMQ's Java client sees them, and the errors around them. */
class HandshakeTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    static final String LOGIN_REFUSED = "ACCESS_REFUSED - Login was refused using authentication mechanism %s."
            + " For details see the broker logfile.";

    @Test
    void serverPropertiesAdvertiseTheImplementedCapabilities() throws Exception {
        Connection conn = broker.connect();
        Map<String, Object> props = conn.getServerProperties();
        for (String key : List.of("product", "version", "platform", "copyright", "information")) {
            assertInstanceOf(LongString.class, props.get(key), key);
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> caps = (Map<String, Object>) props.get("capabilities");
        for (String cap : List.of("publisher_confirms", "exchange_exchange_bindings", "basic.nack",
                "consumer_cancel_notify", "per_consumer_qos", "authentication_failure_close", "direct_reply_to")) {
            assertEquals(Boolean.TRUE, caps.get(cap), cap);
        }
    }

    @Test
    void tuneOffersChannelMax2047FrameMax131072Heartbeat60() throws Exception {
        ConnectionFactory f = broker.factory();
        f.setRequestedChannelMax(0); // 0: no preference, take the broker's offer
        f.setRequestedFrameMax(0);
        f.setRequestedHeartbeat(0);
        try (Connection conn = f.newConnection()) {
            assertEquals(2047, conn.getChannelMax());
            assertEquals(131072, conn.getFrameMax());
            assertEquals(60, conn.getHeartbeat());
        }
    }

    @Test
    void theClientMayAskForLowerValues() throws Exception {
        ConnectionFactory f = broker.factory();
        f.setRequestedChannelMax(10);
        f.setRequestedFrameMax(8192);
        f.setRequestedHeartbeat(30);
        try (Connection conn = f.newConnection()) {
            assertEquals(10, conn.getChannelMax());
            assertEquals(8192, conn.getFrameMax());
            assertEquals(30, conn.getHeartbeat());
            conn.createChannel().queueDeclare("", false, true, true, null);
        }
    }

    @Test
    void aWrongPasswordIsAnAuthenticationFailure() {
        ConnectionFactory f = broker.factory();
        f.setPassword("not-the-password");
        AuthenticationFailureException e = assertThrows(AuthenticationFailureException.class, f::newConnection);
        assertEquals(String.format(LOGIN_REFUSED, "PLAIN"), e.getMessage());
    }

    @Test
    void anUnknownUserIsAnAuthenticationFailure() {
        ConnectionFactory f = broker.factory();
        f.setUsername("nobody-" + System.nanoTime());
        AuthenticationFailureException e = assertThrows(AuthenticationFailureException.class, f::newConnection);
        assertEquals(String.format(LOGIN_REFUSED, "PLAIN"), e.getMessage());
    }

    @Test
    void plainWorks() throws Exception {
        ConnectionFactory f = broker.factory();
        f.setSaslConfig(DefaultSaslConfig.PLAIN);
        try (Connection conn = f.newConnection()) {
            assertTrue(conn.isOpen());
        }
    }

    /** AMQPLAIN: the response is a field table (without its length prefix) of LOGIN and PASSWORD. */
    static final class AmqPlain implements SaslConfig, SaslMechanism {
        String[] offered;

        @Override public SaslMechanism getSaslMechanism(String[] mechanisms) {
            offered = mechanisms;
            return Arrays.asList(mechanisms).contains("AMQPLAIN") ? this : null;
        }

        @Override public String getName() {
            return "AMQPLAIN";
        }

        @Override public LongString handleChallenge(LongString challenge, String username, String password) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            field(out, "LOGIN", username);
            field(out, "PASSWORD", password);
            return LongStringHelper.asLongString(out.toByteArray());
        }

        private static void field(ByteArrayOutputStream out, String name, String value) {
            byte[] n = name.getBytes(StandardCharsets.UTF_8);
            byte[] v = value.getBytes(StandardCharsets.UTF_8);
            out.write(n.length);
            out.writeBytes(n);
            out.write('S');
            out.write(v.length >>> 24);
            out.write(v.length >>> 16);
            out.write(v.length >>> 8);
            out.write(v.length);
            out.writeBytes(v);
        }
    }

    @Test
    void amqplainWorks() throws Exception {
        ConnectionFactory f = broker.factory();
        AmqPlain sasl = new AmqPlain();
        f.setSaslConfig(sasl);
        try (Connection conn = f.newConnection()) {
            assertTrue(conn.isOpen());
            conn.createChannel().queueDeclare("", false, true, true, null);
        }
        assertTrue(Arrays.asList(sasl.offered).containsAll(List.of("PLAIN", "AMQPLAIN")), Arrays.toString(sasl.offered));
    }

    @Test
    void amqplainWithAWrongPasswordIsAnAuthenticationFailure() {
        ConnectionFactory f = broker.factory();
        f.setSaslConfig(new AmqPlain());
        f.setPassword("wrong");
        AuthenticationFailureException e = assertThrows(AuthenticationFailureException.class, f::newConnection);
        assertEquals(String.format(LOGIN_REFUSED, "AMQPLAIN"), e.getMessage());
    }

    @Test
    void anUnknownVhostIs530() {
        ConnectionFactory f = broker.factory();
        f.setVirtualHost("no-such-vhost");
        Exception e = assertThrows(Exception.class, f::newConnection);
        Throwable t = e;
        while (t != null && !(t instanceof ShutdownSignalException)) {
            t = t.getCause();
        }
        if (t == null) {
            fail("expected a connection.close, got " + e);
        }
        AMQP.Connection.Close close = (AMQP.Connection.Close) ((ShutdownSignalException) t).getReason();
        assertClose(530, "NOT_ALLOWED - vhost no-such-vhost not found", close);
        assertEquals(10, close.getClassId());
        assertEquals(40, close.getMethodId());
    }

    @Test
    void channelFlowActiveTrueIsConfirmed() throws Exception {
        Channel ch = broker.connect().createChannel();
        Command reply = ch.rpc(new AMQP.Channel.Flow.Builder().active(true).build());
        AMQP.Channel.FlowOk ok = assertInstanceOf(AMQP.Channel.FlowOk.class, reply.getMethod());
        assertTrue(ok.getActive());
        assertTrue(ch.isOpen());
    }

    @Test
    void channelFlowActiveFalseIsNotImplemented540LikeRabbitMQ() throws Exception {
        Connection conn = broker.connect();
        Channel ch = conn.createChannel();
        AMQP.Connection.Close close = connectionError(
                () -> ch.rpc(new AMQP.Channel.Flow.Builder().active(false).build()));
        assertClose(540, "NOT_IMPLEMENTED - active=false", close);
        await().until(() -> !conn.isOpen());
    }

    @Test
    void aChannelErrorClosesOnlyThatChannel() throws Exception {
        Connection conn = broker.connect();
        Channel bystander = conn.createChannel();
        Channel ch = conn.createChannel();
        AMQP.Channel.Close close = channelError(() -> ch.queueDeclarePassive("no-such-queue"));
        assertClose(404, "NOT_FOUND - no queue 'no-such-queue' in vhost '/'", close);
        assertEquals(50, close.getClassId());
        assertEquals(10, close.getMethodId());
        assertFalse(ch.isOpen());
        assertTrue(bystander.isOpen());
        bystander.queueDeclare("", false, true, true, null);
        assertConnectionUsable(conn);
    }

    @Test
    void aConnectionErrorClosesTheConnectionAndAllItsChannels() throws Exception {
        Connection conn = broker.connect();
        Channel bystander = conn.createChannel();
        Channel ch = conn.createChannel();
        AMQP.Connection.Close close = connectionError(() -> ch.basicRecover(false));
        assertClose(540, "NOT_IMPLEMENTED - requeue=false", close);
        await().until(() -> !conn.isOpen());
        assertFalse(bystander.isOpen());
        // Other connections are unaffected.
        assertConnectionUsable(broker.connect());
    }

    @Test
    void aClientCloseIsAnsweredAndReportedAsTheApplicationsOwn() throws Exception {
        Connection conn = broker.factory().newConnection();
        conn.createChannel();
        conn.close(); // waits for close-ok
        assertFalse(conn.isOpen());
        ShutdownSignalException reason = conn.getCloseReason();
        assertTrue(reason.isInitiatedByApplication());
        assertEquals(200, ((AMQP.Connection.Close) reason.getReason()).getReplyCode());
    }

    /**
     * product names warren; version is the RabbitMQ release whose behaviour warren follows, so
     * clients and test suites that compare it against RabbitMQ versions (e.g. "3.10 or later",
     * "at most 4.2") take the right branch. warren's own version is in "information".
     */
    @Test
    void serverPropertiesNameWarrenAndTheRabbitMQVersionItFollows() throws Exception {
        Map<String, Object> props = broker.connect().getServerProperties();
        assertEquals("3.10.8", props.get("version").toString());
        if (!WarrenBroker.external()) {
            assertEquals("warren", props.get("product").toString());
            assertTrue(props.get("information").toString().startsWith("warren "), props.get("information").toString());
        }
    }
}
