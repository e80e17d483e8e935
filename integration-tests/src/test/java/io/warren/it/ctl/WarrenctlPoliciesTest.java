package io.warren.it.ctl;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import io.warren.it.support.Processes.Result;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * warrenctl's policy commands through the real bin/warrenctl, with rabbitmqctl 3.10's banners,
 * table output and exit codes (compared with rabbitmqctl 3.10 by hand); their effect seen by
 * an AMQP client.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class WarrenctlPoliciesTest {
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

    private static Result ok(String... args) throws Exception {
        Result r = broker.ctl(args);
        assertEquals(0, r.code(), r.all());
        return r;
    }

    private static void fails(int code, String err, String... args) throws Exception {
        Result r = broker.ctl(args);
        assertEquals(code, r.code(), r.all());
        assertEquals(err, r.err(), r.all());
    }

    @Test
    void setListAndClearPolicies() throws Exception {
        Result r = ok("set_policy", "--priority", "3", "--apply-to", "queues", "ttl", "^ctl-ttl\\.", "{\"message-ttl\":200}");
        assertEquals("Setting policy \"ttl\" for pattern \"^ctl-ttl\\.\" to \"{\"message-ttl\":200}\" with priority \"3\""
                + " for vhost \"/\" ...\n", r.out());
        ok("set_policy", "ae", "^ctl-x$", "{\"alternate-exchange\":\"ctl-ae\",\"expires\":900000}");
        r = ok("list_policies");
        assertEquals("Listing policies for vhost \"/\" ...\n"
                + "vhost\tname\tpattern\tapply-to\tdefinition\tpriority\n"
                + "/\tae\t^ctl-x$\tall\t{\"alternate-exchange\":\"ctl-ae\",\"expires\":900000}\t0\n"
                + "/\tttl\t^ctl-ttl\\.\tqueues\t{\"message-ttl\":200}\t3\n", r.out());
        r = ok("list_policies", "--formatter", "json");
        assertTrue(r.out().contains("\"definition\":\"{\\\"message-ttl\\\":200}\""), r.out());

        try (Connection c = broker.connect("guest", "guest", "/")) {
            Channel ch = c.createChannel();
            ch.queueDeclare("ctl-ttl.q", false, false, true, null);
            ch.basicPublish("", "ctl-ttl.q", null, new byte[1]);
            await().atMost(Duration.ofSeconds(5)).until(() -> ch.queueDeclarePassive("ctl-ttl.q").getMessageCount() == 0);
            Result q = ok("-q", "list_queues", "name", "policy", "operator_policy", "effective_policy_definition");
            assertTrue(q.out().contains("ctl-ttl.q\tttl\t\t[{\"message-ttl\",200}]\n"), q.out());
            ch.exchangeDeclare("ctl-x", "fanout");
            assertTrue(ok("-q", "list_exchanges", "name", "policy").out().contains("ctl-x\tae\n"));
            ch.exchangeDelete("ctl-x");
        }

        r = ok("clear_policy", "ttl");
        assertEquals("Clearing policy \"ttl\" on vhost \"/\" ...\n", r.out());
        ok("clear_policy", "ae");
        assertEquals("Listing policies for vhost \"/\" ...\n", ok("list_policies").out());
        fails(69, "Error: Parameter does not exist\n", "clear_policy", "ttl");
    }

    @Test
    void operatorPolicies() throws Exception {
        Result r = ok("set_operator_policy", "cap", ".*", "{\"message-ttl\":60000,\"expires\":3600000}");
        assertEquals("Setting operator policy override \"cap\" for pattern \".*\" to \"{\"message-ttl\":60000,"
                + "\"expires\":3600000}\" with priority \"0\" for vhost \"/\" ...\n", r.out());
        r = ok("list_operator_policies");
        assertEquals("Listing operator policy overrides for vhost \"/\" ...\n"
                + "vhost\tname\tpattern\tapply-to\tdefinition\tpriority\n"
                + "/\tcap\t.*\tall\t{\"expires\":3600000,\"message-ttl\":60000}\t0\n", r.out());
        fails(69, "Error: Validation failed: [{<<\"alternate-exchange\">>,<<\"x\">>}] are not recognised policy "
                + "settings\n", "set_operator_policy", "bad", ".*", "{\"alternate-exchange\":\"x\"}");
        r = ok("clear_operator_policy", "cap");
        assertEquals("Clearing operator policy \"cap\" on vhost \"/\" ...\n", r.out());
        fails(69, "Error: Parameter does not exist\n", "clear_operator_policy", "cap");
    }

    @Test
    void refusalsAndTheirExitCodes() throws Exception {
        fails(69, "Error: Validation failed: [{<<\"foo\">>,1}] are not recognised policy settings\n",
                "set_policy", "p", ".*", "{\"foo\":1}");
        fails(69, "Error: Validation failed: <<\"x\">> is not a valid message TTL\n",
                "set_policy", "p", ".*", "{\"message-ttl\":\"x\"}");
        fails(69, "Error: Validation failed: no policy provided\n", "set_policy", "p", ".*", "{}");
        fails(69, "Error: JSON decoding error. Reason: badarg\n", "set_policy", "p", ".*", "notjson");
        fails(69, "Error: Validation failed: apply-to 'foo' unrecognised; should be 'queues', 'exchanges' or 'all'\n",
                "set_policy", "--apply-to", "foo", "p", ".*", "{\"message-ttl\":1}");
        fails(69, "Error: Validation failed: policy key 'ha-mode' is not supported by warren (no mirrored queues)\n",
                "set_policy", "p", ".*", "{\"ha-mode\":\"all\"}");
        fails(65, "Error: Virtual host 'nosuch' does not exist\n",
                "set_policy", "-p", "nosuch", "p", ".*", "{\"message-ttl\":1}");
        Result r = broker.ctl("set_policy", "--priority", "x", "p", ".*", "{\"message-ttl\":1}");
        assertEquals(64, r.code(), r.all());
        r = broker.ctl("set_policy", "p");
        assertEquals(64, r.code(), r.all());
        r = broker.ctl("set_policy", "p", "[", "{\"message-ttl\":1}");
        assertEquals(69, r.code(), r.all());
        assertTrue(r.err().startsWith("Error: Validation failed: pattern should be regular expression but is "
                + "invalid"), r.err());
        assertEquals("Listing policies for vhost \"/\" ...\n", ok("list_policies").out());
    }
}
