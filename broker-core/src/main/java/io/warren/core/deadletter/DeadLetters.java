package io.warren.core.deadletter;

import io.netty.buffer.ByteBuf;
import io.warren.core.exchange.Exchange;
import io.warren.core.exchange.RoutingResult;
import io.warren.core.message.Message;
import io.warren.core.message.TableValue;
import io.warren.core.publish.Publisher;
import io.warren.core.queue.MessageQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Republishes dead-lettered messages to their queue's dead-letter exchange (RabbitMQ 3.10's
 * "Dead Letter Exchanges" page, rabbit_dead_letter). One per vhost; stateless apart from the
 * injected codec, so any queue loop may call it. Runs on the dead-lettering queue's loop; the
 * copies reach their queues through those queues' loops (never inline: a queue dead-lettering
 * into a queue of the same loop must not re-enter it while it walks its ready list).
 *
 * <p>At most once, as RabbitMQ's classic queues: the copy is handed on (and, when persistent
 * and routed to durable queues, appended to the journal) before the original's store slot is
 * removed, so the journal sees the append first; a copy that reaches no queue (no DLX, no
 * binding, cycle) is dropped, as RabbitMQ drops it.
 */
public final class DeadLetters {
    private static final Logger LOG = LoggerFactory.getLogger(DeadLetters.class);

    private final Function<String, Exchange> exchanges;
    private volatile DeadLetterCodec codec;

    public DeadLetters(Function<String, Exchange> exchanges) {
        this.exchanges = exchanges;
    }

    /** Installs the protocol's codec (the server does, before any queue exists or is recovered). */
    public void codec(DeadLetterCodec c) {
        codec = c;
    }

    /** Never inline: each copy is a task on its queue's loop (see the class comment). */
    private static final Publisher.Handover QUEUED = (q, m, ref) -> q.loop().execute(() -> q.enqueue(m, ref));

    /**
     * Republishes {@code m} (still held by the caller, which releases it afterwards) from
     * {@code queue} to exchange {@code dlx}, with {@code dlrk} (null: the original routing keys).
     * Returns how many queues got a copy. Queue's loop.
     */
    public int publish(MessageQueue queue, Message m, String reason, String dlx, String dlrk) {
        DeadLetterCodec c = codec;
        Exchange x = exchanges.apply(dlx);
        if (c == null || x == null) {
            return 0; // a missing DLX drops the message silently, as RabbitMQ
        }
        String[] cc = null;
        if (dlrk == null) {
            cc = m.ccRoutes();
            if (cc == null) {
                // paged-out and recovered messages do not carry their CC keys: read them back
                cc = ccRoutes(c.headers(m.properties()));
            }
        }
        // last before the copy takes it over: nothing that can throw may leave it unreleased
        ByteBuf props = c.rewrite(m.properties(), reason, queue.name(), m.exchange(), m.routingKey(),
                System.currentTimeMillis() / 1000, dlrk != null);
        Message copy = m.deadLettered(dlx, dlrk != null ? dlrk : m.routingKey(), cc, props, c::headers);
        RoutingResult routing = new RoutingResult();
        boolean rejected = "rejected".equals(reason);
        Publisher.publish(x, copy, routing, null, QUEUED, failure -> {
            if (failure != null) {
                LOG.warn("a message dead-lettered from {} could not be journaled: {}", queue, failure.toString());
            }
        }, rejected ? null : target -> !cycle(target, copy, queue));
        return routing.queues().size();
    }

    /**
     * RabbitMQ's rabbit_dead_letter:is_cycle: {@code target} already appears in the copy's
     * x-death list (most recent first) and no death up to and including that one was a
     * rejection (a fully automatic cycle: the copy would circle forever). Logged once per queue.
     */
    private static boolean cycle(MessageQueue target, Message copy, MessageQueue from) {
        Map<String, Object> headers = copy.headers();
        if (headers == null || !(headers.get("x-death") instanceof List<?> deaths)) {
            return false;
        }
        for (Object d : deaths) {
            if (!(d instanceof Map<?, ?> death)) {
                return false; // something a client put there: not fully automatic
            }
            if (!"rejected".equals(string(death.get("reason")))) {
                if (target.name().equals(string(death.get("queue")))) {
                    LOG.debug("dead-letter cycle from {} to {}: message dropped", from, target);
                    return true;
                }
                continue;
            }
            return false;
        }
        return false;
    }

    /** The keys of the CC and BCC headers (RabbitMQ's rabbit_basic:header_routes), or null. */
    private static String[] ccRoutes(Map<String, Object> headers) {
        if (headers == null) {
            return null;
        }
        List<String> keys = new java.util.ArrayList<>();
        for (String h : new String[] {"CC", "BCC"}) {
            if (headers.get(h) instanceof List<?> list) {
                for (Object k : list) {
                    String s = string(k);
                    if (s != null) {
                        keys.add(s);
                    }
                }
            }
        }
        return keys.isEmpty() ? null : keys.toArray(new String[0]);
    }

    private static String string(Object v) {
        if (v instanceof TableValue t && t.comparable() instanceof String s) {
            return s;
        }
        return v instanceof CharSequence s ? s.toString() : null;
    }
}
