package io.warren.core.store;

/**
 * What a publisher waits on after a store took a message: a sync point and back-pressure. The
 * message journal ({@link MessageStore}) and the delayed-message schedule ({@link DelayStore})
 * are both, so the publish path hands either back and the protocol layer treats them alike
 * (confirm once safe, tx.commit-ok after {@link #sync}, pause reading while overloaded).
 */
public interface DurableWrites extends WriteBacklog {

    /** Calls {@code durable} (on the store's thread) after everything written before this call is safe. */
    void sync(MessageStore.Durable durable);
}
