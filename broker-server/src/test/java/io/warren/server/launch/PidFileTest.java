package io.warren.server.launch;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PidFileTest {
    private static final long SELF = ProcessHandle.current().pid();

    @TempDir
    Path tmp;

    @Test
    void claimCreatesTheDataDirAndWritesOurPid() throws Exception {
        Path data = tmp.resolve("a/b/data");
        PidFile pid = PidFile.claim(data);
        assertEquals(data.resolve("warren.pid"), pid.path());
        assertEquals(SELF + "\n", Files.readString(pid.path()));
        assertEquals("rw-r--r--", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(pid.path())));
        try (var files = Files.list(data)) {
            assertEquals(1, files.count(), "no temp file left behind");
        }
        pid.release();
        assertFalse(Files.exists(pid.path()));
    }

    @Test
    void stalePidFilesAreReplaced() throws Exception {
        Path file = tmp.resolve("warren.pid");
        Files.writeString(file, deadPid() + "\n");
        PidFile.claim(tmp);
        assertEquals(SELF + "\n", Files.readString(file));
        Files.writeString(file, "garbage");
        PidFile.claim(tmp);
        assertEquals(SELF + "\n", Files.readString(file));
    }

    @Test
    void aLiveProcessThatIsNotWarrenIsStale() throws Exception {
        Process sleeper = new ProcessBuilder("sleep", "30").start();
        try {
            Files.writeString(tmp.resolve("warren.pid"), sleeper.pid() + "\n");
            assertFalse(PidFile.isWarren(sleeper.pid()));
            PidFile.claim(tmp);
            assertEquals(SELF + "\n", Files.readString(tmp.resolve("warren.pid")));
        } finally {
            sleeper.destroyForcibly().waitFor();
        }
    }

    @Test
    void aLiveWarrenRefusesASecondClaim() throws Exception {
        // A process whose command line carries the marker stands in for a running broker:
        // bash keeps its $0 (the marker) in its command line, and "; true" stops it from
        // exec'ing sleep in its place. Until bash has exec'd, the child shows our own command
        // line, hence the wait.
        Process fake = new ProcessBuilder("bash", "-c", "sleep 30; true", PidFile.MARKER).start();
        try {
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (!PidFile.isWarren(fake.pid()) && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertTrue(PidFile.isWarren(fake.pid()));
            Files.writeString(tmp.resolve("warren.pid"), fake.pid() + "\n");
            PidFile.AlreadyRunningException e =
                    assertThrows(PidFile.AlreadyRunningException.class, () -> PidFile.claim(tmp));
            assertTrue(e.getMessage().contains("pid " + fake.pid()), e.getMessage());
            assertEquals(fake.pid() + "\n", Files.readString(tmp.resolve("warren.pid")));
        } finally {
            fake.destroyForcibly().waitFor();
        }
    }

    @Test
    void releaseLeavesAnotherBrokersFileAlone() throws Exception {
        PidFile pid = PidFile.claim(tmp);
        Files.writeString(pid.path(), "12345\n");
        pid.release();
        assertEquals("12345\n", Files.readString(pid.path()));
    }

    private static long deadPid() throws Exception {
        Process p = new ProcessBuilder("true").start();
        p.waitFor();
        return p.pid();
    }
}
