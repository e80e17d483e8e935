package io.warren.store;

import io.warren.core.store.StoreException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class DataDirLockTest {
    @TempDir
    Path dir;

    @Test
    void aSecondLockInTheSameJvmIsRefusedUntilTheFirstIsClosed() {
        DataDirLock first = DataDirLock.acquire(dir);
        StoreException e = assertThrows(StoreException.class, () -> DataDirLock.acquire(dir));
        assertEquals("data directory " + dir + " is in use by another warren process (lock file "
                + dir.resolve("warren.lock") + ")", e.getMessage());
        first.close();
        DataDirLock.acquire(dir).close();
    }

    @Test
    void anotherProcessHoldingTheLockRefusesUsAndItsDeathFreesIt() throws Exception {
        try (ChildProcess child = ChildProcess.start("lock", dir.toString())) {
            assertEquals("locked", child.readLine());
            StoreException e = assertThrows(StoreException.class, () -> DataDirLock.acquire(dir));
            assertEquals("data directory " + dir + " is in use by another warren process (lock file "
                    + dir.resolve("warren.lock") + ")", e.getMessage());
            child.kill(); // a killed broker leaves the file behind, but not the lock
        }
        DataDirLock.acquire(dir).close();
    }
}
