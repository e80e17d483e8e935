package io.warren.core.vhost;

import io.warren.core.exchange.Binding;
import io.warren.core.exchange.Exchange;
import io.warren.core.queue.MessageQueue;

/**
 * What a vhost tells the store about its topology: every exchange, queue and binding; the
 * store keeps the durable ones (a cluster's keeps every one, so the other nodes see them). Called under the vhost's topology
 * lock, so the store sees changes in the order they happened; none of it waits for the disk
 * ({@link #whenDurable} does). {@link #NONE} keeps nothing.
 */
public interface Durability {
    Durability NONE = new Durability() { };

    /** An exchange was declared. */
    default void exchangeAdded(String vhost, Exchange x) { }

    default void exchangeRemoved(String vhost, Exchange x) { }

    /** A queue was declared: a durable one gets its store id and message store before it is published. */
    default void queueAdded(String vhost, MessageQueue q) { }

    default void queueRemoved(String vhost, MessageQueue q) { }

    /** Called for every binding; durable when both ends are (as in RabbitMQ). */
    default void bindingAdded(String vhost, Binding b) { }

    default void bindingRemoved(String vhost, Binding b) { }

    /** A vhost was created (or its description / tags changed). */
    default void vhostAdded(String name, String description, java.util.List<String> tags) { }

    /** A policy ({@code operator}: an operator policy) was set (created or replaced). Policies are always durable. */
    default void policyAdded(String vhost, io.warren.core.policy.Policy p, boolean operator) { }

    default void policyRemoved(String vhost, String name, boolean operator) { }

    /** A vhost was deleted (its contents were reported removed before). */
    default void vhostRemoved(String name) { }

    /**
     * Calls {@code done} once every change reported before is on disk ({@code null}) or failed
     * to get there: the broker answers declare, delete, bind and unbind from here. Any thread;
     * at once when nothing is waiting for the disk.
     */
    default void whenDurable(io.warren.core.store.MessageStore.Durable done) {
        done.done(null);
    }
}
