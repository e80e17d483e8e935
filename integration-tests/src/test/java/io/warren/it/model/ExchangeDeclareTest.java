package io.warren.it.model;

import com.rabbitmq.client.BuiltinExchangeType;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.Map;
import java.util.Set;

import static io.warren.it.model.ModelAssertions.assertChannelError;
import static io.warren.it.model.ModelAssertions.assertConnectionError;
import static io.warren.it.model.ModelAssertions.awaitChannelError;
import static io.warren.it.model.ModelAssertions.exchangeExists;
import static io.warren.it.model.ModelAssertions.routedTo;
import static io.warren.it.model.ModelAssertions.unique;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** exchange.declare and exchange.delete: standard exchanges, flags, equivalence, reserved names. */
class ExchangeDeclareTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private static final String DEFAULT_REFUSED = "ACCESS_REFUSED - operation not permitted on the default exchange";

    @Test
    void standardExchangesExistWithTheirTypes() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        Map<String, String> types = Map.of("amq.direct", "direct", "amq.fanout", "fanout", "amq.topic", "topic",
                "amq.headers", "headers", "amq.match", "headers");
        for (Map.Entry<String, String> e : types.entrySet()) {
            ch.exchangeDeclarePassive(e.getKey());
            // Redeclaring with the same type and flags (durable, not auto-delete) is fine...
            ch.exchangeDeclare(e.getKey(), e.getValue(), true);
        }
        // ...another type is not: amq.match is a headers exchange.
        assertChannelError(ch, 406, "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'amq.match' in vhost"
                + " '/': received 'direct' but current is 'headers'", "exchange.declare",
                () -> ch.exchangeDeclare("amq.match", "direct", true));
    }

    @Test
    void defaultExchangeRoutesByQueueName() throws Exception {
        Channel ch = broker.connect().createChannel();
        String q = ch.queueDeclare().getQueue();
        assertEquals(Set.of("q"), routedTo(ch, "", q, null, Map.of("q", q)));
        assertEquals(Set.of(), routedTo(ch, "", q + "-other", null, Map.of("q", q)));
    }

    @Test
    void defaultExchangeCannotBeDeclaredDeletedOrBound() throws Exception {
        Connection c = broker.connect();
        Channel setup = c.createChannel();
        String q = setup.queueDeclare().getQueue();
        String x = unique("x");
        setup.exchangeDeclare(x, "fanout", false, true, null);
        setup.queueBind(q, x, ""); // keeps the auto-delete exchange until the queue goes

        Channel ch0 = c.createChannel();
        assertChannelError(ch0, 403, DEFAULT_REFUSED, "exchange.declare", () -> ch0.exchangeDeclarePassive(""));
        Channel ch1 = c.createChannel();
        assertChannelError(ch1, 403, DEFAULT_REFUSED, "exchange.declare", () -> ch1.exchangeDeclare("", "direct"));
        Channel ch2 = c.createChannel();
        assertChannelError(ch2, 403, DEFAULT_REFUSED, "exchange.delete", () -> ch2.exchangeDelete(""));
        Channel ch3 = c.createChannel();
        assertChannelError(ch3, 403, DEFAULT_REFUSED, "queue.bind", () -> ch3.queueBind(q, "", "k"));
        Channel ch4 = c.createChannel();
        assertChannelError(ch4, 403, DEFAULT_REFUSED, "queue.unbind", () -> ch4.queueUnbind(q, "", q));
        Channel ch5 = c.createChannel();
        assertChannelError(ch5, 403, DEFAULT_REFUSED, "exchange.bind", () -> ch5.exchangeBind(x, "", "k"));
        Channel ch6 = c.createChannel();
        assertChannelError(ch6, 403, DEFAULT_REFUSED, "exchange.bind", () -> ch6.exchangeBind("", x, "k"));
    }

    @Test
    void systemExchangesCannotBeDeleted() throws Exception {
        Connection c = broker.connect();
        for (String x : new String[] {"amq.direct", "amq.topic", "amq.match"}) {
            Channel ch = c.createChannel();
            assertChannelError(ch, 403, "ACCESS_REFUSED - deletion of system exchange '" + x
                    + "' in vhost '/' not allowed", "exchange.delete", () -> ch.exchangeDelete(x));
            assertTrue(exchangeExists(c, x));
        }
    }

    @Test
    void amqPrefixIsReservedForNewExchanges() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String x = unique("amq.custom");
        assertChannelError(ch, 403, "ACCESS_REFUSED - exchange name '" + x + "' contains reserved prefix 'amq.*'",
                "exchange.declare", () -> ch.exchangeDeclare(x, "direct"));
        assertFalse(exchangeExists(c, x));
    }

    @Test
    void passiveDeclareOfMissingExchangeIsNotFound() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String x = unique("missing");
        assertChannelError(ch, 404, "NOT_FOUND - no exchange '" + x + "' in vhost '/'", "exchange.declare",
                () -> ch.exchangeDeclarePassive(x));
    }

    @Test
    void passiveDeclareFindsAnExchangeWhateverTheFlags() throws Exception {
        Channel ch = broker.connect().createChannel();
        String x = unique("passive");
        ch.exchangeDeclare(x, "topic", false, false, false, null);
        ch.exchangeDeclarePassive(x);
        ch.exchangeDelete(x);
    }

    @Test
    void redeclareWithTheSameTypeAndFlagsIsIdempotent() throws Exception {
        Channel ch = broker.connect().createChannel();
        String x = unique("same");
        ch.exchangeDeclare(x, BuiltinExchangeType.TOPIC, true, false, false, null);
        ch.exchangeDeclare(x, BuiltinExchangeType.TOPIC, true, false, false, null);
        ch.exchangeDelete(x);
    }

    @Test
    void redeclareWithAnotherTypeOrFlagFails() throws Exception {
        Connection c = broker.connect();
        Channel setup = c.createChannel();
        String x = unique("flags");
        setup.exchangeDeclare(x, "direct", false, false, false, null);
        String prefix = "PRECONDITION_FAILED - inequivalent arg '";
        String where = "' for exchange '" + x + "' in vhost '/': received '";

        Channel ch1 = c.createChannel();
        assertChannelError(ch1, 406, prefix + "type" + where + "fanout' but current is 'direct'", "exchange.declare",
                () -> ch1.exchangeDeclare(x, "fanout", false, false, false, null));
        Channel ch2 = c.createChannel();
        assertChannelError(ch2, 406, prefix + "durable" + where + "true' but current is 'false'", "exchange.declare",
                () -> ch2.exchangeDeclare(x, "direct", true, false, false, null));
        Channel ch3 = c.createChannel();
        assertChannelError(ch3, 406, prefix + "auto_delete" + where + "true' but current is 'false'",
                "exchange.declare", () -> ch3.exchangeDeclare(x, "direct", false, true, false, null));
        Channel ch4 = c.createChannel();
        assertChannelError(ch4, 406, prefix + "internal" + where + "true' but current is 'false'", "exchange.declare",
                () -> ch4.exchangeDeclare(x, "direct", false, false, true, null));
        setup.exchangeDelete(x);
    }

    @Test
    void unknownTypeIsAConnectionError() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        assertConnectionError(c, 503, "COMMAND_INVALID - unknown exchange type 'no-such-type'", "exchange.declare",
                () -> ch.exchangeDeclare(unique("typo"), "no-such-type"));
    }

    @Test
    void argumentsAreAcceptedAndOnlyAlternateExchangeMustMatchOnRedeclare() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String x = unique("args");
        ch.exchangeDeclare(x, "direct", false, false, Map.of("x-custom", "v", "n", 1, "alternate-exchange", "ae"));
        // RabbitMQ compares only alternate-exchange among exchange arguments.
        ch.exchangeDeclare(x, "direct", false, false, Map.of("x-custom", "other", "alternate-exchange", "ae"));
        String prefix = "PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange '" + x
                + "' in vhost '/': ";
        Channel ch1 = c.createChannel();
        assertChannelError(ch1, 406, prefix + "received 'other-ae' but current is 'ae'", "exchange.declare",
                () -> ch1.exchangeDeclare(x, "direct", false, false, Map.of("alternate-exchange", "other-ae")));
        Channel ch2 = c.createChannel();
        assertChannelError(ch2, 406, prefix + "received none but current is the value 'ae' of type 'longstr'",
                "exchange.declare", () -> ch2.exchangeDeclare(x, "direct", false, false, null));
        ch.exchangeDelete(x);
        String plain = unique("no-args");
        ch.exchangeDeclare(plain, "fanout", false, false, null);
        Channel ch3 = c.createChannel();
        assertChannelError(ch3, 406, "PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange '"
                        + plain + "' in vhost '/': received the value 'ae' of type 'longstr' but current is none",
                "exchange.declare", () -> ch3.exchangeDeclare(plain, "fanout", false, false,
                        Map.of("alternate-exchange", "ae")));
        ch.exchangeDelete(plain);
    }

    @Test
    void durableFlagIsKept() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String x = unique("durable");
        ch.exchangeDeclare(x, "fanout", true);
        Channel ch2 = c.createChannel();
        assertChannelError(ch2, 406, "PRECONDITION_FAILED - inequivalent arg 'durable' for exchange '" + x
                        + "' in vhost '/': received 'false' but current is 'true'", "exchange.declare",
                () -> ch2.exchangeDeclare(x, "fanout", false));
        ch.exchangeDelete(x);
    }

    @Test
    void autoDeleteExchangeIsDeletedWhenItsLastBindingGoes() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String x = unique("ad");
        String q1 = ch.queueDeclare().getQueue();
        String q2 = ch.queueDeclare().getQueue();
        ch.exchangeDeclare(x, "direct", false, true, null);
        // Never bound yet: kept.
        ch.queueBind(q1, x, "a");
        ch.queueBind(q2, x, "b");
        assertTrue(exchangeExists(c, x));
        ch.queueUnbind(q1, x, "a");
        assertTrue(exchangeExists(c, x), "one binding left");
        ch.queueUnbind(q2, x, "b");
        assertFalse(exchangeExists(c, x), "last binding gone");
    }

    @Test
    void autoDeleteExchangeIsDeletedWhenItsLastBoundQueueIsDeleted() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String x = unique("ad-q");
        String q = ch.queueDeclare().getQueue();
        ch.exchangeDeclare(x, "fanout", false, true, null);
        ch.queueBind(q, x, "");
        ch.queueDelete(q);
        assertFalse(exchangeExists(c, x));
    }

    @Test
    void autoDeleteExchangeWithoutBindingsIsKept() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String x = unique("ad-unbound");
        ch.exchangeDeclare(x, "fanout", false, true, null);
        String q = ch.queueDeclare().getQueue();
        ch.basicPublish(x, "", null, new byte[0]);
        ch.queueDelete(q); // an unrelated queue going away does not touch it
        assertTrue(exchangeExists(c, x));
        ch.exchangeDelete(x);
    }

    @Test
    void publishingToAnInternalExchangeIsRefused() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String x = unique("internal");
        ch.exchangeDeclare(x, "fanout", false, false, true, null);
        ch.basicPublish(x, "", null, new byte[0]);
        awaitChannelError(ch, 403, "ACCESS_REFUSED - cannot publish to internal exchange '" + x + "' in vhost '/'",
                "basic.publish");
        c.createChannel().exchangeDelete(x);
    }

    @Test
    void internalExchangeReceivesThroughExchangeBindings() throws Exception {
        Channel ch = broker.connect().createChannel();
        String front = unique("front");
        String internal = unique("internal");
        ch.exchangeDeclare(front, "fanout", false, true, null);
        ch.exchangeDeclare(internal, "fanout", false, true, true, null);
        String q = ch.queueDeclare().getQueue();
        ch.queueBind(q, internal, "");
        ch.exchangeBind(internal, front, "");
        assertEquals(Set.of("q"), routedTo(ch, front, "k", null, Map.of("q", q)));
        ch.exchangeDelete(front);
        ch.exchangeDelete(internal);
    }

    @Test
    void deleteOfAMissingExchangeSucceeds() throws Exception {
        Channel ch = broker.connect().createChannel();
        ch.exchangeDelete(unique("never-declared"));
        assertTrue(ch.isOpen());
    }

    @Test
    void deleteIfUnusedFailsWhileTheExchangeHasBindings() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String x = unique("in-use");
        ch.exchangeDeclare(x, "direct");
        String q = ch.queueDeclare().getQueue();
        ch.queueBind(q, x, "k");
        Channel ch2 = c.createChannel();
        assertChannelError(ch2, 406, "PRECONDITION_FAILED - exchange '" + x + "' in vhost '/' in use",
                "exchange.delete", () -> ch2.exchangeDelete(x, true));
        assertTrue(exchangeExists(c, x));
        ch.queueUnbind(q, x, "k");
        ch.exchangeDelete(x, true);
        assertFalse(exchangeExists(c, x));
    }

    @Test
    void deleteIfUnusedIgnoresBindingsWhereTheExchangeIsTheDestination() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String source = unique("source");
        String x = unique("destination-only");
        ch.exchangeDeclare(source, "fanout");
        ch.exchangeDeclare(x, "fanout");
        ch.exchangeBind(x, source, "");
        ch.exchangeDelete(x, true);
        assertFalse(exchangeExists(c, x));
        ch.exchangeDelete(source, true); // its binding to x went with x
    }

    @Test
    void deleteRemovesTheBindings() throws Exception {
        Channel ch = broker.connect().createChannel();
        String x = unique("rebound");
        ch.exchangeDeclare(x, "fanout");
        String q = ch.queueDeclare().getQueue();
        ch.queueBind(q, x, "");
        ch.exchangeDelete(x);
        ch.exchangeDeclare(x, "fanout");
        assertEquals(Set.of(), routedTo(ch, x, "", null, Map.of("q", q)));
        ch.exchangeDelete(x);
    }

    /**
     * RabbitMQ strips CR and LF from exchange names in exchange.declare (passive too),
     * exchange.delete and the bind/unbind methods, but not in basic.publish.
     */
    @Test
    void carriageReturnsAndLineFeedsAreStrippedFromExchangeNames() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String x = unique("crlf");
        String mangled = "\r" + x.substring(0, 3) + "\n" + x.substring(3) + "\r\n";
        ch.exchangeDeclare(mangled, "direct", false, false, null);
        assertTrue(exchangeExists(c, x));
        ch.exchangeDeclarePassive(x + "\n");
        ch.exchangeDeclare(x, "direct", false, false, null); // the same exchange: equivalent
        String q = ch.queueDeclare().getQueue();
        ch.queueBind(q, x + "\r", "k");
        assertEquals(Set.of("q"), routedTo(ch, x, "k", null, Map.of("q", q)));
        ch.queueUnbind(q, "\n" + x, "k");
        assertEquals(Set.of(), routedTo(ch, x, "k", null, Map.of("q", q)));
        ch.exchangeBind(x, "amq.direct\n", "k2");
        ch.queueBind(q, x, "k2");
        assertEquals(Set.of("q"), routedTo(ch, "amq.direct", "k2", null, Map.of("q", q)));
        ch.exchangeUnbind(x + "\n", "amq.direct", "k2");
        assertEquals(Set.of(), routedTo(ch, "amq.direct", "k2", null, Map.of("q", q)));
        ch.exchangeDelete(x + "\r\n");
        assertFalse(exchangeExists(c, x));
        // A name of only CR/LF is the default exchange's.
        Channel ch2 = c.createChannel();
        assertChannelError(ch2, 403, DEFAULT_REFUSED, "exchange.declare",
                () -> ch2.exchangeDeclare("\n\r", "direct"));
        // basic.publish takes the name as it is.
        ch.exchangeDeclare(x, "direct", false, false, null);
        Channel ch3 = c.createChannel();
        ch3.basicPublish(x + "\n", "k", null, new byte[] {1});
        awaitChannelError(ch3, 404, "NOT_FOUND - no exchange '" + x + "\n' in vhost '/'", "basic.publish");
        ch.exchangeDelete(x);
    }
}
