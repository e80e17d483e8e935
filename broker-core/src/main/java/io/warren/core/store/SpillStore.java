package io.warren.core.store;

import io.warren.core.message.Message;
import io.warren.core.message.QueueEntry;

import java.util.List;

/**
 * Where queues page out the messages they have no room for in memory: each queue gets a
 * {@link Spill}, a FIFO of whole entries (routing info, properties, body, sequence, store slot)
 * that costs the heap nothing per message, so a backlog is bounded by the disk, not by memory.
 * Nothing in it outlives a restart (persistent messages are in the journal as well), so it needs
 * no crash recovery and no forced writes. Implementations do their file I/O on threads of their
 * own: no method blocks its caller. What waits for that thread is a {@link WriteBacklog}:
 * publishers pause while it is past its bound.
 */
public interface SpillStore extends AutoCloseable, WriteBacklog {

    /** A new, empty spill for one queue; {@code owner} names it in logs. */
    Spill open(String owner);

    /** Stops the I/O thread and deletes what is left; spills opened before must not be used after. */
    @Override void close();

    /**
     * One queue's page-out FIFO. Every method is called from the queue's own loop, in order; reads
     * see every entry appended before them.
     */
    interface Spill {
        /**
         * Appends a copy of {@code e}'s content and routing info; the caller keeps its reference
         * to the message (and usually releases it at once: that is the point). A recovered
         * message whose content is still only in the journal ({@link Message#loaded()} false)
         * is appended without it and comes back the same way, to be loaded from its store slot.
         */
        void append(QueueEntry e);

        /**
         * Takes the oldest entries, at most {@code maxEntries} and about {@code maxBytes} of
         * content (at least one entry), out of the spill. {@code sink} runs on the store's thread
         * with the entries, in order, each holding one reference to its message (ownership
         * passes), or with the failure.
         */
        void read(int maxEntries, long maxBytes, ReadSink sink);

        /**
         * Drops every entry (purge); {@code storeRefs} is told each store slot (not
         * {@link QueueEntry#NOT_STORED}) the dropped entries held, on the store's thread, so
         * their journal slots can be freed. A read requested before still completes.
         */
        void clear(RefSink storeRefs);

        /**
         * One step of a sweep over the entries on disk (see {@link Sweep}), on the store's thread,
         * after every entry appended before it: entries that have expired (at or before
         * {@code sweep.now()}) are taken out (decoded with their content, as by a read) and marked
         * swept in place, so a later read brings each back only as a content-less entry with
         * {@link QueueEntry#swept()} set and no store slot (whoever got it from the sweep frees the
         * slot; {@link #clear} does not report it either). With {@code sweep.retime()} every other
         * entry's expiry is recomputed in place from its enqueue time and own TTL under
         * {@code sweep.ttl()}, and {@code sink} is told each change. A step stops after
         * {@code sweep.maxEntries()} or about {@code sweep.maxBytes()} of content taken out, or a
         * bounded amount of disk scanned, or {@code sweep.want()} entries taken out, and says
         * whether more is left; {@code sweep.resume()} continues where the last step stopped.
         */
        void sweep(Sweep sweep, SweepSink sink);

        /** Drops everything and frees the spill's files; the spill is not used again. */
        void delete();
    }

    /** Callback of {@link Spill#read}. */
    @FunctionalInterface
    interface ReadSink {
        void read(List<QueueEntry> entries, Throwable failure);
    }

    /**
     * What one sweep step does. {@code retimeAt}: when the TTL changed; an entry whose old expiry
     * was at or before it had expired already and is taken out whatever the new TTL says.
     * {@code skip}: entries at the head of the spill the sweep must leave alone (a length limit
     * dropped them already; they go when read back); with it the step starts at the head.
     */
    record Sweep(long now, long retimeAt, long ttl, boolean retime, long want, boolean resume,
                 int maxEntries, long maxBytes, long skip) {
    }

    /** Callbacks of {@link Spill#sweep}, on the store's thread. */
    interface SweepSink {
        /** A paged-out entry of {@code bodySize} bytes now expires at {@code newExpiresAt} instead. */
        void retimed(long oldExpiresAt, long newExpiresAt, int bodySize);

        /**
         * The step is over: {@code expired} were taken out (ownership passes, as for a read;
         * delivered even with a failure, since they are marked swept); {@code more}: call again
         * with resume to go on.
         */
        void swept(List<QueueEntry> expired, boolean more, Throwable failure);
    }

    /** Receives the store slots of cleared entries. */
    @FunctionalInterface
    interface RefSink {
        void ref(long ref);
    }
}
