package io.warren.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.warren.server.config.ConfigParser;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * rabbitmqctl's node commands: {@code stop_app}, {@code start_app}, {@code stop} and
 * {@code set_disk_free_limit}, over warren's own {@code /api/warren/...} endpoints (RabbitMQ runs
 * them over Erlang distribution; its HTTP API has no path for them). Banners as rabbitmqctl
 * 3.10 prints them, with warren's node name.
 */
final class LifecycleCommands {
    private LifecycleCommands() {
    }

    /** GET /api/warren/app: {"node": ..., "running": ...}; also proves the broker is reachable. */
    static JsonNode app(Api api) {
        Api.Response r = api.get("/api/warren/app");
        if (r.status() == 404) {
            throw new CliException(ExitCodes.SOFTWARE, "Error: this broker has no lifecycle endpoints "
                    + "(an older warren?)");
        }
        if (r.status() != 200) {
            throw new CliException(ExitCodes.SOFTWARE, "Error: " + r.reason());
        }
        return r.body();
    }

    /** A POST that must answer 2xx (the API's reason otherwise). */
    static void post(Api api, String path) {
        Api.Response r = api.send("POST", path, null, Map.of());
        if (r.status() / 100 != 2) {
            throw new CliException(ExitCodes.SOFTWARE, "Error: " + r.reason());
        }
    }

    @Command(name = "stop_app",
            description = {"Stops the application (AMQP side); the process and its management API stay up.",
                    "Closes the AMQP (and TLS) listeners and every client connection with 320 CONNECTION_FORCED,",
                    "stops the queues and closes the message and definition stores. Non-durable queues and",
                    "exchanges and transient messages are dropped; durable ones and persistent messages come back",
                    "with start_app. Until then, commands that need queues, exchanges or connections fail with 69.",
                    "Stopping a stopped application is a no-op."})
    static final class StopApp extends Commands.Base {
        @Override int exec(Ctx c) {
            Api api = c.api();
            JsonNode app = app(api);
            c.out.banner("Stopping rabbit application on node " + app.path("node").asText() + " ...");
            post(api, "/api/warren/stop_app");
            return ExitCodes.OK;
        }
    }

    @Command(name = "start_app",
            description = {"Starts the application again after stop_app.",
                    "Reopens the stores, recovers durable exchanges, queues, bindings and persistent messages as a",
                    "start does, and listens on the same ports again. Starting a running application is a no-op."})
    static final class StartApp extends Commands.Base {
        @Override int exec(Ctx c) {
            Api api = c.api();
            JsonNode app = app(api);
            c.out.banner("Starting node " + app.path("node").asText() + " ...");
            post(api, "/api/warren/start_app");
            return ExitCodes.OK;
        }
    }

    @Command(name = "stop",
            description = {"Stops the broker and its process, as bin/warren stop does.",
                    "Client connections are closed with 320 CONNECTION_FORCED, the store is closed, the pid file",
                    "removed. Returns once the management API no longer answers and, on this machine, the process",
                    "is gone (-t bounds the wait; 75 when it passes)."})
    static final class Stop extends Commands.Base {
        /** How often the port is probed while waiting for the broker to go. */
        private static final long PROBE_INTERVAL_MS = 100;

        @Override int exec(Ctx c) {
            Api api = c.api();
            JsonNode app = app(api);
            c.out.banner("Stopping and halting node " + app.path("node").asText() + " ...");
            long deadline = System.nanoTime() + c.timeoutSeconds * 1_000_000_000L;
            try {
                post(api, "/api/warren/stop");
            } catch (CliException e) {
                // The broker may close the API before its 202 is read: it was reachable a moment
                // ago (GET above), so a lost connection here is the stop under way.
                if (e.code != ExitCodes.UNAVAILABLE) {
                    throw e;
                }
            }
            Target t = c.target();
            // The API closes first in a stop; on this machine also wait for the process to be gone
            // (store closed, pid file removed), as bin/warren stop does.
            long pid = local(t) ? app.path("pid").asLong(-1) : -1;
            while (answers(t) || pid > 0 && ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
                if (System.nanoTime() > deadline) {
                    throw new CliException(ExitCodes.TEMPFAIL, "Error: operation stop on node " + t.address()
                            + " timed out: it still answers. Timeout value used: " + c.timeoutSeconds);
                }
                try {
                    Thread.sleep(PROBE_INTERVAL_MS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new CliException(ExitCodes.SOFTWARE, "Error: interrupted");
                }
            }
            return ExitCodes.OK;
        }

        private static boolean local(Target t) {
            try {
                java.net.InetAddress a = java.net.InetAddress.getByName(t.host());
                return a.isLoopbackAddress() || java.net.NetworkInterface.getByInetAddress(a) != null;
            } catch (IOException e) {
                return false;
            }
        }

        private static boolean answers(Target t) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(t.host(), t.port()), 1000);
                return true;
            } catch (IOException e) {
                return false;
            }
        }
    }

    @Command(name = "set_disk_free_limit",
            customSynopsis = "warrenctl set_disk_free_limit <disk_limit> | mem_relative <fraction>",
            description = {"Sets the disk free limit (at once; not written to the config file).",
                    "Publishers are blocked while the data dir's disk has less free space than this.",
                    "<disk_limit>: bytes, or with units, e.g. 50MB, 1GB, 512MiB",
                    "mem_relative <fraction>: a multiple of the machine's total RAM, e.g. 1.5"})
    static final class SetDiskFreeLimit extends Commands.Base {
        @Parameters(index = "0..1", arity = "1..2", paramLabel = "<disk_limit> | mem_relative <fraction>")
        List<String> args;

        @Override int exec(Ctx c) {
            Map<String, Object> body = new LinkedHashMap<>();
            String shown;
            if (args.size() == 1) {
                try {
                    ConfigParser.bytes(args.get(0));
                } catch (IllegalArgumentException e) {
                    throw new CliException(ExitCodes.USAGE, "Error (argument validation): Bad argument: '"
                            + args.get(0) + "' is not a disk limit: " + e.getMessage());
                }
                body.put("absolute", args.get(0));
                shown = args.get(0) + " bytes";
            } else if (args.get(0).equals("mem_relative")) {
                double f;
                try {
                    f = Double.parseDouble(args.get(1));
                } catch (NumberFormatException e) {
                    f = Double.NaN;
                }
                if (!(f >= 0.0 && f <= 100.0)) {
                    throw new CliException(ExitCodes.USAGE, "Error (argument validation): Bad argument: "
                            + "mem_relative takes a number 0.0..100.0 (a multiple of the total RAM), got '"
                            + args.get(1) + "'");
                }
                body.put("relative", f);
                shown = args.get(1) + " times the total RAM";
            } else {
                throw new CliException(ExitCodes.USAGE, "Error (argument validation): expected <disk_limit> or "
                        + "mem_relative <fraction>, got '" + String.join(" ", args) + "'");
            }
            Api api = c.api();
            c.out.banner("Setting disk free limit on " + c.target().address() + " to " + shown + " ...");
            Api.Response r = api.send("PUT", "/api/warren/disk_free_limit", body, Map.of());
            if (r.status() == 404 || r.status() == 405) {
                throw new CliException(ExitCodes.SOFTWARE, "Error: this broker has no run-time disk limit endpoint "
                        + "(an older warren?)");
            }
            if (r.status() != 200) {
                throw new CliException(ExitCodes.DATAERR, "Error: " + r.reason());
            }
            return ExitCodes.OK;
        }
    }
}
