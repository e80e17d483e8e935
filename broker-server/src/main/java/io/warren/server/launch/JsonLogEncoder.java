package io.warren.server.launch;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.encoder.EncoderBase;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import org.slf4j.event.KeyValuePair;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Map;

/**
 * {@code log.*.formatter = json}: one JSON object per line, in the shape of RabbitMQ's JSON
 * formatter: {@code time} (ISO-8601 with the local offset), {@code level} (RabbitMQ's names:
 * debug, info, warning, error), {@code msg}, then warren's {@code logger} (the class, where
 * RabbitMQ says {@code domain}) and {@code thread} (where RabbitMQ gives the Erlang pid), then the
 * event's structured fields (slf4j key-value pairs, then MDC entries) as top-level fields, and
 * {@code exception} (the stack trace as one string) when there is one.
 *
 * <p>Not logback's own {@code JsonEncoder}: its field names and nesting ({@code timestamp} in
 * epoch ms, {@code level} as {@code WARN}, {@code message}, key-value pairs as a list of
 * objects, a {@code "sequenceNumber"}...) are logback's, so a shipper's parser written for
 * RabbitMQ would not read them. Jackson escapes quotes, control characters and line breaks, so a
 * multi-line message or stack trace still takes exactly one line.
 */
public final class JsonLogEncoder extends EncoderBase<ILoggingEvent> {
    private static final JsonFactory JSON = new JsonFactory();
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSSxxx")
            .withZone(ZoneId.systemDefault());
    private static final byte[] NONE = new byte[0];

    /** RabbitMQ's level names. */
    static String level(Level l) {
        return switch (l.toInt()) {
            case Level.ERROR_INT -> "error";
            case Level.WARN_INT -> "warning";
            case Level.INFO_INT -> "info";
            default -> "debug";
        };
    }

    @Override
    public byte[] headerBytes() {
        return NONE;
    }

    @Override
    public byte[] encode(ILoggingEvent e) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        try (JsonGenerator g = JSON.createGenerator(out)) {
            g.writeStartObject();
            g.writeStringField("time", TIME.format(Instant.ofEpochMilli(e.getTimeStamp())));
            g.writeStringField("level", level(e.getLevel()));
            g.writeStringField("msg", e.getFormattedMessage());
            g.writeStringField("logger", e.getLoggerName());
            g.writeStringField("thread", e.getThreadName());
            List<KeyValuePair> kvs = e.getKeyValuePairs();
            if (kvs != null) {
                for (KeyValuePair kv : kvs) {
                    field(g, kv.key, kv.value);
                }
            }
            Map<String, String> mdc = e.getMDCPropertyMap();
            if (mdc != null) {
                for (Map.Entry<String, String> m : mdc.entrySet()) {
                    g.writeStringField(m.getKey(), m.getValue());
                }
            }
            IThrowableProxy t = e.getThrowableProxy();
            if (t != null) {
                g.writeStringField("exception", ThrowableProxyUtil.asString(t));
            }
            g.writeEndObject();
        } catch (IOException ex) {
            throw new UncheckedIOException(ex); // a ByteArrayOutputStream does not fail
        }
        out.write('\n');
        return out.toByteArray();
    }

    /** Numbers and booleans stay JSON numbers and booleans; anything else is its string. */
    private static void field(JsonGenerator g, String key, Object value) throws IOException {
        if (value == null) {
            g.writeNullField(key);
        } else if (value instanceof Integer || value instanceof Long || value instanceof Short || value instanceof Byte) {
            g.writeNumberField(key, ((Number) value).longValue());
        } else if (value instanceof Double || value instanceof Float) {
            g.writeNumberField(key, ((Number) value).doubleValue());
        } else if (value instanceof Boolean b) {
            g.writeBooleanField(key, b);
        } else {
            g.writeStringField(key, value.toString());
        }
    }

    @Override
    public byte[] footerBytes() {
        return NONE;
    }
}
