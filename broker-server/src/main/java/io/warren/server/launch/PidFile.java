package io.warren.server.launch;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Optional;

/**
 * {@code <data_dir>/warren.pid}: the JVM pid, for {@code bin/warren stop|status}, and a guard
 * against two brokers on one data dir. It is written before the broker starts (so {@code stop}
 * can reach a broker that is still starting) and deleted by the shutdown hook. A pid file whose
 * process is gone, or is not a warren JVM (the pid was reused), is stale and is replaced.
 */
public final class PidFile {
    public static final String NAME = "warren.pid";
    /** What identifies a warren JVM in a process's command line; bin/warren checks the same. */
    public static final String MARKER = "io.warren.server.WarrenMain";

    private final Path path;
    private final long pid;

    private PidFile(Path path, long pid) {
        this.path = path;
        this.pid = pid;
    }

    /** Another live warren already owns the data dir. */
    public static final class AlreadyRunningException extends Exception {
        AlreadyRunningException(String message) {
            super(message, null, false, false);
        }
    }

    public static Path pathIn(Path dataDir) {
        return dataDir.resolve(NAME);
    }

    /** Creates {@code dataDir} if needed and writes this JVM's pid, replacing a stale file. */
    public static PidFile claim(Path dataDir) throws IOException, AlreadyRunningException {
        Files.createDirectories(dataDir);
        Path path = pathIn(dataDir);
        long self = ProcessHandle.current().pid();
        Optional<Long> existing = read(path);
        if (existing.isPresent() && existing.get() != self && isWarren(existing.get())) {
            throw new AlreadyRunningException("warren is already running with pid " + existing.get()
                    + " on data dir " + dataDir + " (" + path + ")");
        }
        // Write-then-rename so a reader (bin/warren status) never sees a half-written pid.
        Path tmp = Files.createTempFile(dataDir, NAME, ".tmp");
        Files.writeString(tmp, self + "\n", StandardCharsets.US_ASCII);
        readableByAll(tmp);
        try {
            Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING);
        }
        return new PidFile(path, self);
    }

    /** createTempFile makes 0600 files; status checks and monitoring by other users need to read it. */
    private static void readableByAll(Path file) throws IOException {
        if (file.getFileSystem().supportedFileAttributeViews().contains("posix")) {
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
        }
    }

    public Path path() {
        return path;
    }

    /** Deletes the file if it still names this JVM (never another broker's file). */
    public void release() {
        try {
            if (read(path).filter(p -> p == pid).isPresent()) {
                Files.deleteIfExists(path);
            }
        } catch (IOException e) {
            // shutting down: nothing better to do; bin/warren treats a dead pid as stale
        }
    }

    /** The pid in {@code file}, empty when it is missing or holds no number. */
    static Optional<Long> read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            return Optional.empty();
        }
        String text = Files.readString(file, StandardCharsets.ISO_8859_1).strip(); // any bytes: garbage is stale, not an error
        try {
            return Optional.of(Long.parseLong(text));
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
    }

    /**
     * True when {@code pid} is alive and is a warren JVM. When the command line cannot be read
     * (another user's process), it is assumed to be warren: refusing to start is recoverable,
     * two brokers on one data dir are not.
     */
    static boolean isWarren(long pid) {
        return ProcessHandle.of(pid)
                .filter(ProcessHandle::isAlive)
                .map(p -> p.info().commandLine().map(cmd -> cmd.contains(MARKER)).orElse(true))
                .orElse(false);
    }
}
