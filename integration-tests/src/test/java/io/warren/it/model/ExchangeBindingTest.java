package io.warren.it.model;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.Map;
import java.util.Set;

import static io.warren.it.model.ModelAssertions.assertChannelError;
import static io.warren.it.model.ModelAssertions.exchangeExists;
import static io.warren.it.model.ModelAssertions.routedTo;
import static io.warren.it.model.ModelAssertions.unique;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** exchange.bind / exchange.unbind (RabbitMQ's exchange-to-exchange bindings). */
class ExchangeBindingTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    /** Declares auto-delete exchanges (gone with their last binding) named after {@code prefix}. */
    private static String exchange(Channel ch, String prefix, String type) throws Exception {
        String x = unique(prefix);
        ch.exchangeDeclare(x, type, false, true, null);
        return x;
    }

    @Test
    void chainFiltersAtEveryHop() throws Exception {
        Channel ch = broker.connect().createChannel();
        String a = exchange(ch, "a", "topic");
        String b = exchange(ch, "b", "direct");
        String c = exchange(ch, "c", "fanout");
        String q = ch.queueDeclare().getQueue();
        ch.exchangeBind(b, a, "stock.#");
        ch.exchangeBind(c, b, "stock.nyse");
        ch.queueBind(q, c, "ignored-by-fanout");
        Map<String, String> qs = Map.of("q", q);
        assertEquals(Set.of("q"), routedTo(ch, a, "stock.nyse", null, qs));
        assertEquals(Set.of(), routedTo(ch, a, "stock.lse", null, qs), "stopped at b");
        assertEquals(Set.of(), routedTo(ch, a, "bond.nyse", null, qs), "stopped at a");
        assertEquals(Set.of("q"), routedTo(ch, b, "stock.nyse", null, qs), "publishing mid-chain");
    }

    @Test
    void cyclesDeliverOnce() throws Exception {
        Channel ch = broker.connect().createChannel();
        String a = exchange(ch, "cycle-a", "fanout");
        String b = exchange(ch, "cycle-b", "fanout");
        String q = ch.queueDeclare().getQueue();
        ch.exchangeBind(b, a, "");
        ch.exchangeBind(a, b, "");
        ch.exchangeBind(a, a, ""); // a self-loop too
        ch.queueBind(q, a, "");
        ch.queueBind(q, b, "");
        Map<String, String> qs = Map.of("q", q);
        // routedTo asserts the queue holds exactly one copy.
        assertEquals(Set.of("q"), routedTo(ch, a, "k", null, qs));
        assertEquals(Set.of("q"), routedTo(ch, b, "k", null, qs));
    }

    @Test
    void diamondDeliversOnce() throws Exception {
        Channel ch = broker.connect().createChannel();
        String top = exchange(ch, "top", "fanout");
        String left = exchange(ch, "left", "fanout");
        String right = exchange(ch, "right", "direct");
        String q = ch.queueDeclare().getQueue();
        String other = ch.queueDeclare().getQueue();
        ch.exchangeBind(left, top, "");
        ch.exchangeBind(right, top, "");
        ch.queueBind(q, left, "");
        ch.queueBind(q, right, "k");
        ch.queueBind(other, right, "k");
        Map<String, String> qs = Map.of("q", q, "other", other);
        assertEquals(Set.of("q", "other"), routedTo(ch, top, "k", null, qs));
        assertEquals(Set.of("q"), routedTo(ch, top, "not-k", null, qs));
    }

    @Test
    void unbindStopsRouting() throws Exception {
        Channel ch = broker.connect().createChannel();
        String a = exchange(ch, "unbind-a", "direct");
        String b = exchange(ch, "unbind-b", "fanout");
        String q = ch.queueDeclare().getQueue();
        String keep = ch.queueDeclare().getQueue(); // keeps auto-delete a alive after the unbind
        ch.queueBind(keep, a, "never");
        ch.queueBind(q, b, "");
        ch.exchangeBind(b, a, "k1");
        ch.exchangeBind(b, a, "k2");
        Map<String, String> qs = Map.of("q", q);
        ch.exchangeUnbind(b, a, "k1");
        assertEquals(Set.of(), routedTo(ch, a, "k1", null, qs));
        assertEquals(Set.of("q"), routedTo(ch, a, "k2", null, qs));
        ch.exchangeUnbind(b, a, "no-such-binding"); // RabbitMQ: unbinding what is not bound is fine
        assertTrue(ch.isOpen());
    }

    @Test
    void bindingToOrFromAMissingExchangeIsNotFound() throws Exception {
        Connection c = broker.connect();
        Channel setup = c.createChannel();
        String x = exchange(setup, "present", "fanout");
        String q = setup.queueDeclare().getQueue();
        setup.queueBind(q, x, "");
        String missing = unique("missing");
        String missing2 = unique("missing2");
        Channel ch1 = c.createChannel();
        assertChannelError(ch1, 404, "NOT_FOUND - no exchange '" + missing + "' in vhost '/'", "exchange.bind",
                () -> ch1.exchangeBind(x, missing, ""));
        Channel ch2 = c.createChannel();
        assertChannelError(ch2, 404, "NOT_FOUND - no exchange '" + missing + "' in vhost '/'", "exchange.bind",
                () -> ch2.exchangeBind(missing, x, ""));
        // Both missing: the source is named.
        Channel ch3 = c.createChannel();
        assertChannelError(ch3, 404, "NOT_FOUND - no exchange '" + missing2 + "' in vhost '/'", "exchange.bind",
                () -> ch3.exchangeBind(missing, missing2, ""));
        // Unbinding what cannot be bound is fine (RabbitMQ 3.10).
        Channel ch4 = c.createChannel();
        ch4.exchangeUnbind(missing, x, "");
        ch4.exchangeUnbind(x, missing, "");
        ch4.exchangeUnbind(missing, missing2, "");
        assertTrue(ch4.isOpen());
    }

    @Test
    void autoDeleteSourceGoesWithItsLastExchangeBinding() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String source = exchange(ch, "ad-source", "fanout");
        String destination = unique("plain-destination");
        ch.exchangeDeclare(destination, "fanout");
        ch.exchangeBind(destination, source, "");
        assertTrue(exchangeExists(c, source));
        ch.exchangeUnbind(destination, source, "");
        assertFalse(exchangeExists(c, source));
        assertTrue(exchangeExists(c, destination), "only the source's bindings count");
        ch.exchangeDelete(destination);
    }

    @Test
    void deletingTheDestinationRemovesTheBindingAndAutoDeletesTheSource() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String source = exchange(ch, "ad-source2", "fanout");
        String plainSource = unique("plain-source");
        ch.exchangeDeclare(plainSource, "fanout");
        String destination = unique("destination");
        ch.exchangeDeclare(destination, "fanout");
        ch.exchangeBind(destination, source, "");
        ch.exchangeBind(destination, plainSource, "");
        ch.exchangeDelete(destination);
        assertFalse(exchangeExists(c, source));
        ch.exchangeDelete(plainSource, true); // no longer in use
        assertFalse(exchangeExists(c, plainSource));
    }

    @Test
    void deletingTheSourceKeepsTheDestination() throws Exception {
        Connection c = broker.connect();
        Channel ch = c.createChannel();
        String source = unique("source");
        ch.exchangeDeclare(source, "fanout");
        String destination = exchange(ch, "ad-destination", "fanout");
        ch.exchangeBind(destination, source, "");
        ch.exchangeDelete(source);
        assertTrue(exchangeExists(c, destination), "auto-delete counts only bindings from the exchange");
        ch.exchangeDelete(destination);
    }
}
