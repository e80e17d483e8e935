package io.warren.store.journal;

import io.netty.buffer.Unpooled;
import io.warren.core.store.MessageStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Batch records keep each message's publish time and own TTL (so a recovered message expires
 * when it would have without the restart), and records written before they did still read.
 */
class BatchRecordTest {
    @TempDir
    Path dir;

    private static byte[] record(int magic, long batchId, List<byte[]> messages) {
        PendingBatch b = new PendingBatch(batchId);
        messages.forEach(m -> b.add(m, 1));
        ByteBuffer out = ByteBuffer.allocate((int) b.recordLength());
        b.writeRecord(out);
        byte[] rec = out.array();
        if (magic != BatchRecord.MAGIC) {
            // rewrite as an old record: the magic differs, the CRC covers what follows it
            ByteBuffer.wrap(rec).putInt(0, magic);
        }
        return rec;
    }

    private static byte[] oldMessage(String body) {
        byte[] m = MessageEncoding.encode("x", "k", Unpooled.EMPTY_BUFFER,
                Unpooled.wrappedBuffer(body.getBytes(StandardCharsets.UTF_8)), new long[] {7}, 0, 0);
        // a message of an old record ends at its body: drop the trailer, fix the length prefix
        byte[] cut = Arrays.copyOf(m, m.length - MessageEncoding.TRAILER);
        ByteBuffer.wrap(cut).putInt(0, cut.length - 4);
        return cut;
    }

    @Test
    void newRecordsCarryPublishTimeAndTtl() throws Exception {
        byte[] m = MessageEncoding.encode("x", "k", Unpooled.EMPTY_BUFFER,
                Unpooled.wrappedBuffer("body".getBytes(StandardCharsets.UTF_8)), new long[] {7}, 1_700_000_000_123L,
                2500);
        BatchRecord r = BatchRecord.parse(record(BatchRecord.MAGIC, 3, List.of(m)), 3);
        int off = r.messageOffset(0);
        assertEquals(1_700_000_000_123L, r.publishedAt(off));
        assertEquals(2500, r.ttl(off));
        assertEquals(4, r.bodyLength(off));
    }

    @Test
    void oldRecordsStillReadWithoutTiming() throws Exception {
        byte[] rec = record(BatchRecord.MAGIC_V1, 5, List.of(oldMessage("one"), oldMessage("three")));
        CRC32C crc = new CRC32C();
        crc.update(rec, 8, rec.length - 8);
        ByteBuffer.wrap(rec).putInt(4, (int) crc.getValue());
        BatchRecord r = BatchRecord.parse(rec, 5);
        assertEquals(2, r.messageCount);
        int second = r.messageOffset(1);
        assertEquals(-1, r.publishedAt(second));
        assertEquals(-1, r.ttl(second));
        assertEquals(5, r.bodyLength(second));
        assertEquals("x", r.string(r.exchangeOffset(second)));
    }

    @Test
    void recoveryReturnsPublishTimeAndTtl() throws Exception {
        try (JournalMessageStore s = JournalMessageStore.open(dir)) {
            s.append("x", "k", Unpooled.EMPTY_BUFFER, Unpooled.wrappedBuffer(new byte[] {1}), new long[] {9},
                    42_000L, 1234, failure -> { });
            StoreFixtures.sync(s);
        }
        try (JournalMessageStore s = JournalMessageStore.open(dir)) {
            List<StoreFixtures.Recovered> got = StoreFixtures.recover(s);
            assertEquals(1, got.size());
            MessageStore.StoredMessage m = got.get(0).message();
            assertEquals(42_000L, m.publishedAt());
            assertEquals(1234, m.ttl());
        }
    }
}
