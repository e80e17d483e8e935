package io.warren.server.flow;

/**
 * A limit given either as a fraction of a base (RabbitMQ's {@code .relative} keys) or in bytes
 * ({@code .absolute}).
 */
public sealed interface Watermark {
    /** The limit in bytes, given the base a relative watermark is a fraction of. */
    long bytes(long base);

    /** A fraction of the base, e.g. 0.4. */
    record Relative(double fraction) implements Watermark {
        public Relative {
            if (!(fraction >= 0) || Double.isInfinite(fraction)) {
                throw new IllegalArgumentException("a relative watermark must be a number >= 0, got " + fraction);
            }
        }

        @Override public long bytes(long base) {
            return (long) (fraction * base);
        }

        @Override public String toString() {
            return Double.toString(fraction);
        }
    }

    /** A number of bytes. */
    record Absolute(long limit) implements Watermark {
        public Absolute {
            if (limit < 0) {
                throw new IllegalArgumentException("an absolute watermark must be >= 0 bytes, got " + limit);
            }
        }

        @Override public long bytes(long base) {
            return limit;
        }

        @Override public String toString() {
            return limit + " bytes";
        }
    }
}
