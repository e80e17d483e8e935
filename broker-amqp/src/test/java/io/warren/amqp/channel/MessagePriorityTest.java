package io.warren.amqp.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.warren.amqp.protocol.BasicProperties;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The priority reader skips exactly the properties before priority, and leaves the indexes alone. */
class MessagePriorityTest {
    private static ByteBuf encode(BasicProperties p) {
        ByteBuf b = Unpooled.buffer();
        p.write(b);
        return b;
    }

    private static BasicProperties props(String contentType, String encoding, Map<String, Object> headers,
                                         Integer mode, Integer priority) {
        return new BasicProperties(contentType, encoding, headers, mode, priority, "corr", null, "1000", null, null,
                null, null, null, null);
    }

    @Test
    void readsThePriorityAfterEveryCombinationOfEarlierProperties() {
        for (String ct : new String[] {null, "text/plain"}) {
            for (String enc : new String[] {null, "gzip"}) {
                for (Map<String, Object> h : java.util.Arrays.<Map<String, Object>>asList(null, Map.of("k", "v", "n", 7))) {
                    for (Integer mode : new Integer[] {null, 2}) {
                        ByteBuf b = encode(props(ct, enc, h, mode, 200));
                        int before = b.readerIndex();
                        assertEquals(200, MessagePriority.read(b), ct + " " + enc + " " + h + " " + mode);
                        assertEquals(before, b.readerIndex());
                        assertEquals(0, MessagePriority.read(encode(props(ct, enc, h, mode, null))));
                    }
                }
            }
        }
    }

    @Test
    void noPropertiesMeansZero() {
        assertEquals(0, MessagePriority.read(Unpooled.EMPTY_BUFFER));
        assertEquals(0, MessagePriority.read(encode(BasicProperties.EMPTY)));
    }
}
