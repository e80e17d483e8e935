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

    private static final Pattern DECIMAL = Pattern.compile("[0-9]{1,9}(\\.[0-9]{1,9})?|\\.[0-9]{1,9}");
    private static final Pattern AMOUNT = Pattern.compile("([0-9]{1,19})\\s*([A-Za-z]*)");

    /** A decimal number min..max, e.g. {@code 0.4}. */
    static double fraction(String value, double min, double max) throws BadValueException {
        String expected = "expected a number " + min + ".." + max;
        if (!DECIMAL.matcher(value).matches()) {
            throw new BadValueException(expected);
        }
        double d = Double.parseDouble(value);
        if (d < min || d > max) {
            throw new BadValueException(expected);
        }
        return d;
    }

    /**
     * An amount of memory or disk in RabbitMQ's units: bytes, or a number followed by k / kiB
     * / M / MiB / G / GiB / T / TiB (powers of 1024) or kB / MB / GB / TB (powers of 1000).
     */
    static long bytes(String value) throws BadValueException {
        String expected = "expected bytes, or a number with a unit: kB, MB, GB, TB (1000s) or k, kiB, M, MiB, "
                + "G, GiB, T, TiB (1024s), e.g. 512MB";
        java.util.regex.Matcher m = AMOUNT.matcher(value);
        if (!m.matches()) {
            throw new BadValueException(expected);
        }
        long unit = switch (m.group(2)) {
            case "" -> 1L;
            case "k", "K", "kiB", "KiB" -> 1L << 10;
            case "M", "MiB" -> 1L << 20;
            case "G", "GiB" -> 1L << 30;
            case "T", "TiB" -> 1L << 40;
            case "kB", "KB" -> 1_000L;
            case "MB" -> 1_000_000L;
            case "GB" -> 1_000_000_000L;
            case "TB" -> 1_000_000_000_000L;
            default -> throw new BadValueException(expected);
        };
        long n;
        try {
            n = Math.multiplyExact(Long.parseLong(m.group(1)), unit);
        } catch (ArithmeticException | NumberFormatException tooBig) {
            throw new BadValueException(expected);
        }
        return n;
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
