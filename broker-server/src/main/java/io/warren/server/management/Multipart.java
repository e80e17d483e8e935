package io.warren.server.management;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Locale;

/**
 * Just enough of multipart/form-data (RFC 7578) to take one field out of an upload, as the
 * management UI's "Upload broker definitions" form sends the file.
 */
final class Multipart {
    private Multipart() {
    }

    /** The content of the part named {@code name}; 400 when the body has no such part or no boundary. */
    static byte[] field(byte[] body, String contentType, String name) {
        String boundary = boundary(contentType);
        byte[] delimiter = ("--" + boundary).getBytes(StandardCharsets.ISO_8859_1);
        byte[] next = ("\r\n--" + boundary).getBytes(StandardCharsets.ISO_8859_1);
        byte[] blank = "\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1);
        int pos = indexOf(body, delimiter, 0);
        while (pos >= 0) {
            int start = pos + delimiter.length;
            if (start + 1 < body.length && body[start] == '-' && body[start + 1] == '-') {
                break; // the closing delimiter
            }
            int headersEnd = indexOf(body, blank, start);
            if (headersEnd < 0) {
                break;
            }
            String headers = new String(body, start, headersEnd - start, StandardCharsets.ISO_8859_1);
            int contentStart = headersEnd + blank.length;
            int end = indexOf(body, next, contentStart);
            if (end < 0) {
                break;
            }
            if (named(headers, name)) {
                return Arrays.copyOfRange(body, contentStart, end);
            }
            pos = end + 2;
        }
        throw ApiException.badRequest("a multipart/form-data upload of definitions needs a '" + name + "' field");
    }

    private static String boundary(String contentType) {
        for (String p : contentType.split(";")) {
            String t = p.strip();
            if (t.toLowerCase(Locale.ROOT).startsWith("boundary=")) {
                String b = t.substring("boundary=".length());
                if (b.length() >= 2 && b.startsWith("\"") && b.endsWith("\"")) {
                    b = b.substring(1, b.length() - 1);
                }
                if (!b.isEmpty()) {
                    return b;
                }
            }
        }
        throw ApiException.badRequest("multipart/form-data without a boundary");
    }

    /** Whether a part's headers carry {@code Content-Disposition: form-data; name="NAME"}. */
    private static boolean named(String headers, String name) {
        for (String line : headers.split("\r\n")) {
            if (line.toLowerCase(Locale.ROOT).startsWith("content-disposition:")) {
                for (String p : line.substring(line.indexOf(':') + 1).split(";")) {
                    String t = p.strip();
                    if (t.equals("name=\"" + name + "\"") || t.equals("name=" + name)) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    private static int indexOf(byte[] haystack, byte[] needle, int from) {
        outer:
        for (int i = Math.max(from, 0); i <= haystack.length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
