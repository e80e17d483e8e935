package io.warren.core.policy;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which policy applies, how an operator policy merges, and what validation refuses. */
class PolicyMatchTest {
    private static Policy p(String name, String pattern, String applyTo, int priority, Map<String, Object> def,
                            boolean operator) {
        return PolicyValidator.policy("/", name, pattern, applyTo, priority, def, operator);
    }

    private static Policy p(String name, String pattern, String applyTo, int priority) {
        return p(name, pattern, applyTo, priority, Map.of("message-ttl", (long) Math.abs(priority)), false);
    }

    @Test
    void theHighestPriorityMatchingPolicyOfTheRightKindWins() {
        Policy low = p("low", "^q", "all", 1);
        Policy high = p("high", "^q", "queues", 5);
        Policy exchangesOnly = p("x", "^q", "exchanges", 9);
        Policy other = p("other", "^z", "all", 20);
        List<Policy> all = List.of(low, high, exchangesOnly, other);
        assertSame(high, Applied.match(all, "q1", true));
        assertSame(exchangesOnly, Applied.match(all, "q1", false));
        assertNull(Applied.match(all, "a", true));
        assertSame(low, Applied.match(List.of(low, exchangesOnly), "q1", true));
        // A tie goes to the lowest name, whatever the order.
        Policy b = p("b", ".*", "all", 3);
        Policy a = p("a", ".*", "all", 3);
        assertSame(a, Applied.match(List.of(b, a), "q", true));
        assertSame(a, Applied.match(List.of(a, b), "q", true));
    }

    @Test
    void aPatternThatRunsOutOfBudgetDoesNotMatchAndDoesNotStall() {
        Policy hostile = p("hostile", "(.*a){25}b", "all", 0);
        Policy plain = p("plain", "^a", "all", -1);
        String name = "a".repeat(60);
        assertSame(plain, Applied.match(List.of(hostile, plain), name, true));
    }

    @Test
    void operatorPoliciesAddTheirKeysAndTheSmallerValueWins() {
        Policy user = p("u", ".*", "all", 0, Map.of("message-ttl", 60000L, "alternate-exchange", "ae"), false);
        Policy op = p("o", ".*", "all", 0, Map.of("message-ttl", 1000L, "expires", 5000L), true);
        Applied a = Applied.of(List.of(user), List.of(op), "q", true);
        assertSame(user, a.policy());
        assertSame(op, a.operatorPolicy());
        assertEquals(Map.of("message-ttl", 1000L, "expires", 5000L, "alternate-exchange", "ae"), a.definition());
        Policy looser = p("o", ".*", "all", 0, Map.of("message-ttl", 90000L), true);
        assertEquals(60000L, Applied.of(List.of(user), List.of(looser), "q", true).definition().get("message-ttl"));
        assertSame(Applied.NONE, Applied.of(List.of(), List.of(), "q", true));
    }

    @Test
    void argumentsAgainstPolicyValues() {
        assertEquals(100, Applied.smaller(100, 5000L));
        assertEquals(100, Applied.smaller(5000, 100L));
        assertEquals(7, Applied.smaller(null, 7L));
        assertEquals(7, Applied.smaller(7L, null));
        assertEquals(-1, Applied.smaller(null, null));
        assertEquals("arg", Applied.argumentFirst("arg", "policy"));
        assertEquals("policy", Applied.argumentFirst(null, "policy"));
    }

    private static String refusal(Map<String, Object> def, boolean operator) {
        return assertThrows(PolicyException.class, () -> PolicyValidator.validate(def, operator)).getMessage();
    }

    @Test
    void validationTextsAreRabbitMqs() {
        assertEquals("Validation failed\n\n[{<<\"foo\">>,1}] are not recognised policy settings\n",
                refusal(Map.of("foo", 1L), false));
        assertEquals("Validation failed\n\n-1 is not a valid message TTL\n", refusal(Map.of("message-ttl", -1L), false));
        assertEquals("Validation failed\n\n1.5 is not a valid message TTL\n", refusal(Map.of("message-ttl", 1.5), false));
        assertEquals("Validation failed\n\ntrue is not a valid message TTL\n",
                refusal(Map.of("message-ttl", true), false));
        assertEquals("Validation failed\n\n<<\"foo\">> is not a valid queue-mode value\n",
                refusal(Map.of("queue-mode", "foo"), false));
        assertEquals("Validation failed\n\n<<\"foo\">> is not a valid overflow value\n",
                refusal(Map.of("overflow", "foo"), false));
        assertEquals("Validation failed\n\n-1 is not a valid delivery limit\n",
                refusal(Map.of("delivery-limit", -1L), false));
        assertEquals("Validation failed\n\n<<\"foo\">> is not a valid queue leader locator value\n",
                refusal(Map.of("queue-leader-locator", "foo"), false));
        assertEquals("Validation failed\n\n5 is not a valid queue leader locator value\n",
                refusal(Map.of("queue-leader-locator", 5L), false));
        for (String locator : java.util.List.of("client-local", "balanced", "random", "least-leaders")) {
            PolicyValidator.validate(Map.of("queue-leader-locator", locator), false);
        }
        assertEquals("Validation failed\n\n[{<<\"queue-mode\">>,<<\"lazy\">>}] are not recognised policy settings\n",
                refusal(Map.of("queue-mode", "lazy"), true));
        assertTrue(refusal(Map.of("ha-mode", "all"), false).contains("policy key 'ha-mode' is not supported by warren (no mirrored queues)"));
        assertTrue(refusal(Map.of("max-in-memory-length", 3L), true).contains("(quorum queues only)"));
        assertEquals("Validation failed\n\napply-to 'x' unrecognised; should be 'queues', 'exchanges' or 'all'\n",
                assertThrows(PolicyException.class, () -> p("n", ".*", "x", 0)).getMessage());
        assertTrue(assertThrows(PolicyException.class, () -> p("n", "[", "all", 0)).getMessage()
                .startsWith("Validation failed\n\npattern should be regular expression but is invalid: "));
        PolicyValidator.validate(Map.of("message-ttl", 0L, "expires", 1L, "alternate-exchange", "ae",
                "queue-mode", "lazy"), false);
        PolicyValidator.validate(Map.of("message-ttl", 5, "expires", 4294967295L), true);
    }
}
