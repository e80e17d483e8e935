package io.warren.core.exchange;

import io.netty.buffer.Unpooled;
import io.netty.util.concurrent.DefaultEventExecutor;
import io.warren.core.BrokerException;
import io.warren.core.message.Message;
import io.warren.core.queue.MessageQueue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.math.BigDecimal;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Headers matching as RabbitMQ 3.10 does it (rabbit_exchange_type_headers): x-match all (the
 * default) or any, x- arguments ignored unless the mode is all-with-x / any-with-x, a void
 * binding value matching on presence, numbers equal by value whatever their width.
 */
class HeadersExchangeTest {
    private final DefaultEventExecutor loop = new DefaultEventExecutor();

    @AfterEach
    void stop() {
        loop.shutdownGracefully(0, 0, TimeUnit.SECONDS);
    }

    private static Map<String, Object> map(Object... kv) {
        Map<String, Object> m = new HashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    @Test
    void allIsTheDefaultAndNeedsEveryKeyWithItsValue() {
        Map<String, Object> binding = map("format", "pdf", "type", "report");
        assertTrue(HeadersExchange.matches(binding, map("format", "pdf", "type", "report", "extra", 1)));
        assertFalse(HeadersExchange.matches(binding, map("format", "pdf")));
        assertFalse(HeadersExchange.matches(binding, map("format", "pdf", "type", "log")));
        assertTrue(HeadersExchange.matches(map("x-match", "all", "format", "pdf"), map("format", "pdf")));
        // no key to compare: all holds, any does not
        assertTrue(HeadersExchange.matches(map(), map("format", "pdf")));
        assertFalse(HeadersExchange.matches(map("x-match", "any"), map("format", "pdf")));
    }

    @Test
    void anyNeedsOneKeyWithItsValue() {
        Map<String, Object> binding = map("x-match", "any", "format", "pdf", "type", "report");
        assertTrue(HeadersExchange.matches(binding, map("type", "report")));
        assertTrue(HeadersExchange.matches(binding, map("format", "pdf", "type", "log")));
        assertFalse(HeadersExchange.matches(binding, map("format", "zip", "type", "log")));
        assertFalse(HeadersExchange.matches(binding, map()));
    }

    @Test
    void xArgumentsCountOnlyInTheWithXModes() {
        Map<String, Object> headers = map("x-origin", "eu");
        assertTrue(HeadersExchange.matches(map("x-origin", "us"), headers), "all ignores x- keys");
        assertFalse(HeadersExchange.matches(map("x-match", "any", "x-origin", "eu"), headers), "any ignores them too");
        assertFalse(HeadersExchange.matches(map("x-match", "all-with-x", "x-origin", "us"), headers));
        assertTrue(HeadersExchange.matches(map("x-match", "all-with-x", "x-origin", "eu"), headers));
        assertTrue(HeadersExchange.matches(map("x-match", "any-with-x", "x-origin", "eu", "k", "v"), headers));
    }

    @Test
    void aVoidValueMatchesOnPresenceAndNumbersByValue() {
        assertTrue(HeadersExchange.matches(map("k", null), map("k", "anything")));
        assertFalse(HeadersExchange.matches(map("k", null), map("other", 1)));
        assertTrue(HeadersExchange.matches(map("n", 5), map("n", 5L)), "int against long");
        assertTrue(HeadersExchange.matches(map("n", (byte) 5), map("n", (short) 5)));
        assertTrue(HeadersExchange.matches(map("d", new BigDecimal("1.50")), map("d", new BigDecimal("1.5"))));
        assertFalse(HeadersExchange.matches(map("n", 5), map("n", "5")), "a number is not its text");
    }

    @Test
    void xMatchMustBeOneOfTheFourModes() {
        Exchange x = Exchange.create("h", ExchangeType.HEADERS, false, false, false, null);
        x.validateBinding(new Binding(x, null, "", map("x-match", "any-with-x")));
        BrokerException e = assertThrows(BrokerException.class,
                () -> x.validateBinding(new Binding(x, null, "", map("x-match", "some"))));
        assertEquals("Invalid x-match field value <<\"some\">>; expected all, any, all-with-x, or any-with-x",
                e.getMessage());
        e = assertThrows(BrokerException.class, () -> x.validateBinding(new Binding(x, null, "", map("x-match", 1))));
        assertTrue(e.getMessage().startsWith("Invalid x-match field type"), e.getMessage());
    }

    @Test
    void routeReachesTheQueuesWhoseBindingsMatch() {
        Exchange x = Exchange.create("h", ExchangeType.HEADERS, false, false, false, null);
        MessageQueue pdf = new MessageQueue("pdf", "/", false, false, null, null, loop, q -> { });
        MessageQueue any = new MessageQueue("any", "/", false, false, null, null, loop, q -> { });
        MessageQueue none = new MessageQueue("none", "/", false, false, null, null, loop, q -> { });
        x.addBinding(new Binding(x, pdf, "", map("format", "pdf")));
        x.addBinding(new Binding(x, any, "", map("x-match", "any", "format", "zip", "type", "report")));
        x.addBinding(new Binding(x, none, "", map("format", "zip")));
        Map<String, Object> headers = map("format", "pdf", "type", "report");
        Message m = new Message("h", "", Unpooled.buffer(2).writeShort(0), Unpooled.wrappedBuffer(new byte[] {1}),
                false, props -> headers);
        try {
            RoutingResult out = new RoutingResult();
            x.route(m, out);
            assertEquals(List.of(pdf, any), List.copyOf(out.queues()));
        } finally {
            m.release();
        }
    }
}
