package io.warren.it.management;

import com.fasterxml.jackson.databind.JsonNode;
import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.AuthenticationFailureException;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.ShutdownSignalException;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Users, vhosts, permissions and topic permissions: managed through the HTTP API, enforced on
 * AMQP clients (the RabbitMQ Java client) where RabbitMQ enforces them, with its reply codes and
 * texts, and kept across a restart.
 */
class AccessControlTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private Http admin;

    @BeforeEach
    void client() {
        admin = new Http("127.0.0.1", broker.broker().managementPort(), "guest", "guest");
    }

    private Connection connect(String user, String password, String vhost) throws Exception {
        ConnectionFactory f = broker.factory();
        f.setUsername(user);
        f.setPassword(password);
        f.setVirtualHost(vhost);
        return f.newConnection();
    }

    private void putUser(String name, String password, String tags) {
        Http.Response r = admin.put("/api/users/" + name, "{\"password\":\"" + password + "\",\"tags\":\"" + tags + "\"}");
        assertTrue(r.status() == 201 || r.status() == 204, r.body());
    }

    private void permit(String vhost, String user, String configure, String write, String read) {
        Http.Response r = admin.put("/api/permissions/" + vhost + "/" + user, "{\"configure\":\"" + configure
                + "\",\"write\":\"" + write + "\",\"read\":\"" + read + "\"}");
        assertTrue(r.status() == 201 || r.status() == 204, r.body());
    }

    /** The channel-closing error of {@code action}: its reply code and text. */
    private static AMQP.Channel.Close channelError(IoAction action) {
        // The call that meets the closed channel fails with an IOException wrapping the signal,
        // or, when the close arrived before it was sent, with the signal itself.
        Exception e = assertThrows(Exception.class, action::run);
        ShutdownSignalException s = e instanceof ShutdownSignalException direct ? direct
                : (ShutdownSignalException) e.getCause();
        assertFalse(s.isHardError(), s.toString());
        return (AMQP.Channel.Close) s.getReason();
    }

    interface IoAction {
        void run() throws IOException;
    }

    private static void assertRefused(String text, IoAction action) {
        AMQP.Channel.Close close = channelError(action);
        assertEquals(403, close.getReplyCode());
        assertEquals("ACCESS_REFUSED - " + text, close.getReplyText());
    }

    @Test
    void usersAreCreatedListedAndLogInWithTheirPassword() throws Exception {
        putUser("alice", "s3cret", "monitoring,management");
        JsonNode u = admin.get("/api/users/alice").json();
        assertEquals("alice", u.get("name").asText());
        assertEquals("rabbit_password_hashing_sha256", u.get("hashing_algorithm").asText());
        assertEquals(36, java.util.Base64.getDecoder().decode(u.get("password_hash").asText()).length);
        assertEquals("[\"monitoring\",\"management\"]", u.get("tags").toString());
        assertFalse(u.toString().contains("s3cret"), "never the password itself");
        permit("%2F", "alice", ".*", ".*", ".*");
        try (Connection c = connect("alice", "s3cret", "/")) {
            assertTrue(c.isOpen());
        }
        assertThrows(AuthenticationFailureException.class, () -> connect("alice", "wrong", "/"));
        // A user with the monitoring tag reads the API but cannot manage users.
        Http alice = new Http("127.0.0.1", broker.broker().managementPort(), "alice", "s3cret");
        assertEquals(200, alice.get("/api/overview").status());
        Http.Response r = alice.get("/api/users");
        assertEquals(403, r.status(), r.body());
        assertEquals("not_authorised", r.json().get("error").asText());
        assertEquals("alice", alice.get("/api/whoami").json().get("name").asText());
    }

    /** RabbitMQ's documented hash (salt 908DC60A, password test12) imports and logs in. */
    @Test
    void aRabbitmqPasswordHashLogsIn() throws Exception {
        Http.Response r = admin.put("/api/users/imported", "{\"password_hash\":\"kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR\","
                + "\"hashing_algorithm\":\"rabbit_password_hashing_sha256\",\"tags\":[]}");
        assertEquals(201, r.status(), r.body());
        permit("%2F", "imported", ".*", ".*", ".*");
        try (Connection c = connect("imported", "test12", "/")) {
            assertTrue(c.isOpen());
        }
        r = admin.put("/api/users/bad", "{\"password_hash\":\"nope\"}");
        assertEquals(400, r.status(), r.body());
        r = admin.put("/api/users/bad", "{\"password_hash\":\"kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR\","
                + "\"hashing_algorithm\":\"rabbit_password_hashing_sha1\"}");
        assertEquals(400, r.status(), r.body());
        assertTrue(r.json().get("reason").asText().contains("rabbit_password_hashing_sha1"), r.body());
        assertEquals(404, admin.get("/api/users/bad").status());
    }

    @Test
    void aUserWithoutPermissionsInTheVhostIsRefusedAtOpen() throws Exception {
        putUser("nobody-here", "p", "");
        IOException e = assertThrows(IOException.class, () -> connect("nobody-here", "p", "/"));
        ShutdownSignalException s = (ShutdownSignalException) e.getCause();
        AMQP.Connection.Close close = (AMQP.Connection.Close) s.getReason();
        assertEquals(530, close.getReplyCode());
        assertEquals("NOT_ALLOWED - access to vhost '/' refused for user 'nobody-here'", close.getReplyText());
    }

    @Test
    void permissionsAreEnforcedWithRabbitmqsTexts() throws Exception {
        try (Connection g = broker.connect(); Channel gc = g.createChannel()) {
            gc.queueDeclare("acl-q", false, false, false, null);
            gc.exchangeDeclare("acl-x", "direct");
            gc.basicPublish("", "acl-q", null, "m".getBytes(StandardCharsets.UTF_8));
        }
        putUser("reader", "p", "");
        permit("%2F", "reader", "", "", "^acl-");
        try (Connection c = connect("reader", "p", "/")) {
            assertRefused("configure access to queue 'mine' in vhost '/' refused for user 'reader'",
                    () -> c.createChannel().queueDeclare("mine", false, false, false, null));
            assertRefused("configure access to exchange 'ex' in vhost '/' refused for user 'reader'",
                    () -> c.createChannel().exchangeDeclare("ex", "direct"));
            Channel pub = c.createChannel();
            pub.basicPublish("", "acl-q", null, "x".getBytes(StandardCharsets.UTF_8));
            AMQP.Channel.Close close = channelError(() -> pub.queueDeclarePassive("acl-q"));
            assertEquals(403, close.getReplyCode());
            assertEquals("ACCESS_REFUSED - write access to exchange 'amq.default' in vhost '/' refused for user 'reader'",
                    close.getReplyText());
            assertRefused("configure access to queue 'acl-q' in vhost '/' refused for user 'reader'",
                    () -> c.createChannel().queueDelete("acl-q"));
            assertRefused("write access to queue 'acl-q' in vhost '/' refused for user 'reader'",
                    () -> c.createChannel().queueBind("acl-q", "acl-x", "k"));
            // Passive declares need no permission; reading is allowed on acl-*.
            Channel ok = c.createChannel();
            assertEquals(1, ok.queueDeclarePassive("acl-q").getMessageCount());
            assertNotNull(ok.basicGet("acl-q", true));
            assertRefused("read access to queue 'other' in vhost '/' refused for user 'reader'",
                    () -> c.createChannel().basicConsume("other", true, (t, d) -> { }, t -> { }));
            assertRefused("read access to queue 'other' in vhost '/' refused for user 'reader'",
                    () -> c.createChannel().queuePurge("other"));
        }
        // Write on the queue and read on the exchange: binding allowed; a permission change takes effect at once.
        putUser("binder", "p", "");
        permit("%2F", "binder", "", "^acl-q$", "^acl-x$");
        try (Connection c = connect("binder", "p", "/"); Channel ch = c.createChannel()) {
            ch.queueBind("acl-q", "acl-x", "k");
            permit("%2F", "binder", "", "^acl-q$", "^nothing$");
            assertRefused("read access to exchange 'acl-x' in vhost '/' refused for user 'binder'",
                    () -> c.createChannel().queueUnbind("acl-q", "acl-x", "k"));
        }
        // The management API applies the same checks for its user.
        Http binder = new Http("127.0.0.1", broker.broker().managementPort(), "binder", "p");
        assertEquals(401, binder.get("/api/overview").status(), "no management tag");
    }

    @Test
    void topicPermissionsCheckRoutingKeys() throws Exception {
        putUser("topical", "p", "");
        permit("%2F", "topical", ".*", ".*", ".*");
        Http.Response r = admin.put("/api/topic-permissions/%2F/topical",
                "{\"exchange\":\"amq.topic\",\"write\":\"^{username}\\\\.\",\"read\":\"^public\\\\.\"}");
        assertEquals(201, r.status(), r.body());
        JsonNode list = admin.get("/api/topic-permissions/%2F/topical").json();
        assertEquals("^{username}\\.", list.get(0).get("write").asText());
        try (Connection c = connect("topical", "p", "/")) {
            Channel ch = c.createChannel();
            ch.confirmSelect();
            ch.basicPublish("amq.topic", "topical.news", null, new byte[0]);
            ch.waitForConfirmsOrDie(5000);
            // Not a topic exchange: topic permissions do not apply.
            ch.basicPublish("amq.direct", "anything", null, new byte[0]);
            ch.waitForConfirmsOrDie(5000);
            assertRefused("write access to topic 'other.news' in exchange 'amq.topic' in vhost '/' refused for user "
                    + "'topical'", () -> {
                    Channel p = c.createChannel();
                    p.basicPublish("amq.topic", "other.news", null, new byte[0]);
                    p.queueDeclarePassive("amq.gen-none"); // a round trip that sees the channel error
                });
            String q = c.createChannel().queueDeclare().getQueue();
            Channel b = c.createChannel();
            b.queueBind(q, "amq.topic", "public.#");
            assertRefused("read access to topic 'secret.#' in exchange 'amq.topic' in vhost '/' refused for user "
                    + "'topical'", () -> c.createChannel().queueBind(q, "amq.topic", "secret.#"));
        }
        assertEquals(204, admin.delete("/api/topic-permissions/%2F/topical").status());
        assertEquals(404, admin.get("/api/topic-permissions/%2F/topical").status());
    }

    @Test
    void userIdMustMatchUnlessImpersonator() throws Exception {
        putUser("claimer", "p", "");
        permit("%2F", "claimer", ".*", ".*", ".*");
        AMQP.BasicProperties props = new AMQP.BasicProperties.Builder().userId("someone-else").build();
        try (Connection c = connect("claimer", "p", "/")) {
            AMQP.Channel.Close close = channelError(() -> {
                Channel ch = c.createChannel();
                ch.basicPublish("amq.direct", "k", props, new byte[0]);
                ch.queueDeclarePassive("amq.gen-none");
            });
            assertEquals(406, close.getReplyCode());
            assertEquals("PRECONDITION_FAILED - user_id property set to 'someone-else' but authenticated user was "
                    + "'claimer'", close.getReplyText());
        }
        putUser("claimer", "p", "impersonator");
        try (Connection c = connect("claimer", "p", "/"); Channel ch = c.createChannel()) {
            ch.confirmSelect();
            ch.basicPublish("amq.direct", "k", props, new byte[0]);
            ch.waitForConfirmsOrDie(5000);
        }
    }

    @Test
    void vhostsAreCreatedUsedAndDeletedWithTheirConnections() throws Exception {
        Http.Response r = admin.put("/api/vhosts/team-a", "{\"description\":\"Team A\",\"tags\":\"prod,eu\"}");
        assertEquals(201, r.status(), r.body());
        assertEquals(204, admin.put("/api/vhosts/team-a", "{}").status());
        JsonNode v = admin.get("/api/vhosts/team-a").json();
        assertEquals("Team A", v.get("description").asText());
        assertEquals("[\"prod\",\"eu\"]", v.get("tags").toString());
        // The creator (guest) got full permissions in it, as in RabbitMQ.
        assertEquals(".*", admin.get("/api/permissions/team-a/guest").json().get("configure").asText());
        Connection c = connect("guest", "guest", "team-a");
        Channel ch = c.createChannel();
        ch.queueDeclare("a-durable", true, false, false, null);
        ch.basicPublish("", "a-durable", new AMQP.BasicProperties.Builder().deliveryMode(2).build(), new byte[10]);
        AtomicReference<ShutdownSignalException> closed = new AtomicReference<>();
        c.addShutdownListener(closed::set);
        assertEquals(204, admin.delete("/api/vhosts/team-a").status());
        await().atMost(Duration.ofSeconds(10)).until(() -> closed.get() != null);
        AMQP.Connection.Close close = (AMQP.Connection.Close) closed.get().getReason();
        assertEquals(320, close.getReplyCode());
        assertEquals("CONNECTION_FORCED - vhost 'team-a' is deleted", close.getReplyText());
        assertEquals(404, admin.get("/api/vhosts/team-a").status());
        assertEquals(404, admin.get("/api/permissions/team-a/guest").status());
        IOException e = assertThrows(IOException.class, () -> connect("guest", "guest", "team-a"));
        assertEquals(530, ((AMQP.Connection.Close) ((ShutdownSignalException) e.getCause()).getReason()).getReplyCode());
        // Created again, it is empty.
        assertEquals(201, admin.put("/api/vhosts/team-a", "").status());
        try (Connection again = connect("guest", "guest", "team-a")) {
            assertEquals(404, channelError(() -> again.createChannel().queueDeclarePassive("a-durable")).getReplyCode());
        }
        assertEquals(204, admin.delete("/api/vhosts/team-a").status());
        assertEquals(404, admin.delete("/api/vhosts/team-a").status());
    }

    @Test
    void badInputIsRefusedClearly() {
        putUser("victim", "p", "");
        Http.Response r = admin.put("/api/permissions/%2F/victim", "{\"configure\":\"(\",\"write\":\".*\",\"read\":\".*\"}");
        assertEquals(400, r.status(), r.body());
        assertTrue(r.json().get("reason").asText().contains("invalid regular expression for configure permission"),
                r.body());
        assertEquals(404, admin.get("/api/permissions/%2F/victim").status(), "nothing changed");
        assertEquals(400, admin.put("/api/permissions/%2F/victim", "{\"configure\":\".*\"}").status());
        assertEquals(404, admin.put("/api/permissions/no-such-vhost/victim",
                "{\"configure\":\".*\",\"write\":\".*\",\"read\":\".*\"}").status());
        assertEquals(404, admin.put("/api/permissions/%2F/no-such-user",
                "{\"configure\":\".*\",\"write\":\".*\",\"read\":\".*\"}").status());
        assertEquals(400, admin.put("/api/users/victim", "{\"password\":").status(), "malformed JSON");
        assertEquals(400, admin.put("/api/users/newbie", "{\"tags\":\"x\"}").status(), "no password");
        assertEquals(404, admin.delete("/api/users/no-such-user").status());
        assertEquals(404, admin.delete("/api/permissions/%2F/victim").status());
    }

    @Test
    void everythingSurvivesARestartAndTheDefaultsAreNotRecreated() throws Exception {
        putUser("keeper", "k1", "administrator");
        admin.put("/api/vhosts/kept", "{\"description\":\"kept\"}");
        permit("kept", "keeper", "^k", ".*", ".*");
        admin.put("/api/topic-permissions/kept/keeper", "{\"exchange\":\"amq.topic\",\"write\":\"^a\",\"read\":\".*\"}");
        // guest's password changes: the config's default_pass must not bring the old one back.
        putUser("guest", "changed", "administrator");
        broker.restart();
        Http keeper = new Http("127.0.0.1", broker.broker().managementPort(), "keeper", "k1");
        assertEquals("kept", keeper.get("/api/vhosts/kept").json().get("description").asText());
        assertEquals("^k", keeper.get("/api/permissions/kept/keeper").json().get("configure").asText());
        assertEquals("^a", keeper.get("/api/topic-permissions/kept/keeper").json().get(0).get("write").asText());
        assertThrows(AuthenticationFailureException.class, () -> connect("guest", "guest", "/"));
        try (Connection c = connect("keeper", "k1", "kept")) {
            assertRefused("configure access to queue 'nope' in vhost 'kept' refused for user 'keeper'",
                    () -> c.createChannel().queueDeclare("nope", false, false, false, null));
        }
        try (Connection c = connect("guest", "changed", "/")) {
            assertTrue(c.isOpen());
        }
        // Put guest back for the other tests.
        assertEquals(204, keeper.put("/api/users/guest", "{\"password\":\"guest\",\"tags\":\"administrator\"}").status());
        assertEquals(204, keeper.delete("/api/vhosts/kept").status());
    }

    /** RabbitMQ's filtering: a management user sees its vhosts' objects and its own connections only. */
    @Test
    void managementUsersSeeTheirVhostsAndConnectionsOnly() throws Exception {
        assertEquals(201, admin.put("/api/vhosts/seen", "{}").status());
        putUser("viewer", "v", "management");
        permit("seen", "viewer", ".*", ".*", ".*");
        try (Connection g = broker.connect(); Connection mine = connect("viewer", "v", "seen")) {
            g.createChannel().queueDeclare("hidden-q", false, false, false, null);
            mine.createChannel().queueDeclare("seen-q", false, false, false, null);
            Http viewer = new Http("127.0.0.1", broker.broker().managementPort(), "viewer", "v");
            JsonNode queues = viewer.get("/api/queues").json();
            assertEquals(1, queues.size(), queues.toString());
            assertEquals("seen-q", queues.get(0).get("name").asText());
            assertEquals(1, viewer.get("/api/queues?page=1").json().get("total_count").asInt());
            JsonNode conns = viewer.get("/api/connections").json();
            assertEquals(1, conns.size(), conns.toString());
            assertEquals("viewer", conns.get(0).get("user").asText());
            JsonNode vhosts = viewer.get("/api/vhosts").json();
            assertEquals(1, vhosts.size(), vhosts.toString());
            // The API's publish and get make AMQP's checks for the API user.
            String msg = "{\"routing_key\":\"seen-q\",\"properties\":{},\"payload\":\"x\",\"payload_encoding\":\"string\"}";
            assertEquals(200, viewer.post("/api/exchanges/seen/amq.default/publish", msg).status());
            assertEquals(401, viewer.post("/api/exchanges/%2F/amq.default/publish", msg).status());
            assertEquals(401, viewer.post("/api/queues/%2F/hidden-q/get",
                    "{\"count\":1,\"ackmode\":\"ack_requeue_true\",\"encoding\":\"auto\"}").status());
            permit("seen", "viewer", ".*", "^nothing$", ".*");
            assertEquals(401, viewer.post("/api/exchanges/seen/amq.default/publish", msg).status(), "no write");
            // guest (administrator) sees both queues.
            assertTrue(admin.get("/api/queues").json().size() >= 2);
        } finally {
            admin.delete("/api/vhosts/seen");
        }
    }

    /** RabbitMQ: declaring a new exchange with an alternate-exchange needs read on it and write on the AE. */
    @Test
    void anAlternateExchangeNeedsReadOnTheExchangeAndWriteOnTheAlternate() throws Exception {
        putUser("ae-user", "p", "");
        permit("%2F", "ae-user", "^ae-", "^ae-(x|ok)", "^ae-(y|ok)");
        java.util.Map<String, Object> args = java.util.Map.of("alternate-exchange", "ae-alt");
        try (Connection c = connect("ae-user", "p", "/")) {
            assertRefused("read access to exchange 'ae-x' in vhost '/' refused for user 'ae-user'",
                    () -> c.createChannel().exchangeDeclare("ae-x", "fanout", false, true, args));
            assertRefused("write access to exchange 'ae-alt' in vhost '/' refused for user 'ae-user'",
                    () -> c.createChannel().exchangeDeclare("ae-y", "fanout", false, true, args));
            Channel ch = c.createChannel();
            ch.exchangeDeclare("ae-ok", "fanout", false, true, java.util.Map.of("alternate-exchange", "ae-ok2"));
            ch.exchangeDelete("ae-ok");
        }
    }
}
