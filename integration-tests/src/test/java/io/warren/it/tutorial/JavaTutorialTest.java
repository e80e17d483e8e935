package io.warren.it.tutorial;

import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The Java tutorial programs ({@code io.warren.examples}, RabbitMQ Java client) against the
 * broker, each in its own JVM on this test's classpath.
 */
class JavaTutorialTest extends TutorialScenarios {

    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private static final Map<String, String> CLASSES = Map.ofEntries(
            Map.entry("send", "Send"),
            Map.entry("receive", "Recv"),
            Map.entry("new_task", "NewTask"),
            Map.entry("worker", "Worker"),
            Map.entry("emit_log", "EmitLog"),
            Map.entry("receive_logs", "ReceiveLogs"),
            Map.entry("emit_log_direct", "EmitLogDirect"),
            Map.entry("receive_logs_direct", "ReceiveLogsDirect"),
            Map.entry("emit_log_topic", "EmitLogTopic"),
            Map.entry("receive_logs_topic", "ReceiveLogsTopic"),
            Map.entry("rpc_server", "RPCServer"),
            Map.entry("rpc_client", "RPCClient"));

    @Override
    WarrenBroker broker() {
        return broker;
    }

    @Override
    String flavour() {
        return "java";
    }

    @Override
    List<String> command(String program, String... args) {
        String mainClass = CLASSES.get(program);
        if (mainClass == null) {
            throw new IllegalArgumentException("no Java tutorial program " + program);
        }
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                // Small, quick-starting JVMs: the programs do little work and several run at once.
                "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx64m",
                "-cp", System.getProperty("java.class.path"),
                "io.warren.examples." + mainClass));
        command.addAll(List.of(args));
        return command;
    }
}
