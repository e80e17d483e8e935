package io.warren.amqp.protocol;

import io.netty.buffer.ByteBuf;

/** An AMQP method as data. The records implementing it are generated from the spec. */
public interface AmqpMethod {
    int classId();

    int methodId();

    /** {@code class.method}, as in the spec, e.g. {@code basic.publish}. */
    String name();

    /** True when a content header and body frames follow the method. */
    boolean hasContent();

    /** True when the spec marks the method synchronous (it expects a reply). */
    boolean synchronous();

    /** Calls the handler's callback for this method. */
    void dispatch(MethodHandler handler) throws Exception;

    /** Writes the arguments (not the class and method ids). */
    void writeArguments(ByteBuf out);
}
