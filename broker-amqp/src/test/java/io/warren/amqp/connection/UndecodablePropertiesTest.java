package io.warren.amqp.connection;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.warren.amqp.codec.FieldValues.LongString;
import io.warren.amqp.codec.Frame;
import io.warren.amqp.codec.Wire;
import io.warren.amqp.protocol.BasicPublish;
import io.warren.amqp.protocol.ExchangeDeclare;
import io.warren.amqp.protocol.QueueBind;
import io.warren.amqp.protocol.QueueDeclare;
import io.warren.amqp.protocol.TxCommit;
import io.warren.amqp.protocol.TxSelect;
import io.warren.amqp.testing.LeakGate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Properties the frame decoder would refuse, handed straight to a connection: the lazy
 * readers behind it (delivery mode on publish, headers while a headers exchange routes) must
 * answer 501 like the decoder, release every buffer exactly once, and never throw out of the
 * event loop. Issue 10: such a publish was 541 with a stack trace and leaked its properties.
 */
class UndecodablePropertiesTest {
    private static final ByteBufAllocator ALLOC = ByteBufAllocator.DEFAULT;
    private final List<ByteBuf> buffers = new ArrayList<>();
    private final EmbeddedConnection c = new EmbeddedConnection().open();

    @AfterEach
    void everyBufferReleasedOnce() {
        c.close();
        for (ByteBuf b : buffers) {
            assertEquals(0, b.refCnt(), "a buffer handed to the connection was not released: " + b);
        }
        assertEquals(List.of(), LeakGate.collect(r -> true), "LEAK reports");
    }

    /** Issue 10's case: the headers table claims more bytes than the frame holds, then a body. */
    @Test
    void headersTableLongerThanTheFrameThenABody() {
        c.send(1, new BasicPublish(0, "", "q", false, false));
        c.write(header(ByteBufUtil.decodeHexDump("2000" + "000003E8" + "00000000"), 5));
        c.write(body("hello"));
        EmbeddedConnection.Close close = c.connectionClose();
        assertNotNull(close, "no connection.close");
        assertEquals(501, close.replyCode());
        assertEquals("FRAME_ERROR - cannot decode content header properties: property 'headers': field table"
                + " claims 1000 bytes, 4 are left", close.replyText());
        assertEquals(60, close.classId());
        assertEquals(40, close.methodId());
    }

    /** The properties of a zero-size body are decoded when the header arrives (no body frame follows). */
    @Test
    void flagsAnnouncingAbsentPropertiesWithAnEmptyBody() {
        c.send(1, new BasicPublish(0, "", "q", false, false));
        c.write(header(ByteBufUtil.decodeHexDump("1800"), 0)); // delivery-mode and priority announced, absent
        EmbeddedConnection.Close close = c.connectionClose();
        assertNotNull(close, "no connection.close");
        assertEquals(501, close.replyCode());
    }

    /** user-id is decoded as soon as the header is there. */
    @Test
    void userIdCutShort() {
        c.send(1, new BasicPublish(0, "", "q", false, false));
        c.write(header(ByteBufUtil.decodeHexDump("0010" + "0A6775"), 5)); // user-id claims 10 bytes, 2 there
        c.write(body("hello"));
        EmbeddedConnection.Close close = c.connectionClose();
        assertNotNull(close, "no connection.close");
        assertEquals(501, close.replyCode());
        assertTrue(close.replyText().contains("cannot decode content header properties"), close.replyText());
    }

    /**
     * Headers decoded lazily while a headers exchange routes: a table nested deeper than the
     * limit is a 501 for that connection, the message is released, the loop carries on.
     */
    @Test
    void headersNestedTooDeepWhileAHeadersExchangeRoutes() {
        bindHeadersExchange();
        c.send(1, new BasicPublish(0, "h", "", false, false));
        c.write(header(deepHeaders(), 5));
        c.write(body("hello"));
        EmbeddedConnection.Close close = c.connectionClose();
        assertNotNull(close, "no connection.close");
        assertEquals(501, close.replyCode());
        assertEquals("FRAME_ERROR - cannot decode content header properties: field table nested deeper than 128 levels",
                close.replyText());
        assertEquals(0, queueDepth("hq"), "the message must not have been enqueued");
    }

    /**
     * The same in a transaction: headers are read when each publish completes (for CC and BCC,
     * as RabbitMQ decodes them at basic.publish), so the bad one is refused before the commit;
     * the failing message and those already buffered are released once.
     */
    @Test
    void headersNestedTooDeepInATransaction() {
        bindHeadersExchange();
        c.send(1, new TxSelect());
        for (int i = 0; i < 3; i++) {
            c.send(1, new BasicPublish(0, "h", "", false, false));
            c.write(header(i == 1 ? deepHeaders() : goodHeaders(), 5));
            c.write(body("msg-" + i));
        }
        c.send(1, new TxCommit());
        EmbeddedConnection.Close close = c.connectionClose();
        assertNotNull(close, "no connection.close");
        assertEquals(501, close.replyCode());
    }

    private int queueDepth(String name) {
        return c.broker.vhosts().get("/").queues().stream().filter(q -> q.name().equals(name)).findFirst()
                .orElseThrow().messageCount();
    }

    private void bindHeadersExchange() {
        c.send(1, new ExchangeDeclare(0, "h", "headers", false, false, false, false, false, Map.of()));
        c.send(1, new QueueDeclare(0, "hq", false, false, false, false, false, Map.of()));
        c.send(1, new QueueBind(0, "hq", "h", "", false, Map.of("k", LongString.of("v"))));
        List<EmbeddedConnection.Sent> sent = c.sent();
        assertTrue(sent.stream().anyMatch(f -> f.is(50, 21)), "no queue.bind-ok: " + sent);
    }

    /** Headers flag, then a table nested one level deeper than allowed (bypassing the decoder's check). */
    private static byte[] deepHeaders() {
        byte[] table = {0, 0, 0, 0}; // the innermost, empty table
        for (int level = Wire.MAX_TABLE_DEPTH; level >= 1; level--) {
            ByteBuf t = io.netty.buffer.Unpooled.buffer();
            t.writeInt(3 + table.length).writeByte(1).writeByte('n').writeByte('F').writeBytes(table);
            table = ByteBufUtil.getBytes(t);
        }
        return ByteBufUtil.getBytes(io.netty.buffer.Unpooled.buffer().writeShort(0x2000).writeBytes(table));
    }

    /** Headers {k: "v"}, which the binding matches. */
    private static byte[] goodHeaders() {
        ByteBuf t = io.netty.buffer.Unpooled.buffer();
        t.writeShort(0x2000);
        Wire.writeTable(t, Map.of("k", LongString.of("v")));
        return ByteBufUtil.getBytes(t);
    }

    private Frame.ContentHeader header(byte[] properties, long bodySize) {
        ByteBuf p = ALLOC.buffer().writeBytes(properties);
        buffers.add(p);
        return new Frame.ContentHeader(1, 60, bodySize, p);
    }

    private Frame.ContentBody body(String s) {
        ByteBuf b = ALLOC.buffer().writeBytes(s.getBytes(StandardCharsets.US_ASCII));
        buffers.add(b);
        return new Frame.ContentBody(1, b);
    }
}
