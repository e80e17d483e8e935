package io.warren.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.UnmatchedArgumentException;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * warrenctl: rabbitmqctl's commands, arguments, output and exit codes, over warren's management
 * HTTP API. It never opens the broker's data files.
 *
 * <pre>warrenctl [global options] COMMAND [arguments] [global options]</pre>
 */
@Command(name = "warrenctl", sortOptions = false,
        description = "Manages a running warren broker through its management HTTP API (rabbitmqctl's commands).",
        footer = {"", "Exit codes: 0 ok, 64 usage, 65 bad data, 69 broker unreachable, 70 refused or failed,",
                "75 timed out, 77 wrong credentials, 78 bad config file.",
                "Use 'warrenctl help <command>' to learn more about a specific command."})
public final class Warrenctl implements Runnable {
    @Mixin
    GlobalOptions before;

    /**
     * The commands, in the order {@code warrenctl help} lists them. Added by {@link #commandLine}
     * rather than named in the annotation: picocli builds the model of every command it is given
     * (their options and mixins, by reflection), so a run of one command is given that command
     * alone (see {@link #soleCommand}): a list_queues took 0.74 CPU-seconds instead of 0.90.
     */
    static final List<Class<?>> COMMANDS = List.of(
            Commands.Status.class,
            Commands.ClusterStatus.class,
            Commands.ForgetClusterNode.class,
            Commands.JoinCluster.class,
            Commands.Rebalance.class,
            Commands.AddMember.class,
            Commands.DeleteMember.class,
            Commands.Grow.class,
            Commands.Shrink.class,
            Commands.CheckIfNodeIsQuorumCritical.class,
            Commands.ListQueues.class,
            Commands.ListExchanges.class,
            Commands.ListBindings.class,
            Commands.ListDelayed.class,
            Commands.ListConnections.class,
            Commands.ListChannels.class,
            Commands.ListConsumers.class,
            Commands.ListVhosts.class,
            Commands.DeleteQueue.class,
            Commands.PurgeQueue.class,
            Commands.CloseConnection.class,
            Commands.Environment.class,
            Commands.SetVmMemoryHighWatermark.class,
            Commands.Eval.class,
            Commands.CloseAllConnections.class,
            AccessCommands.AddUser.class,
            AccessCommands.DeleteUser.class,
            AccessCommands.ChangePassword.class,
            AccessCommands.ClearPassword.class,
            AccessCommands.AuthenticateUser.class,
            AccessCommands.SetUserTags.class,
            AccessCommands.ListUsers.class,
            AccessCommands.AddVhost.class,
            AccessCommands.DeleteVhost.class,
            AccessCommands.SetPermissions.class,
            AccessCommands.ClearPermissions.class,
            AccessCommands.ListPermissions.class,
            AccessCommands.ListUserPermissions.class,
            AccessCommands.SetTopicPermissions.class,
            AccessCommands.ClearTopicPermissions.class,
            AccessCommands.ListTopicPermissions.class,
            AccessCommands.ListUserTopicPermissions.class,
            PolicyCommands.SetPolicy.class,
            PolicyCommands.ClearPolicy.class,
            PolicyCommands.ListPolicies.class,
            PolicyCommands.SetOperatorPolicy.class,
            PolicyCommands.ClearOperatorPolicy.class,
            PolicyCommands.ListOperatorPolicies.class,
            LifecycleCommands.StopApp.class,
            LifecycleCommands.StartApp.class,
            LifecycleCommands.Stop.class,
            LifecycleCommands.SetDiskFreeLimit.class,
            Commands.ExportDefinitions.class,
            Commands.ImportDefinitions.class,
            Commands.Help.class);

    /** The install dir (bin/warrenctl sets warren.home): where etc/warren.conf is looked for. */
    static Path installDir() {
        String home = System.getProperty("warren.home");
        return Path.of(home == null ? "." : home).toAbsolutePath().normalize();
    }

    @Override public void run() {
        throw new CliException(ExitCodes.USAGE, "Error: no command given. Use 'warrenctl help' for the list of commands.");
    }

    public static void main(String[] args) {
        System.exit(run(args, System.getenv()));
    }

    /** Runs one invocation; returns its exit code. */
    static int run(String[] args, Map<String, String> env) {
        CommandLine cl = commandLine(env, soleCommand(args));
        return cl.execute(args);
    }

    /** The command line with every command (help, usage errors, tests). */
    static CommandLine commandLine(Map<String, String> env) {
        return commandLine(env, null);
    }

    /** The command line with command {@code only}, or with every command when null. */
    static CommandLine commandLine(Map<String, String> env, Class<?> only) {
        Commands.env = env;
        CommandLine cl = new CommandLine(new Warrenctl());
        // before the settings below: they reach the commands added so far only
        for (Class<?> c : COMMANDS) {
            if (only == null || c == only) {
                cl.addSubcommand(c);
            }
        }
        cl.setUsageHelpWidth(100);
        cl.setExecutionExceptionHandler((e, line, parsed) -> {
            if (e instanceof CliException c) {
                if (!c.getMessage().isEmpty()) { // a failed check with -s: its exit code only
                    line.getErr().println(c.getMessage());
                    line.getErr().flush();
                }
                return c.code;
            }
            line.getErr().println("Error: " + e);
            return ExitCodes.SOFTWARE;
        });
        cl.setParameterExceptionHandler(Warrenctl::usageError);
        cl.setExitCodeExceptionMapper(t -> t instanceof CliException c ? c.code : ExitCodes.SOFTWARE);
        return cl;
    }

    /** Unknown command or option, wrong arguments: one line naming the problem, then a hint; 64. */
    private static int usageError(ParameterException e, String[] args) {
        CommandLine cmd = e.getCommandLine();
        PrintWriter err = cmd.getErr();
        if (e instanceof UnmatchedArgumentException u && cmd.getParent() == null && !u.getUnmatched().isEmpty()
                && !u.getUnmatched().get(0).startsWith("-")) {
            err.println("Error: command '" + u.getUnmatched().get(0) + "' not found. "
                    + "Use 'warrenctl help' for the list of commands.");
        } else {
            err.println("Error (argument validation): " + e.getMessage());
            String name = cmd.getCommandName();
            err.println(cmd.getParent() == null ? "Use 'warrenctl help' for usage."
                    : "Use 'warrenctl help " + name + "' for its usage.");
        }
        err.flush();
        return ExitCodes.USAGE;
    }

    /**
     * The command that {@code args} run, when it can be told from them beforehand: the first
     * argument that is neither a global option nor the value of one, when it names a command
     * other than help. Null otherwise (no command, an unknown one, help, an option before the
     * command that is not one of the global options' plain forms, such as --help or clustered
     * flags): those get every command, for the list, the usage and "not found" they print.
     */
    static Class<?> soleCommand(String[] args) {
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.startsWith("-")) {
                int eq = a.indexOf('=');
                if (eq > 0 && VALUED_OPTIONS.contains(a.substring(0, eq))) {
                    continue;
                }
                if (VALUED_OPTIONS.contains(a)) {
                    i++; // its value, never the command
                } else if (!FLAGS.contains(a)) {
                    return null;
                }
                continue;
            }
            for (Class<?> c : COMMANDS) {
                Command command = c.getAnnotation(Command.class);
                if (command != null && command.name().equals(a)) {
                    return c == Commands.Help.class ? null : c;
                }
            }
            return null;
        }
        return null;
    }

    /** The global options that take a value ("--vhost X"). */
    private static final java.util.Set<String> VALUED_OPTIONS = globalOptions(true);
    /** The global options that take none ("-q"), but the help ones. */
    private static final java.util.Set<String> FLAGS = globalOptions(false);

    private static java.util.Set<String> globalOptions(boolean valued) {
        java.util.Set<String> names = new java.util.HashSet<>();
        for (java.lang.reflect.Field f : GlobalOptions.class.getDeclaredFields()) {
            CommandLine.Option o = f.getAnnotation(CommandLine.Option.class);
            boolean flag = f.getType() == boolean.class || f.getType() == Boolean.class;
            if (o != null && !o.usageHelp() && !o.versionHelp() && flag != valued) {
                names.addAll(List.of(o.names()));
            }
        }
        return java.util.Set.copyOf(names);
    }

    static List<String> commandNames(CommandLine top) {
        return List.copyOf(top.getSubcommands().keySet());
    }
}
