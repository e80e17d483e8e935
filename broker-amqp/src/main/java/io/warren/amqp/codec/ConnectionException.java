package io.warren.amqp.codec;

import io.warren.amqp.protocol.ReplyCode;

/** A hard error: the connection is closed with {@code code} (connection.close). */
public class ConnectionException extends RuntimeException {
    private final ReplyCode code;
    private final int classId;
    private final int methodId;

    public ConnectionException(ReplyCode code, String text, int classId, int methodId) {
        super(text, null, false, false);
        this.code = code;
        this.classId = classId;
        this.methodId = methodId;
    }

    public ConnectionException(ReplyCode code, String text) {
        this(code, text, 0, 0);
    }

    public ReplyCode code() {
        return code;
    }

    public int classId() {
        return classId;
    }

    public int methodId() {
        return methodId;
    }

    /** The reply text as RabbitMQ words it: {@code CODE_NAME - text}. */
    public String replyText() {
        return code.text() + " - " + getMessage();
    }
}
