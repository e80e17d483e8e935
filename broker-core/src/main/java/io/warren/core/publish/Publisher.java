package io.warren.core.publish;

import io.warren.core.BrokerException;
import io.warren.core.exchange.Exchange;
import io.warren.core.exchange.RoutingResult;
import io.warren.core.message.Message;
import io.warren.core.message.QueueEntry;
import io.warren.core.queue.MessageQueue;
import io.warren.core.vhost.VirtualHost;

import java.util.List;

/**
 * Publishing outside a protocol channel: routes a message through an exchange and hands it to
 * the queues' loops. The management API's aliveness test uses it. For now only transient
 * messages without confirms or returns; the AMQP channel shares the hand-over to the queues
 * ({@link #enqueue}), while journaling and confirms still live in broker-amqp's
 * {@code AmqpChannel} and move here when the API gains its publish endpoint.
 */
public final class Publisher {
    private Publisher() {
    }

    /**
     * Routes a transient {@code message} from exchange {@code exchangeName} of {@code vhost} and
     * enqueues it on every queue it reaches (on each queue's loop). Takes over the caller's
     * reference, also when it throws. Returns how many queues it reached. Any thread.
     *
     * @throws BrokerException NOT_FOUND for a missing exchange, ACCESS_REFUSED for an internal one
     */
    public static int publishTransient(VirtualHost vhost, String exchangeName, Message message) {
        if (message.persistent()) {
            message.release();
            throw new IllegalArgumentException("persistent messages are journaled by the protocol layer");
        }
        Exchange x = vhost.exchange(exchangeName);
        if (x == null || x.internal()) {
            message.release();
            throw x == null
                    ? BrokerException.notFound("no exchange '%s' in vhost '%s'", exchangeName, vhost.name())
                    : BrokerException.accessRefused("cannot publish to internal exchange '%s' in vhost '%s'",
                            exchangeName, vhost.name());
        }
        RoutingResult routing = new RoutingResult();
        routing.start(x);
        try {
            x.route(message, routing);
        } catch (RuntimeException e) {
            message.release();
            throw e;
        }
        List<MessageQueue> queues = routing.queues();
        int n = queues.size();
        enqueue(message, queues, QueueEntry.NOT_STORED, DIRECT);
        return n;
    }

    /** How one queue gets its copy: on its loop directly, or through a publisher's credit flow. */
    @FunctionalInterface
    public interface Handover {
        void enqueue(MessageQueue q, Message m, long ref);
    }

    /** Straight to the queue's loop, without credit (the management API's publishes). */
    public static final Handover DIRECT = (q, m, ref) -> q.execute(() -> q.enqueue(m, ref));

    /**
     * Hands a routed message to each of {@code queues} through {@code handover}; with none, the
     * message is released. Takes over the caller's reference: the last queue gets it, so a
     * message in one queue has one holder and can be compacted when it parks
     * (Message.compact); the others get one retain each. The message is not touched after a
     * hand-over: the queue may already own it on another thread. {@code firstRef} is the store
     * slot of the first durable queue's copy ({@link QueueEntry#NOT_STORED}: not journaled); the
     * durable queues among {@code queues} get consecutive slots from it, in list order, as the
     * store appended them.
     */
    public static void enqueue(Message message, List<MessageQueue> queues, long firstRef, Handover handover) {
        int n = queues.size();
        if (n == 0) {
            message.release();
            return;
        }
        int slot = 0;
        for (int i = 0; i < n; i++) {
            MessageQueue q = queues.get(i);
            long ref = firstRef != QueueEntry.NOT_STORED && q.store() != null ? firstRef + slot++ : QueueEntry.NOT_STORED;
            if (i < n - 1) {
                message.retain();
            }
            handover.enqueue(q, message, ref);
        }
    }
}
