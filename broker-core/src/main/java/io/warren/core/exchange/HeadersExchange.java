package io.warren.core.exchange;

import io.warren.core.BrokerException;
import io.warren.core.message.Message;
import io.warren.core.message.TableValue;

import java.math.BigDecimal;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Routes by message headers: a binding's arguments are the values to match, {@code x-match}
 * says whether all (default) or any must match; {@code all-with-x}/{@code any-with-x} also
 * compare {@code x-} keys, which are otherwise ignored (RabbitMQ 3.10 semantics). A binding
 * argument with a void value matches on the key's presence.
 */
public final class HeadersExchange extends Exchange {
    private static final Set<String> MODES = Set.of("all", "any", "all-with-x", "any-with-x");
    private volatile Binding[] bindings = new Binding[0];

    HeadersExchange(String name, boolean durable, boolean autoDelete, boolean internal, Map<String, Object> args) {
        super(name, ExchangeType.HEADERS, durable, autoDelete, internal, args);
    }

    @Override public void route(Message message, RoutingResult out) {
        Binding[] snapshot = bindings;
        if (snapshot.length == 0) {
            return;
        }
        Map<String, Object> headers = message.headers();
        for (Binding b : snapshot) {
            if (matches(b.arguments(), headers == null ? Map.of() : headers)) {
                out.add(b.destination(), message);
            }
        }
    }

    /** x-match, when given, must be one of RabbitMQ's four modes, as a string (rabbit_exchange_type_headers). */
    @Override public void validateBinding(Binding b) {
        Object mode = b.arguments().get("x-match");
        if (mode == null) {
            return;
        }
        Object value = mode instanceof TableValue t ? t.comparable() : mode;
        if (!(value instanceof CharSequence)) {
            throw BrokerException.preconditionFailed("Invalid x-match field type %s (value %s); expected longstr",
                    TableValue.typeNameOf(mode), value);
        }
        if (!MODES.contains(value.toString())) {
            throw BrokerException.preconditionFailed("Invalid x-match field value <<\"%s\">>; expected all, any,"
                    + " all-with-x, or any-with-x", value);
        }
    }

    static boolean matches(Map<String, Object> args, Map<String, Object> headers) {
        String mode = stringOf(args.get("x-match"));
        boolean any = mode != null && mode.startsWith("any");
        boolean withX = mode != null && mode.endsWith("-with-x");
        for (Map.Entry<String, Object> e : args.entrySet()) {
            String k = e.getKey();
            if (k.equals("x-match") || (!withX && k.startsWith("x-"))) {
                continue;
            }
            boolean present = headers.containsKey(k);
            boolean ok = present && (e.getValue() == null || valuesEqual(e.getValue(), headers.get(k)));
            if (any && ok) {
                return true;
            }
            if (!any && !ok) {
                return false;
            }
        }
        return !any;
    }

    private static String stringOf(Object v) {
        return v == null ? null : v.toString();
    }

    /** Numbers compare by value whatever their width; strings by content. */
    static boolean valuesEqual(Object a, Object b) {
        return Objects.equals(normalise(a), normalise(b));
    }

    private static Object normalise(Object v) {
        if (v instanceof TableValue t) {
            v = t.comparable();
        }
        if (v instanceof Byte || v instanceof Short || v instanceof Integer || v instanceof Long) {
            return ((Number) v).longValue();
        }
        if (v instanceof BigDecimal d) {
            return d.stripTrailingZeros();
        }
        if (v instanceof Float f) {
            return f.doubleValue();
        }
        if (v instanceof CharSequence s) {
            return s.toString();
        }
        return v;
    }

    @Override protected void rebuild(List<Binding> all) {
        bindings = all.toArray(new Binding[0]);
    }
}
