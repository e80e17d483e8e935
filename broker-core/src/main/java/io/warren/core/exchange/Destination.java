package io.warren.core.exchange;

/** Where a binding leads: a queue, or another exchange (exchange-to-exchange bindings). */
public interface Destination {
    String name();
}
