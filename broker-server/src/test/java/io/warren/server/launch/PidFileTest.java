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
        // A process whose command line carries the marker stands in for a running broker.
        Process fake = new ProcessBuilder("bash", "-c", "sleep 30 # " + PidFile.MARKER).start();
        try {
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
