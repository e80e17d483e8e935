package io.warren.amqp.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.CompositeByteBuf;
import io.warren.amqp.codec.ConnectionException;
import io.warren.amqp.codec.Frame;
import io.warren.amqp.codec.MalformedFrameException;
import io.warren.amqp.protocol.BasicPublish;
import io.warren.amqp.protocol.ReplyCode;
import io.warren.core.message.Message;
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
        Message msg = assembler.takeMessage();
        assertFalse(assembler.inProgress());
        try {
            CompositeByteBuf c = assertInstanceOf(CompositeByteBuf.class, msg.body());
            assertEquals(2, c.numComponents());
            assertEquals("helloworld", msg.body().toString(java.nio.charset.StandardCharsets.US_ASCII));
            assertFalse(msg.persistent());
        } finally {
            msg.release();
        }
        assertEquals(0, first.body().refCnt());
        assertEquals(0, second.body().refCnt());
    }

    /**
     * Issue 10's leak: properties whose headers table claims more bytes than the frame holds (the
     * frame decoder refuses those now; this bypasses it). Decoding the delivery mode fails while
     * the assembler still holds both buffers, so reset releases them. Before, the properties were
     * handed out first and then decoded: the exception lost the only reference, one leaked
     * buffer per publish.
     */
    @Test
    void undecodablePropertiesStayHeldUntilReset() {
        assembler.start(PUBLISH);
        ByteBuf props = ALLOC.buffer().writeBytes(ByteBufUtil.decodeHexDump("3000" + "000003E8" + "00000000"));
        assembler.header(new Frame.ContentHeader(1, 60, 5, props));
        Frame.ContentBody body = body("hello");
        assertTrue(assembler.body(body, ALLOC));
        assertThrows(MalformedFrameException.class, assembler::takeMessage);
        assertEquals(1, props.refCnt(), "the properties must still be held by the assembler");
        assembler.reset();
        assertEquals(0, props.refCnt());
        assertEquals(0, body.body().refCnt());
    }

    /** The message takes over both buffers and reads the delivery mode from the raw properties. */
    @Test
    void theMessageOwnsTheBuffers() {
        assembler.start(PUBLISH);
        ByteBuf props = ALLOC.buffer().writeBytes(ByteBufUtil.decodeHexDump("1000" + "02"));
        assembler.header(new Frame.ContentHeader(1, 60, 5, props));
        Frame.ContentBody body = body("hello");
        assertTrue(assembler.body(body, ALLOC));
        Message msg = assembler.takeMessage();
        assembler.reset(); // must not release what the message now owns
        assertTrue(msg.persistent());
        assertEquals(1, props.refCnt());
        msg.release();
        assertEquals(0, props.refCnt());
        assertEquals(0, body.body().refCnt());
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
