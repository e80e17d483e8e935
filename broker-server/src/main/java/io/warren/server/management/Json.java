package io.warren.server.management;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.warren.amqp.codec.FieldValues;
import io.warren.core.message.TableValue;

import java.io.IOException;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * JSON in and out of the API, with Jackson: request bodies are read into a tree and checked
 * field by field (a wrong type is a 400 naming the field); AMQP table values (client
 * properties, x-arguments) are converted both ways.
 */
final class Json {
    static final ObjectMapper MAPPER = new ObjectMapper();

    private Json() {
    }

    static byte[] write(Object body) {
        try {
            return MAPPER.writeValueAsBytes(body);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise a response", e);
        }
    }

    /** The request body as a JSON object; an empty body is an empty object (RabbitMQ accepts it). */
    static ObjectNode object(byte[] body) {
        if (body.length == 0) {
            return MAPPER.createObjectNode();
        }
        JsonNode n;
        try {
            n = MAPPER.readTree(body);
        } catch (IOException e) {
            throw ApiException.badRequest("not_json");
        }
        if (n == null || n.isMissingNode()) {
            return MAPPER.createObjectNode();
        }
        if (!n.isObject()) {
            throw ApiException.badRequest("not_json: expected a JSON object");
        }
        return (ObjectNode) n;
    }

    /** A boolean field, or {@code dflt} when absent; RabbitMQ also accepts "true"/"false" strings. */
    static boolean bool(ObjectNode o, String field, boolean dflt) {
        JsonNode n = o.get(field);
        if (n == null || n.isNull()) {
            return dflt;
        }
        if (n.isBoolean()) {
            return n.booleanValue();
        }
        if (n.isTextual() && (n.textValue().equals("true") || n.textValue().equals("false"))) {
            return Boolean.parseBoolean(n.textValue());
        }
        throw ApiException.badRequest("field '" + field + "': not_boolean: " + n);
    }

    static String string(ObjectNode o, String field, String dflt) {
        JsonNode n = o.get(field);
        if (n == null || n.isNull()) {
            return dflt;
        }
        if (!n.isTextual()) {
            throw ApiException.badRequest("field '" + field + "': not_string: " + n);
        }
        return n.textValue();
    }

    /** An x-arguments object as AMQP table values (strings as long strings, integers as longs). */
    static Map<String, Object> arguments(ObjectNode o, String field) {
        JsonNode n = o.get(field);
        if (n == null || n.isNull()) {
            return Map.of();
        }
        if (!n.isObject()) {
            throw ApiException.badRequest("field '" + field + "': not_object: " + n);
        }
        @SuppressWarnings("unchecked") Map<String, Object> m = (Map<String, Object>) toAmqp(n);
        return m;
    }

    private static Object toAmqp(JsonNode n) {
        if (n.isObject()) {
            Map<String, Object> m = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                m.put(e.getKey(), toAmqp(e.getValue()));
            }
            return m;
        }
        if (n.isArray()) {
            List<Object> l = new ArrayList<>();
            n.forEach(e -> l.add(toAmqp(e)));
            return l;
        }
        if (n.isTextual()) {
            return FieldValues.LongString.of(n.textValue());
        }
        if (n.isBoolean()) {
            return n.booleanValue();
        }
        if (n.isIntegralNumber()) {
            if (!n.canConvertToLong()) {
                throw ApiException.badRequest("argument out of range: " + n);
            }
            return n.longValue();
        }
        if (n.isNumber()) {
            return n.doubleValue();
        }
        return null;
    }

    /** An AMQP table value as something Jackson writes naturally. */
    static Object fromAmqp(Object v) {
        if (v instanceof Map<?, ?> m) {
            Map<String, Object> out = new LinkedHashMap<>();
            m.forEach((k, x) -> out.put(String.valueOf(k), fromAmqp(x)));
            return out;
        }
        if (v instanceof List<?> l) {
            List<Object> out = new ArrayList<>(l.size());
            l.forEach(x -> out.add(fromAmqp(x)));
            return out;
        }
        if (v instanceof FieldValues.ByteArray b) {
            return Base64.getEncoder().encodeToString(b.bytes());
        }
        if (v instanceof byte[] b) {
            return Base64.getEncoder().encodeToString(b);
        }
        if (v instanceof FieldValues.Timestamp t) {
            return t.seconds();
        }
        if (v instanceof TableValue t) {
            return t.comparable();
        }
        if (v instanceof BigDecimal || v instanceof Number || v instanceof Boolean || v == null) {
            return v;
        }
        return v.toString();
    }

    /** Tags as RabbitMQ 3.9+ writes them (a list) or as older versions did (a comma-separated string); null when absent. */
    static List<String> tags(ObjectNode o, String where, String field) {
        JsonNode t = o.get(field);
        if (t == null || t.isNull()) {
            return null;
        }
        List<String> out = new ArrayList<>();
        if (t.isTextual()) {
            for (String s : t.asText().split(",")) {
                if (!s.isBlank()) {
                    out.add(s.strip());
                }
            }
        } else if (t.isArray()) {
            for (JsonNode e : t) {
                if (!e.isTextual()) {
                    throw ApiException.badRequest(where + ": field '" + field + "': expected strings, got " + DefinitionImport.kind(e));
                }
                out.add(e.asText());
            }
        } else {
            throw ApiException.badRequest(where + ": field '" + field + "': expected a list of strings or a"
                    + " comma-separated string, got " + DefinitionImport.kind(t));
        }
        return out;
    }
}
