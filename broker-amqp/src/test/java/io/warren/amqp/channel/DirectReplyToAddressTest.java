package io.warren.amqp.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.warren.amqp.protocol.BasicProperties;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The reply-to rewrite splices the raw property list: every other property keeps its value. */
class DirectReplyToAddressTest {
    @Test
    void replacesOnlyReplyTo() {
        BasicProperties all = new BasicProperties("text/plain", "gzip", Map.of("k", "v"), 2, 7, "corr",
                "amq.rabbitmq.reply-to", "6000", "mid", 42L, "type", "user", "app", "cluster");
        check(all);
        check(new BasicProperties(null, null, null, null, null, null, "amq.rabbitmq.reply-to", null, null, null,
                null, null, null, null));
        check(new BasicProperties(null, null, null, 1, null, "c", "amq.rabbitmq.reply-to", null, null, null,
                null, null, "app", null));
    }

    private static void check(BasicProperties p) {
        ByteBuf raw = Unpooled.buffer();
        p.write(raw);
        raw.readerIndex(0);
        ByteBuf out = DirectReplyTo.withReplyTo(UnpooledByteBufAllocator.DEFAULT, raw, "amq.rabbitmq.reply-to.abc");
        BasicProperties expected = new BasicProperties(p.contentType(), p.contentEncoding(), p.headers(),
                p.deliveryMode(), p.priority(), p.correlationId(), "amq.rabbitmq.reply-to.abc", p.expiration(),
                p.messageId(), p.timestamp(), p.type(), p.userId(), p.appId(), p.clusterId());
        assertEquals(expected.toString(), BasicProperties.read(out).toString());
        assertEquals(0, out.readableBytes());
        raw.release();
        out.release();
    }
}
