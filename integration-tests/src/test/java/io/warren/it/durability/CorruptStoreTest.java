package io.warren.it.durability;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import io.warren.core.store.StoreException;
import io.warren.it.support.WarrenBroker;
import io.warren.server.Broker;
import io.warren.server.WarrenConfig;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static io.warren.it.durability.Durable.PERSISTENT;
import static io.warren.it.durability.Durable.bodies;
import static io.warren.it.durability.Durable.getAll;
import static io.warren.it.durability.Durable.publishConfirmed;
import static io.warren.it.durability.Durable.texts;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * Damaged store files, damaged while the broker is stopped (a bad disk, a careless copy) or
 * cut short by a crash mid-commit:
 * <ul>
 * <li>{@code definitions.dat}: any damage stops start-up with a {@link StoreException} naming
 *     the file and what is wrong; it is one checksummed snapshot, there is no torn state.</li>
 * <li>a journal segment ({@code journal/NNN.seg}): damage to its header or to a frame that
 *     valid frames follow stops start-up naming the file and the offset; a torn tail (the
 *     last frame cut short, or bytes after it) is what a crash during a commit leaves, so it
 *     is cut off with a WARN and everything before it is served.</li>
 * </ul>
 * Never a broker that silently comes up with less, never a failure that leaves the data dir
 * locked: with the file restored every message is back.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class CorruptStoreTest {
    static final String DEFINITIONS = "definitions.dat";
    static final String JOURNAL = "journal";
    /** Journal layout (see io.warren.store.journal.Segment): 40-byte segment header, frames of magic|length|crc|payload. */
    static final int SEGMENT_HEADER = 40;
    static final int FRAME_MAGIC = 0x5746524D;
    static final int FRAME_HEADER = 12;

    private static final String Q = "q-corrupt";
    private static final int ROUNDS = 6;
    private static final int PER_ROUND = 50;
    private static final List<String> ALL = bodies("m", 0, ROUNDS * PER_ROUND);

    @TempDir
    Path tmp;

    @BeforeAll
    static void inProcessOnly() {
        assumeFalse(WarrenBroker.external(), "starts brokers in-process");
    }

    /** How definitions.dat gets damaged. */
    enum Damage {
        /** Every byte replaced by random ones (same length). */
        ALL_GARBAGE,
        /** The first 64 bytes (the magic and the length) overwritten. */
        HEADER_GARBAGE,
        /** The second half overwritten with random bytes. */
        TAIL_GARBAGE,
        /** Cut to half its length. */
        TRUNCATED,
        /** Random bytes at a few random places, seeded. */
        SCATTERED,
        /** One byte of the queue's stored name changed, as bit rot would. */
        CONTENT_BYTE,
        /** Like CONTENT_BYTE, at the last place the name is stored. */
        LAST_CONTENT_BYTE
    }

    @ParameterizedTest(name = "definitions.dat {0}")
    @EnumSource(Damage.class)
    void aDamagedDefinitionsFileStopsStartUpNamingTheFile(Damage damage) throws Exception {
        Path dataDir = tmp.resolve("data");
        WarrenConfig config = config(dataDir);
        populate(config);
        Path file = dataDir.resolve(DEFINITIONS);
        Path backup = tmp.resolve(DEFINITIONS + ".good");
        Files.copy(file, backup);

        damage(file, damage, Q);

        StoreException e = startFails(config);
        assertTrue(e.getMessage().contains(file.toString()), "names the file: " + e.getMessage());
        // ...and what is wrong with it, e.g. "definition store /x/definitions.dat is damaged:
        // checksum mismatch (...)", "... is not a warren definitions file (no warren-definitions/3 header ...)".
        assertTrue(e.getMessage().matches("(?s)definition store .+ (is damaged: .+|is not a warren definitions file .+)"),
                e.getMessage());

        Files.copy(backup, file, StandardCopyOption.REPLACE_EXISTING);
        assertEquals(ALL, restart(config), "everything is back with the file restored");
    }

    /** Damage to a journal segment that no crash produces: refused. */
    enum JournalDamage {
        /** The segment header (magic, id, next batch id) overwritten. */
        HEADER_GARBAGE,
        /** One byte of the first frame's content (the first message's body) changed; valid frames follow. */
        EARLY_FRAME_BYTE,
        /** Random bytes at a few places before the last frame, seeded: the last frame stays valid. */
        SCATTERED
    }

    @ParameterizedTest(name = "journal segment {0}")
    @EnumSource(JournalDamage.class)
    void aDamagedJournalSegmentStopsStartUpNamingTheFileAndOffset(JournalDamage damage) throws Exception {
        Path dataDir = tmp.resolve("data");
        WarrenConfig config = config(dataDir);
        populate(config);
        Path file = onlySegment(dataDir);
        Path backup = tmp.resolve("segment.good");
        Files.copy(file, backup);
        List<long[]> frames = frames(file);
        assertTrue(frames.size() >= 3, "populate wrote several frames: " + frames.size());
        long firstFrame = frames.get(0)[0];
        long lastFrame = frames.get(frames.size() - 1)[0];

        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            Random random = new Random(Files.size(file) ^ damage.ordinal());
            switch (damage) {
                case HEADER_GARBAGE -> write(raf, 0, SEGMENT_HEADER, random);
                case EARLY_FRAME_BYTE -> {
                    long at = find(Files.readAllBytes(file), bodyBytes(ALL.get(0)), false);
                    assertTrue(at > firstFrame && at < frames.get(0)[1], "the first message is in the first frame");
                    raf.seek(at + bodyBytes(ALL.get(0)).length - 1);
                    raf.write('X');
                }
                case SCATTERED -> {
                    for (int i = 0; i < 8; i++) {
                        long span = lastFrame - firstFrame - 16;
                        write(raf, firstFrame + (long) (random.nextDouble() * span), 16, random);
                    }
                }
            }
        }

        StoreException e = startFails(config);
        String m = e.getMessage();
        assertTrue(m.contains("message journal file " + file + " is "), "names the file: " + m);
        if (damage == JournalDamage.HEADER_GARBAGE) {
            assertTrue(m.contains("not a warren message journal segment"), m);
        } else {
            // e.g. "... is corrupt at offset 40: frame checksum mismatch, yet a valid frame follows at offset 1234 ..."
            assertTrue(m.matches("(?s).* is corrupt at offset \\d+: .+"), "names the offset: " + m);
            if (damage == JournalDamage.EARLY_FRAME_BYTE) {
                assertTrue(m.contains(" at offset " + firstFrame + ": "), "the first frame's offset: " + m);
            }
        }

        Files.copy(backup, file, StandardCopyOption.REPLACE_EXISTING);
        assertEquals(ALL, restart(config), "everything is back with the segment restored");
    }

    /** What a crash during a commit leaves at the end of the last segment: cut off at open. */
    enum TornTail {
        /** The last frame cut in the middle of its content. */
        CUT_IN_LAST_FRAME,
        /** The last frame cut inside its 12-byte header. */
        CUT_IN_LAST_FRAME_HEADER,
        /** Random bytes after the last frame (a frame whose header never made it whole). */
        GARBAGE_APPENDED,
        /**
         * Zeros after the last frame (a preallocated segment's unused rest, or a file that grew
         * before its data reached the disk): nothing to cut, kept quietly and written into.
         */
        ZEROS_APPENDED
    }

    @ParameterizedTest(name = "journal segment {0}")
    @EnumSource(TornTail.class)
    void aTornJournalTailIsCutOffAndEverythingBeforeItIsServed(TornTail torn) throws Exception {
        Path dataDir = tmp.resolve("data");
        WarrenConfig config = config(dataDir);
        populate(config);
        Path file = onlySegment(dataDir);
        Path backup = tmp.resolve("segment.good");
        Files.copy(file, backup);
        List<long[]> frames = frames(file);
        assertTrue(frames.size() >= 3, "populate wrote several frames: " + frames.size());
        long[] last = frames.get(frames.size() - 1);
        long size = Files.size(file);
        assertEquals(size, last[1], "frames up to the end of the file");
        long cut = switch (torn) {
            case CUT_IN_LAST_FRAME -> last[0] + (last[1] - last[0]) / 2;
            case CUT_IN_LAST_FRAME_HEADER -> last[0] + 5;
            case GARBAGE_APPENDED, ZEROS_APPENDED -> size;
        };
        // The messages stored wholly in the frames before the cut: exactly those come back.
        byte[] before = Arrays.copyOf(Files.readAllBytes(file), (int) (cut < size ? last[0] : size));
        List<String> expected = ALL.stream().filter(b -> find(before, bodyBytes(b), false) >= 0).toList();
        long tornAt = cut < size ? last[0] : size; // where the journal finds the first incomplete frame
        if (cut < size) {
            assertTrue(!expected.isEmpty() && expected.size() < ALL.size(), "the last frame holds some messages");
        } else {
            assertEquals(ALL, expected);
        }

        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            switch (torn) {
                case CUT_IN_LAST_FRAME, CUT_IN_LAST_FRAME_HEADER -> raf.setLength(cut);
                case GARBAGE_APPENDED -> write(raf, size, 100, new Random(size));
                case ZEROS_APPENDED -> raf.setLength(size + 4096);
            }
        }

        Logger journalLog = (Logger) LoggerFactory.getLogger("io.warren.store.journal.Journal");
        ListAppender<ILoggingEvent> warnings = new ListAppender<>();
        warnings.start();
        journalLog.addAppender(warnings);
        List<String> got;
        try {
            got = restart(config);
        } finally {
            journalLog.detachAppender(warnings);
        }
        assertEquals(expected, got, "every message of the frames before the tear, in order");
        boolean warned = warnings.list.stream().anyMatch(ev -> ev.getLevel() == Level.WARN
                && ev.getFormattedMessage().contains(file.toString())
                && ev.getFormattedMessage().contains("torn write at offset " + tornAt));
        if (torn == TornTail.ZEROS_APPENDED) {
            assertFalse(warned, "zeros are preallocated space, no torn write: " + warnings.list);
        } else {
            assertTrue(warned, "a WARN about the truncation: " + warnings.list);
        }
        // Cut off: the segment is whole frames again, the ones written since (the takes) start at the tear.
        List<long[]> now = frames(file);
        assertTrue(Files.size(file) == tornAt || now.stream().anyMatch(f -> f[0] == tornAt),
                "the torn tail is cut off at " + tornAt);

        Files.copy(backup, file, StandardCopyOption.REPLACE_EXISTING);
        assertEquals(ALL, restart(config), "everything is back with the segment restored");
    }

    private WarrenConfig config(Path dataDir) {
        return WarrenConfig.defaults(tmp).withListener("127.0.0.1", 0, dataDir);
    }

    private static StoreException startFails(WarrenConfig config) {
        Broker broken = new Broker(config);
        StoreException e = assertThrows(StoreException.class, broken::start);
        broken.close();
        return e;
    }

    /** Starts a broker, takes every message of the queue, stops it. */
    private static List<String> restart(WarrenConfig config) throws Exception {
        Broker b = new Broker(config);
        b.start();
        try (Connection c = connect(b)) {
            return texts(getAll(c.createChannel(), Q));
        } finally {
            b.close();
        }
    }

    /**
     * A broker run that leaves a durable queue, an exchange and a binding, and persistent
     * messages published with confirms in several rounds: each round is durable before the
     * next starts, so the journal holds several frames.
     */
    private static void populate(WarrenConfig config) throws Exception {
        Broker b = new Broker(config);
        b.start();
        try (Connection c = connect(b)) {
            Channel ch = c.createChannel();
            ch.queueDeclare(Q, true, false, false, null);
            ch.exchangeDeclare("x-corrupt", "topic", true);
            ch.queueBind(Q, "x-corrupt", "#");
            for (int i = 0; i < ROUNDS; i++) {
                publishConfirmed(c, "", Q, PERSISTENT, ALL.subList(i * PER_ROUND, (i + 1) * PER_ROUND));
            }
        } finally {
            b.close();
        }
    }

    private static Connection connect(Broker b) throws Exception {
        ConnectionFactory f = new ConnectionFactory();
        f.setHost("127.0.0.1");
        f.setPort(b.port());
        f.setAutomaticRecoveryEnabled(false);
        return f.newConnection();
    }

    static Path onlySegment(Path dataDir) throws IOException {
        try (Stream<Path> s = Files.list(dataDir.resolve(JOURNAL))) {
            List<Path> segments = s.filter(p -> p.toString().endsWith(".seg")).sorted(Comparator.naturalOrder()).toList();
            assertEquals(1, segments.size(), "one journal segment: " + segments);
            return segments.get(0);
        }
    }

    /** [start, end) of each frame of a segment, by their headers (no checksums checked). */
    static List<long[]> frames(Path segment) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(segment));
        List<long[]> out = new ArrayList<>();
        int pos = SEGMENT_HEADER;
        while (pos + FRAME_HEADER <= b.limit() && b.getInt(pos) == FRAME_MAGIC) {
            int end = pos + FRAME_HEADER + b.getInt(pos + 4);
            out.add(new long[] {pos, end});
            pos = end;
        }
        assertEquals(b.limit(), pos, "the segment is whole frames");
        return out;
    }

    /** A body as the journal stores it: its 4-byte length, then its bytes (so "m1" never matches inside "m10"). */
    private static byte[] bodyBytes(String body) {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(4 + b.length).putInt(b.length).put(b).array();
    }

    private static long find(byte[] all, byte[] needle, boolean last) {
        long at = -1;
        for (int i = 0; i + needle.length <= all.length; i++) {
            if (Arrays.equals(all, i, i + needle.length, needle, 0, needle.length)) {
                at = i;
                if (!last) {
                    break;
                }
            }
        }
        return at;
    }

    static void damage(Path file, Damage damage, String content) throws IOException {
        long size = Files.size(file);
        Random random = new Random(size ^ damage.ordinal());
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            switch (damage) {
                case ALL_GARBAGE -> write(raf, 0, size, random);
                case HEADER_GARBAGE -> write(raf, 0, Math.min(64, size), random);
                case TAIL_GARBAGE -> write(raf, size / 2, size - size / 2, random);
                case TRUNCATED -> raf.setLength(size / 2);
                case CONTENT_BYTE, LAST_CONTENT_BYTE -> {
                    long at = find(Files.readAllBytes(file), content.getBytes(StandardCharsets.UTF_8),
                            damage == Damage.LAST_CONTENT_BYTE);
                    assertTrue(at >= 0, content + " is stored in " + file);
                    raf.seek(at + content.length() - 1);
                    raf.write('X');
                }
                case SCATTERED -> {
                    for (int i = 0; i < 8; i++) {
                        write(raf, (long) (random.nextDouble() * (size - 16)), 16, random);
                    }
                }
            }
        }
    }

    private static void write(RandomAccessFile raf, long at, long length, Random random) throws IOException {
        byte[] b = new byte[(int) length];
        random.nextBytes(b);
        raf.seek(at);
        raf.write(b);
    }
}
