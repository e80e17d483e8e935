package io.warren.core.exchange;

import java.util.Map;

/** A binding from {@code source} to {@code destination}; equal bindings have equal key and arguments. */
public record Binding(Exchange source, Destination destination, String routingKey, Map<String, Object> arguments) {
    public Binding {
        arguments = arguments == null ? Map.of() : arguments;
    }
}
