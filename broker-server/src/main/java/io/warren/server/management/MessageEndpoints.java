package io.warren.server.management;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.warren.amqp.channel.MessageHeaders;
import io.warren.amqp.connection.ReplyCodes;
import io.warren.amqp.protocol.BasicProperties;
import io.warren.core.BrokerException;
import io.warren.core.auth.AccessControl;
import io.warren.core.auth.Authorizer;
import io.warren.core.exchange.Exchange;
import io.warren.core.exchange.RoutingResult;
import io.warren.core.flow.ResourceAlarms;
import io.warren.core.message.Message;
import io.warren.core.message.QueueEntry;
import io.warren.core.publish.Publisher;
import io.warren.core.queue.MessageQueue;
import io.warren.core.store.MessageStore;
import io.warren.core.vhost.VirtualHost;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * POST /api/exchanges/{vhost}/{name}/publish and POST /api/queues/{vhost}/{name}/get, as
 * RabbitMQ 3.10's rabbit_mgmt_wm_exchange_publish and rabbit_mgmt_wm_queue_get answer them.
 * Both go through the paths AMQP uses: publish through the core's {@link Publisher#publish}
 * (route, journal, hand over; the answer waits until the message is safe, as a confirm would),
 * get through the queue's own basic.get on its loop.
 */
final class MessageEndpoints {
    private final ApiContext ctx;
    private final ResourceAlarms alarms;
    /** API publishes held by a resource alarm; run (to check again) when the alarms clear. Any thread. */
    private final ConcurrentLinkedQueue<Runnable> blocked = new ConcurrentLinkedQueue<>();

    MessageEndpoints(ApiContext ctx) {
        this.ctx = ctx;
        // No broker: a route-table test builds the API without one.
        this.alarms = ctx.monitor == null ? null : ctx.monitor.alarms();
        if (alarms == null) {
            return;
        }
        alarms.addListener(reason -> {
            if (reason == null) {
                Runnable r;
                while ((r = blocked.poll()) != null) {
                    r.run();
                }
            }
        });
    }

    // ---- publish ------------------------------------------------------------------------------

    CompletableFuture<ApiResponse> publish(ApiRequest r) {
        VirtualHost v = ctx.vhost(r.param("vhost"));
        Exchange x = v.exchange(ExchangeEndpoints.name(r.param("name")));
        if (x == null) {
            throw ApiException.notFound();
        }
        ObjectNode body = Json.object(r.body());
        missing(body, "routing_key", "properties", "payload", "payload_encoding");
        // As basic.publish: write on the exchange, and the topic permission on the key.
        ctx.authorize(r, v.name(), Authorizer.Kind.EXCHANGE, x.name(), AccessControl.Permission.WRITE);
        if (x.type() == io.warren.core.exchange.ExchangeType.TOPIC && body.get("routing_key").isTextual()) {
            new Authorizer(ctx.broker().access(), r.user(), v.name()).checkTopic(x.name(),
                    body.get("routing_key").textValue(), AccessControl.Permission.WRITE);
        }
        JsonNode payloadNode = body.get("payload");
        if (!payloadNode.isTextual()) {
            throw term("payload_not_string");
        }
        String routingKey = body.get("routing_key").isTextual() ? body.get("routing_key").textValue()
                : body.get("routing_key").toString();
        BasicProperties props = properties(body.get("properties"));
        String enc = body.get("payload_encoding").isTextual() ? body.get("payload_encoding").textValue()
                : body.get("payload_encoding").toString();
        byte[] payload = switch (enc) {
            case "string" -> payloadNode.textValue().getBytes(StandardCharsets.UTF_8);
            case "base64" -> base64(payloadNode.textValue());
            default -> throw tuple("unsupported_encoding", enc);
        };
        // What the AMQP channel refuses, refused with its code and text (RabbitMQ's publish is a
        // basic.publish on a channel: bad_request_exception prints "Code Text").
        if (x.internal()) {
            throw ApiException.badRequest("403 ACCESS_REFUSED - cannot publish to internal exchange '" + x.name()
                    + "' in vhost '" + v.name() + "'");
        }
        long max = ctx.broker().settings().maxMessageSize();
        if (payload.length > max) {
            throw ApiException.badRequest("406 PRECONDITION_FAILED - message size " + payload.length
                    + " is larger than configured max size " + max);
        }
        try {
            MessageHeaders.expirationMillis(props.expiration());
        } catch (BrokerException e) {
            throw ApiException.badRequest("406 PRECONDITION_FAILED - " + e.getMessage());
        }
        if (props.userId() != null) {
            try {
                // As on AMQP: the API user's own name, or any with the impersonator tag.
                new Authorizer(ctx.broker().access(), r.user(), v.name()).checkUserId(props.userId());
            } catch (BrokerException e) {
                throw ApiException.badRequest("406 PRECONDITION_FAILED - " + e.getMessage());
            }
        }
        // RabbitMQ lets the API's publishes through during a resource alarm (rabbitmq-server#1986);
        // warren holds them until the alarm clears, as it holds AMQP publishers, so no path into
        // the queues bypasses the memory and disk bounds.
        return unblocked().thenComposeAsync(ignored -> publish(v, x, routingKey, props, payload), r.loop());
    }

    /** Completes at once, or when no resource alarm is left. */
    private CompletableFuture<Void> unblocked() {
        CompletableFuture<Void> f = new CompletableFuture<>();
        Runnable check = new Runnable() {
            @Override public void run() {
                if (alarms == null || !alarms.blocked()) {
                    f.complete(null);
                    return;
                }
                blocked.add(this);
                // The alarm may have cleared between the test and the add: look again.
                if (!alarms.blocked() && blocked.remove(this)) {
                    f.complete(null);
                }
            }
        };
        check.run();
        return f;
    }

    /** HTTP loop: publishes through the core; answers once the message is safe. */
    private CompletableFuture<ApiResponse> publish(VirtualHost v, Exchange x, String routingKey, BasicProperties props,
                                                   byte[] payload) {
        // Sender-selected distribution as for basic.publish: CC and BCC route, BCC is not kept.
        String[] ccRoutes = MessageHeaders.ccRoutes(props.headers());
        ByteBuf raw = Unpooled.buffer();
        MessageHeaders.withoutBcc(props).write(raw);
        Integer mode = props.deliveryMode();
        Message msg = new Message(x.name(), routingKey, raw, Unpooled.wrappedBuffer(payload),
                mode != null && mode == 2, MessageHeaders.READER, ccRoutes);
        msg.ttl(MessageHeaders.expirationMillis(props.expiration())); // checked before
        if (props.priority() != null) {
            msg.priority(props.priority() & 0xFF); // priority queues order by it, as for basic.publish
        }
        CompletableFuture<Throwable> safe = new CompletableFuture<>();
        RoutingResult routing = new RoutingResult();
        // The answer waits until every queue has taken its copy (as RabbitMQ's does: it publishes
        // with confirms), so a get right after it finds the message. One count per hand-over,
        // plus this thread's own until the publish returned.
        CompletableFuture<Void> enqueued = new CompletableFuture<>();
        java.util.concurrent.atomic.AtomicInteger pending = new java.util.concurrent.atomic.AtomicInteger(1);
        Publisher.Handover handover = (q, m, ref) -> {
            pending.incrementAndGet();
            q.execute(() -> {
                try {
                    q.enqueue(m, ref);
                } finally {
                    if (pending.decrementAndGet() == 0) {
                        enqueued.complete(null);
                    }
                }
            });
        };
        // The exchange may have been deleted since the lookup: publish to what the vhost has now,
        // as a basic.publish would (a deleted exchange routes nowhere).
        io.warren.core.store.DurableWrites store = Publisher.publish(v.exchange(x.name()), msg, routing, null,
                handover, safe::complete);
        boolean routed = !routing.queues().isEmpty();
        if (pending.decrementAndGet() == 0) {
            enqueued.complete(null);
        }
        if (store == null) {
            return enqueued.thenApply(ignored -> ApiResponse.ok(Map.of("routed", routed)));
        }
        return enqueued.thenCompose(ignored -> safe).thenApply(failure -> {
            if (failure != null) {
                // A confirm would be a nack: RabbitMQ's answer for one.
                throw ApiException.badRequest("rejected Unable to publish message. Check queue limits.");
            }
            return ApiResponse.ok(Map.of("routed", routed));
        });
    }

    private static byte[] base64(String s) {
        try {
            return Base64.getDecoder().decode(s);
        } catch (IllegalArgumentException e) {
            throw tuple("not_base64", s);
        }
    }

    /** RabbitMQ's rabbit_mgmt_format:to_basic_properties: integers where AMQP has them, else strings. */
    private static BasicProperties properties(JsonNode n) {
        if (!n.isObject()) {
            if (n.isNull() || (n.isArray() && n.isEmpty())) {
                return BasicProperties.EMPTY;
            }
            throw tuple("not_object", "properties");
        }
        ObjectNode o = (ObjectNode) n;
        Map<String, Object> headers = null;
        if (o.hasNonNull("headers")) {
            if (!o.get("headers").isObject()) {
                throw tuple("not_object", "headers");
            }
            headers = Json.arguments(o, "headers");
        }
        return new BasicProperties(str(o, "content_type"), str(o, "content_encoding"), headers,
                integer(o, "delivery_mode"), integer(o, "priority"), str(o, "correlation_id"), str(o, "reply_to"),
                str(o, "expiration"), str(o, "message_id"), o.hasNonNull("timestamp") ? (long) lng(o, "timestamp") : null,
                str(o, "type"), str(o, "user_id"), str(o, "app_id"), str(o, "cluster_id"));
    }

    private static String str(ObjectNode o, String k) {
        JsonNode n = o.get(k);
        if (n == null || n.isNull()) {
            return null;
        }
        if (!n.isTextual()) {
            throw tuple("not_string", k);
        }
        return n.textValue();
    }

    private static Integer integer(ObjectNode o, String k) {
        if (!o.hasNonNull(k)) {
            return null;
        }
        long v = lng(o, k);
        int max = k.equals("timestamp") ? Integer.MAX_VALUE : 255;
        if (v < 0 || v > max) {
            throw tuple("not_int", k);
        }
        return (int) v;
    }

    private static long lng(ObjectNode o, String k) {
        JsonNode n = o.get(k);
        if (!n.isIntegralNumber() || !n.canConvertToLong()) {
            throw tuple("not_int", k);
        }
        return n.longValue();
    }

    // ---- get ----------------------------------------------------------------------------------

    private enum AckMode {
        ACK_REQUEUE_TRUE(false, true), ACK_REQUEUE_FALSE(true, false),
        REJECT_REQUEUE_TRUE(false, true), REJECT_REQUEUE_FALSE(false, false);

        /** basic.get no_ack: the message is gone when got. */
        final boolean noAck;
        /** What happens to the others after all gets: back to the queue, marked redelivered, or dropped. */
        final boolean requeue;

        AckMode(boolean noAck, boolean requeue) {
            this.noAck = noAck;
            this.requeue = requeue;
        }
    }

    CompletableFuture<ApiResponse> get(ApiRequest r) {
        VirtualHost v = ctx.vhost(r.param("vhost"));
        MessageQueue q = v.queue(r.param("name"));
        if (q == null) {
            throw ApiException.notFound();
        }
        ObjectNode body = Json.object(r.body());
        missing(body, "ackmode", "count", "encoding");
        ctx.authorize(r, v.name(), Authorizer.Kind.QUEUE, q.name(), AccessControl.Permission.READ);
        String holder = q.holder();
        if (holder == null) {
            existingHere(v, q.name());
        } else if (holder.equals(io.warren.core.store.StoreDurability.ELECTING)) {
            throw new ApiException(503, "service_unavailable", q + " has no leader this node knows of (electing one)");
        }
        String mode = body.get("ackmode").asText();
        AckMode ackMode;
        try {
            ackMode = AckMode.valueOf(mode.toUpperCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw tuple("unsupported_ackmode", mode);
        }
        int count = parseInt(body.get("count"));
        boolean base64;
        switch (body.get("encoding").asText()) {
            case "auto" -> base64 = false;
            case "base64" -> base64 = true;
            default -> throw ApiException.badRequest("Unsupported encoding. Please use auto or base64.");
        }
        int truncate = body.hasNonNull("truncate") ? parseInt(body.get("truncate")) : -1;
        if (holder != null) {
            // Another node holds the queue (a quorum queue led elsewhere, a classic queue of
            // another node): that node takes the messages, as RabbitMQ's API gets through any node.
            Map<String, Object> question = new LinkedHashMap<>();
            question.put("vhost", v.name());
            question.put("queue", q.name());
            question.put("ackmode", ackMode.name());
            question.put("count", Math.max(0, count));
            question.put("base64", base64);
            question.put("truncate", truncate);
            return ctx.askNode(holder, GET + new String(Json.write(question), StandardCharsets.UTF_8))
                    .handleAsync((answer, failure) -> relayedAnswer(holder, q, answer, failure), r.loop());
        }
        Gets g = new Gets(q, ackMode, Math.max(0, count), base64, truncate);
        q.execute(g::run);
        return g.done.thenApplyAsync(ApiResponse::ok, r.loop());
    }

    /** The question another node's API get asks of the node that holds the queue ({@link #answerGet}). */
    static final String GET = "get ";

    /**
     * The payload bytes a relayed get takes at most before it stops early (fewer messages than
     * asked, the rest left in the queue): its answer is one reply of Ratis' question channel,
     * whose gRPC messages are at most 64 MB, and JSON can make a payload up to 6 times longer
     * (escaped control characters).
     */
    static final long RELAYED_GET_BYTES = 8L << 20;

    /** The queue, live on this node; the API's channel is not the owner, so an exclusive queue refuses its basic.get. */
    private static MessageQueue existingHere(VirtualHost v, String name) {
        try {
            return v.existingQueue(name, null);
        } catch (io.warren.core.BrokerException e) {
            throw ApiException.badRequest(ReplyCodes.of(e.reason()).code() + " " + ReplyCodes.of(e.reason()).text()
                    + " - " + e.getMessage());
        }
    }

    /** What the holder answered (the messages, or its refusal with its status), or 503 when it could not be asked. */
    private static ApiResponse relayedAnswer(String holder, MessageQueue q, byte[] answer, Throwable failure) {
        if (failure != null || answer == null || answer.length == 0) {
            return new ApiResponse(503, ManagementApi.body("service_unavailable", "node " + holder + ", which holds "
                    + q + ", did not answer" + (failure == null ? "" : ": " + failure.getMessage())), Map.of());
        }
        try {
            JsonNode n = Json.MAPPER.readTree(answer);
            if (n.isArray()) {
                return ApiResponse.ok(n);
            }
            Map<String, Object> refused = new LinkedHashMap<>();
            refused.put("error", n.path("error").asText());
            refused.put("reason", n.path("reason"));
            return new ApiResponse(n.path("status").asInt(500), refused, Map.of());
        } catch (java.io.IOException e) {
            return new ApiResponse(503, ManagementApi.body("service_unavailable", "node " + holder
                    + " answered something unreadable"), Map.of());
        }
    }

    /**
     * This node's answer to another node's API get ({@link #GET} and a JSON object of the
     * parsed request): the messages as a JSON array, taken here on the queue's loop as a local
     * API get takes them, or {@code {status, error, reason}} when this node refuses (the queue
     * is not held here any more, is exclusive, or is gone). The asking node checked the user's
     * permission; nodes ask each other only over the cluster's authenticated channel.
     */
    static CompletableFuture<byte[]> answerGet(io.warren.amqp.server.BrokerContext b, String json) {
        try {
            JsonNode a = Json.MAPPER.readTree(json);
            VirtualHost v = b.vhosts().get(a.path("vhost").asText());
            if (v == null) {
                throw ApiException.notFound();
            }
            MessageQueue q = existingHere(v, a.path("queue").asText());
            Gets g = new Gets(q, AckMode.valueOf(a.path("ackmode").asText()), a.path("count").asInt(),
                    a.path("base64").asBoolean(), a.path("truncate").asInt(-1), RELAYED_GET_BYTES);
            q.execute(g::run);
            // encoded off the queue's loop, as a local get's answer is encoded on the HTTP loop
            return g.done.handleAsync((out, e) -> e == null ? Json.write(out) : refusal(500, "internal_error",
                    String.valueOf(e.getMessage())), java.util.concurrent.ForkJoinPool.commonPool());
        } catch (ApiException e) {
            return CompletableFuture.completedFuture(refusal(e.status, e.error, e.reason));
        } catch (java.io.IOException | IllegalArgumentException e) {
            return CompletableFuture.completedFuture(refusal(400, "bad_request", "unreadable relayed get: " + e.getMessage()));
        }
    }

    private static byte[] refusal(int status, String error, Object reason) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("status", status);
        m.put("error", error);
        m.put("reason", reason);
        return Json.write(m);
    }

    /** rabbit_mgmt_util:parse_int: an integer, or a string holding one. */
    private static int parseInt(JsonNode n) {
        if (n.isIntegralNumber() && n.canConvertToInt()) {
            return n.intValue();
        }
        if (n.isTextual()) {
            try {
                return Integer.parseInt(n.textValue().trim());
            } catch (NumberFormatException e) {
                // below
            }
        }
        throw tuple("not_integer", n.isTextual() ? n.textValue() : n.toString());
    }

    /**
     * One API get: {@code count} basic.gets in a row on the queue's loop, then, as RabbitMQ
     * does once all are taken (otherwise a requeued message would come back at once), the
     * requeue or the drop its ack mode asks for. Owner: the queue's loop.
     */
    private static final class Gets {
        final MessageQueue q;
        final AckMode mode;
        final boolean base64;
        final int truncate;
        int left;
        final List<Map<String, Object>> out = new ArrayList<>();
        final List<QueueEntry> held = new ArrayList<>();
        final CompletableFuture<Object> done = new CompletableFuture<>();
        /** Payload bytes answered so far, and the most taken before the gets stop early. */
        private long used;
        private final long budget;
        private boolean inGet;
        private boolean answered;

        Gets(MessageQueue q, AckMode mode, int count, boolean base64, int truncate) {
            this(q, mode, count, base64, truncate, Long.MAX_VALUE);
        }

        Gets(MessageQueue q, AckMode mode, int count, boolean base64, int truncate, long budget) {
            this.q = q;
            this.mode = mode;
            this.left = count;
            this.base64 = base64;
            this.truncate = truncate;
            this.budget = budget;
        }

        /** Takes messages while the queue answers at once; a get it answers later resumes here. */
        void run() {
            while (left > 0 && used < budget) {
                answered = false;
                inGet = true;
                q.get(this::got);
                inGet = false;
                if (!answered) {
                    return; // the head is loading (from the store or the page-out file)
                }
            }
            finish();
        }

        private void got(QueueEntry e, int remaining) {
            answered = true;
            if (e == null) {
                left = 0;
            } else {
                left--;
                used += truncate >= 0 ? Math.min(truncate, e.message().body().readableBytes())
                        : e.message().body().readableBytes();
                try {
                    out.add(view(e, remaining));
                } catch (RuntimeException | OutOfMemoryError failure) {
                    // Nothing was answered yet: every message goes back as it was.
                    held.add(e);
                    q.requeue(new ArrayList<>(held), false);
                    held.clear();
                    left = 0;
                    done.completeExceptionally(failure);
                    return;
                }
                if (mode.noAck) {
                    q.discard(e);
                } else {
                    held.add(e);
                }
            }
            if (!inGet) {
                run();
            }
        }

        private void finish() {
            if (done.isDone()) {
                return;
            }
            if (!held.isEmpty()) {
                if (mode.requeue) {
                    q.requeue(held, true);
                } else {
                    // reject_requeue_false is a basic.reject without requeue: dead-lettered (RabbitMQ)
                    held.forEach(mode == AckMode.REJECT_REQUEUE_FALSE ? q::reject : q::discard);
                }
            }
            done.complete(out);
        }

        /** rabbit_mgmt_wm_queue_get's message object, with the payload copied out. */
        private Map<String, Object> view(QueueEntry e, int remaining) {
            Message m = e.message();
            ByteBuf b = m.body();
            int size = b.readableBytes();
            int n = truncate >= 0 && truncate < size ? truncate : size;
            byte[] bytes = new byte[n];
            b.getBytes(b.readerIndex(), bytes);
            Map<String, Object> v = new LinkedHashMap<>();
            v.put("payload_bytes", size);
            v.put("redelivered", e.redelivered());
            v.put("exchange", m.exchange());
            v.put("routing_key", m.routingKey());
            v.put("message_count", remaining);
            v.put("properties", properties(m.properties()));
            String text = base64 ? null : utf8(bytes);
            if (text != null) {
                v.put("payload", text);
                v.put("payload_encoding", "string");
            } else {
                v.put("payload", Base64.getEncoder().encodeToString(bytes));
                v.put("payload_encoding", "base64");
            }
            return v;
        }
    }

    private static String utf8(byte[] bytes) {
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    /** rabbit_mgmt_format:basic_properties: the properties present, by their field names. */
    static Map<String, Object> properties(ByteBuf raw) {
        Map<String, Object> m = new LinkedHashMap<>();
        if (raw == null || raw.readableBytes() < 2) {
            return m;
        }
        BasicProperties p;
        try {
            p = BasicProperties.read(raw.duplicate());
        } catch (RuntimeException undecodable) {
            // Properties are kept as received and decoded only on demand: a client may have sent
            // some that do not decode. The message is still shown, without them.
            return m;
        }
        put(m, "content_type", p.contentType());
        put(m, "content_encoding", p.contentEncoding());
        if (p.headers() != null) {
            m.put("headers", Json.fromAmqp(p.headers()));
        }
        put(m, "delivery_mode", p.deliveryMode());
        put(m, "priority", p.priority());
        put(m, "correlation_id", p.correlationId());
        put(m, "reply_to", p.replyTo());
        put(m, "expiration", p.expiration());
        put(m, "message_id", p.messageId());
        put(m, "timestamp", p.timestamp());
        put(m, "type", p.type());
        put(m, "user_id", p.userId());
        put(m, "app_id", p.appId());
        put(m, "cluster_id", p.clusterId());
        return m;
    }

    private static void put(Map<String, Object> m, String k, Object v) {
        if (v != null) {
            m.put(k, v);
        }
    }

    // ---- RabbitMQ's error texts ------------------------------------------------------------------

    /** rabbit_mgmt_util:with_decode: 400 with the missing keys printed as an Erlang list. */
    private static void missing(ObjectNode body, String... keys) {
        List<String> gone = new ArrayList<>();
        for (String k : keys) {
            if (!body.has(k) || body.get(k).isNull()) {
                gone.add("{key_missing," + k + "}");
            }
        }
        if (!gone.isEmpty()) {
            throw ApiException.badRequest("[" + String.join(",", gone) + "]");
        }
    }

    /** An Erlang atom as RabbitMQ prints it in a reason. */
    private static ApiException term(String atom) {
        return ApiException.badRequest(atom);
    }

    /** An Erlang tuple reason: RabbitMQ's format_reason turns it into a JSON list. */
    private static ApiException tuple(String tag, String value) {
        return new ApiException(400, "bad_request", tag + ": " + value, List.of(tag, value));
    }
}
