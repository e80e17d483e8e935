package io.warren.cli;

/**
 * rabbitmqctl's exit codes (its RabbitMQ.CLI.Core.ExitCodes, from BSD sysexits.h), so scripts
 * written against rabbitmqctl read warrenctl's the same way.
 */
final class ExitCodes {
    static final int OK = 0;
    /** Bad usage: unknown command or option, wrong number of arguments, unknown column. */
    static final int USAGE = 64;
    /** Bad input data: a value out of range (a watermark above 1.0), a vhost that does not exist. */
    static final int DATAERR = 65;
    /** The broker (its management API) cannot be reached. */
    static final int UNAVAILABLE = 69;
    /** The broker refused or failed the operation. */
    static final int SOFTWARE = 70;
    /** The operation timed out (-t). */
    static final int TEMPFAIL = 75;
    /** Wrong credentials, or a user without the right tag. rabbitmqctl has no passwords (it
     *  reports a cookie mismatch as 69); 77 (EX_NOPERM) lets scripts tell it from a broker that is down. */
    static final int NOPERM = 77;

    private ExitCodes() {
    }
}
