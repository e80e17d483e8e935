package io.warren.store.mapdb;

import io.warren.core.store.StoreException;
import org.mapdb.Atomic;
import org.mapdb.DB;
import org.mapdb.DBException;
import org.mapdb.DBMaker;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Opens a MapDB file the way every warren store does, and checks its format header: a named
 * string {@code "warren.format" = "<kind>/<version>"}. A foreign file, a file of the other
 * kind or an older layout is refused with a message naming the file, never opened as an
 * empty store.
 */
final class MapDbFiles {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(MapDbFiles.class);
    static final String FORMAT = "warren.format";

    private MapDbFiles() {}

    static DB open(Path file, String kind, int version) {
        discardIfZeroBytes(file);
        boolean existed = Files.exists(file);
        DB db;
        try {
            // transactionEnable: crash safety through MapDB's write-ahead log.
            // fileChannelEnable: DESIGN §5 measured ~8x the commits/s of the default mmap volume.
            db = DBMaker.fileDB(file.toFile()).transactionEnable().fileChannelEnable().make();
        } catch (DBException.FileLocked e) {
            throw new StoreException(file + " is locked by another process: " + e.getMessage(), e);
        } catch (DBException.WrongFormat | DBException.DataCorruption | DBException.NewMapDBFormat e) {
            // MapDB's first sentence says what is wrong; the rest is advice for MapDB programmers
            // ("Use DBMaker.checksumHeaderBypass()...") that would only mislead an operator.
            throw new StoreException(file + " is not a readable warren store (" + firstSentence(e.getMessage()) + ")", e);
        } catch (DBException.VolumeIOError e) {
            throw new StoreException(rootCause(e) instanceof java.io.EOFException
                    ? file + " is not a readable warren store (truncated: MapDB read past its end)"
                    : "cannot read " + file + ": " + describe(rootCause(e)), e);
        } catch (RuntimeException e) {
            // Garbage inside the file surfaces as whatever MapDB tripped over
            // (IndexOutOfBoundsException, ...): say that the file is the problem.
            throw new StoreException(file + " is not a readable warren store (damaged? MapDB failed with "
                    + describe(e) + ")", e);
        }
        try {
            checkFormat(db, file, existed, kind, version);
            return db;
        } catch (RuntimeException e) {
            closeQuietly(db);
            throw e;
        }
    }

    private static void checkFormat(DB db, Path file, boolean existed, String kind, int version) {
        String expected = kind + "/" + version;
        if (!db.exists(FORMAT)) {
            if (existed && db.getAllNames().iterator().hasNext()) {
                throw new StoreException(file + " is not a warren " + kind + " file (MapDB file without a warren format header)");
            }
            // A new file, or an existing one with nothing in it (a crash between MapDB creating
            // it and our first commit): stamping it loses nothing.
            db.atomicString(FORMAT, expected).create();
            db.commit();
            return;
        }
        String found;
        try {
            Atomic.String header = db.atomicString(FORMAT).open();
            found = header.get();
        } catch (RuntimeException e) {
            throw new StoreException(file + " has an unreadable warren format header: " + e, e);
        }
        if (expected.equals(found)) {
            return;
        }
        int slash = found == null ? -1 : found.lastIndexOf('/');
        String foundKind = slash < 0 ? found : found.substring(0, slash);
        if (!kind.equals(foundKind)) {
            throw new StoreException(file + " is a '" + found + "' file, expected a warren " + kind + " file");
        }
        throw new StoreException(file + " has layout '" + found + "'; this warren reads only '" + expected
                + "' (no automatic upgrade: restore a matching warren version or move the data directory away)");
    }

    /**
     * A crash right after MapDB created the file can leave it at 0 bytes, which MapDB refuses
     * ("File is empty"). It holds nothing, so start afresh rather than keep the broker down.
     */
    private static void discardIfZeroBytes(Path file) {
        try {
            if (Files.isRegularFile(file) && Files.size(file) == 0) {
                log.warn("{} is empty (0 bytes, a crash during its creation?): creating it afresh", file);
                Files.delete(file);
            }
        } catch (java.io.IOException e) {
            throw new StoreException("cannot inspect " + file + ": " + e, e);
        }
    }

    private static String firstSentence(String message) {
        if (message == null) {
            return "no detail";
        }
        int end = message.indexOf(". ");
        return (end < 0 ? message : message.substring(0, end)).strip();
    }

    private static Throwable rootCause(Throwable t) {
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t;
    }

    /** "SimpleName: first line of the message", or the simple name alone. */
    private static String describe(Throwable t) {
        String m = t.getMessage();
        return t.getClass().getSimpleName() + (m == null || m.isBlank() ? "" : ": " + m.lines().findFirst().orElse(""));
    }

    static void closeQuietly(DB db) {
        try {
            db.close();
        } catch (RuntimeException ignored) {
            // Already failing to open; the first error is the one to report.
        }
    }
}
