package io.warren.core.vhost;

import java.util.concurrent.atomic.LongAdder;

/**
 * Queues created (declared anew, any way: AMQP, the management API, a definitions import) and
 * deleted (by request, auto-delete, expiry, a vhost's deletion) since the broker started,
 * over all vhosts: RabbitMQ's rabbitmq_queues_created_total and rabbitmq_queues_deleted_total.
 */
public final class QueueChurn {
    public final LongAdder created = new LongAdder();
    public final LongAdder deleted = new LongAdder();
}
