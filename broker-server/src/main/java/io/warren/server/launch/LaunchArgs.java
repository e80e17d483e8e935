package io.warren.server.launch;

/**
 * The command line of {@code WarrenMain}: {@code [--config FILE | --config=FILE]} and one
 * optional mode flag. The print modes exist for {@code bin/warren}, which needs the data dir
 * (for the pid file) and the AMQP address (to wait for the port) without parsing the config
 * itself: one parser, in Java, is the only source of truth.
 */
public record LaunchArgs(String config, Mode mode) {
    public static final String USAGE =
            "usage: WarrenMain [--config FILE] [--print-data-dir | --print-launch-info | --help]";

    public enum Mode {
        /** Start the broker and serve until the JVM is asked to stop. */
        SERVE,
        /** Print the absolute data dir and exit. */
        PRINT_DATA_DIR,
        /** Print {@code key=value} lines for bin/warren (data_dir, pid_file, log_file, amqp_host, amqp_port). */
        PRINT_LAUNCH_INFO,
        HELP
    }

    /** A command line that makes no sense; the message is one line for stderr. */
    public static final class UsageException extends Exception {
        UsageException(String message) {
            super(message, null, false, false);
        }
    }

    public static LaunchArgs parse(String... args) throws UsageException {
        String config = null;
        Mode mode = Mode.SERVE;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--config")) {
                if (i + 1 >= args.length || args[i + 1].isEmpty()) {
                    throw new UsageException("--config needs a file");
                }
                config = setOnce(config, args[++i]);
            } else if (a.startsWith("--config=")) {
                String file = a.substring("--config=".length());
                if (file.isEmpty()) {
                    throw new UsageException("--config needs a file");
                }
                config = setOnce(config, file);
            } else {
                Mode m = switch (a) {
                    case "--print-data-dir" -> Mode.PRINT_DATA_DIR;
                    case "--print-launch-info" -> Mode.PRINT_LAUNCH_INFO;
                    case "--help", "-h" -> Mode.HELP;
                    default -> throw new UsageException("unknown argument '" + a + "'");
                };
                if (mode != Mode.SERVE && mode != m) {
                    throw new UsageException("only one of --print-data-dir, --print-launch-info, --help");
                }
                mode = m;
            }
        }
        return new LaunchArgs(config, mode);
    }

    private static String setOnce(String current, String value) throws UsageException {
        if (current != null) {
            throw new UsageException("--config given twice");
        }
        return value;
    }
}
