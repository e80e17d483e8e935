package io.warren.amqp.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.warren.amqp.protocol.BasicProperties;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The x-delivery-count header quorum queues add to each delivery, spliced into raw properties. */
class MessageHeadersTest {

    private static ByteBuf raw(BasicProperties p) {
        ByteBuf b = Unpooled.buffer();
        p.write(b);
        return b;
    }

    private static BasicProperties read(ByteBuf b) {
        return BasicProperties.read(b.duplicate());
    }

    private static BasicProperties props(String contentType, String contentEncoding, Map<String, Object> headers,
                                         String correlationId, Long timestamp, String appId) {
        return new BasicProperties(contentType, contentEncoding, headers, 2, null, correlationId, null, null, null,
                timestamp, null, null, appId, null);
    }

    /** Every property but the headers is unchanged, and the headers are the old ones (in order) and the count. */
    private static void check(BasicProperties original, long count, List<Map.Entry<String, Object>> expectedHeaders) {
        ByteBuf in = raw(original);
        ByteBuf out = MessageHeaders.withDeliveryCount(ByteBufAllocator.DEFAULT, in, count);
        try {
            BasicProperties before = read(in);
            BasicProperties after = read(out);
            assertEquals(new ArrayList<>(expectedHeaders), new ArrayList<>(after.headers().entrySet()));
            assertEquals(new BasicProperties(before.contentType(), before.contentEncoding(), after.headers(),
                    before.deliveryMode(), before.priority(), before.correlationId(), before.replyTo(),
                    before.expiration(), before.messageId(), before.timestamp(), before.type(), before.userId(),
                    before.appId(), before.clusterId()), after);
            assertEquals(0, in.readerIndex(), "the message's properties are not consumed");
        } finally {
            in.release();
            out.release();
        }
    }

    @Test void theCountIsAppendedToTheHeadersAndEveryOtherPropertyIsKept() {
        check(props(null, null, null, null, null, null), 0, List.of(Map.entry("x-delivery-count", 0L)));
        check(props("text/plain", "gzip", null, "c-1", 1_700_000_000L, "app"), 3,
                List.of(Map.entry("x-delivery-count", 3L)));

        Map<String, Object> headers = new LinkedHashMap<>();
        headers.put("a", 1);
        headers.put("nested", Map.of("k", "v"));
        headers.put("z", List.of(1L, 2L));
        BasicProperties withHeaders = props("application/json", null, headers, "c-2", 42L, "app");
        BasicProperties decoded = read(raw(withHeaders));
        List<Map.Entry<String, Object>> expected = new ArrayList<>(decoded.headers().entrySet());
        expected.add(Map.entry("x-delivery-count", 7L));
        check(withHeaders, 7, expected);

        check(props(null, null, new LinkedHashMap<>(), null, null, null), 1, List.of(Map.entry("x-delivery-count", 1L)));
    }

    @Test void aCountAlreadyThereIsReplacedInItsPlace() {
        Map<String, Object> headers = new LinkedHashMap<>();
        headers.put("x-delivery-count", 5L);
        headers.put("b", 2);
        BasicProperties p = props("text/plain", null, headers, null, null, null);
        List<Map.Entry<String, Object>> expected = new ArrayList<>(read(raw(p)).headers().entrySet());
        expected.set(0, Map.entry("x-delivery-count", 9L));
        check(p, 9, expected);
    }
}
