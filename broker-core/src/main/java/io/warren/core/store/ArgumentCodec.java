package io.warren.core.store;

import java.util.Map;

/** Encodes x-arguments tables to bytes and back; implemented by the protocol layer. */
public interface ArgumentCodec {
    byte[] encode(Map<String, Object> arguments);

    Map<String, Object> decode(byte[] bytes);
}
