package io.warren.core.message;

/**
 * A header value whose wire type has no plain Java counterpart (unsigned integers, long
 * strings kept as bytes, ...). {@link #comparable()} is the value the headers exchange
 * compares: a Long for integers, a String for strings.
 */
public interface TableValue {
    Object comparable();
}
