package io.warren.cluster;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ClusterSecretTest {
    private static final String SIXTEEN = "0123456789abcdef";
    private static final byte[] SOME_KEY = "a public key's encoding".getBytes(StandardCharsets.US_ASCII);

    @TempDir Path dir;

    private Path file(String name, String content) throws IOException {
        Path f = dir.resolve(name);
        Files.writeString(f, content, StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-------"));
        return f;
    }

    /** The loader's message: one line, naming the file. */
    private static String refusal(Path f) {
        String message = assertThrows(IllegalArgumentException.class, () -> ClusterSecret.fromFile(f)).getMessage();
        assertTrue(message.contains(f.toString()), "the message names the file: " + message);
        assertFalse(message.contains("\n"), "one line: " + message);
        return message;
    }

    @Test void aMissingFileIsRefused() {
        assertTrue(refusal(dir.resolve("nope")).contains("does not exist"));
    }

    @Test void anEmptyFileIsRefused() throws IOException {
        assertTrue(refusal(file("empty", "")).contains("is empty"));
        assertTrue(refusal(file("blank", " \n\t\r\n")).contains("is empty"));
    }

    @Test void aDirectoryIsRefused() throws IOException {
        Path d = Files.createDirectory(dir.resolve("a-dir"));
        assertTrue(refusal(d).contains("cannot be read"));
    }

    @Test void aSecretShorterThanSixteenBytesIsRefused() throws IOException {
        String message = refusal(file("short", SIXTEEN.substring(1) + "\n"));
        assertTrue(message.contains("15 bytes") && message.contains("at least 16"), message);
        ClusterSecret.fromFile(file("sixteen", SIXTEEN)); // the shortest accepted
        assertThrows(IllegalArgumentException.class, () -> ClusterSecret.of(new byte[15]));
    }

    @Test void trailingWhitespaceIsNotPartOfTheSecret() throws IOException {
        byte[] plain = ClusterSecret.fromFile(file("plain", SIXTEEN)).certificateMac(SOME_KEY);
        assertArrayEquals(plain, ClusterSecret.fromFile(file("newline", SIXTEEN + "\n")).certificateMac(SOME_KEY));
        assertArrayEquals(plain, ClusterSecret.fromFile(file("crlf", SIXTEEN + " \r\n\n")).certificateMac(SOME_KEY));
        assertArrayEquals(plain, ClusterSecret.of(SIXTEEN.getBytes(StandardCharsets.US_ASCII)).certificateMac(SOME_KEY));
        // Leading whitespace is kept: only what editors add at the end is forgiven.
        assertFalse(ClusterSecret.fromFile(file("leading", " " + SIXTEEN)).certifies(SOME_KEY, plain));
    }

    @Test void onlyTheSameSecretCertifiesAKey() throws IOException {
        ClusterSecret a = ClusterSecret.fromFile(file("a", SIXTEEN + "\n"));
        ClusterSecret sameAsA = ClusterSecret.fromFile(file("a2", SIXTEEN));
        ClusterSecret b = ClusterSecret.fromFile(file("b", "0123456789abcdeF\n"));
        byte[] mac = a.certificateMac(SOME_KEY);
        assertEquals(32, mac.length);
        assertTrue(sameAsA.certifies(SOME_KEY, mac));
        assertFalse(b.certifies(SOME_KEY, mac), "another secret certified the key");
        assertFalse(a.certifies("another key".getBytes(StandardCharsets.US_ASCII), mac), "the MAC certified another key");
    }

    @Test void theSecretNeverShowsInToString() throws IOException {
        String s = ClusterSecret.fromFile(file("s", SIXTEEN)).toString();
        assertFalse(s.contains(SIXTEEN), s);
    }

    @Test void aFileOthersCanReadIsAcceptedWithAWarning() throws IOException {
        Logger logger = (Logger) LoggerFactory.getLogger(ClusterSecret.class);
        ListAppender<ILoggingEvent> events = new ListAppender<>();
        events.start();
        logger.addAppender(events);
        try {
            ClusterSecret.fromFile(file("private", SIXTEEN));
            assertEquals(List.of(), events.list, "warned about a file only its owner can read");

            Path shared = file("shared", SIXTEEN);
            Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rw-r--r--"));
            ClusterSecret.fromFile(shared);
            assertEquals(1, events.list.size());
            ILoggingEvent warning = events.list.get(0);
            assertEquals(Level.WARN, warning.getLevel());
            assertTrue(warning.getFormattedMessage().contains(shared.toString()), warning.getFormattedMessage());
        } finally {
            logger.detachAppender(events);
        }
    }
}
