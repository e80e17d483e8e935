package io.warren.cli;

import io.warren.server.WarrenConfig;
import io.warren.server.config.ConfigException;
import io.warren.server.config.ConfigLocator;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * A command's settings once the options before and after the command are merged: where the
 * API is, the vhost, the output, the timeout. The config file is read only when --host,
 * --port, --username and --password do not say it all, with the broker's own parser
 * (broker-server's io.warren.server.config), so warrenctl reads warren.conf as the broker does.
 */
final class Ctx {
    static final int DEFAULT_TIMEOUT_SECONDS = 60;

    final GlobalOptions opts;
    final String vhost;
    final Output out;
    final int timeoutSeconds;
    private final String command;
    private final Map<String, String> env;
    private final Path installDir;
    private Target target;
    private Api api;

    Ctx(String command, GlobalOptions opts, Map<String, String> env, Path installDir) {
        this.command = command;
        this.opts = opts;
        this.env = env;
        this.installDir = installDir;
        this.vhost = opts.vhost == null ? "/" : opts.vhost;
        String f = opts.formatter == null ? "table" : opts.formatter;
        if (!f.equals("table") && !f.equals("json")) {
            throw new CliException(ExitCodes.USAGE, "Error: unsupported formatter '" + f
                    + "' (warrenctl has: json, table)");
        }
        if (opts.timeout != null && opts.timeout < 0) {
            throw new CliException(ExitCodes.USAGE, "Error: the timeout must be a number of seconds >= 0, got "
                    + opts.timeout);
        }
        this.timeoutSeconds = opts.timeout == null ? DEFAULT_TIMEOUT_SECONDS : opts.timeout;
        this.out = new Output(System.out, Boolean.TRUE.equals(opts.quiet), Boolean.TRUE.equals(opts.silent),
                f.equals("json"));
    }

    Target target() {
        if (target == null) {
            target = resolve();
        }
        return target;
    }

    Api api() {
        if (api == null) {
            Target t = target();
            if (timeoutSeconds == 0) {
                // rabbitmqctl -t 0: the operation times out at once.
                throw new CliException(ExitCodes.TEMPFAIL, "Error: operation " + command + " on node " + t.address()
                        + " timed out. Timeout value used: 0");
            }
            api = new Api(t, Duration.ofSeconds(timeoutSeconds), command);
        }
        return api;
    }

    private Target resolve() {
        String host = opts.host;
        Integer port = opts.port;
        String user = opts.username;
        String pass = opts.password;
        if (port != null && (port < 1 || port > 65535)) {
            throw new CliException(ExitCodes.USAGE, "Error: --port must be 1..65535, got " + port);
        }
        if (host == null || port == null || user == null || pass == null) {
            ConfigLocator.Choice choice = ConfigLocator.choose(opts.config, env, installDir);
            WarrenConfig c;
            try {
                c = ConfigLocator.load(choice, installDir);
            } catch (ConfigException e) {
                throw new CliException(78, "Error: " + e.getMessage());
            }
            if (host == null) {
                host = c.managementIp();
                // A wildcard listen address is reached on loopback.
                if (host.equals("0.0.0.0")) {
                    host = "127.0.0.1";
                } else if (host.equals("::") || host.equals("0:0:0:0:0:0:0:0")) {
                    host = "::1";
                }
            }
            if (port == null) {
                if (c.managementPort() == WarrenConfig.MANAGEMENT_DISABLED) {
                    throw new CliException(ExitCodes.UNAVAILABLE, "Error: the management API is off in "
                            + choice.file() + " (management.enabled = false); warrenctl needs it");
                }
                if (c.managementPort() == 0) {
                    throw new CliException(ExitCodes.USAGE, "Error: " + choice.file()
                            + " has management.tcp.port = 0 (an ephemeral port): give --port");
                }
                port = c.managementPort();
            }
            if (user == null) {
                user = c.defaultUser();
            }
            if (pass == null) {
                pass = c.defaultPass();
            }
        }
        return new Target(host, port, user, pass);
    }
}
