package io.warren.it.durability;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import io.warren.core.store.StoreException;
import io.warren.it.support.WarrenBroker;
import io.warren.server.Broker;
import io.warren.server.WarrenConfig;
import io.warren.store.mapdb.MapDbDefinitionStore;
import io.warren.store.mapdb.MapDbMessageStore;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * A damaged store file stops start-up with a {@link StoreException} naming the file: never a
 * broker that comes up empty, never a failure that leaves the data dir locked. The file is
 * damaged while the broker is stopped, the way a bad disk or a careless copy would.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class CorruptStoreTest {
    @TempDir
    Path tmp;

    @BeforeAll
    static void inProcessOnly() {
        assumeFalse(WarrenBroker.external(), "starts brokers in-process");
    }

    /** How a file gets damaged. */
    enum Damage {
        /** Every byte replaced by random ones (same length). */
        ALL_GARBAGE,
        /** The first 64 bytes (MapDB's header) overwritten. */
        HEADER_GARBAGE,
        /** The second half overwritten with random bytes. */
        TAIL_GARBAGE,
        /** Cut to half its length. */
        TRUNCATED,
        /** Random bytes at a few random places, seeded. */
        SCATTERED,
        /** One byte of stored content changed (a message body, or the queue's name), as bit rot would. */
        CONTENT_BYTE,
        /** Like CONTENT_BYTE, at the last place that content is stored. */
        LAST_CONTENT_BYTE
    }

    static Stream<Arguments> damages() {
        List<Arguments> out = new ArrayList<>();
        for (String file : List.of(MapDbMessageStore.FILE_NAME, MapDbDefinitionStore.FILE_NAME)) {
            for (Damage d : Damage.values()) {
                out.add(Arguments.of(file, d));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("damages")
    void aDamagedStoreFileStopsStartUpNamingTheFile(String fileName, Damage damage) throws Exception {
        Path dataDir = tmp.resolve("data");
        WarrenConfig config = WarrenConfig.defaults(tmp).withListener("127.0.0.1", 0, dataDir);
        String q = "q-corrupt";
        populate(config, q);
        Path file = dataDir.resolve(fileName);
        Path backup = tmp.resolve(fileName + ".good");
        Files.copy(file, backup);

        damage(file, damage, fileName.equals(MapDbMessageStore.FILE_NAME) ? "m150" : q);

        Broker broken = new Broker(config);
        StoreException e = assertThrows(StoreException.class, broken::start);
        broken.close();
        assertTrue(e.getMessage().contains(file.toString()), "names the file: " + e.getMessage());
        // ...and what is wrong with it, e.g. "... is not a readable warren store (truncated: MapDB
        // read past its end)", "message store ... is corrupt: batch 3: record checksum mismatch".
        assertTrue(e.getMessage().matches("(?s).*(is not a readable warren store \\(.+\\)|is corrupt: .+)"),
                e.getMessage());

        // The failed start released everything: with the file restored the data is all there.
        Files.copy(backup, file, StandardCopyOption.REPLACE_EXISTING);
        Broker fixed = new Broker(config);
        fixed.start();
        try (Connection c = connect(fixed)) {
            assertEquals(bodies("m", 0, 300), texts(getAll(c.createChannel(), q)));
        } finally {
            fixed.close();
        }
    }

    /** A broker run that leaves a durable queue with persistent messages (several batches) behind. */
    private static void populate(WarrenConfig config, String q) throws Exception {
        Broker b = new Broker(config);
        b.start();
        try (Connection c = connect(b)) {
            Channel ch = c.createChannel();
            ch.queueDeclare(q, true, false, false, null);
            ch.exchangeDeclare("x-corrupt", "topic", true);
            ch.queueBind(q, "x-corrupt", "#");
            for (int i = 0; i < 3; i++) {
                publishConfirmed(c, "", q, PERSISTENT, bodies("m", i * 100, i * 100 + 100));
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
                    byte[] all = Files.readAllBytes(file);
                    byte[] needle = content.getBytes(StandardCharsets.UTF_8);
                    int at = -1;
                    for (int i = 0; i + needle.length <= all.length; i++) {
                        if (java.util.Arrays.equals(all, i, i + needle.length, needle, 0, needle.length)) {
                            at = i;
                            if (damage == Damage.CONTENT_BYTE) {
                                break;
                            }
                        }
                    }
                    assertTrue(at >= 0, content + " is stored in " + file);
                    raf.seek(at + needle.length - 1);
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
