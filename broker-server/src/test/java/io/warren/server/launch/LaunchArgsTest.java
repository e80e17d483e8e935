package io.warren.server.launch;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

class LaunchArgsTest {
    @Test
    void noArguments() throws Exception {
        LaunchArgs a = LaunchArgs.parse();
        assertNull(a.config());
        assertEquals(LaunchArgs.Mode.SERVE, a.mode());
    }

    @Test
    void configInBothSpellings() throws Exception {
        assertEquals("a.conf", LaunchArgs.parse("--config", "a.conf").config());
        assertEquals("b=c.conf", LaunchArgs.parse("--config=b=c.conf").config());
    }

    @Test
    void modesCombineWithConfigInAnyOrder() throws Exception {
        assertEquals(new LaunchArgs("x", LaunchArgs.Mode.PRINT_DATA_DIR),
                LaunchArgs.parse("--print-data-dir", "--config", "x"));
        assertEquals(new LaunchArgs("x", LaunchArgs.Mode.PRINT_LAUNCH_INFO),
                LaunchArgs.parse("--config=x", "--print-launch-info"));
        assertEquals(LaunchArgs.Mode.HELP, LaunchArgs.parse("-h").mode());
    }

    @Test
    void mistakesAreUsageErrors() {
        assertEquals("--config needs a file", assertThrows(LaunchArgs.UsageException.class,
                () -> LaunchArgs.parse("--config")).getMessage());
        assertEquals("--config needs a file", assertThrows(LaunchArgs.UsageException.class,
                () -> LaunchArgs.parse("--config=")).getMessage());
        assertEquals("--config given twice", assertThrows(LaunchArgs.UsageException.class,
                () -> LaunchArgs.parse("--config", "a", "--config=b")).getMessage());
        assertEquals("unknown argument 'start'", assertThrows(LaunchArgs.UsageException.class,
                () -> LaunchArgs.parse("start")).getMessage());
        assertThrows(LaunchArgs.UsageException.class, () -> LaunchArgs.parse("--print-data-dir", "--help"));
    }
}
