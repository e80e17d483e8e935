package io.warren.store.definitions;

import io.warren.core.store.DefinitionStore.BindingDef;
import io.warren.core.store.DefinitionStore.PermissionDef;
import io.warren.core.store.DefinitionStore.PolicyDef;
import io.warren.core.store.DefinitionStore.TopicPermissionDef;
import io.warren.core.store.DefinitionStore.UserDef;
import io.warren.core.store.DefinitionStore.VhostDef;
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

    // ---- access control: one kind byte, then the fields; keyed by kind and identity ----------

    static final byte VHOST = 'v';
    static final byte USER = 'u';
    static final byte PERMISSION = 'p';
    static final byte TOPIC_PERMISSION = 't';
    /** A policy, an operator policy (warren-definitions/5). */
    static final byte POLICY = 'P';
    static final byte OPERATOR_POLICY = 'O';
    /** The marker that the default vhost and user were created. */
    static final byte SEEDED = 's';

    /** A decoded access entry: one of the records, or {@link #SEEDED_ENTRY}. */
    static final Object SEEDED_ENTRY = new Object();

    static String vhostKey(String name) {
        return "v" + name;
    }

    static String userKey(String name) {
        return "u" + name;
    }

    static String permissionKey(String user, String vhost) {
        return "p" + key(vhost, user);
    }

    static String topicPermissionKey(String user, String vhost, String exchange) {
        return "t" + key(vhost, user) + "\0" + exchange.length() + ":" + exchange;
    }

    static final String SEEDED_KEY = "s";

    static String policyKey(String vhost, String name, boolean operator) {
        return (operator ? "O" : "P") + key(vhost, name);
    }

    static byte[] access(Object d) {
        return write(out -> {
            if (d instanceof VhostDef v) {
                out.writeByte(VHOST);
                string(out, v.name());
                string(out, v.description());
                strings(out, v.tags());
            } else if (d instanceof UserDef u) {
                out.writeByte(USER);
                string(out, u.name());
                string(out, u.passwordHash());
                string(out, u.hashingAlgorithm());
                strings(out, u.tags());
            } else if (d instanceof PermissionDef p) {
                out.writeByte(PERMISSION);
                string(out, p.user());
                string(out, p.vhost());
                string(out, p.configure());
                string(out, p.write());
                string(out, p.read());
            } else if (d instanceof TopicPermissionDef t) {
                out.writeByte(TOPIC_PERMISSION);
                string(out, t.user());
                string(out, t.vhost());
                string(out, t.exchange());
                string(out, t.write());
                string(out, t.read());
            } else if (d instanceof PolicyDef p) {
                out.writeByte(p.operator() ? OPERATOR_POLICY : POLICY);
                string(out, p.vhost());
                string(out, p.name());
                string(out, p.pattern());
                string(out, p.applyTo());
                out.writeInt(p.priority());
                value(out, p.definition(), 0);
            } else if (d == SEEDED_ENTRY) {
                out.writeByte(SEEDED);
            } else {
                throw new IllegalArgumentException("not an access definition: " + d);
            }
        });
    }

    static Object access(byte[] b) {
        return read(b, in -> switch (in.readByte()) {
            case VHOST -> new VhostDef(string(in), string(in), strings(in));
            case USER -> new UserDef(string(in), string(in), string(in), strings(in));
            case PERMISSION -> new PermissionDef(string(in), string(in), string(in), string(in), string(in));
            case TOPIC_PERMISSION -> new TopicPermissionDef(string(in), string(in), string(in), string(in),
                    string(in));
            case POLICY, OPERATOR_POLICY -> policy(b[0] == OPERATOR_POLICY, in);
            case SEEDED -> SEEDED_ENTRY;
            default -> throw new IOException("unknown access entry kind " + b[0]);
        });
    }

    /** The access control entries among encoded access entries (the seeded marker included). */
    static io.warren.core.store.DefinitionStore.AccessDefinitions accessDefinitions(java.util.Collection<byte[]> entries) {
        boolean seeded = false;
        java.util.List<VhostDef> vhosts = new java.util.ArrayList<>();
        java.util.List<UserDef> users = new java.util.ArrayList<>();
        java.util.List<PermissionDef> permissions = new java.util.ArrayList<>();
        java.util.List<TopicPermissionDef> topic = new java.util.ArrayList<>();
        for (byte[] e : entries) {
            Object d = access(e);
            if (d instanceof VhostDef v) {
                vhosts.add(v);
            } else if (d instanceof UserDef u) {
                users.add(u);
            } else if (d instanceof PermissionDef p) {
                permissions.add(p);
            } else if (d instanceof TopicPermissionDef t) {
                topic.add(t);
            } else if (d == SEEDED_ENTRY) {
                seeded = true;
            }
        }
        return new io.warren.core.store.DefinitionStore.AccessDefinitions(seeded, vhosts, users, permissions, topic);
    }

    /** The policies and operator policies among encoded access entries. */
    static java.util.List<PolicyDef> policies(java.util.Collection<byte[]> entries) {
        java.util.List<PolicyDef> l = new java.util.ArrayList<>();
        for (byte[] e : entries) {
            if (access(e) instanceof PolicyDef p) {
                l.add(p);
            }
        }
        return l;
    }

    /** The key an access entry is stored under. */
    static String accessKey(Object d) {
        if (d instanceof VhostDef v) {
            return vhostKey(v.name());
        }
        if (d instanceof UserDef u) {
            return userKey(u.name());
        }
        if (d instanceof PermissionDef p) {
            return permissionKey(p.user(), p.vhost());
        }
        if (d instanceof TopicPermissionDef t) {
            return topicPermissionKey(t.user(), t.vhost(), t.exchange());
        }
        if (d instanceof PolicyDef p) {
            return policyKey(p.vhost(), p.name(), p.operator());
        }
        return SEEDED_KEY;
    }

    @SuppressWarnings("unchecked")
    private static PolicyDef policy(boolean operator, DataInputStream in) throws IOException {
        String vhost = string(in);
        String name = string(in);
        String pattern = string(in);
        String applyTo = string(in);
        int priority = in.readInt();
        Object def = value(in, 0);
        if (!(def instanceof java.util.Map)) {
            throw new IOException("a policy definition is not a map");
        }
        return new PolicyDef(vhost, name, operator, pattern, applyTo, priority,
                (java.util.Map<String, Object>) def);
    }

    /** JSON values nest at most this deep in a stored policy definition (the API refuses deeper documents sooner). */
    private static final int MAX_DEPTH = 64;

    /** A JSON value: a type byte ('s' string, 'l' long, 'd' double, 'b' boolean, 'n' null, 'a' list, 'm' map), then its data. */
    private static void value(DataOutputStream out, Object v, int depth) throws IOException {
        if (depth > MAX_DEPTH) {
            throw new IOException("policy definition nested too deep");
        }
        if (v instanceof String s) {
            out.writeByte('s');
            string(out, s);
        } else if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte) {
            out.writeByte('l');
            out.writeLong(((Number) v).longValue());
        } else if (v instanceof Number n) {
            out.writeByte('d');
            out.writeDouble(n.doubleValue());
        } else if (v instanceof Boolean b) {
            out.writeByte('b');
            out.writeBoolean(b);
        } else if (v == null) {
            out.writeByte('n');
        } else if (v instanceof java.util.List<?> l) {
            out.writeByte('a');
            out.writeInt(l.size());
            for (Object x : l) {
                value(out, x, depth + 1);
            }
        } else if (v instanceof java.util.Map<?, ?> m) {
            out.writeByte('m');
            out.writeInt(m.size());
            for (java.util.Map.Entry<?, ?> e : new java.util.TreeMap<>(m).entrySet()) {
                string(out, (String) e.getKey());
                value(out, e.getValue(), depth + 1);
            }
        } else {
            throw new IllegalArgumentException("not a JSON value: " + v.getClass());
        }
    }

    private static Object value(DataInputStream in, int depth) throws IOException {
        if (depth > MAX_DEPTH) {
            throw new IOException("policy definition nested too deep");
        }
        byte t = in.readByte();
        switch (t) {
            case 's': return string(in);
            case 'l': return in.readLong();
            case 'd': return in.readDouble();
            case 'b': return in.readBoolean();
            case 'n': return null;
            case 'a': {
                int n = count(in);
                java.util.List<Object> l = new java.util.ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    l.add(value(in, depth + 1));
                }
                return java.util.Collections.unmodifiableList(l);
            }
            case 'm': {
                int n = count(in);
                java.util.Map<String, Object> m = new java.util.LinkedHashMap<>();
                for (int i = 0; i < n; i++) {
                    String k = string(in);
                    m.put(k, value(in, depth + 1));
                }
                return java.util.Collections.unmodifiableMap(m);
            }
            default: throw new IOException("unknown value type " + t + " in a policy definition");
        }
    }

    private static int count(DataInputStream in) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > in.available()) {
            throw new IOException("value count " + n + " with " + in.available() + " bytes left");
        }
        return n;
    }

    private static void string(DataOutputStream out, String s) throws IOException {
        byte[] b = s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        out.writeInt(b.length);
        out.write(b);
    }

    private static String string(DataInputStream in) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > in.available()) {
            throw new IOException("string length " + n + " with " + in.available() + " bytes left");
        }
        byte[] b = new byte[n];
        in.readFully(b);
        return new String(b, java.nio.charset.StandardCharsets.UTF_8);
    }

    private static void strings(DataOutputStream out, java.util.List<String> l) throws IOException {
        out.writeInt(l.size());
        for (String s : l) {
            string(out, s);
        }
    }

    private static java.util.List<String> strings(DataInputStream in) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > in.available() / 4) {
            throw new IOException("list length " + n + " with " + in.available() + " bytes left");
        }
        java.util.List<String> l = new java.util.ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            l.add(string(in));
        }
        return java.util.List.copyOf(l);
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
