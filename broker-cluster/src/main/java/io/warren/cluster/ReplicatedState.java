package io.warren.cluster;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;

/**
 * What a member does with its group's replicated log: the owner of the state the records build
 * (later, warren's definitions: the records will be broker-store's definition change records).
 *
 * <p>All three methods are called on the group's one apply thread, never concurrently, and in
 * log order: every member sees the same records in the same order, from a snapshot's state on.
 * Each call should return quickly; work that blocks belongs on the owner's own threads.
 *
 * <p>The snapshot is the owner's: {@link #snapshot} returns the bytes that {@link #restore}
 * turns back into the state as of that index, so the group can drop the log before it
 * (the log stays bounded) and a member that fell too far behind is sent the snapshot instead.
 * A state that may be large (a quorum queue's messages) streams it instead:
 * {@link #snapshot(OutputStream)} and {@link #restore(long, InputStream, long)}, which the group
 * uses; their defaults go through the byte arrays.
 */
public interface ReplicatedState {
    /**
     * Applies one committed record. {@code index} grows from one call to the next (Raft also
     * commits entries of its own, so there may be gaps).
     */
    void apply(long index, byte[] record);

    /** The state after every record applied so far, as bytes that {@link #restore} reads. */
    byte[] snapshot();

    /**
     * Replaces the whole state with a snapshot's: at start-up from this member's latest snapshot,
     * or when the leader sent one because this member missed records that are no longer in the
     * log. {@code index} is the last record the snapshot includes; records after it follow
     * through {@link #apply}.
     */
    void restore(long index, byte[] snapshot);

    /**
     * Whether a snapshot is worth taking now that the group's entry count since the last one
     * reached its threshold; when not, the group keeps its log and asks again after the next
     * records. A large state answers no until the log since its last snapshot is about as large
     * as itself, so that writing it whole costs each logged byte once, not once every few thousand
     * entries.
     */
    default boolean snapshotDue() {
        return true;
    }

    /** Writes what {@link #snapshot()} returns to {@code out} (not closing it); a large state writes itself piece by piece. */
    default void snapshot(OutputStream out) throws IOException {
        out.write(snapshot());
    }

    /**
     * As {@link #restore(long, byte[])}, the snapshot's {@code length} bytes read from {@code in};
     * a large state reads itself piece by piece.
     */
    default void restore(long index, InputStream in, long length) throws IOException {
        if (length > Integer.MAX_VALUE - 8) {
            throw new IOException("a snapshot of " + length + " bytes is too large for this state to read whole");
        }
        restore(index, in.readNBytes((int) length));
    }
}
