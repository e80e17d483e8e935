package io.warren.amqp.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.CompositeByteBuf;
import io.warren.amqp.codec.ConnectionException;
import io.warren.amqp.codec.Frame;
import io.warren.amqp.protocol.BasicPublish;
import io.warren.amqp.protocol.ReplyCode;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Content assembly: the content frames a method needs, in order, and nothing else. Every
 * refused frame's buffer is released (the suite runs with paranoid leak detection).
 */
class PublishAssemblerTest {
    private static final ByteBufAllocator ALLOC = ByteBufAllocator.DEFAULT;
    private static final BasicPublish PUBLISH = new BasicPublish(0, "", "q", false, false);

    private final PublishAssembler assembler = new PublishAssembler();

    @Test
    void bodyWithoutHeaderIsRefusedAndReleased() {
        Frame.ContentBody body = body("hello");
        ConnectionException e = assertThrows(ConnectionException.class, () -> assembler.body(body, ALLOC));
        assertEquals(ReplyCode.UNEXPECTED_FRAME, e.code());
        assertEquals(0, body.body().refCnt());
    }

    @Test
    void bodyAfterMethodButWithoutHeaderIsRefusedAndReleased() {
        assembler.start(PUBLISH);
        Frame.ContentBody body = body("hello");
        ConnectionException e = assertThrows(ConnectionException.class, () -> assembler.body(body, ALLOC));
        assertEquals(ReplyCode.UNEXPECTED_FRAME, e.code());
        assertEquals(0, body.body().refCnt());
        assembler.reset();
    }

    @Test
    void headerWithoutMethodIsRefusedAndReleased() {
        Frame.ContentHeader header = header(60, 5);
        ConnectionException e = assertThrows(ConnectionException.class, () -> assembler.header(header));
        assertEquals(ReplyCode.UNEXPECTED_FRAME, e.code());
        assertEquals(0, header.properties().refCnt());
    }

    @Test
    void headerOfAnotherClassIsRefused() {
        assembler.start(PUBLISH);
        Frame.ContentHeader header = header(50, 5);
        ConnectionException e = assertThrows(ConnectionException.class, () -> assembler.header(header));
        assertEquals(ReplyCode.UNEXPECTED_FRAME, e.code());
        assembler.reset();
        assertEquals(0, header.properties().refCnt());
    }

    /** 505, as RabbitMQ answers body bytes beyond the declared size. */
    @Test
    void bodyLargerThanDeclaredIsRefused() {
        assembler.start(PUBLISH);
        assembler.header(header(60, 5));
        Frame.ContentBody first = body("hel");
        assertFalse(assembler.body(first, ALLOC));
        Frame.ContentBody second = body("lo!");
        ConnectionException e = assertThrows(ConnectionException.class, () -> assembler.body(second, ALLOC));
        assertEquals(ReplyCode.UNEXPECTED_FRAME, e.code());
        assertEquals(0, second.body().refCnt());
        assembler.reset();
        assertEquals(0, first.body().refCnt());
    }

    /** Body frames are kept as they came (a composite), never copied. */
    @Test
    void aBodyInSeveralFramesIsAssembledWithoutCopying() {
        assembler.start(PUBLISH);
        assembler.header(header(60, 10));
        Frame.ContentBody first = body("hello");
        Frame.ContentBody second = body("world");
        assertFalse(assembler.body(first, ALLOC));
        assertTrue(assembler.body(second, ALLOC));
        assertTrue(assembler.complete());
        ByteBuf props = assembler.takeProperties();
        ByteBuf body = assembler.takeBody();
        assembler.reset();
        try {
            CompositeByteBuf c = assertInstanceOf(CompositeByteBuf.class, body);
            assertEquals(2, c.numComponents());
            assertEquals("helloworld", body.toString(java.nio.charset.StandardCharsets.US_ASCII));
        } finally {
            props.release();
            body.release();
        }
        assertEquals(0, first.body().refCnt());
        assertEquals(0, second.body().refCnt());
    }

    @Test
    void resetMidContentReleasesWhatWasHeld() {
        assembler.start(PUBLISH);
        Frame.ContentHeader header = header(60, 10);
        assembler.header(header);
        Frame.ContentBody first = body("hello");
        assembler.body(first, ALLOC);
        assembler.reset();
        assertEquals(0, header.properties().refCnt());
        assertEquals(0, first.body().refCnt());
        assertFalse(assembler.inProgress());
    }

    private static Frame.ContentHeader header(int classId, long size) {
        return new Frame.ContentHeader(1, classId, size, ALLOC.buffer().writeBytes(ByteBufUtil.decodeHexDump("0000")));
    }

    private static Frame.ContentBody body(String s) {
        return new Frame.ContentBody(1, ALLOC.buffer().writeBytes(s.getBytes(java.nio.charset.StandardCharsets.US_ASCII)));
    }
}
