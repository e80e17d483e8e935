package io.warren.it.tutorial;

import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The Python tutorial scripts ({@code examples/python}, pika 1.x) against the broker. The
 * interpreter is the first of /usr/bin/python3 and {@code python3} on PATH that imports pika;
 * with none, the class is skipped (and says so) — never when /usr/bin/python3 has pika.
 */
class PikaTutorialTest extends TutorialScenarios {

    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private static String python;
    private static String skipReason;
    private static Path scripts;

    @BeforeAll
    static void findPythonWithPika() throws Exception {
        List<String> reasons = new ArrayList<>();
        for (String candidate : List.of("/usr/bin/python3", "python3")) {
            String problem = importsPika(candidate);
            if (problem == null) {
                python = candidate;
                break;
            }
            reasons.add(candidate + ": " + problem);
        }
        if (python == null) {
            skipReason = "no Python interpreter imports pika (" + String.join("; ", reasons) + ")";
            System.out.println("SKIP pika tutorial tests: " + skipReason);
            return;
        }
        scripts = findScripts();
    }

    /** Skips each test, rather than the class, so the report counts them as skipped. */
    @BeforeEach
    void requirePika() {
        Assumptions.assumeTrue(python != null, skipReason);
    }

    /** Null when {@code interpreter} imports pika, else why not. */
    private static String importsPika(String interpreter) throws InterruptedException {
        if (interpreter.startsWith("/") && !Files.isExecutable(Path.of(interpreter))) {
            return "not found";
        }
        Process p;
        try {
            p = new ProcessBuilder(interpreter, "-c", "import pika; print(pika.__version__)")
                    .redirectErrorStream(true).start();
        } catch (IOException e) {
            return "cannot run: " + e.getMessage();
        }
        try {
            p.getOutputStream().close();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                return "did not answer in 30 s";
            }
            String text = new String(out, StandardCharsets.UTF_8).trim();
            if (p.exitValue() != 0) {
                String[] lines = text.split("\n");
                return "exit " + p.exitValue() + ": " + lines[lines.length - 1];
            }
            return null;
        } catch (IOException e) {
            return "cannot read its output: " + e.getMessage();
        } finally {
            p.destroyForcibly();
        }
    }

    /** examples/python, found from the working directory upwards (or -Dwarren.examples.python.dir). */
    private static Path findScripts() {
        String configured = System.getProperty("warren.examples.python.dir");
        if (configured != null) {
            return Path.of(configured).toAbsolutePath();
        }
        for (Path dir = Path.of(System.getProperty("user.dir")).toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path candidate = dir.resolve("examples").resolve("python");
            if (Files.isRegularFile(candidate.resolve("send.py"))) {
                return candidate;
            }
        }
        throw new IllegalStateException("examples/python not found above " + System.getProperty("user.dir")
                + "; set -Dwarren.examples.python.dir");
    }

    @Override
    WarrenBroker broker() {
        return broker;
    }

    @Override
    String flavour() {
        return "pika";
    }

    @Override
    List<String> command(String program, String... args) {
        Path script = scripts.resolve(program + ".py");
        if (!Files.isRegularFile(script)) {
            throw new IllegalArgumentException("no pika tutorial script " + script);
        }
        List<String> command = new ArrayList<>(List.of(python, "-u", script.toString()));
        command.addAll(List.of(args));
        return command;
    }
}
