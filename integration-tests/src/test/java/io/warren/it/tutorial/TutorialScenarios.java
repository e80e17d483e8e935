package io.warren.it.tutorial;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The six RabbitMQ tutorials, each run as real consumer and producer processes against the broker,
 * checking what every consumer printed. Subclasses say how to run a program (Java or pika); the
 * programs are named as the pika scripts are ({@code send}, {@code receive}, {@code new_task}, ...).
 *
 * <p>Producers whose order matters run one after another, each to its end: a message is routed
 * before its publisher's connection is closed, and each queue is FIFO with one consumer, so the
 * last message a consumer expects also proves that nothing unexpected was routed to it before.
 */
abstract class TutorialScenarios {
    static final Duration START = Duration.ofSeconds(30);
    static final Duration DELIVERY = Duration.ofSeconds(20);
    static final Duration RUN = Duration.ofSeconds(30);

    private static final Predicate<String> READY =
            l -> l.contains(" [*] Waiting for") || l.contains(" [x] Awaiting RPC requests");
    private static final String RECEIVED = " [x] Received ";

    private final List<ExampleProcess> processes = new ArrayList<>();

    /** The broker under test. */
    abstract WarrenBroker broker();

    /** The command line that runs tutorial program {@code program} with {@code args}. */
    abstract List<String> command(String program, String... args);

    /** A short tag for process names in failure messages, e.g. "java". */
    abstract String flavour();

    @AfterEach
    void stopProcesses() {
        for (ExampleProcess p : processes) {
            p.close();
        }
        processes.clear();
    }

    // ---------------------------------------------------------------- 1. Hello World

    @Test
    void helloWorld() throws Exception {
        resetQueue("hello", false);
        ExampleProcess receiver = startConsumers(consumer("receive")).get(0);

        ExampleProcess first = run("send");
        assertEquals(List.of(" [x] Sent 'Hello World!'"), first.linesStartingWith(" [x] Sent"), first.transcript());
        run("send", "Hello", "warren!");

        receiver.awaitLine(l -> l.equals(" [x] Received 'Hello warren!'"), "second message", DELIVERY);
        assertEquals(List.of(" [x] Received 'Hello World!'", " [x] Received 'Hello warren!'"),
                receiver.linesStartingWith(RECEIVED), receiver.transcript());
    }

    // ---------------------------------------------------------------- 2. Work queues

    @Test
    void workQueueDoesEachTaskOnceAndDispatchesFairly() throws Exception {
        resetQueue("task_queue", true);
        // Same program, different speed: one '.' is 2.5 s of work for one, 10 ms for the other.
        List<ExampleProcess> workers = startConsumers(
                consumer("worker").env("WARREN_EXAMPLE_DOT_MS", "2500").name("slow worker"),
                consumer("worker").env("WARREN_EXAMPLE_DOT_MS", "10").name("fast worker"));
        ExampleProcess slow = workers.get(0);
        ExampleProcess fast = workers.get(1);

        List<String> tasks = IntStream.rangeClosed(1, 10).mapToObj(i -> "Task " + i + " .").toList();
        // All at once: with prefetch 1 the busy slow worker must be passed over while it works.
        runAll(tasks.stream().map(t -> new String[] {"new_task", t}).toList());

        awaitCondition(() -> slow.count(" [x] Done"::equals) + fast.count(" [x] Done"::equals) >= tasks.size(),
                "all " + tasks.size() + " tasks done", workers);

        List<String> slowTasks = receivedBodies(slow);
        List<String> fastTasks = receivedBodies(fast);
        List<String> all = new ArrayList<>(slowTasks);
        all.addAll(fastTasks);
        String transcripts = slow.transcript() + "\n" + fast.transcript();
        System.out.println(flavour() + " work queue: fast worker did " + fastTasks.size() + " tasks, slow worker " + slowTasks.size());
        assertEquals(tasks.stream().sorted().toList(), all.stream().sorted().toList(),
                "every task received exactly once\n" + transcripts);
        assertTrue(fastTasks.size() > slowTasks.size(),
                "fair dispatch: the fast worker should get more tasks than the slow one, got fast="
                        + fastTasks.size() + " slow=" + slowTasks.size() + "\n" + transcripts);
    }

    @Test
    void workQueueRedeliversTheTaskOfAKilledWorker() throws Exception {
        resetQueue("task_queue", true);
        // A worker that would need a minute for the task: killed mid-task, so it never acks.
        ExampleProcess doomed = startConsumers(
                consumer("worker").env("WARREN_EXAMPLE_DOT_MS", "60000").name("doomed worker")).get(0);
        run("new_task", "Unfinished task .");
        doomed.awaitLine(" [x] Received 'Unfinished task .'"::equals, "the task", DELIVERY);
        doomed.close();

        ExampleProcess rescuer = startConsumers(
                consumer("worker").env("WARREN_EXAMPLE_DOT_MS", "10").name("rescuing worker")).get(0);
        rescuer.awaitLine(" [x] Done"::equals, "the redelivered task done", DELIVERY);
        assertEquals(List.of(" [x] Received 'Unfinished task .'"), rescuer.linesStartingWith(RECEIVED),
                rescuer.transcript());
        assertEquals(List.of(), doomed.linesStartingWith(" [x] Done"), doomed.transcript());
    }

    @Test
    void durableTasksSurviveABrokerRestart() throws Exception {
        Assumptions.assumeFalse(WarrenBroker.external(), "an external broker cannot be restarted from here");
        resetQueue("task_queue", true);
        run("new_task", "Persistent task 1 .");
        run("new_task", "Persistent task 2 .");

        broker().restart();

        ExampleProcess worker = startConsumers(consumer("worker").env("WARREN_EXAMPLE_DOT_MS", "10")).get(0);
        worker.awaitCount(" [x] Done"::equals, 2, "both tasks done after the restart", DELIVERY);
        assertEquals(List.of(" [x] Received 'Persistent task 1 .'", " [x] Received 'Persistent task 2 .'"),
                worker.linesStartingWith(RECEIVED), worker.transcript());
    }

    // ---------------------------------------------------------------- 3. Publish/Subscribe

    @Test
    void publishSubscribeReachesEveryReceiver() throws Exception {
        List<ExampleProcess> receivers = startConsumers(
                consumer("receive_logs").name("receive_logs #1"), consumer("receive_logs").name("receive_logs #2"));

        run("emit_log", "warning:", "disk", "almost", "full");
        run("emit_log");

        List<String> expected = List.of(" [x] Received 'warning: disk almost full'", " [x] Received 'info: Hello World!'");
        for (ExampleProcess r : receivers) {
            r.awaitLine(expected.get(1)::equals, "the last log", DELIVERY);
            assertEquals(expected, r.linesStartingWith(RECEIVED), r.transcript());
        }
    }

    // ---------------------------------------------------------------- 4. Routing

    @Test
    void routingDeliversOnlyTheBoundSeverities() throws Exception {
        List<ExampleProcess> receivers = startConsumers(
                consumer("receive_logs_direct", "error"),
                consumer("receive_logs_direct", "info", "warning", "error"));
        ExampleProcess errors = receivers.get(0);
        ExampleProcess all = receivers.get(1);

        run("emit_log_direct", "debug", "Debug message");
        run("emit_log_direct", "info", "Info message");
        run("emit_log_direct", "warning", "Warning message");
        run("emit_log_direct", "error", "Error message");

        String last = " [x] Received 'error':'Error message'";
        errors.awaitLine(last::equals, "the error", DELIVERY);
        all.awaitLine(last::equals, "the error", DELIVERY);
        assertEquals(List.of(last), errors.linesStartingWith(RECEIVED), errors.transcript());
        assertEquals(List.of(
                " [x] Received 'info':'Info message'",
                " [x] Received 'warning':'Warning message'",
                last), all.linesStartingWith(RECEIVED), all.transcript());
    }

    // ---------------------------------------------------------------- 5. Topics

    @Test
    void topicsMatchStarAndHash() throws Exception {
        List<ExampleProcess> receivers = startConsumers(
                consumer("receive_logs_topic", "*.critical"),
                consumer("receive_logs_topic", "kern.#"),
                consumer("receive_logs_topic", "kern.*", "*.critical"),
                consumer("receive_logs_topic", "#"));

        String kernInfo = " [x] Received 'kern.info':'Kernel info'";
        String cronCritical = " [x] Received 'cron.critical':'Cron critical'";
        String kern = " [x] Received 'kern':'Bare kernel'";
        String diskWarning = " [x] Received 'kern.disk.warning':'Disk warning'";
        String dbCritical = " [x] Received 'app.db.critical':'Database critical'";
        String anonymous = " [x] Received 'anonymous.info':'Hello World!'";
        String kernCritical = " [x] Received 'kern.critical':'A critical kernel error'";

        run("emit_log_topic", "kern.info", "Kernel info");
        run("emit_log_topic", "cron.critical", "Cron critical");
        run("emit_log_topic", "kern", "Bare kernel");
        run("emit_log_topic", "kern.disk.warning", "Disk", "warning");
        run("emit_log_topic", "app.db.critical", "Database critical");
        run("emit_log_topic"); // the default: anonymous.info, Hello World!
        run("emit_log_topic", "kern.critical", "A critical kernel error");

        List<List<String>> expected = List.of(
                List.of(cronCritical, kernCritical),                            // *.critical: exactly two words
                List.of(kernInfo, kern, diskWarning, kernCritical),             // kern.#: zero or more words after kern
                List.of(kernInfo, cronCritical, kernCritical),                  // two bindings, one copy each
                List.of(kernInfo, cronCritical, kern, diskWarning, dbCritical, anonymous, kernCritical)); // #
        for (int i = 0; i < receivers.size(); i++) {
            ExampleProcess r = receivers.get(i);
            r.awaitLine(kernCritical::equals, "the last log", DELIVERY);
            assertEquals(expected.get(i), r.linesStartingWith(RECEIVED), r.transcript());
        }
    }

    // ---------------------------------------------------------------- 6. RPC

    @Test
    void rpcClientsGetTheirOwnFibonacciAnswers() throws Exception {
        resetQueue("rpc_queue", false);
        ExampleProcess server = startConsumers(consumer("rpc_server")).get(0);

        // Two clients at once: each reply must reach its own reply_to queue, matched by correlation_id.
        List<ExampleProcess> clients = runAll(List.of(
                new String[] {"rpc_client", "10", "1", "0"},
                new String[] {"rpc_client", "20", "25"}));

        assertEquals(List.of(" [.] Got '55'", " [.] Got '1'", " [.] Got '0'"),
                clients.get(0).linesStartingWith(" [.] Got"), clients.get(0).transcript());
        assertEquals(List.of(" [.] Got '6765'", " [.] Got '75025'"),
                clients.get(1).linesStartingWith(" [.] Got"), clients.get(1).transcript());
        assertEquals(List.of(" [.] fib(0)", " [.] fib(1)", " [.] fib(10)", " [.] fib(20)", " [.] fib(25)"),
                server.linesStartingWith(" [.] fib(").stream().sorted().toList(), server.transcript());
    }

    // ---------------------------------------------------------------- helpers

    /** A consumer to start: a program, its arguments, extra environment and a display name. */
    static final class ConsumerSpec {
        final String program;
        final String[] args;
        final Map<String, String> env = new HashMap<>();
        String name;

        ConsumerSpec(String program, String... args) {
            this.program = program;
            this.args = args;
            this.name = program + (args.length == 0 ? "" : " " + String.join(" ", args));
        }

        ConsumerSpec env(String key, String value) {
            env.put(key, value);
            return this;
        }

        ConsumerSpec name(String name) {
            this.name = name;
            return this;
        }
    }

    static ConsumerSpec consumer(String program, String... args) {
        return new ConsumerSpec(program, args);
    }

    /** Starts the consumers together, then waits until each says it is ready. */
    List<ExampleProcess> startConsumers(ConsumerSpec... specs) throws Exception {
        List<ExampleProcess> started = new ArrayList<>();
        for (ConsumerSpec spec : specs) {
            started.add(start(spec.name, spec.env, spec.program, spec.args));
        }
        for (ExampleProcess p : started) {
            p.awaitLine(READY, "ready line", START);
        }
        return started;
    }

    /** Runs a producer to its end and checks it succeeded. */
    ExampleProcess run(String program, String... args) throws Exception {
        return runAll(List.<String[]>of(prepend(program, args))).get(0);
    }

    /** Runs producers at the same time, each {@code {program, args...}}, to their end; checks they succeeded. */
    List<ExampleProcess> runAll(List<String[]> commands) throws Exception {
        List<ExampleProcess> started = new ArrayList<>();
        for (String[] c : commands) {
            String[] args = java.util.Arrays.copyOfRange(c, 1, c.length);
            started.add(start(c[0] + (args.length == 0 ? "" : " " + String.join(" ", args)), Map.of(), c[0], args));
        }
        for (ExampleProcess p : started) {
            assertEquals(0, p.awaitExit(RUN), p.name() + " failed\n" + p.transcript());
        }
        return started;
    }

    private ExampleProcess start(String name, Map<String, String> extraEnv, String program, String... args) throws Exception {
        Map<String, String> env = new HashMap<>();
        env.put("AMQP_HOST", broker().host());
        env.put("AMQP_PORT", Integer.toString(broker().port()));
        env.putAll(extraEnv);
        ExampleProcess p = ExampleProcess.start(flavour() + " " + name, command(program, args), env);
        processes.add(p);
        return p;
    }

    private static String[] prepend(String first, String... rest) {
        String[] all = new String[rest.length + 1];
        all[0] = first;
        System.arraycopy(rest, 0, all, 1, rest.length);
        return all;
    }

    /** Waits for a condition over several processes' output; the failure shows all their output. */
    private static void awaitCondition(java.util.concurrent.Callable<Boolean> condition, String what, List<ExampleProcess> about) {
        // Any one of them can carry the wait; a dead worker fails it at once with its transcript.
        ExampleProcess first = about.get(0);
        try {
            first.awaitCondition(condition, what, DELIVERY);
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "\n" + about.stream().skip(1).map(ExampleProcess::transcript)
                    .collect(Collectors.joining("\n")), e);
        }
    }

    /** The bodies a consumer printed as " [x] Received 'body'", in order. */
    private static List<String> receivedBodies(ExampleProcess p) {
        return p.linesStartingWith(RECEIVED).stream()
                .map(l -> l.substring(RECEIVED.length()))
                .map(l -> l.startsWith("'") && l.endsWith("'") ? l.substring(1, l.length() - 1) : l)
                .toList();
    }

    /** Declares a named queue the way the tutorial does and empties it, in case a broker kept old messages. */
    void resetQueue(String name, boolean durable) throws Exception {
        try (Connection connection = broker().factory().newConnection();
             Channel channel = connection.createChannel()) {
            channel.queueDeclare(name, durable, false, false, null);
            channel.queuePurge(name);
        }
    }
}
