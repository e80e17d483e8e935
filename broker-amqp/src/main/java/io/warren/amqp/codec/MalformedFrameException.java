package io.warren.amqp.codec;

/** A frame whose contents cannot be decoded; the connection closes with 501 FRAME_ERROR. */
public class MalformedFrameException extends RuntimeException {
    public MalformedFrameException(String message) {
        super(message, null, false, false);
    }
}
