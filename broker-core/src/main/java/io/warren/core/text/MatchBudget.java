package io.warren.core.text;

import java.util.regex.Pattern;

/**
 * Regular-expression matching with a budget of character reads, for patterns and inputs where
 * one side is an operator's or a client's choice: a backtracking pattern (e.g. {@code (.*a){25}b})
 * can take minutes on a short input, and must not stall an event loop or the API. Each character
 * the engine reads costs one unit; past the budget, {@link #find} throws {@link Exceeded}. One
 * budget may span many matches (all the names of one API listing). Not thread-safe.
 */
public final class MatchBudget {
    /** The budget ran out: the match was abandoned. */
    public static final class Exceeded extends RuntimeException {
        Exceeded() {
            super(null, null, false, false);
        }
    }

    private long left;

    public MatchBudget(long reads) {
        this.left = reads;
    }

    /** An unanchored search for {@code p} in {@code input} ({@code Matcher.find}), charged to this budget. */
    public boolean find(Pattern p, String input) {
        try {
            return p.matcher(new Chars(input, 0, input.length())).find();
        } catch (StackOverflowError e) {
            // Deep recursion in the engine: as expensive as running out.
            throw new Exceeded();
        }
    }

    /** The input as the engine reads it: every read costs one unit of the budget. */
    private final class Chars implements CharSequence {
        private final String s;
        private final int offset;
        private final int length;

        Chars(String s, int offset, int length) {
            this.s = s;
            this.offset = offset;
            this.length = length;
        }

        @Override public int length() {
            return length;
        }

        @Override public char charAt(int index) {
            if (--left < 0) {
                throw new Exceeded();
            }
            return s.charAt(offset + index);
        }

        @Override public CharSequence subSequence(int start, int end) {
            return new Chars(s, offset + start, end - start);
        }

        @Override public String toString() {
            return s.substring(offset, offset + length);
        }
    }
}
