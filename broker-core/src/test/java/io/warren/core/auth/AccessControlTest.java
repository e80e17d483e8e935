package io.warren.core.auth;

import io.warren.core.BrokerException;
import io.warren.core.auth.AccessControl.Permission;
import io.warren.core.auth.Authorizer.Kind;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AccessControlTest {
    private static final InetAddress LOCAL = InetAddress.getLoopbackAddress();

    @Test
    void rabbitmqsDocumentedHashVerifies() {
        // RabbitMQ's docs ("Computing password hash"): salt 908DC60A, password test12.
        String hash = "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR";
        assertTrue(PasswordHashing.verify(PasswordHashing.SHA256, hash, "test12"));
        assertFalse(PasswordHashing.verify(PasswordHashing.SHA256, hash, "test13"));
        assertFalse(PasswordHashing.verify(PasswordHashing.SHA512, hash, "test12"));
        assertFalse(PasswordHashing.verify(PasswordHashing.SHA256, "", ""));
        assertFalse(PasswordHashing.verify(PasswordHashing.SHA256, "not base64!", "x"));
    }

    @Test
    void newHashesAreSaltedSha256() {
        String a = PasswordHashing.hash("secret");
        String b = PasswordHashing.hash("secret");
        assertFalse(a.equals(b), "a random salt each time");
        assertEquals(36, java.util.Base64.getDecoder().decode(a).length);
        assertTrue(PasswordHashing.verify(PasswordHashing.SHA256, a, "secret"));
        assertTrue(PasswordHashing.wellFormed(PasswordHashing.SHA256, a));
        assertFalse(PasswordHashing.wellFormed(PasswordHashing.SHA512, a));
    }

    @Test
    void authenticationChecksPasswordAndLoopback() throws Exception {
        AccessControl ac = new AccessControl(null, Set.of("guest"));
        ac.putUser("guest", "guest", List.of("administrator"));
        ac.putUser("u", "p", List.of());
        ac.putUser("nopass", null, List.of());
        assertNull(ac.authenticate("guest", "guest", LOCAL));
        assertNotNull(ac.authenticate("guest", "wrong", LOCAL));
        assertTrue(ac.authenticate("guest", "guest", InetAddress.getByName("10.1.2.3")).contains("localhost"));
        assertNull(ac.authenticate("u", "p", InetAddress.getByName("10.1.2.3")));
        assertNotNull(ac.authenticate("nobody", "p", LOCAL));
        assertNotNull(ac.authenticate("nopass", "", LOCAL));
        ac.putUser("u", "q", List.of());
        assertNotNull(ac.authenticate("u", "p", LOCAL));
        assertNull(ac.authenticate("u", "q", LOCAL));
    }

    @Test
    void permissionsAreUnanchoredRegexesAndEmptyMatchesNothing() {
        AccessControl ac = new AccessControl(null, Set.of());
        ac.putUser("u", "p", List.of());
        ac.setPermissions("u", "/", "^cfg-", "", "q");
        assertTrue(ac.canAccessVhost("u", "/"));
        assertFalse(ac.canAccessVhost("u", "other"));
        Authorizer a = new Authorizer(ac, "u", "/");
        assertDoesNotThrow(() -> a.check(Kind.QUEUE, "cfg-1", Permission.CONFIGURE));
        BrokerException e = assertThrows(BrokerException.class, () -> a.check(Kind.QUEUE, "x-cfg-1", Permission.CONFIGURE));
        assertEquals(BrokerException.Reason.ACCESS_REFUSED, e.reason());
        assertEquals("configure access to queue 'x-cfg-1' in vhost '/' refused for user 'u'", e.getMessage());
        e = assertThrows(BrokerException.class, () -> a.check(Kind.EXCHANGE, "", Permission.WRITE));
        assertEquals("write access to exchange 'amq.default' in vhost '/' refused for user 'u'", e.getMessage());
        assertDoesNotThrow(() -> a.check(Kind.QUEUE, "my-q-1", Permission.READ), "match anywhere");
        // A change is seen at once, even with the result cached.
        ac.setPermissions("u", "/", "^cfg-", ".*", "q");
        assertDoesNotThrow(() -> a.check(Kind.EXCHANGE, "", Permission.WRITE));
        ac.clearPermissions("u", "/");
        assertThrows(BrokerException.class, () -> a.check(Kind.QUEUE, "my-q-1", Permission.READ));
        assertFalse(ac.canAccessVhost("u", "/"));
    }

    @Test
    void aBadRegexIsRefusedWithTheReason() {
        AccessControl ac = new AccessControl(null, Set.of());
        ac.putUser("u", "p", List.of());
        BrokerException e = assertThrows(BrokerException.class, () -> ac.setPermissions("u", "/", "(", ".*", ".*"));
        assertTrue(e.getMessage().contains("invalid regular expression for configure permission '('"), e.getMessage());
        assertFalse(ac.canAccessVhost("u", "/"));
        e = assertThrows(BrokerException.class, () -> ac.setPermissions("nobody", "/", ".*", ".*", ".*"));
        assertEquals(BrokerException.Reason.NOT_FOUND, e.reason());
    }

    @Test
    void topicPermissionsExpandVariablesAndOnlyApplyWhereSet() {
        AccessControl ac = new AccessControl(null, Set.of());
        ac.putUser("u", "p", List.of());
        ac.setPermissions("u", "v", ".*", ".*", ".*");
        Authorizer a = new Authorizer(ac, "u", "v");
        assertDoesNotThrow(() -> a.checkTopic("amq.topic", "anything", Permission.WRITE));
        ac.setTopicPermissions("u", "v", "amq.topic", "^{username}\\.", "^{vhost}\\.");
        assertDoesNotThrow(() -> a.checkTopic("amq.topic", "u.x", Permission.WRITE));
        BrokerException e = assertThrows(BrokerException.class, () -> a.checkTopic("amq.topic", "x.u", Permission.WRITE));
        assertEquals("write access to topic 'x.u' in exchange 'amq.topic' in vhost 'v' refused for user 'u'",
                e.getMessage());
        assertDoesNotThrow(() -> a.checkTopic("amq.topic", "v.y", Permission.READ));
        assertThrows(BrokerException.class, () -> a.checkTopic("amq.topic", "u.y", Permission.READ));
        assertDoesNotThrow(() -> a.checkTopic("other", "x", Permission.WRITE), "no topic permission on it");
        ac.clearTopicPermissions("u", "v", null);
        assertDoesNotThrow(() -> a.checkTopic("amq.topic", "x.u", Permission.WRITE));
    }

    @Test
    void userIdMustBeTheUsersUnlessImpersonator() {
        AccessControl ac = new AccessControl(null, Set.of());
        ac.putUser("u", "p", List.of());
        Authorizer a = new Authorizer(ac, "u", "/");
        assertDoesNotThrow(() -> a.checkUserId("u"));
        BrokerException e = assertThrows(BrokerException.class, () -> a.checkUserId("other"));
        assertEquals("user_id property set to 'other' but authenticated user was 'u'", e.getMessage());
        ac.setTags("u", List.of("impersonator"));
        assertDoesNotThrow(() -> a.checkUserId("other"));
    }

    @Test
    void aCatastrophicPatternCannotHangTheCheck() {
        AccessControl ac = new AccessControl(null, Set.of());
        ac.putUser("u", "p", List.of());
        ac.setPermissions("u", "/", "^(a+)+$", ".*", ".*");
        Authorizer a = new Authorizer(ac, "u", "/");
        String evil = "a".repeat(60) + "!";
        // Exponential backtracking without the budget; refused within it.
        assertThrows(BrokerException.class, () -> a.check(Kind.QUEUE, evil, Permission.CONFIGURE));
        assertDoesNotThrow(() -> a.check(Kind.QUEUE, "aaaa", Permission.CONFIGURE));
    }

    @Test
    void deletingAUserOrVhostTakesItsPermissions() {
        AccessControl ac = new AccessControl(null, Set.of());
        ac.putUser("u", "p", List.of());
        ac.putUser("w", "p", List.of());
        ac.setPermissions("u", "/", ".*", ".*", ".*");
        ac.setPermissions("u", "v", ".*", ".*", ".*");
        ac.setPermissions("w", "v", ".*", ".*", ".*");
        ac.setTopicPermissions("w", "v", "x", ".*", ".*");
        ac.vhostDeleted("v");
        assertEquals(1, ac.permissions().size());
        assertTrue(ac.topicPermissions().isEmpty());
        ac.deleteUser("u");
        assertTrue(ac.permissions().isEmpty());
        assertNull(ac.user("u"));
    }
}
