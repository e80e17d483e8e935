package io.warren.cli;

import picocli.CommandLine.Option;

/**
 * The options every command takes, before or after the command name (rabbitmqctl allows both):
 * mixed into the top command and into each subcommand; {@link #merge} prefers the value given
 * after the command.
 */
final class GlobalOptions {
    @Option(names = "--host", paramLabel = "HOST", description = "management API host (default: the config's management.tcp.ip)")
    String host;
    @Option(names = "--port", paramLabel = "PORT", description = "management API port (default: the config's management.tcp.port)")
    Integer port;
    @Option(names = "--username", paramLabel = "USER", description = "user (default: the config's default_user)")
    String username;
    @Option(names = "--password", paramLabel = "PASS", description = "password (default: the config's default_pass)")
    String password;
    @Option(names = "--config", paramLabel = "FILE", description = "the broker's config file (default: $WARREN_CONFIG, else <install>/etc/warren.conf)")
    String config;
    @Option(names = {"-p", "--vhost"}, paramLabel = "VHOST", description = "virtual host (default /)")
    String vhost;
    @Option(names = {"-q", "--quiet"}, description = "no informational messages")
    Boolean quiet;
    @Option(names = {"-s", "--silent"}, description = "no informational messages and no table header row")
    Boolean silent;
    @Option(names = "--formatter", paramLabel = "json|table", description = "output format (default table)")
    String formatter;
    @Option(names = {"-n", "--node"}, paramLabel = "NODE", description = "accepted for rabbitmqctl compatibility; a single node answers to any name")
    String node;
    @Option(names = {"-t", "--timeout"}, paramLabel = "SECONDS", description = "operation timeout in seconds (default 60)")
    Integer timeout;
    @Option(names = {"-?", "--help"}, usageHelp = true, description = "this help")
    boolean help;

    /** {@code after}'s values where given, else {@code before}'s. */
    static GlobalOptions merge(GlobalOptions before, GlobalOptions after) {
        GlobalOptions m = new GlobalOptions();
        m.host = pick(after.host, before.host);
        m.port = pick(after.port, before.port);
        m.username = pick(after.username, before.username);
        m.password = pick(after.password, before.password);
        m.config = pick(after.config, before.config);
        m.vhost = pick(after.vhost, before.vhost);
        m.quiet = pick(after.quiet, before.quiet);
        m.silent = pick(after.silent, before.silent);
        m.formatter = pick(after.formatter, before.formatter);
        m.node = pick(after.node, before.node);
        m.timeout = pick(after.timeout, before.timeout);
        return m;
    }

    private static <T> T pick(T a, T b) {
        return a != null ? a : b;
    }
}
