package io.warren.core.message;

import java.math.BigDecimal;
import java.util.List;
import java.util.Map;

/**
 * A header value whose wire type has no plain Java counterpart (unsigned integers, long
 * strings kept as bytes, ...). {@link #comparable()} is the value the headers exchange
 * compares: a Long for integers, a String for strings.
 */
public interface TableValue {
    Object comparable();

    /** RabbitMQ's name for the wire type ("longstr", "unsignedint", ...), as its error texts print it. */
    String typeName();

    /** RabbitMQ's name for the field type a decoded table value came as (plain Java types included). */
    static String typeNameOf(Object v) {
        if (v instanceof TableValue t) {
            return t.typeName();
        } else if (v == null) {
            return "void";
        } else if (v instanceof Boolean) {
            return "bool";
        } else if (v instanceof Byte) {
            return "byte";
        } else if (v instanceof Short) {
            return "short";
        } else if (v instanceof Integer) {
            return "signedint";
        } else if (v instanceof Long) {
            return "long";
        } else if (v instanceof Float) {
            return "float";
        } else if (v instanceof Double) {
            return "double";
        } else if (v instanceof BigDecimal) {
            return "decimal";
        } else if (v instanceof CharSequence) {
            return "longstr";
        } else if (v instanceof byte[]) {
            return "binary";
        } else if (v instanceof List<?>) {
            return "array";
        } else if (v instanceof Map<?, ?>) {
            return "table";
        }
        return v.getClass().getSimpleName();
    }
}
