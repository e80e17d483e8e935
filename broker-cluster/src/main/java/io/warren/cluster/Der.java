package io.warren.cluster;

import java.io.ByteArrayOutputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;

/**
 * The few DER (ASN.1) encodings {@link ClusterTls} needs to write its self-signed X.509
 * certificate; the JDK parses certificates but has no public encoder. Reading is left to the
 * JDK's {@code CertificateFactory}, so a mistake here shows as a certificate the JDK refuses,
 * never as one it misreads.
 */
final class Der {
    private Der() {}

    static byte[] sequence(byte[]... parts) {
        return tlv(0x30, concat(parts));
    }

    static byte[] set(byte[]... parts) {
        return tlv(0x31, concat(parts));
    }

    /** A context-specific, constructed, explicitly tagged value: {@code [n] EXPLICIT}. */
    static byte[] explicit(int n, byte[] content) {
        return tlv(0xA0 | n, content);
    }

    static byte[] integer(BigInteger value) {
        return tlv(0x02, value.toByteArray()); // two's complement, minimal: what DER asks
    }

    static byte[] integer(long value) {
        return integer(BigInteger.valueOf(value));
    }

    static byte[] octetString(byte[] value) {
        return tlv(0x04, value);
    }

    /** A BIT STRING of whole bytes (no unused bits), as signatures and keys are. */
    static byte[] bitString(byte[] value) {
        byte[] content = new byte[value.length + 1];
        System.arraycopy(value, 0, content, 1, value.length);
        return tlv(0x03, content);
    }

    static byte[] utf8String(String s) {
        return tlv(0x0C, s.getBytes(StandardCharsets.UTF_8));
    }

    private static final DateTimeFormatter UTC_TIME = DateTimeFormatter.ofPattern("yyMMddHHmmss'Z'").withZone(ZoneOffset.UTC);
    private static final DateTimeFormatter GENERALIZED_TIME =
            DateTimeFormatter.ofPattern("yyyyMMddHHmmss'Z'").withZone(ZoneOffset.UTC);

    /** A certificate's time: UTCTime up to 2049, GeneralizedTime from 2050 on (RFC 5280, 4.1.2.5). */
    static byte[] time(Instant t) {
        int year = t.atZone(ZoneOffset.UTC).getYear();
        if (year < 2050) {
            return tlv(0x17, UTC_TIME.format(t).getBytes(StandardCharsets.US_ASCII));
        }
        return tlv(0x18, GENERALIZED_TIME.format(t).getBytes(StandardCharsets.US_ASCII));
    }

    /** An OBJECT IDENTIFIER from its dotted form; arcs may be of any size (as in 2.25.{uuid}). */
    static byte[] oid(String dotted) {
        String[] parts = dotted.split("\\.");
        if (parts.length < 2) {
            throw new IllegalArgumentException("OID " + dotted + " has fewer than two arcs");
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        base128(out, new BigInteger(parts[0]).multiply(BigInteger.valueOf(40)).add(new BigInteger(parts[1])));
        for (int i = 2; i < parts.length; i++) {
            base128(out, new BigInteger(parts[i]));
        }
        return tlv(0x06, out.toByteArray());
    }

    private static void base128(ByteArrayOutputStream out, BigInteger arc) {
        if (arc.signum() < 0) {
            throw new IllegalArgumentException("negative OID arc " + arc);
        }
        int groups = Math.max(1, (arc.bitLength() + 6) / 7);
        for (int g = groups - 1; g >= 0; g--) {
            int seven = arc.shiftRight(7 * g).intValue() & 0x7F;
            out.write(g == 0 ? seven : seven | 0x80);
        }
    }

    static byte[] tlv(int tag, byte[] content) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(content.length + 6);
        out.write(tag);
        int n = content.length;
        if (n < 0x80) {
            out.write(n);
        } else {
            int bytes = (32 - Integer.numberOfLeadingZeros(n) + 7) / 8;
            out.write(0x80 | bytes);
            for (int i = bytes - 1; i >= 0; i--) {
                out.write(n >>> (8 * i));
            }
        }
        out.writeBytes(content);
        return out.toByteArray();
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }
}
