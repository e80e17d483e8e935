package io.warren.server.config;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.regex.Pattern;

/** Parsers for the value kinds of {@code warren.conf}; each names what it expected on failure. */
final class Values {
    private static final Pattern DIGITS = Pattern.compile("[0-9]{1,19}");
    private static final Pattern IPV4 =
            Pattern.compile("(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}");
    // Hex groups, colons, an optional embedded IPv4 tail and zone id; anything else is not a
    // literal and would send InetAddress to DNS, which a config parser must never do.
    private static final Pattern IPV6_CHARS = Pattern.compile("[0-9A-Fa-f:.]+(%[0-9A-Za-z_.-]+)?");

    private Values() {
    }

    static long longIn(String value, long min, long max) throws BadValueException {
        String expected = "expected an integer " + min + ".." + max;
        if (!DIGITS.matcher(value).matches()) {
            throw new BadValueException(expected);
        }
        long n;
        try {
            n = Long.parseLong(value);
        } catch (NumberFormatException tooBig) {
            throw new BadValueException(expected);
        }
        if (n < min || n > max) {
            throw new BadValueException(expected);
        }
        return n;
    }

    static int intIn(String value, int min, int max) throws BadValueException {
        return (int) longIn(value, min, max);
    }

    static boolean bool(String value) throws BadValueException {
        return switch (value) {
            case "true" -> true;
            case "false" -> false;
            default -> throw new BadValueException("expected true or false");
        };
    }

    /** An IP literal (v4, or v6 with or without brackets), returned without brackets. */
    static String ip(String value) throws BadValueException {
        String v = value.startsWith("[") && value.endsWith("]") ? value.substring(1, value.length() - 1) : value;
        if (IPV4.matcher(v).matches()) {
            return v;
        }
        if (v.contains(":") && IPV6_CHARS.matcher(v).matches()) {
            try {
                InetAddress.getByName(v);
                return v;
            } catch (UnknownHostException notLiteral) {
                // falls through to the error
            }
        }
        throw new BadValueException("expected an IP address");
    }

    /** A path; relative paths resolve against {@code base} (the config file's folder). */
    static Path path(String value, Path base) throws BadValueException {
        try {
            return base.resolve(value).normalize();
        } catch (InvalidPathException e) {
            throw new BadValueException("expected a file system path");
        }
    }
}
