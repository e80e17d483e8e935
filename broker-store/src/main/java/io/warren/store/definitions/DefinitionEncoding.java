package io.warren.store.definitions;

import io.warren.core.store.DefinitionStore.BindingDef;
import io.warren.core.store.DefinitionStore.ExchangeDef;
import io.warren.core.store.DefinitionStore.QueueDef;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * One definition as bytes: {@code DataOutputStream} fields in record order, arguments as the
 * protocol layer's table bytes ({@code -1} length for null). The same field layout as the
 * MapDB store's entries, without their per-entry CRC32C: the snapshot file carries one
 * CRC32C over all of its content ({@link SnapshotFile}). Kept in this package so that it
 * outlives the MapDB code.
 */
final class DefinitionEncoding {
    private DefinitionEncoding() {}

    /** Unambiguous key for a (vhost, name) pair: names may contain any character. */
    static String key(String vhost, String name) {
        return vhost.length() + ":" + vhost + "/" + name;
    }

    static byte[] exchange(ExchangeDef d) {
        return write(out -> {
            out.writeUTF(d.vhost());
            out.writeUTF(d.name());
            out.writeUTF(d.type());
            out.writeBoolean(d.autoDelete());
            out.writeBoolean(d.internal());
            bytes(out, d.arguments());
        });
    }

    static ExchangeDef exchange(byte[] b) {
        return read(b, in -> new ExchangeDef(in.readUTF(), in.readUTF(), in.readUTF(), in.readBoolean(),
                in.readBoolean(), bytes(in)));
    }

    static byte[] queue(QueueDef d) {
        return write(out -> {
            out.writeUTF(d.vhost());
            out.writeUTF(d.name());
            out.writeLong(d.id());
            out.writeBoolean(d.autoDelete());
            bytes(out, d.arguments());
        });
    }

    static QueueDef queue(byte[] b) {
        return read(b, in -> new QueueDef(in.readUTF(), in.readUTF(), in.readLong(), in.readBoolean(), bytes(in)));
    }

    /**
     * Also the binding's identity: AMQP 0-9-1 unbind matches all of these fields, arguments
     * by their encoded bytes ({@code StoreDurability} sorts their keys before encoding).
     */
    static byte[] binding(BindingDef d) {
        return write(out -> {
            out.writeUTF(d.vhost());
            out.writeUTF(d.source());
            out.writeBoolean(d.toQueue());
            out.writeUTF(d.destination());
            out.writeUTF(d.routingKey());
            bytes(out, d.arguments());
        });
    }

    static BindingDef binding(byte[] b) {
        return read(b, in -> new BindingDef(in.readUTF(), in.readUTF(), in.readBoolean(), in.readUTF(), in.readUTF(),
                bytes(in)));
    }

    private interface Writer {
        void write(DataOutputStream out) throws IOException;
    }

    private interface Reader<T> {
        T read(DataInputStream in) throws IOException;
    }

    /** A stored definition that does not decode: the message says what is wrong with it. */
    static final class CorruptDefinitionException extends RuntimeException {
        CorruptDefinitionException(String message) {
            super(message);
        }
    }

    private static byte[] write(Writer w) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(64);
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            w.write(out);
        } catch (IOException e) {
            throw new UncheckedIOException(e); // in-memory stream: cannot happen
        }
        return bytes.toByteArray();
    }

    private static <T> T read(byte[] b, Reader<T> r) {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(b))) {
            T value = r.read(in);
            if (in.available() != 0) {
                throw new CorruptDefinitionException("an entry has " + in.available() + " trailing bytes");
            }
            return value;
        } catch (IOException e) {
            throw new CorruptDefinitionException("an entry does not decode: " + e);
        }
    }

    private static void bytes(DataOutputStream out, byte[] b) throws IOException {
        out.writeInt(b == null ? -1 : b.length);
        if (b != null) {
            out.write(b);
        }
    }

    private static byte[] bytes(DataInputStream in) throws IOException {
        int n = in.readInt();
        if (n < -1 || n > in.available()) {
            throw new IOException("argument length " + n + " with " + in.available() + " bytes left");
        }
        if (n < 0) {
            return null;
        }
        byte[] b = new byte[n];
        in.readFully(b);
        return b;
    }
}
