package io.warren.server.management;

import io.warren.amqp.codec.FieldValues;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Path splitting and binding properties keys, as RabbitMQ's management API does them. */
class PathsAndKeysTest {
    @Test
    void pathIsSplitBeforeEachSegmentIsDecoded() {
        assertEquals(List.of("queues", "/", "a/b"), HttpApiHandler.segments("queues/%2F/a%2Fb"));
        assertEquals(List.of("queues", "/", "a+b c"), HttpApiHandler.segments("queues/%2f/a+b%20c"));
        assertEquals(List.of("vhosts", "é"), HttpApiHandler.segments("vhosts/%C3%A9/"));
        assertEquals(List.of(), HttpApiHandler.segments(""));
        assertEquals(List.of("bindings", "/", "e", "x", "q", "q", ""), HttpApiHandler.segments("bindings/%2F/e/x/q/q//"));
        ApiException bad = assertThrows(ApiException.class, () -> HttpApiHandler.segments("queues/%zz"));
        assertEquals(400, bad.status);
    }

    @Test
    void propertiesKeysAreRabbitMQs() {
        assertEquals("~", Views.propertiesKey("", Map.of()));
        assertEquals("a.b", Views.propertiesKey("a.b", Map.of()));
        assertEquals("a+b%2Fc%2A%7E", Views.propertiesKey("a b/c*~", Map.of()));
        String withArgs = Views.propertiesKey("k", Map.of("x-match", FieldValues.LongString.of("all")));
        assertTrue(withArgs.startsWith("k~"), withArgs);
        assertEquals(withArgs, Views.propertiesKey("k", Map.of("x-match", FieldValues.LongString.of("all"))));
        assertNotEquals(withArgs, Views.propertiesKey("k", Map.of("x-match", FieldValues.LongString.of("any"))));
    }

    @Test
    void routesMatchLiteralsVariablesAndMethods() {
        ManagementApi api = new ManagementApi(new ApiContext(() -> null, null, null, null, "n", 0, Runnable::run, List.of(), null, null));
        ManagementApi.Match m = api.match("PUT", List.of("queues", "/", "q"));
        assertEquals(Map.of("vhost", "/", "name", "q"), m.params());
        assertEquals(List.of("DELETE", "GET", "PUT"), m.allowed());
        assertEquals(null, api.match("GET", List.of("queues", "/", "q", "nope")));
        assertEquals(null, api.match("POST", List.of("overview")).endpoint());
        assertEquals("amq.topic", api.match("GET", List.of("bindings", "/", "e", "amq.topic", "q", "q")).params().get("source"));
    }
}
