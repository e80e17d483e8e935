package io.warren.store.journal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;

/**
 * One journal file, {@code NNNNNNNNNNNNNNNNNNNN.seg}: a header, then frames back to back.
 * <pre>
 * header := "warren-journal/1" (16 ASCII bytes) | long segmentId | long nextBatchId | long 0
 * frame  := int FRAME_MAGIC | int payloadLength | int crc32c(payload) | payload
 * </pre>
 * A segment may be preallocated: zero bytes after its last frame, up to {@link #allocated}.
 * {@code nextBatchId} is the committer's next batch id when the segment was created, so batch
 * ids stay unique across restarts even after every segment holding them is deleted.
 *
 * <p>Owner: the committer writes and truncates; the reader thread only does positional reads.
 * {@code end} (the durable end of the last whole frame) and the live counters are written by
 * the committer only.
 */
final class Segment {
    static final String SUFFIX = ".seg";

    final long id;
    final Path path;
    final FileChannel channel;
    final long nextBatchId;
    /** End of the last complete frame: where the next frame goes. */
    volatile long end;
    /**
     * The file is zero-filled up to here (committer thread): a frame below it overwrites blocks
     * already on disk, so its fdatasync has no file size or extent to commit; past it, appends.
     */
    long allocated;
    /** Batches whose current copy lies here and that have a live slot; their record bytes. */
    int liveBatches;
    long liveBytes;

    Segment(long id, Path path, FileChannel channel, long nextBatchId, long end) {
        this.id = id;
        this.path = path;
        this.channel = channel;
        this.nextBatchId = nextBatchId;
        this.end = end;
    }

    static String fileName(long id) {
        return String.format("%020d%s", id, SUFFIX);
    }

    /** Reads exactly {@code length} bytes at {@code offset}. */
    byte[] read(long offset, int length) throws IOException {
        byte[] out = new byte[length];
        ByteBuffer b = ByteBuffer.wrap(out);
        while (b.hasRemaining()) {
            int n = channel.read(b, offset + b.position());
            if (n < 0) {
                throw new java.io.EOFException(path + ": " + length + " bytes at offset " + offset + " run past the end");
            }
        }
        return out;
    }

    @Override
    public String toString() {
        return path.toString();
    }
}
