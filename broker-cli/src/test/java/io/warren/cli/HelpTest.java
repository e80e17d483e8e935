package io.warren.cli;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code warrenctl help} lists every command and {@code help COMMAND} documents each, run in this JVM
 * (WarrenctlTest runs a few of them through bin/warrenctl; one JVM per command there would cost a
 * second of CPU each).
 */
class HelpTest {
    private record Run(int code, String out) {
    }

    private static Run run(String... args) {
        PrintStream saved = System.out;
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        System.setOut(new PrintStream(bytes, true, StandardCharsets.UTF_8));
        try {
            int code = Warrenctl.run(args, Map.of());
            return new Run(code, bytes.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(saved);
        }
    }

    @Test
    void helpListsEveryCommandAndDocumentsEachOne() {
        Set<String> commands = Warrenctl.commandLine(Map.of()).getSubcommands().keySet();
        assertTrue(commands.size() >= 40, commands.toString());
        Run all = run("help");
        assertEquals(0, all.code(), all.out());
        for (String c : commands) {
            assertTrue(all.out().contains("\n  " + c + " "), c + " missing from:\n" + all.out());
            Run one = run("help", c);
            assertEquals(0, one.code(), c + ": " + one.out());
            assertTrue(one.out().startsWith("Usage: warrenctl " + c), c + ": " + one.out());
        }
    }

    @Test
    void helpForAnUnknownCommandIsAUsageError() {
        assertEquals(ExitCodes.USAGE, run("help", "nosuch").code());
    }
}
