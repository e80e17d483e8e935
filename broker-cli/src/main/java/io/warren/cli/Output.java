package io.warren.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.PrintStream;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * rabbitmqctl's output: an informational banner ("Listing queues for vhost / ...") unless -q
 * or -s; then, for the table formatter, a header row (unless -s) and tab-separated rows — both
 * only when there is at least one row — or, for --formatter json, a JSON array laid out as
 * rabbitmqctl lays it out ("[", one object per line with a leading comma, "]") and no banner.
 */
final class Output {
    final PrintStream out;
    final boolean quiet;
    final boolean silent;
    final boolean json;

    Output(PrintStream out, boolean quiet, boolean silent, boolean json) {
        this.out = out;
        this.quiet = quiet;
        this.silent = silent;
        this.json = json;
    }

    /** An informational line: not with -q, -s or the JSON formatter. */
    void banner(String line) {
        if (!quiet && !silent && !json) {
            out.println(line);
        }
    }

    /** A table (or JSON array) of {@code rows}, each a map from column to value in column order. */
    void rows(List<String> columns, List<Map<String, JsonNode>> rows) {
        if (json) {
            StringBuilder sb = new StringBuilder("[\n");
            for (int i = 0; i < rows.size(); i++) {
                ObjectNode o = Api.JSON.createObjectNode();
                for (String c : columns) {
                    JsonNode v = rows.get(i).get(c);
                    o.set(c, v == null || v.isMissingNode() ? o.nullNode() : v);
                }
                sb.append(i == 0 ? "" : ",").append(write(o)).append('\n');
            }
            out.print(sb.append("]\n"));
            return;
        }
        if (rows.isEmpty()) {
            return;
        }
        StringBuilder sb = new StringBuilder();
        if (!silent) {
            sb.append(String.join("\t", columns)).append('\n');
        }
        for (Map<String, JsonNode> row : rows) {
            for (int i = 0; i < columns.size(); i++) {
                if (i > 0) {
                    sb.append('\t');
                }
                sb.append(cell(row.get(columns.get(i))));
            }
            sb.append('\n');
        }
        out.print(sb);
    }

    /**
     * rabbitmq-queues' pretty table: a box around a header row (none with -s) and the rows, drawn
     * with Unicode's box characters (what its DEC line-drawing codes show on a terminal), or with
     * + - | where the output's charset has none (Java 17 writes in the locale's: ASCII under LANG=C).
     */
    void boxed(List<String> columns, List<List<String>> rows) {
        int[] w = new int[columns.size()];
        for (int i = 0; i < w.length; i++) {
            w[i] = columns.get(i).length();
            for (List<String> row : rows) {
                w[i] = Math.max(w[i], row.get(i).length());
            }
        }
        String stdout = System.getProperty("sun.stdout.encoding");
        java.nio.charset.Charset cs = stdout != null && java.nio.charset.Charset.isSupported(stdout)
                ? java.nio.charset.Charset.forName(stdout) : java.nio.charset.Charset.defaultCharset();
        boolean unicode = cs.newEncoder().canEncode("\u250c\u2500\u2502");
        char bar = unicode ? '\u2502' : '|';
        char dash = unicode ? '\u2500' : '-';
        StringBuilder sb = new StringBuilder();
        rule(sb, w, dash, unicode ? "\u250c\u252c\u2510" : "+++");
        if (!silent) {
            line(sb, w, columns, bar);
            rule(sb, w, dash, unicode ? "\u251c\u253c\u2524" : "+++");
        }
        for (List<String> row : rows) {
            line(sb, w, row, bar);
        }
        rule(sb, w, dash, unicode ? "\u2514\u2534\u2518" : "+++");
        out.print(sb);
    }

    /** A horizontal rule; {@code corners}: left, crossing, right. */
    private static void rule(StringBuilder sb, int[] w, char dash, String corners) {
        sb.append(corners.charAt(0));
        for (int i = 0; i < w.length; i++) {
            sb.append(String.valueOf(dash).repeat(w[i] + 2)).append(corners.charAt(i < w.length - 1 ? 1 : 2));
        }
        sb.append('\n');
    }

    private static void line(StringBuilder sb, int[] w, List<String> cells, char bar) {
        sb.append(bar);
        for (int i = 0; i < w.length; i++) {
            String v = cells.get(i);
            sb.append(' ').append(v).append(" ".repeat(w[i] - v.length() + 1)).append(bar);
        }
        sb.append('\n');
    }

    static String write(JsonNode n) {
        try {
            return Api.JSON.writeValueAsString(n);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * A table cell as rabbitmqctl prints it: strings, numbers and booleans as they are; tables
     * (arguments, client_properties) in its Erlang-ish form {@code [{"key",value},...]} with
     * strings quoted inside.
     */
    static String cell(JsonNode v) {
        if (v == null || v.isMissingNode() || v.isNull()) {
            return "";
        }
        if (v.isContainerNode()) {
            return nested(v);
        }
        return v.asText();
    }

    private static String nested(JsonNode v) {
        if (v.isObject()) {
            StringBuilder sb = new StringBuilder("[");
            Iterator<Map.Entry<String, JsonNode>> it = v.fields();
            while (it.hasNext()) {
                Map.Entry<String, JsonNode> e = it.next();
                sb.append("{").append(quote(e.getKey())).append(',').append(nested(e.getValue())).append('}');
                if (it.hasNext()) {
                    sb.append(',');
                }
            }
            return sb.append(']').toString();
        }
        if (v.isArray()) {
            StringBuilder sb = new StringBuilder("[");
            for (int i = 0; i < v.size(); i++) {
                sb.append(i == 0 ? "" : ",").append(nested(v.get(i)));
            }
            return sb.append(']').toString();
        }
        if (v.isTextual()) {
            return quote(v.asText());
        }
        if (v.isNull()) {
            return "undefined";
        }
        return v.asText();
    }

    private static String quote(String s) {
        return '"' + s.replace("\\", "\\\\").replace("\"", "\\\"") + '"';
    }
}
