package io.warren.store.journal;

import io.warren.core.store.StoreException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.NavigableMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.zip.CRC32C;

/**
 * The segment files of {@code <dataDir>/journal/}: scanning them at open (torn tail truncated,
 * a zero tail of the last segment kept as preallocated space, any other damage refused),
 * appending one forced frame per commit, preallocating, rolling and deleting segments.
 * Everything after {@link #open} runs on the committer thread.
 */
final class Journal {
    private static final Logger log = LoggerFactory.getLogger(Journal.class);
    static final String DIR = "journal";
    static final byte[] MAGIC = "warren-journal/1".getBytes(StandardCharsets.US_ASCII);
    static final byte[] MAGIC_PREFIX = "warren-journal/".getBytes(StandardCharsets.US_ASCII);
    static final int HEADER = 40;
    static final int FRAME_MAGIC = 0x5746524D; // "WFRM"
    static final int FRAME_HEADER = 12;
    /** Smallest payload: an empty batch list and an empty remove list. */
    static final int MIN_PAYLOAD = 8;

    /** What a frame holds, as recovery applies it. */
    interface Replay {
        void batch(Segment segment, long recordOffset, int recordLength, long batchId, int slotCount);

        void remove(long batchId, int slot);
    }

    /** Test hook, run on the committer before each frame is written; may write part of it and throw. */
    interface WriteHook {
        void beforeWrite(FileChannel channel, long position, ByteBuffer frame) throws IOException;
    }

    /** The zero-filled file the next segment is made of, while being prepared or ready. */
    static final String SPARE = "spare" + Segment.SUFFIX + ".tmp";
    /** A head that appends gets a spare to roll onto once it holds this much. */
    static final long SPARE_AFTER = 1 << 20;

    final Path dir;
    final long segmentTarget;
    /** Segments are preallocated (zero-filled in the background, then used at a roll). */
    final boolean preallocate;
    /** The next segment's file being zero-filled or ready; committer thread (and close). */
    private Spare spare;
    /** No new spare before this (System.nanoTime), after one failed. */
    private long spareRetryAt;
    private final NavigableMap<Long, Segment> segments = new ConcurrentSkipListMap<>();
    volatile WriteHook writeHook;
    /** A failed frame could not be cut off yet: no write until it is. */
    private boolean tailDirty;

    private Journal(Path dir, long segmentTarget, boolean preallocate) {
        this.dir = dir;
        this.segmentTarget = segmentTarget;
        this.preallocate = preallocate;
    }

    /** Opens and replays every segment in order; creates the first one in an empty directory. */
    static Journal open(Path dataDir, long segmentTarget, boolean preallocate, Replay replay) {
        Path dir = dataDir.resolve(DIR);
        Journal j = new Journal(dir, segmentTarget, preallocate);
        try {
            Files.createDirectories(dir);
            List<Path> files = new ArrayList<>();
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
                for (Path p : ds) {
                    String name = p.getFileName().toString();
                    if (name.endsWith(Segment.SUFFIX + ".tmp")) {
                        // A segment whose creation did not finish, or a spare: never held a frame.
                        Files.delete(p);
                    } else if (name.endsWith(Segment.SUFFIX)) {
                        files.add(p);
                    }
                }
            }
            files.sort(null); // 20-digit zero-padded ids: name order is id order
            for (int i = 0; i < files.size(); i++) {
                Segment s = j.openSegment(files.get(i));
                j.segments.put(s.id, s);
                j.scan(s, i == files.size() - 1, replay);
            }
        } catch (IOException e) {
            j.closeQuietly();
            throw new StoreException("cannot open message journal " + dir + ": " + e, e);
        } catch (RuntimeException e) {
            j.closeQuietly();
            throw e;
        }
        return j;
    }

    private Segment openSegment(Path p) throws IOException {
        String name = p.getFileName().toString();
        long id;
        try {
            id = Long.parseLong(name.substring(0, name.length() - Segment.SUFFIX.length()));
        } catch (NumberFormatException e) {
            throw new StoreException("message journal file " + p + " has an unexpected name");
        }
        FileChannel ch = FileChannel.open(p, StandardOpenOption.READ, StandardOpenOption.WRITE);
        try {
            ByteBuffer h = ByteBuffer.allocate(HEADER);
            while (h.hasRemaining() && ch.read(h, h.position()) >= 0) {
                // fill
            }
            byte[] magic = Arrays.copyOf(h.array(), MAGIC.length);
            if (h.position() < HEADER || !Arrays.equals(magic, MAGIC)) {
                String what = Arrays.equals(Arrays.copyOf(magic, MAGIC_PREFIX.length), MAGIC_PREFIX)
                        ? "an unsupported journal format \"" + new String(magic, StandardCharsets.US_ASCII).trim()
                          + "\" (this broker reads " + new String(MAGIC, StandardCharsets.US_ASCII) + ")"
                        : "not a warren message journal segment (no " + new String(MAGIC, StandardCharsets.US_ASCII)
                          + " header)";
                throw new StoreException("message journal file " + p + " is " + what);
            }
            h.flip().position(MAGIC.length);
            long storedId = h.getLong();
            long nextBatchId = h.getLong();
            if (storedId != id) {
                throw new StoreException("message journal file " + p + " holds segment " + storedId
                        + ", its name says " + id);
            }
            return new Segment(id, p, ch, nextBatchId, ch.size());
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    /** Replays a segment's frames; cuts a torn tail off the last segment; refuses any other damage. */
    private void scan(Segment s, boolean last, Replay replay) throws IOException {
        ChannelReader r = new ChannelReader(s.channel);
        long size = s.channel.size();
        long pos = HEADER;
        while (pos < size) {
            String bad = check(r, pos, size);
            if (bad == null) {
                parse(s, r, pos, replay);
                pos += FRAME_HEADER + r.getInt(pos + 4);
                continue;
            }
            if (last && zeros(r, pos, size)) {
                // The preallocated rest of the head segment: kept for the frames to come.
                log.debug("message journal {}: {} preallocated bytes after offset {}", s.path, size - pos, pos);
                s.allocated = size;
                break;
            }
            if (!last) {
                throw new StoreException("message journal file " + s.path + " is corrupt at offset " + pos + ": " + bad
                        + " (not the journal's last segment, so not a torn write)");
            }
            long next = findFrame(r, searchFrom(r, pos, size), size);
            if (next >= 0) {
                throw new StoreException("message journal file " + s.path + " is corrupt at offset " + pos + ": " + bad
                        + ", yet a valid frame follows at offset " + next + " (not a torn write)");
            }
            log.warn("message journal {}: torn write at offset {} ({}), {} bytes cut off: a crash interrupted that "
                    + "commit, which was never confirmed", s.path, pos, bad, size - pos);
            s.channel.truncate(pos);
            s.channel.force(true);
            break;
        }
        s.end = Math.min(pos, size);
    }

    /** True if every byte from {@code pos} to {@code size} is zero. */
    private static boolean zeros(ChannelReader r, long pos, long size) throws IOException {
        long p = pos;
        for (; p + 8 <= size; p += 8) {
            if (r.getLong(p) != 0) {
                return false;
            }
        }
        for (; p < size; p++) {
            if (r.getByte(p) != 0) {
                return false;
            }
        }
        return true;
    }

    /** Null if a whole, intact frame starts at {@code pos}; else what is wrong with it. */
    private static String check(ChannelReader r, long pos, long size) throws IOException {
        if (size - pos < FRAME_HEADER) {
            return "frame header truncated (" + (size - pos) + " bytes)";
        }
        int magic = r.getInt(pos);
        if (magic != FRAME_MAGIC) {
            return String.format("bad frame magic 0x%08x", magic);
        }
        int len = r.getInt(pos + 4);
        if (len < MIN_PAYLOAD || pos + FRAME_HEADER + (long) len > size) {
            return "frame length " + len + " runs past the end of the file (" + size + " bytes)";
        }
        int crc = r.getInt(pos + 8);
        if (r.crc32c(pos + FRAME_HEADER, len) != crc) {
            return "frame checksum mismatch";
        }
        return null;
    }

    /** Where to look for a later valid frame: past the bad frame if its length is believable. */
    private static long searchFrom(ChannelReader r, long pos, long size) throws IOException {
        if (size - pos >= FRAME_HEADER && r.getInt(pos) == FRAME_MAGIC) {
            int len = r.getInt(pos + 4);
            if (len >= MIN_PAYLOAD && pos + FRAME_HEADER + (long) len <= size) {
                return pos + FRAME_HEADER + len;
            }
        }
        return pos + 1;
    }

    private static long findFrame(ChannelReader r, long from, long size) throws IOException {
        for (long p = from; p + FRAME_HEADER <= size; p++) {
            if (r.getInt(p) == FRAME_MAGIC && check(r, p, size) == null) {
                return p;
            }
        }
        return -1;
    }

    private static void parse(Segment s, ChannelReader r, long pos, Replay replay) {
        long end = pos + FRAME_HEADER + r.getIntUnchecked(pos + 4);
        long p = pos + FRAME_HEADER;
        try {
            int batches = r.getInt(p);
            p += 4;
            for (int i = 0; i < batches; i++) {
                int len = r.getInt(p);
                p += 4;
                if (len < BatchRecord.HEADER || p + len > end || !BatchRecord.isMagic(r.getInt(p))) {
                    throw new IOException("batch record " + i + " is malformed");
                }
                long batchId = r.getLong(p + 8);
                int slots = r.getInt(p + 20);
                if (slots <= 0 || slots >= Refs.MAX_SLOTS) {
                    throw new IOException("batch " + batchId + " has " + slots + " slots");
                }
                replay.batch(s, p, len, batchId, slots);
                p += len;
            }
            int groups = r.getInt(p);
            p += 4;
            for (int g = 0; g < groups; g++) {
                long batchId = r.getLong(p);
                int n = r.getInt(p + 8);
                p += 12;
                if (n < 0 || p + 4L * n > end) {
                    throw new IOException("remove list of batch " + batchId + " runs past the frame");
                }
                for (int i = 0; i < n; i++, p += 4) {
                    replay.remove(batchId, r.getInt(p));
                }
            }
            if (p != end) {
                throw new IOException((end - p) + " stray bytes at the end of the frame");
            }
        } catch (IOException | RuntimeException e) {
            // The checksum matched, so this is no torn write: refuse to guess.
            throw new StoreException("message journal file " + s.path + " is corrupt at offset " + pos
                    + ": frame content is malformed: " + e.getMessage(), e);
        }
    }

    Segment head() {
        return segments.lastEntry().getValue();
    }

    Segment oldest() {
        return segments.firstEntry().getValue();
    }

    int segmentCount() {
        return segments.size();
    }

    Iterable<Segment> segments() {
        return segments.values();
    }

    /** Creates the first segment of an empty journal. */
    void ensureHead(long nextBatchId) throws IOException {
        if (segments.isEmpty()) {
            createSegment(0, nextBatchId);
        }
    }

    /**
     * Starts a new head segment if the current one reached the target size, or, when segments
     * are preallocated, as soon as a zero-filled spare is ready for a head that is appending
     * (a new journal, or the head after a restart): a confirm's fdatasync is about 1.5 times as
     * fast when it commits no new file size. Also starts zero-filling the next spare.
     */
    void rollIfFull(long nextBatchId) throws IOException {
        Segment h = head();
        boolean ready = spare != null && spare.ready;
        if (h.end >= segmentTarget || (ready && h.end >= h.allocated)) {
            if (h.allocated > h.end) {
                // Only the last segment may end in zeros.
                h.channel.truncate(h.end);
                h.channel.force(true);
                h.allocated = 0;
            }
            createSegment(h.id + 1, nextBatchId);
            h = head();
        }
        // The next spare: when the head is half full, or for a head that appends, once it holds
        // 1 MiB (a journal that keeps little, as in most tests, never writes a spare).
        long spareAt = h.end >= h.allocated ? Math.min(SPARE_AFTER, segmentTarget / 2) : segmentTarget / 2;
        if (preallocate && spare == null && h.end - HEADER >= spareAt && System.nanoTime() - spareRetryAt >= 0) {
            spare = new Spare(dir.resolve(SPARE), segmentTarget);
        }
    }

    /**
     * The next segment's file, zero-filled on a thread of its own so the committer never waits
     * for it: {@code segmentTarget} bytes written and forced, so each block is allocated and
     * initialised before a frame lands on it.
     */
    private static final class Spare implements Runnable {
        final Path path;
        final long size;
        final Thread thread;
        volatile boolean ready;
        volatile boolean failed;
        volatile boolean cancelled;

        Spare(Path path, long size) {
            this.path = path;
            this.size = size;
            this.thread = new Thread(this, "warren-store-prealloc");
            thread.setDaemon(true);
            thread.start();
        }

        @Override
        public void run() {
            try (FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                    StandardOpenOption.WRITE)) {
                ByteBuffer zeros = ByteBuffer.allocateDirect((int) Math.min(1 << 20, Math.max(HEADER, size)));
                long p = 0;
                while (p < size && !cancelled) {
                    zeros.clear().limit((int) Math.min(zeros.capacity(), size - p));
                    while (zeros.hasRemaining()) {
                        p += ch.write(zeros, p);
                    }
                }
                ch.force(true);
            } catch (IOException | RuntimeException e) {
                log.warn("message journal: cannot preallocate the next segment {} (segments append until a retry "
                        + "works): {}", path, e.toString());
                failed = true;
                return;
            }
            ready = !cancelled;
        }

        /** Stops the zero-filling, waits for the thread and deletes the file. */
        void discard() {
            cancelled = true;
            try {
                thread.join(30_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            try {
                Files.deleteIfExists(path);
            } catch (IOException e) {
                log.debug("message journal: cannot delete the spare {} (deleted at the next start): {}", path,
                        e.toString());
            }
        }
    }

    /**
     * Created under a temporary name and renamed once its header is durable, so a crash never
     * leaves a segment without a whole header.
     */
    private void createSegment(long id, long nextBatchId) throws IOException {
        Path p = dir.resolve(Segment.fileName(id));
        ByteBuffer h = ByteBuffer.allocate(HEADER);
        h.put(MAGIC).putLong(id).putLong(nextBatchId).putLong(0).flip();
        Spare s = spare;
        if (s != null && (s.ready || s.failed)) {
            spare = null;
            if (s.failed) {
                spareRetryAt = System.nanoTime() + 60_000_000_000L;
                Files.deleteIfExists(s.path);
            } else {
                // The spare's header goes in first and is forced; only then does it get the segment's name.
                try (FileChannel ch = FileChannel.open(s.path, StandardOpenOption.WRITE)) {
                    while (h.hasRemaining()) {
                        ch.write(h, h.position());
                    }
                    ch.force(false);
                } catch (IOException e) {
                    Files.deleteIfExists(s.path);
                    throw e;
                }
                Files.move(s.path, p, StandardCopyOption.ATOMIC_MOVE);
                syncDir();
                FileChannel ch = FileChannel.open(p, StandardOpenOption.READ, StandardOpenOption.WRITE);
                Segment seg = new Segment(id, p, ch, nextBatchId, HEADER);
                seg.allocated = s.size;
                segments.put(id, seg);
                return;
            }
        }
        Path tmp = dir.resolve(Segment.fileName(id) + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            while (h.hasRemaining()) {
                ch.write(h, h.position());
            }
            ch.force(true);
        } catch (IOException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Files.move(tmp, p, StandardCopyOption.ATOMIC_MOVE);
        syncDir();
        FileChannel ch = FileChannel.open(p, StandardOpenOption.READ, StandardOpenOption.WRITE);
        segments.put(id, new Segment(id, p, ch, nextBatchId, HEADER));
    }

    /**
     * Writes one frame at the head's end and forces it. On failure the frame is cut off again
     * (no torn frame stays behind a later good one) and the exception is rethrown. Every frame
     * is forced before the next is written, so only the last one can be incomplete after a
     * crash, power failure included: in a preallocated segment an unforced frame could be lost
     * while a later one reached the disk, a gap the scan would refuse as damage.
     */
    long write(ByteBuffer frame) throws IOException {
        Segment h = head();
        if (tailDirty) {
            h.channel.truncate(h.end);
            h.channel.force(true);
            h.allocated = 0;
            tailDirty = false;
        }
        long start = h.end;
        try {
            WriteHook hook = writeHook;
            if (hook != null) {
                hook.beforeWrite(h.channel, start, frame.duplicate());
            }
            long p = start;
            while (frame.hasRemaining()) {
                p += h.channel.write(frame, p);
            }
            h.channel.force(false);
        } catch (IOException | RuntimeException e) {
            try {
                h.allocated = 0; // cut with the failed frame's bytes: the head appends from here
                h.channel.truncate(start);
                h.channel.force(true);
            } catch (IOException | RuntimeException t) {
                tailDirty = true;
                e.addSuppressed(t);
                log.error("message journal {}: cannot cut off the failed frame at offset {} yet; retried before the "
                        + "next write", h.path, start, t);
            }
            throw e;
        }
        h.end = start + frame.limit();
        return start;
    }

    /** Deletes the oldest segments that hold no live batch (never the head). */
    int deleteDeadSegments() {
        int n = 0;
        while (segments.size() > 1) {
            Segment s = oldest();
            if (s.liveBatches > 0) {
                break;
            }
            try {
                Files.delete(s.path);
            } catch (IOException e) {
                log.warn("message journal {}: cannot delete the dead segment (retried later): {}", s.path, e.toString());
                break;
            }
            segments.remove(s.id);
            closeQuietly(s);
            n++;
        }
        if (n > 0) {
            try {
                syncDir();
            } catch (IOException e) {
                log.debug("message journal {}: directory sync failed: {}", dir, e.toString());
            }
        }
        return n;
    }

    private void syncDir() throws IOException {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException e) {
            // Some file systems cannot open or sync a directory; the rename is still atomic there.
            if (!(e instanceof java.nio.file.AccessDeniedException)) {
                log.debug("message journal {}: directory sync not supported: {}", dir, e.toString());
            }
        }
    }

    /** Drops the spare, cuts the head's preallocated rest, forces and closes every segment. */
    void close() {
        if (spare != null) {
            spare.discard();
            spare = null;
        }
        if (!segments.isEmpty()) {
            Segment h = head();
            if (h.allocated > h.end) {
                try {
                    h.channel.truncate(h.end);
                    h.allocated = 0;
                } catch (IOException e) {
                    log.warn("message journal {}: cannot cut the preallocated rest at offset {} (kept, the next "
                            + "start reads past it): {}", h.path, h.end, e.toString());
                }
            }
        }
        for (Segment s : segments.values()) {
            try {
                s.channel.force(true);
            } catch (IOException e) {
                log.warn("message journal {}: final sync failed: {}", s.path, e.toString());
            }
            closeQuietly(s);
        }
    }

    private void closeQuietly() {
        for (Segment s : segments.values()) {
            closeQuietly(s);
        }
    }

    private static void closeQuietly(Segment s) {
        try {
            s.channel.close();
        } catch (IOException ignored) {
            // closing
        }
    }

    /** Buffered positional reads and checksums over a segment, for the scan at open. */
    static final class ChannelReader {
        private static final int SIZE = 1 << 20;
        private final FileChannel ch;
        private final ByteBuffer buf = ByteBuffer.allocateDirect(SIZE);
        private long bufStart = -1;
        private int bufLen;

        ChannelReader(FileChannel ch) {
            this.ch = ch;
        }

        private void ensure(long pos, int n) throws IOException {
            if (bufStart >= 0 && pos >= bufStart && pos + n <= bufStart + bufLen) {
                return;
            }
            buf.clear();
            int read = 0;
            while (buf.hasRemaining()) {
                int k = ch.read(buf, pos + read);
                if (k < 0) {
                    break;
                }
                read += k;
            }
            bufStart = pos;
            bufLen = read;
            if (read < n) {
                throw new java.io.EOFException("offset " + pos + " is past the end of the file");
            }
        }

        int getInt(long pos) throws IOException {
            ensure(pos, 4);
            return buf.getInt((int) (pos - bufStart));
        }

        /** For a field already read once through {@link #getInt}. */
        int getIntUnchecked(long pos) {
            try {
                return getInt(pos);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }

        long getLong(long pos) throws IOException {
            ensure(pos, 8);
            return buf.getLong((int) (pos - bufStart));
        }

        byte getByte(long pos) throws IOException {
            ensure(pos, 1);
            return buf.get((int) (pos - bufStart));
        }

        int crc32c(long pos, int len) throws IOException {
            CRC32C crc = new CRC32C();
            long p = pos;
            long end = pos + len;
            while (p < end) {
                int n = (int) Math.min(SIZE, end - p);
                ensure(p, n);
                ByteBuffer slice = buf.duplicate();
                int at = (int) (p - bufStart);
                slice.position(at).limit(at + n);
                crc.update(slice);
                p += n;
            }
            return (int) crc.getValue();
        }
    }
}
