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

    /**
     * A run is given the command it names alone (picocli builds each command it is given, most of
     * a run's CPU with all of them): found past the global options and their values; help, an
     * unknown command and a help option before the command get every command.
     */
    @Test
    void aRunIsGivenTheCommandItNamesAlone() {
        picocli.CommandLine all = Warrenctl.commandLine(Map.of());
        for (Map.Entry<String, picocli.CommandLine> e : all.getSubcommands().entrySet()) {
            Class<?> expected = e.getKey().equals("help") ? null : e.getValue().getCommand().getClass();
            assertEquals(expected, Warrenctl.soleCommand(new String[] {e.getKey()}), e.getKey());
            assertEquals(expected, Warrenctl.soleCommand(new String[] {"-p", e.getKey(), "-q", "--formatter", "json",
                    "--vhost=x", "-t", "5", e.getKey(), "-p", "y"}), e.getKey() + " past global options and values");
        }
        for (String[] args : new String[][] {{}, {"nosuch"}, {"help", "list_queues"}, {"--help", "list_queues"},
                {"-?", "list_queues"}, {"-q?", "list_queues"}, {"-qs", "list_queues"}, {"--nosuch", "list_queues"},
                {"-p"}}) {
            assertEquals(null, Warrenctl.soleCommand(args), String.join(" ", args));
        }
    }

    /** What a command alone answers to bad arguments is what the whole tree answers (no broker needed). */
    @Test
    void aCommandAloneAnswersUsageErrorsAsTheWholeTree() {
        for (String[] args : new String[][] {{"list_queues", "--nosuch"}, {"list_queues", "-p"}, {"add_user"},
                {"add_user", "a", "b", "c"}, {"set_policy", "x"}, {"-t", "abc", "list_queues"},
                {"list_queues", "--port", "abc"}, {"list_queues", "-?"}, {"grow", "n@h", "some"}}) {
            Class<?> only = Warrenctl.soleCommand(args);
            assertTrue(only != null, String.join(" ", args));
            assertEquals(answer(Warrenctl.commandLine(Map.of()), args),
                    answer(Warrenctl.commandLine(Map.of(), only), args), String.join(" ", args));
        }
    }

    private static String answer(picocli.CommandLine cl, String[] args) {
        java.io.StringWriter out = new java.io.StringWriter();
        java.io.StringWriter err = new java.io.StringWriter();
        cl.setOut(new java.io.PrintWriter(out));
        cl.setErr(new java.io.PrintWriter(err));
        PrintStream saved = System.out;
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        System.setOut(new PrintStream(bytes, true, StandardCharsets.UTF_8));
        try {
            int code = cl.execute(args);
            return code + "\n" + out + "\n" + err + "\n" + bytes.toString(StandardCharsets.UTF_8);
        } finally {
            System.setOut(saved);
        }
    }

    @Test
    void helpForAnUnknownCommandIsAUsageError() {
        assertEquals(ExitCodes.USAGE, run("help", "nosuch").code());
    }
}
