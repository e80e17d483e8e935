package io.warren.core.store;

import java.util.List;

/**
 * Durable exchanges, queues and bindings. Arguments are stored as the protocol layer's encoded
 * table bytes ({@link ArgumentCodec}), so the store needs no knowledge of field types.
 * A change is taken in order when the method returns, without waiting for the disk (callers
 * are event loops); it is durable once a later {@link #sync} calls back.
 */
public interface DefinitionStore extends AutoCloseable {
    record ExchangeDef(String vhost, String name, String type, boolean autoDelete, boolean internal, byte[] arguments) {}

    /** {@code id} is the queue's stable id, used by the {@link MessageStore}. */
    record QueueDef(String vhost, String name, long id, boolean autoDelete, byte[] arguments) {}

    record BindingDef(String vhost, String source, boolean toQueue, String destination, String routingKey,
                      byte[] arguments) {}

    record Definitions(List<ExchangeDef> exchanges, List<QueueDef> queues, List<BindingDef> bindings) {}

    void putExchange(ExchangeDef d);

    void removeExchange(String vhost, String name);

    void putQueue(QueueDef d);

    void removeQueue(String vhost, String name);

    void putBinding(BindingDef d);

    void removeBinding(BindingDef d);

    /** A new queue id, never handed out before (survives restarts). */
    long nextQueueId();

    Definitions load();

    /** Calls {@code done} once every change made before is durable (or failed); any thread. */
    void sync(MessageStore.Durable done);

    @Override void close();
}
