package io.warren.cluster;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A member's state for the tests: the list of every record applied, in order, with its index.
 * Its snapshot is that whole list, so a member restored from a snapshot still shows the group's
 * full history and the lists of all members can be compared.
 */
final class RecordingState implements ReplicatedState {
    record Applied(long index, String record) {}

    private final List<Applied> applied = new ArrayList<>();
    private int snapshotsTaken;
    private long lastRestoredIndex = -1;

    @Override public synchronized void apply(long index, byte[] record) {
        if (!applied.isEmpty() && applied.get(applied.size() - 1).index() >= index) {
            throw new AssertionError("index " + index + " applied after " + applied.get(applied.size() - 1));
        }
        applied.add(new Applied(index, new String(record, StandardCharsets.UTF_8)));
    }

    @Override public synchronized byte[] snapshot() {
        snapshotsTaken++;
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeInt(applied.size());
            for (Applied a : applied) {
                out.writeLong(a.index());
                out.writeUTF(a.record());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    @Override public synchronized void restore(long index, byte[] snapshot) {
        List<Applied> restored = new ArrayList<>();
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(snapshot))) {
            int n = in.readInt();
            for (int i = 0; i < n; i++) {
                restored.add(new Applied(in.readLong(), in.readUTF()));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        applied.clear();
        applied.addAll(restored);
        lastRestoredIndex = index;
    }

    synchronized List<Applied> applied() {
        return List.copyOf(applied);
    }

    synchronized List<String> records() {
        return applied.stream().map(Applied::record).toList();
    }

    synchronized boolean contains(String record) {
        return applied.stream().anyMatch(a -> a.record().equals(record));
    }

    synchronized int snapshotsTaken() {
        return snapshotsTaken;
    }

    /** The index of the last snapshot restored (at start or sent by the leader), -1 if none. */
    synchronized long lastRestoredIndex() {
        return lastRestoredIndex;
    }
}
