package io.warren.it.ctl;

import com.rabbitmq.client.AuthenticationFailureException;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import io.warren.it.support.Processes.Result;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * warrenctl's user, vhost and permission commands through the real bin/warrenctl, with
 * rabbitmqctl 3.10's banners, table output and exit codes; their effect seen by AMQP clients.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class WarrenctlAccessTest {
    @TempDir
    static Path dir;
    private static CtlProcess broker;

    @BeforeAll
    static void start() throws Exception {
        broker = CtlProcess.startPackaged(dir);
    }

    @AfterAll
    static void stop() throws Exception {
        if (broker != null) {
            broker.stop();
        }
    }

    private static Connection connect(String user, String password, String vhost) throws Exception {
        return broker.connect(user, password, vhost);
    }

    private static Result ok(String... args) throws Exception {
        Result r = broker.ctl(args);
        assertEquals(0, r.code(), r.all());
        return r;
    }

    @Test
    void usersAndPasswords() throws Exception {
        Result r = ok("add_user", "carol", "pw1");
        assertEquals("Adding user \"carol\" ...\nDone. Don't forget to grant the user permissions to some virtual "
                + "hosts! See 'warrenctl help set_permissions' to learn more.\n", r.out());
        r = broker.ctl("add_user", "carol", "again");
        assertEquals(70, r.code(), r.all());
        assertEquals("Error: User \"carol\" already exists\n", r.err());
        ok("set_user_tags", "carol", "monitoring", "impersonator");
        r = ok("list_users");
        assertTrue(r.out().startsWith("Listing users ...\nuser\ttags\n"), r.out());
        assertTrue(r.out().contains("carol\t[monitoring, impersonator]\n"), r.out());
        assertTrue(r.out().contains("guest\t[administrator]\n"), r.out());
        r = ok("authenticate_user", "carol", "pw1");
        assertEquals("Authenticating user \"carol\" ...\nSuccess\n", r.out());
        r = broker.ctl("authenticate_user", "carol", "nope");
        assertEquals(65, r.code(), r.all());
        ok("change_password", "carol", "pw2");
        assertEquals(65, broker.ctl("authenticate_user", "carol", "pw1").code());
        ok("authenticate_user", "carol", "pw2");
        ok("set_permissions", "carol", ".*", ".*", ".*");
        try (Connection c = connect("carol", "pw2", "/")) {
            assertTrue(c.isOpen());
        }
        ok("clear_password", "carol");
        assertThrows(AuthenticationFailureException.class, () -> connect("carol", "pw2", "/"));
        r = ok("delete_user", "carol");
        assertEquals("Deleting user \"carol\" ...\n", r.out());
        r = broker.ctl("delete_user", "carol");
        assertEquals(67, r.code(), r.all());
        assertEquals("Error: User \"carol\" does not exist\n", r.err());
        assertEquals(67, broker.ctl("change_password", "carol", "x").code());
        assertEquals(67, broker.ctl("set_user_tags", "carol", "x").code());
        assertEquals(64, broker.ctl("add_user", "onlyname").code(), "missing argument");
    }

    @Test
    void vhostsAndPermissions() throws Exception {
        ok("add_user", "dave", "pw");
        Result r = ok("add_vhost", "sales", "--description", "Sales team");
        assertEquals("Adding vhost \"sales\" ...\n", r.out());
        r = ok("list_vhosts", "name", "description");
        assertTrue(r.out().contains("sales\tSales team\n"), r.out());
        r = ok("set_permissions", "-p", "sales", "dave", "^dave-", "^dave-|amq\\.default", ".*");
        assertEquals("Setting permissions for user \"dave\" in vhost \"sales\" ...\n", r.out());
        r = ok("list_permissions", "-p", "sales");
        assertEquals("Listing permissions for vhost \"sales\" ...\nuser\tconfigure\twrite\tread\n"
                + "dave\t^dave-\t^dave-|amq\\.default\t.*\nguest\t.*\t.*\t.*\n", r.out());
        r = ok("list_user_permissions", "dave");
        assertEquals("Listing permissions for user \"dave\" ...\nvhost\tconfigure\twrite\tread\n"
                + "sales\t^dave-\t^dave-|amq\\.default\t.*\n", r.out());
        try (Connection c = connect("dave", "pw", "sales")) {
            Channel ch = c.createChannel();
            ch.queueDeclare("dave-q", false, false, false, null);
            IOException e = assertThrows(IOException.class,
                    () -> c.createChannel().queueDeclare("other", false, false, false, null));
            assertTrue(e.getCause().getMessage().contains(
                    "ACCESS_REFUSED - configure access to queue 'other' in vhost 'sales' refused for user 'dave'"),
                    e.getCause().getMessage());
        }
        r = ok("set_topic_permissions", "-p", "sales", "dave", "amq.topic", "^dave\\.", ".*");
        assertEquals("Setting topic permissions on \"amq.topic\" for user \"dave\" in vhost \"sales\" ...\n", r.out());
        r = ok("list_topic_permissions", "-p", "sales");
        assertTrue(r.out().contains("dave\tamq.topic\t^dave\\.\t.*\n"), r.out());
        r = ok("list_user_topic_permissions", "dave");
        assertTrue(r.out().contains("sales\tamq.topic\t^dave\\.\t.*\n"), r.out());
        ok("clear_topic_permissions", "-p", "sales", "dave");
        assertEquals("Listing topic permissions for user \"dave\" ...\n", ok("list_user_topic_permissions", "dave").out());
        ok("clear_permissions", "-p", "sales", "dave");
        assertThrows(IOException.class, () -> connect("dave", "pw", "sales"));
        // Errors: a bad regex, a vhost or a user that does not exist.
        r = broker.ctl("set_permissions", "-p", "sales", "dave", "(", ".*", ".*");
        assertEquals(69, r.code(), r.all());
        assertTrue(r.err().contains("invalid regular expression for configure permission '('"), r.err());
        r = broker.ctl("set_permissions", "-p", "nowhere", "dave", ".*", ".*", ".*");
        assertEquals(69, r.code(), r.all());
        assertEquals("Error: Virtual host nowhere does not exist\n", r.err());
        assertEquals(67, broker.ctl("set_permissions", "-p", "sales", "nobody", ".*", ".*", ".*").code());
        assertEquals(69, broker.ctl("list_user_permissions", "nobody").code());
        r = ok("delete_vhost", "sales");
        assertEquals("Deleting vhost \"sales\" ...\n", r.out());
        r = broker.ctl("delete_vhost", "sales");
        assertEquals(65, r.code(), r.all());
        assertEquals("Error: Virtual host 'sales' does not exist\n", r.err());
        ok("delete_user", "dave");
    }

    @Test
    void helpDocumentsTheCommands() throws Exception {
        Result all = ok("help");
        for (String cmd : new String[] {"add_user", "delete_user", "change_password", "clear_password",
                "authenticate_user", "set_user_tags", "list_users", "add_vhost", "delete_vhost", "set_permissions",
                "clear_permissions", "list_permissions", "list_user_permissions", "set_topic_permissions",
                "clear_topic_permissions", "list_topic_permissions", "list_user_topic_permissions"}) {
            assertTrue(all.out().contains(cmd), all.all());
        }
        Result r = ok("help", "set_topic_permissions");
        assertTrue(r.out().contains("<exchange>") && r.out().contains("{username}"), r.all());
    }
}
