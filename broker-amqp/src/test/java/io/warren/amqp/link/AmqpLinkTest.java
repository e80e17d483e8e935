package io.warren.amqp.link;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import com.rabbitmq.client.GetResponse;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.concurrent.EventExecutor;
import io.warren.amqp.protocol.BasicProperties;
import io.warren.amqp.protocol.ConnectionStart;
import io.warren.amqp.server.AmqpServer;
import io.warren.amqp.server.AmqpSettings;
import io.warren.amqp.server.BrokerContext;
import io.warren.amqp.server.LinkAuth;
import io.warren.core.auth.AccessControl;
import io.warren.core.vhost.VirtualHosts;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The cluster link against a real warren listener: WARREN-LINK login, consuming, acks, gets,
 * purges, cancels, publishes with confirms, passive declares, deletes and every way a link
 * ends. Queues are declared and messages published through an ordinary client (the RabbitMQ
 * Java client), as a node's own clients would.
 */
class AmqpLinkTest {
    private static final byte[] KEY = "cluster-secret-for-tests".getBytes(StandardCharsets.UTF_8);
    private static final long WAIT_S = 5;

    private static EventLoopGroup group;
    private static Server server;
    private static Connection client;

    private Channel ch;
    private final List<AmqpLink> links = new ArrayList<>();

    /** A listener with its broker context. */
    private record Server(AmqpServer amqp, BrokerContext context) {
        static Server start(LinkAuth auth) throws InterruptedException {
            return start(auth, 0);
        }

        static Server start(LinkAuth auth, int heartbeatSeconds) throws InterruptedException {
            AmqpServer amqp = new AmqpServer(2);
            AccessControl access = new AccessControl(null, Set.of());
            access.putUser("guest", "guest", List.of("administrator"));
            access.setPermissions("guest", "/", ".*", ".*", ".*");
            access.putUser("nobody", "nobody", List.of()); // no permissions anywhere
            BrokerContext context = new BrokerContext(new VirtualHosts(amqp.loops(), "/"), access,
                    new AmqpSettings(heartbeatSeconds, 131072, 2047, 128L * 1024 * 1024), null, auth);
            amqp.bind("127.0.0.1", 0, context);
            return new Server(amqp, context);
        }

        InetSocketAddress address() {
            return new InetSocketAddress("127.0.0.1", amqp.port());
        }

        void stop() {
            amqp.close(context);
        }
    }

    /** The test's LinkAuth: HMAC-SHA256 of challenge and response under {@code key}. */
    static LinkAuth hmac(byte[] key) {
        return (challenge, response) -> {
            try {
                Mac mac = Mac.getInstance("HmacSHA256");
                mac.init(new SecretKeySpec(key, "HmacSHA256"));
                mac.update(challenge);
                mac.update(response);
                return mac.doFinal();
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException(e);
            }
        };
    }

    /** A delivery as the handler saw it, copied out (the buffers are released at once). */
    record Delivery(String consumerTag, long deliveryTag, boolean redelivered, String exchange, String routingKey,
                    byte[] properties, byte[] body) {
        BasicProperties props() {
            return BasicProperties.read(Unpooled.wrappedBuffer(properties));
        }
    }

    /** Records what the link hears. */
    static final class Recorder implements AmqpLink.Handler {
        final LinkedBlockingQueue<Delivery> deliveries = new LinkedBlockingQueue<>();
        final LinkedBlockingQueue<String> cancelled = new LinkedBlockingQueue<>();
        final LinkedBlockingQueue<String> closed = new LinkedBlockingQueue<>();
        final AtomicInteger closedCalls = new AtomicInteger();
        final List<Thread> threads = new java.util.concurrent.CopyOnWriteArrayList<>();

        @Override public void delivery(String consumerTag, long deliveryTag, boolean redelivered, String exchange,
                                       String routingKey, ByteBuf properties, ByteBuf body) {
            threads.add(Thread.currentThread());
            try {
                deliveries.add(new Delivery(consumerTag, deliveryTag, redelivered, exchange, routingKey,
                        ByteBufUtil.getBytes(properties), ByteBufUtil.getBytes(body)));
            } finally {
                properties.release();
                body.release();
            }
        }

        @Override public void cancelled(String consumerTag) {
            cancelled.add(consumerTag);
        }

        @Override public void closed(int code, String reason) {
            closedCalls.incrementAndGet();
            closed.add(code + " " + reason);
        }

        Delivery next() throws InterruptedException {
            Delivery d = deliveries.poll(WAIT_S, TimeUnit.SECONDS);
            assertNotNull(d, "no delivery");
            return d;
        }

        String nextClose() throws InterruptedException {
            String c = closed.poll(WAIT_S, TimeUnit.SECONDS);
            assertNotNull(c, "closed() not called");
            return c;
        }
    }

    @BeforeAll
    static void startServer() throws Exception {
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        server = Server.start(hmac(KEY));
        ConnectionFactory f = new ConnectionFactory();
        f.setHost("127.0.0.1");
        f.setPort(server.amqp().port());
        client = f.newConnection();
    }

    @AfterAll
    static void stopServer() throws Exception {
        client.close();
        server.stop();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    @BeforeEach
    void openChannel() throws IOException {
        ch = client.createChannel();
    }

    @AfterEach
    void closeLinks() throws Exception {
        for (AmqpLink l : links) {
            l.close();
        }
        if (ch.isOpen()) {
            ch.close();
        }
    }

    private AmqpLink open(Recorder r) throws Exception {
        return open(r, "guest");
    }

    private AmqpLink open(Recorder r, String user) throws Exception {
        AmqpLink link = AmqpLink.open(group, NioSocketChannel.class, server.address(), "/", user, "node-b",
                hmac(KEY), 0, r).get(WAIT_S, TimeUnit.SECONDS);
        links.add(link);
        return link;
    }

    private String queue(String name) throws IOException {
        ch.queueDeclare(name, false, false, false, null);
        return name;
    }

    /** Queue {@code name} with messages m0..m{n-1} in it (a passive declare's round trip: the publishes are in). */
    private String queueWith(String name, int n) throws IOException {
        String q = queue(name);
        for (int i = 0; i < n; i++) {
            publish(q, "m" + i);
        }
        ch.queueDeclarePassive(q);
        return q;
    }

    private void publish(String queue, String body) throws IOException {
        ch.basicPublish("", queue, null, body.getBytes(StandardCharsets.UTF_8));
    }

    private static <T> T await(CompletableFuture<T> f) throws Exception {
        return f.get(WAIT_S, TimeUnit.SECONDS);
    }

    /** The failure of {@code f}, unwrapped. */
    private static Throwable failure(CompletableFuture<?> f) throws InterruptedException, TimeoutException {
        ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(WAIT_S, TimeUnit.SECONDS));
        return e.getCause() instanceof CompletionException c ? c.getCause() : e.getCause();
    }

    /**
     * The ready count of queue {@code q} once it reached {@code expected} (or after WAIT_S): a
     * transient message's confirm goes once it is routed, while its hand-over to the queue's
     * loop (the publishing connection's credit flow) may still be on its way.
     */
    private int awaitCount(String q, int expected) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
        int n;
        while ((n = ch.queueDeclarePassive(q).getMessageCount()) < expected && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        return n;
    }

    private static String text(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }

    // ---- tests ---------------------------------------------------------------------------------

    @Test
    void deliveriesKeepBodyAndPropertiesAndAcksRemoveThem() throws Exception {
        String q = queue("link-deliver");
        Recorder r = new Recorder();
        AmqpLink link = open(r);
        assertTrue(link.isOpen());
        await(link.qos(10));
        String tag = await(link.consume(q, "fwd-1", false, Map.of()));
        assertEquals("fwd-1", tag);
        AMQP.BasicProperties props = new AMQP.BasicProperties.Builder().contentType("text/plain")
                .headers(Map.of("x-origin", "client-a")).messageId("m-1").build();
        ch.basicPublish("", q, props, "hello".getBytes(StandardCharsets.UTF_8));
        // More than one frame at frame_max 131072: the body comes in several body frames.
        byte[] big = new byte[300_000];
        Arrays.fill(big, (byte) 'x');
        big[big.length - 1] = 'y';
        ch.basicPublish("", q, null, big);

        Delivery d = r.next();
        assertEquals("fwd-1", d.consumerTag());
        assertEquals("", d.exchange());
        assertEquals(q, d.routingKey());
        assertFalse(d.redelivered());
        assertEquals("hello", text(d.body()));
        BasicProperties p = d.props();
        assertEquals("text/plain", p.contentType());
        assertEquals("m-1", p.messageId());
        assertEquals("client-a", String.valueOf(p.headers().get("x-origin")));
        Delivery d2 = r.next();
        assertArrayEquals(big, d2.body());
        EventExecutor loop = group.next(); // the group's only loop
        assertTrue(r.threads.stream().allMatch(loop::inEventLoop), "handler calls on the link's loop");

        link.ack(d.deliveryTag(), false);
        link.ack(d2.deliveryTag(), false);
        // Acked: closing the link puts nothing back.
        await(link.purge(q)); // a round trip after the acks: they have been handled
        link.close();
        assertEquals("0 closed by node node-b", r.nextClose());
        assertEquals(0, ch.queueDeclarePassive(q).getMessageCount());
        ch.queueDelete(q);
    }

    @Test
    void closingTheLinkRequeuesWhatIsUnacked() throws Exception {
        String q = queue("link-requeue");
        Recorder r = new Recorder();
        AmqpLink link = open(r);
        await(link.consume(q, "fwd", false, null));
        publish(q, "one");
        publish(q, "two");
        Delivery one = r.next();
        Delivery two = r.next();
        link.ack(one.deliveryTag(), false);
        link.close();
        link.close(); // idempotent
        r.nextClose();
        assertFalse(link.isOpen());
        link.ack(two.deliveryTag(), false); // after close: dropped silently

        // Another consumer sees the unacked one again, redelivered.
        GetResponse g = null;
        for (long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S); g == null && System.nanoTime() < end; ) {
            g = ch.basicGet(q, true);
            if (g == null) {
                Thread.sleep(10);
            }
        }
        assertNotNull(g, "the unacked message is back in the queue");
        assertEquals("two", text(g.getBody()));
        assertTrue(g.getEnvelope().isRedeliver());
        assertNull(ch.basicGet(q, true));
        assertEquals(1, r.closedCalls.get());
        // Requests after close fail at once.
        assertInstanceOf(IOException.class, failure(link.qos(1)));
        ch.queueDelete(q);
    }

    @Test
    void nackWithRequeueRedelivers() throws Exception {
        String q = queue("link-nack");
        Recorder r = new Recorder();
        AmqpLink link = open(r);
        await(link.consume(q, "fwd", false, Map.of()));
        publish(q, "again");
        Delivery first = r.next();
        assertFalse(first.redelivered());
        link.nack(first.deliveryTag(), false, true);
        Delivery second = r.next();
        assertTrue(second.redelivered());
        assertEquals("again", text(second.body()));
        link.reject(second.deliveryTag(), false); // dropped for good
        await(link.cancel("fwd"));
        assertEquals(0, ch.queueDeclarePassive(q).getMessageCount());
        ch.queueDelete(q);
    }

    @Test
    void getAndGetEmpty() throws Exception {
        String q = queue("link-get");
        AmqpLink link = open(new Recorder());
        publish(q, "first");
        publish(q, "second");
        ch.queueDeclarePassive(q); // a round trip: the publishes are in
        AmqpLink.Got got = await(link.get(q));
        try {
            assertEquals("first", got.body().toString(StandardCharsets.UTF_8));
            assertEquals(1, got.messageCount());
            assertEquals(q, got.routingKey());
            assertFalse(got.redelivered());
            assertNotNull(BasicProperties.read(got.properties().duplicate()));
        } finally {
            got.properties().release();
            got.body().release();
        }
        link.ack(got.deliveryTag(), false);
        AmqpLink.Got second = await(link.get(q));
        second.properties().release();
        second.body().release();
        link.ack(second.deliveryTag(), false);
        assertNull(await(link.get(q)));
        ch.queueDelete(q);
    }

    /** Several requests in flight at once, from several threads: each future gets its own reply. */
    @Test
    void concurrentRequestsGetTheirOwnReplies() throws Exception {
        String q = queue("link-pipelined");
        AmqpLink link = open(new Recorder());
        for (int i = 0; i < 3; i++) {
            publish(q, "m" + i);
        }
        ch.queueDeclarePassive(q); // a round trip: the publishes are in
        // Pipelined from one thread, no waiting in between.
        CompletableFuture<Void> qos = link.qos(5);
        CompletableFuture<Integer> purge = link.purge(q);
        CompletableFuture<AmqpLink.Got> get = link.get(q);
        CompletableFuture<String> consume = link.consume(q, "", false, Map.of());
        await(qos);
        assertEquals(3, await(purge));
        assertNull(await(get));
        assertTrue(await(consume).startsWith("amq.ctag-"), "server-named consumer tag");
        ch.queueDelete(q);

        // From several threads at once: queue i holds i messages, so each purge's count says whose reply it got.
        int n = 8;
        for (int i = 0; i < n; i++) {
            queue("link-purge-" + i);
            for (int j = 0; j < i; j++) {
                publish("link-purge-" + i, "x");
            }
        }
        ch.queueDeclarePassive("link-purge-0");
        List<CompletableFuture<CompletableFuture<Integer>>> purges = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String name = "link-purge-" + i;
            purges.add(CompletableFuture.supplyAsync(() -> link.purge(name)));
        }
        for (int i = 0; i < n; i++) {
            assertEquals(i, await(await(purges.get(i))));
            ch.queueDelete("link-purge-" + i);
        }
    }

    @Test
    void consumersStartedFromSeveralThreadsEachGetTheirOwnPrefetch() throws Exception {
        String q = queue("link-prefetch-each");
        Recorder r = new Recorder();
        AmqpLink link = open(r);
        for (int i = 0; i < 100; i++) {
            publish(q, "m" + i);
        }
        ch.queueDeclarePassive(q); // a round trip: the publishes are in
        // Consumer i asks for prefetch i + 1, all at once: each qos must stay next to its consume.
        int n = 8;
        List<CompletableFuture<CompletableFuture<String>>> consumes = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int prefetch = i + 1;
            consumes.add(CompletableFuture.supplyAsync(() -> link.consume(q, "c" + prefetch, prefetch, false,
                    Map.of())));
        }
        for (int i = 0; i < n; i++) {
            assertEquals("c" + (i + 1), await(await(consumes.get(i))));
        }
        int total = n * (n + 1) / 2;
        Map<String, Integer> perConsumer = new java.util.TreeMap<>();
        for (int i = 0; i < total; i++) {
            perConsumer.merge(r.next().consumerTag(), 1, Integer::sum);
        }
        // the server held back everything past the prefetches: nothing more is on its way
        assertEquals(100 - total, ch.queueDeclarePassive(q).getMessageCount());
        assertNull(r.deliveries.poll(), "more than the prefetches allow");
        for (int i = 1; i <= n; i++) {
            assertEquals(i, perConsumer.get("c" + i), "consumer c" + i + ": " + perConsumer);
        }
        link.close();
    }

    @Test
    void cancelStopsDeliveries() throws Exception {
        String q = queue("link-cancel");
        Recorder r = new Recorder();
        AmqpLink link = open(r);
        await(link.consume(q, "fwd", false, Map.of()));
        assertEquals(1, ch.queueDeclarePassive(q).getConsumerCount());
        await(link.cancel("fwd"));
        assertEquals(0, ch.queueDeclarePassive(q).getConsumerCount());
        publish(q, "stays");
        assertEquals(1, ch.queueDeclarePassive(q).getMessageCount());
        assertTrue(r.deliveries.isEmpty());
        assertTrue(link.isOpen());
        ch.queueDelete(q);
    }

    @Test
    void deletingTheQueueCancelsTheConsumer() throws Exception {
        String q = queue("link-deleted");
        Recorder r = new Recorder();
        AmqpLink link = open(r);
        await(link.consume(q, "fwd", false, Map.of()));
        ch.queueDelete(q);
        assertEquals("fwd", r.cancelled.poll(WAIT_S, TimeUnit.SECONDS));
        assertTrue(link.isOpen(), "a cancelled consumer leaves the link open");
        await(link.qos(1));
        assertEquals(0, r.closedCalls.get());
    }

    @Test
    void consumingAMissingQueueFailsWith404AndClosesTheLink() throws Exception {
        Recorder r = new Recorder();
        AmqpLink link = open(r);
        CompletableFuture<String> consume = link.consume("no-such-queue", "fwd", false, Map.of());
        CompletableFuture<Void> after = link.qos(1); // pending behind it: fails with the same refusal
        AmqpLink.LinkException e = assertInstanceOf(AmqpLink.LinkException.class, failure(consume));
        assertEquals(404, e.code());
        assertTrue(e.text().contains("no-such-queue"), e.text());
        assertEquals(404, assertInstanceOf(AmqpLink.LinkException.class, failure(after)).code());
        assertTrue(r.nextClose().startsWith("404 "));
        assertFalse(link.isOpen());
        Thread.sleep(50);
        assertEquals(1, r.closedCalls.get());
    }

    @Test
    void aWrongKeyIsRefusedWith403() throws Exception {
        Recorder r = new Recorder();
        CompletableFuture<AmqpLink> f = AmqpLink.open(group, NioSocketChannel.class, server.address(), "/", "guest",
                "node-x", hmac("not-the-key".getBytes(StandardCharsets.UTF_8)), 0, r);
        AmqpLink.LinkException e = assertInstanceOf(AmqpLink.LinkException.class, failure(f));
        assertEquals(403, e.code());
        assertTrue(e.text().contains("WARREN-LINK"), e.text());
        assertEquals(0, r.closedCalls.get(), "closed() is for links that opened");
    }

    @Test
    void theLinkUserNeedsVhostAccess() throws Exception {
        CompletableFuture<AmqpLink> f = AmqpLink.open(group, NioSocketChannel.class, server.address(), "/", "nobody",
                "node-b", hmac(KEY), 0, new Recorder());
        assertEquals(530, assertInstanceOf(AmqpLink.LinkException.class, failure(f)).code());
    }

    @Test
    void heartbeatsAreNegotiatedWithoutBreakingTheHandshake() throws Exception {
        // The server proposes 0 (AmqpSettings above): the link then sends none and stays open.
        Recorder r = new Recorder();
        AmqpLink link = AmqpLink.open(group, NioSocketChannel.class, server.address(), "/", "guest", "node-b",
                hmac(KEY), 1, r).get(WAIT_S, TimeUnit.SECONDS);
        links.add(link);
        await(link.qos(1));
        assertTrue(link.isOpen());
    }

    /**
     * With heartbeats (the server proposes 1 s, the link 5: 1 s it is) the link outlives the
     * server's 2 s read timeout by its own heartbeats; a socket the server then drops without a
     * word ends the link with code 0, once.
     */
    @Test
    void heartbeatsKeepTheLinkAliveAndADroppedSocketEndsIt() throws Exception {
        Server beating = Server.start(hmac(KEY), 1);
        try {
            Recorder r = new Recorder();
            AmqpLink link = AmqpLink.open(group, NioSocketChannel.class, beating.address(), "/", "guest", "node-b",
                    hmac(KEY), 5, r).get(WAIT_S, TimeUnit.SECONDS);
            links.add(link);
            io.warren.amqp.connection.AmqpConnection conn = beating.context().connections().iterator().next();
            CompletableFuture<io.warren.amqp.connection.ConnectionInfo> info = new CompletableFuture<>();
            conn.snapshot(info::complete);
            assertEquals(1, await(info).heartbeat());
            assertEquals(1, await(info).channelMax());
            assertEquals(131072, await(info).frameMax());
            assertEquals("WARREN-LINK", await(info).authMechanism());
            assertEquals("guest", await(info).user());
            assertEquals("warren-link", String.valueOf(await(info).clientProperties().get("product")));
            Thread.sleep(2_500);
            assertTrue(link.isOpen());
            await(link.qos(1));
            assertEquals(0, r.closedCalls.get());

            conn.ctx().close(); // the server's socket goes, no connection.close
            assertTrue(r.nextClose().startsWith("0 "));
            assertFalse(link.isOpen());
            Thread.sleep(50);
            assertEquals(1, r.closedCalls.get());
        } finally {
            beating.stop();
        }
    }

    /** WARREN-LINK is not in connection.start's mechanisms, with or without a LinkAuth. */
    @Test
    void theMechanismIsNeverOffered() throws Exception {
        String mechanisms = mechanisms(server.address());
        assertEquals("PLAIN AMQPLAIN", mechanisms);
    }

    /** Without a LinkAuth (not clustered), WARREN-LINK is an unknown mechanism: the login fails. */
    @Test
    void withoutLinkAuthTheMechanismIsUnknown() throws Exception {
        Server plain = Server.start(null);
        try {
            assertFalse(mechanisms(plain.address()).contains("WARREN-LINK"));
            Recorder r = new Recorder();
            CompletableFuture<AmqpLink> f = AmqpLink.open(group, NioSocketChannel.class, plain.address(), "/",
                    "guest", "node-b", hmac(KEY), 0, r);
            // An unknown mechanism is a handshake error: the server drops the socket (after 3 s).
            assertInstanceOf(IOException.class, failure(f));
            assertEquals(0, r.closedCalls.get());
        } finally {
            plain.stop();
        }
    }

    @Test
    void closedIsCalledOnceWhenTheServerGoes() throws Exception {
        Server other = Server.start(hmac(KEY));
        Recorder r = new Recorder();
        AmqpLink link;
        CompletableFuture<String> consume;
        try {
            link = AmqpLink.open(group, NioSocketChannel.class, other.address(), "/", "guest", "node-b", hmac(KEY), 0,
                    r).get(WAIT_S, TimeUnit.SECONDS);
            other.context().vhosts().get("/").declareQueue("q", false, false, false, false, Map.of(), null);
            await(link.consume("q", "fwd", false, Map.of()));
        } finally {
            other.stop();
        }
        // Shutdown forces connections off with 320 CONNECTION_FORCED.
        assertTrue(r.nextClose().startsWith("320 "));
        assertFalse(link.isOpen());
        link.close(); // nothing more to say
        Thread.sleep(100);
        assertEquals(1, r.closedCalls.get());
        assertInstanceOf(AmqpLink.LinkException.class, failure(link.purge("q")));
    }

    /** {@code p} encoded as a content header carries it (flags word and the present properties). */
    private static ByteBuf encoded(BasicProperties p) {
        ByteBuf b = Unpooled.buffer();
        p.write(b);
        return b;
    }

    private static BasicProperties props(String contentType, Map<String, Object> headers) {
        return new BasicProperties(contentType, null, headers, null, null, null, null, null, null, null, null, null,
                null, null);
    }

    private static ByteBuf body(String s) {
        return Unpooled.copiedBuffer(s, StandardCharsets.UTF_8);
    }

    @Test
    void publishWithConfirmsReachesTheQueue() throws Exception {
        String q = queue("link-publish");
        AmqpLink link = open(new Recorder());
        await(link.confirmSelect());
        int n = 200;
        List<CompletableFuture<Boolean>> confirms = new ArrayList<>();
        List<ByteBuf> bodies = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ByteBuf props = encoded(props("text/plain", Map.of("x-seq", i, "x-origin", "node-a")));
            ByteBuf body = body("m-" + i);
            bodies.add(body);
            confirms.add(link.publish("", q, props, body));
        }
        // One body larger than frame_max: several body frames.
        byte[] big = new byte[300_000];
        Arrays.fill(big, (byte) 'b');
        big[big.length - 1] = 'e';
        ByteBuf bigBody = Unpooled.wrappedBuffer(big);
        CompletableFuture<Boolean> bigConfirm = link.publish("", q, encoded(props("application/octet-stream", null)),
                bigBody);
        for (CompletableFuture<Boolean> c : confirms) {
            assertTrue(await(c), "acked");
        }
        assertTrue(await(bigConfirm));
        assertTrue(bodies.stream().allMatch(b -> b.refCnt() == 0), "the link released what it took");
        assertEquals(0, bigBody.refCnt());
        assertEquals(n + 1, awaitCount(q, n + 1));

        for (int i = 0; i < n; i++) {
            GetResponse g = ch.basicGet(q, true);
            assertNotNull(g, "message " + i);
            assertEquals("m-" + i, text(g.getBody()));
            assertEquals("", g.getEnvelope().getExchange());
            assertEquals(q, g.getEnvelope().getRoutingKey());
            assertEquals("text/plain", g.getProps().getContentType());
            assertEquals(i, g.getProps().getHeaders().get("x-seq"));
            assertEquals("node-a", String.valueOf(g.getProps().getHeaders().get("x-origin")));
        }
        GetResponse g = ch.basicGet(q, true);
        assertNotNull(g);
        assertArrayEquals(big, g.getBody());
        assertEquals("application/octet-stream", g.getProps().getContentType());
        assertNull(g.getProps().getHeaders());
        assertNull(ch.basicGet(q, true));
        assertTrue(link.isOpen());
        ch.queueDelete(q);
    }

    @Test
    void publishWithoutConfirmModeCompletesOnceWritten() throws Exception {
        String q = queue("link-publish-unconfirmed");
        AmqpLink link = open(new Recorder());
        assertTrue(await(link.publish("", q, encoded(BasicProperties.EMPTY), body("fire"))));
        assertTrue(await(link.publish("", q, encoded(BasicProperties.EMPTY), Unpooled.EMPTY_BUFFER)));
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
        while (ch.queueDeclarePassive(q).getMessageCount() < 2 && System.nanoTime() < end) {
            Thread.sleep(10);
        }
        assertEquals("fire", text(ch.basicGet(q, true).getBody()));
        assertEquals(0, ch.basicGet(q, true).getBody().length);
        ch.queueDelete(q);
    }

    /**
     * confirm.select waiting behind another request: a publish made meanwhile goes out before it
     * and is not counted, by the server nor by the link; the ones after it are confirmed with the
     * server's numbers.
     */
    @Test
    void aPublishWrittenBeforeConfirmSelectIsNotNumbered() throws Exception {
        String q = queue("link-confirm-order");
        AmqpLink link = open(new Recorder());
        // In one turn of the link's loop (the group's only one): purge is written, confirm.select
        // waits for purge-ok, the publish is written at once, before confirm.select.
        CompletableFuture<List<CompletableFuture<?>>> made = new CompletableFuture<>();
        group.next().execute(() -> made.complete(List.of(link.purge(q), link.confirmSelect(),
                link.publish("", q, encoded(BasicProperties.EMPTY), body("before")))));
        List<CompletableFuture<?>> f = await(made);
        assertEquals(0, await(f.get(0)));
        await(f.get(1));
        assertEquals(true, await(f.get(2)));
        // Numbered from 1 after confirm.select: were "before" counted, these would wait for a
        // confirm the server never sends (or the server's tags would run past the link's).
        for (int i = 0; i < 3; i++) {
            assertTrue(await(link.publish("", q, encoded(BasicProperties.EMPTY), body("after-" + i))));
        }
        assertTrue(link.isOpen());
        assertEquals(4, ch.queueDeclarePassive(q).getMessageCount());
        assertEquals("before", text(ch.basicGet(q, true).getBody()));
        ch.queueDelete(q);
    }

    /** A link logged in as node-b itself (no user): what forwards publishes. */
    private AmqpLink openAsNode(Recorder r) throws Exception {
        return open(r, "");
    }

    /**
     * A node's own link (no user) forwards a message another node routed to a queue held here:
     * it reaches that queue alone, whatever its exchange routes to here, with the exchange,
     * routing key and properties the publisher gave and without the forwarding header.
     */
    @Test
    void aNodeLinkForwardsToTheNamedQueueWithoutItsHeader() throws Exception {
        String q = queue("link-forwarded");
        String other = queue("link-not-forwarded");
        ch.exchangeDeclare("link-fanout", "fanout");
        ch.queueBind(other, "link-fanout", "");
        AmqpLink link = openAsNode(new Recorder());
        await(link.confirmSelect());
        Map<String, Object> headers = new java.util.LinkedHashMap<>();
        headers.put("origin", "node b");
        ByteBuf props = io.warren.amqp.channel.MessageHeaders.withForwardTo(io.netty.buffer.ByteBufAllocator.DEFAULT,
                encoded(props("text/plain", headers)), q);
        assertTrue(await(link.publish("link-fanout", "rk-9", props, body("forwarded"))));
        ByteBuf bare = io.warren.amqp.channel.MessageHeaders.withForwardTo(io.netty.buffer.ByteBufAllocator.DEFAULT,
                encoded(BasicProperties.EMPTY), q);
        assertTrue(await(link.publish("", "whatever", bare, body("bare"))));
        // a queue deleted meanwhile: the message reaches nothing, and is confirmed as unroutable
        ByteBuf gone = io.warren.amqp.channel.MessageHeaders.withForwardTo(io.netty.buffer.ByteBufAllocator.DEFAULT,
                encoded(BasicProperties.EMPTY), "link-no-such-queue");
        assertTrue(await(link.publish("", "x", gone, body("gone"))));
        assertEquals(2, awaitCount(q, 2));
        assertEquals(0, ch.queueDeclarePassive(other).getMessageCount(), "the exchange is not routed through");
        GetResponse first = ch.basicGet(q, true);
        assertEquals("forwarded", text(first.getBody()));
        assertEquals("link-fanout", first.getEnvelope().getExchange());
        assertEquals("rk-9", first.getEnvelope().getRoutingKey());
        assertEquals("text/plain", first.getProps().getContentType());
        assertEquals(Set.of("origin"), first.getProps().getHeaders().keySet());
        GetResponse second = ch.basicGet(q, true);
        assertEquals("bare", text(second.getBody()));
        assertEquals(null, second.getProps().getHeaders(), "a message without headers arrives without");
        ch.queueDelete(q);
        ch.queueDelete(other);
        ch.exchangeDelete("link-fanout");
    }

    /** A stand-in for queue {@code name} held by "node-a", reached through {@code relays}. */
    private static io.warren.core.queue.MessageQueue standIn(String name, LinkRelays relays, EventExecutor loop) {
        io.warren.core.queue.MessageQueue q = new io.warren.core.queue.MessageQueue(name, "/", true, false, null, null,
                loop, x -> { });
        q.remoteHome("node-a");
        q.remotes(relays);
        return q;
    }

    /**
     * LinkRelays' basic.get and queue.purge for a queue another node holds: each runs on a link of
     * its own (a got message's until it is settled), and the links are kept idle for the next, so
     * a client polling with basic.get costs no connection per get; a refusal closes its link.
     */
    @Test
    void getsAndPurgesThroughTheRelaysReuseAnIdleLink() throws Exception {
        String q = queueWith("link-get-pooled", 3);
        io.netty.util.concurrent.DefaultEventExecutor loop = new io.netty.util.concurrent.DefaultEventExecutor();
        LinkRelays relays = new LinkRelays(group, NioSocketChannel.class, "node-b", hmac(KEY),
                node -> CompletableFuture.completedFuture(server.address()));
        try {
            io.warren.core.queue.MessageQueue standIn = standIn(q, relays, loop);
            for (int i = 0; i < 3; i++) {
                CompletableFuture<io.warren.core.message.QueueEntry> got = new CompletableFuture<>();
                relays.get(standIn, "guest", (entry, count) -> got.complete(entry), got::completeExceptionally);
                io.warren.core.message.QueueEntry e = await(got);
                assertEquals("m" + i, e.message().body().toString(StandardCharsets.UTF_8));
                assertEquals(1, relays.openLinks(), "get " + (i + 1) + " ran on the link the one before left idle");
                e.remote().ack();
                e.message().release();
            }
            CompletableFuture<Integer> purged = new CompletableFuture<>();
            relays.purge(standIn, "guest", purged::complete, purged::completeExceptionally);
            assertEquals(0, await(purged), "the three gets were acked at the holder");
            CompletableFuture<io.warren.core.message.QueueEntry> none = new CompletableFuture<>();
            relays.get(standIn, "guest", (entry, count) -> none.complete(entry), none::completeExceptionally);
            assertNull(await(none));
            assertEquals(1, relays.openLinks(), "one link served the gets and the purge");

            CompletableFuture<io.warren.core.BrokerException> refused = new CompletableFuture<>();
            relays.get(standIn("link-get-missing", relays, loop), "guest",
                    (entry, count) -> refused.completeExceptionally(new AssertionError("got " + entry)), refused::complete);
            assertEquals(io.warren.core.BrokerException.Reason.NOT_FOUND, await(refused).reason());
            assertEquals(0, relays.openLinks(), "the refused link is closed, not kept");
        } finally {
            relays.close();
            loop.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            ch.queueDelete(q);
        }
    }

    /**
     * A use of a stand-in that fails at its holder (here: the holder cannot be reached), or that
     * finds no holder known, tells the stand-in, so a quorum queue's non-member asks the queue's
     * members for the leader again at once rather than at its next periodic refresh.
     */
    @Test
    void aFailedUseAtTheHolderTellsTheStandIn() throws Exception {
        io.netty.util.concurrent.DefaultEventExecutor loop = new io.netty.util.concurrent.DefaultEventExecutor();
        LinkRelays relays = new LinkRelays(group, NioSocketChannel.class, "node-b", hmac(KEY),
                node -> CompletableFuture.failedFuture(new java.io.IOException("node-a is down")));
        try {
            io.warren.core.queue.MessageQueue standIn = standIn("link-suspect", relays, loop);
            java.util.concurrent.atomic.AtomicInteger suspected = new java.util.concurrent.atomic.AtomicInteger();
            standIn.onHolderSuspect(suspected::incrementAndGet);
            CompletableFuture<io.warren.core.BrokerException> failed = new CompletableFuture<>();
            relays.get(standIn, "guest", (entry, count) -> failed.completeExceptionally(new AssertionError("got")),
                    failed::complete);
            assertEquals(io.warren.core.BrokerException.Reason.NOT_FOUND, await(failed).reason());
            assertEquals(1, suspected.get(), "the failed get told the stand-in");

            standIn.remoteHome(io.warren.core.store.StoreDurability.ELECTING); // no holder known
            CompletableFuture<Integer> purged = new CompletableFuture<>();
            relays.purge(standIn, "guest", purged::complete, e -> purged.completeExceptionally(e));
            assertThrows(Exception.class, () -> await(purged));
            assertEquals(2, suspected.get(), "a use with no holder known told the stand-in");
        } finally {
            relays.close();
            loop.shutdownGracefully(0, 0, TimeUnit.SECONDS);
        }
    }

    /**
     * LinkRelays' forwarder: what a node routes to a classic queue another node holds is
     * published there over the node's own link, in order, each publisher's write safe once
     * the holder confirmed it; one link serves every queue of that node and vhost.
     */
    @Test
    void theForwarderPublishesAtTheHolderAndReportsItsConfirms() throws Exception {
        String q = queue("link-forward-a");
        String q2 = queue("link-forward-b");
        io.netty.util.concurrent.DefaultEventExecutor loop = new io.netty.util.concurrent.DefaultEventExecutor();
        LinkRelays relays = new LinkRelays(group, NioSocketChannel.class, "node-b", hmac(KEY),
                node -> CompletableFuture.completedFuture(server.address()));
        try {
            io.warren.core.store.MessageStore f = standIn(q, relays, loop).forwardStore();
            io.warren.core.store.MessageStore f2 = standIn(q2, relays, loop).forwardStore();
            int n = 50;
            List<CompletableFuture<Void>> safe = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                CompletableFuture<Void> done = new CompletableFuture<>();
                safe.add(done);
                ByteBuf props = encoded(props("text/plain", null));
                ByteBuf b = body("m-" + i);
                (i % 2 == 0 ? f : f2).append("amq.direct", "rk", props, b, new long[] {0}, e -> {
                    if (e == null) {
                        done.complete(null);
                    } else {
                        done.completeExceptionally(e);
                    }
                });
                props.release();
                b.release(); // the forwarder keeps what it needs
            }
            CompletableFuture.allOf(safe.toArray(new CompletableFuture<?>[0])).get(WAIT_S, TimeUnit.SECONDS);
            CompletableFuture<Void> synced = new CompletableFuture<>();
            f.sync(e -> synced.complete(null));
            await(synced);
            assertEquals(1, relays.forwarders());
            assertEquals(1, relays.openLinks(), "one link for both queues of that node and vhost");
            assertEquals(n / 2, awaitCount(q, n / 2));
            assertEquals(n / 2, awaitCount(q2, n / 2));
            for (int i = 0; i < n; i += 2) {
                GetResponse got = ch.basicGet(q, true);
                assertEquals("m-" + i, text(got.getBody()), "in the order forwarded");
                assertEquals("amq.direct", got.getEnvelope().getExchange());
                assertEquals("rk", got.getEnvelope().getRoutingKey());
                assertEquals("text/plain", got.getProps().getContentType());
                assertNull(got.getProps().getHeaders());
            }
        } finally {
            relays.close();
            loop.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            ch.queueDelete(q);
            ch.queueDelete(q2);
        }
    }

    /** A holder that cannot be reached (its node is down) is a failure for the publisher: a nack, never a silent drop. */
    @Test
    void theForwarderFailsWhatItCannotDeliver() throws Exception {
        io.netty.util.concurrent.DefaultEventExecutor loop = new io.netty.util.concurrent.DefaultEventExecutor();
        LinkRelays relays = new LinkRelays(group, NioSocketChannel.class, "node-b", hmac(KEY),
                node -> CompletableFuture.failedFuture(new IOException("node-a is down")));
        try {
            io.warren.core.store.MessageStore f = standIn("link-forward-down", relays, loop).forwardStore();
            CompletableFuture<Throwable> outcome = new CompletableFuture<>();
            ByteBuf props = encoded(BasicProperties.EMPTY);
            ByteBuf b = body("lost?");
            f.append("", "link-forward-down", props, b, new long[] {0}, outcome::complete);
            props.release();
            b.release();
            Throwable e = await(outcome);
            assertNotNull(e, "the publisher is told");
            assertTrue(e.getMessage().contains("node-a is down"), e.getMessage());
            assertTrue(!f.overloaded());
        } finally {
            relays.close();
            loop.shutdownGracefully(0, 0, TimeUnit.SECONDS);
        }
    }

    /** A node's link publishes forwarded messages only: one without the header is refused (406), and it consumes nothing. */
    /**
     * A quorum queue's forwarded publish that fails where the stand-in thought the leader was (its
     * node went, or it nacked: the lead moved) is tried once more at the leader the queue's
     * members name next; a second failure is the publisher's nack. A classic queue's is not
     * retried (theForwarderFailsWhatItCannotDeliver).
     */
    @Test
    void aQuorumQueuesForwardedPublishIsTriedOnceMoreAtTheNextLeader() throws Exception {
        String q = queue("link-forward-retry");
        io.netty.util.concurrent.DefaultEventExecutor loop = new io.netty.util.concurrent.DefaultEventExecutor();
        LinkRelays relays = new LinkRelays(group, NioSocketChannel.class, "node-b", hmac(KEY),
                node -> node.equals("node-a") ? CompletableFuture.completedFuture(server.address())
                        : CompletableFuture.failedFuture(new IOException(node + " is down")));
        try {
            io.warren.core.queue.MessageQueue standIn = new io.warren.core.queue.MessageQueue(q, "/", true, false,
                    null, Map.of("x-queue-type", "quorum"), loop, x -> { });
            standIn.remoteHome("node-a");
            standIn.remotes(relays);
            java.util.concurrent.atomic.AtomicReference<String> leader = new java.util.concurrent.atomic.AtomicReference<>("node-x");
            java.util.concurrent.atomic.AtomicInteger asked = new java.util.concurrent.atomic.AtomicInteger();
            standIn.leaderLookup(leader::get);
            // the members, asked again, name the next leader
            standIn.onHolderSuspect(() -> {
                asked.incrementAndGet();
                leader.set(leader.get().equals("node-x") ? "node-a" : leader.get());
            });
            io.warren.core.store.MessageStore f = standIn.forwardStore();
            CompletableFuture<Throwable> outcome = new CompletableFuture<>();
            ByteBuf props = encoded(BasicProperties.EMPTY);
            ByteBuf b = body("moved");
            f.append("", q, props, b, new long[] {0}, outcome::complete);
            props.release();
            b.release();
            assertNull(await(outcome), "confirmed by the next leader, not nacked");
            assertTrue(asked.get() >= 1, "the failure asked the members who leads");
            assertEquals(1, awaitCount(q, 1));
            assertEquals("moved", text(ch.basicGet(q, true).getBody()));

            // no leader known yet: the publish waits for one
            leader.set(io.warren.core.store.StoreDurability.ELECTING);
            CompletableFuture<Throwable> waited = new CompletableFuture<>();
            props = encoded(BasicProperties.EMPTY);
            b = body("elected");
            f.append("", q, props, b, new long[] {0}, waited::complete);
            props.release();
            b.release();
            Thread.sleep(100);
            assertTrue(!waited.isDone(), "no nack while no leader is known");
            leader.set("node-a");
            assertNull(await(waited));
            assertEquals("elected", text(ch.basicGet(q, true).getBody()));

            // the next leader fails too: the publisher is told, once
            leader.set("node-x");
            standIn.onHolderSuspect(() -> leader.set("node-y"));
            CompletableFuture<Throwable> twice = new CompletableFuture<>();
            java.util.concurrent.atomic.AtomicInteger answers = new java.util.concurrent.atomic.AtomicInteger();
            props = encoded(BasicProperties.EMPTY);
            b = body("lost?");
            f.append("", q, props, b, new long[] {0}, e -> {
                answers.incrementAndGet();
                twice.complete(e);
            });
            props.release();
            b.release();
            Throwable e = await(twice);
            assertNotNull(e, "the publisher is told");
            assertTrue(e.getMessage().contains("node-y is down"), e.getMessage());
            Thread.sleep(100);
            assertEquals(1, answers.get(), "one answer per publish");
            assertEquals(0, ch.queueDeclarePassive(q).getMessageCount());
        } finally {
            relays.close();
            loop.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            ch.queueDelete(q);
        }
    }

    @Test
    void aNodeLinkDoesNothingButForward() throws Exception {
        String q = queue("link-node-only");
        AmqpLink link = openAsNode(new Recorder());
        await(link.confirmSelect());
        AmqpLink.LinkException e = assertInstanceOf(AmqpLink.LinkException.class,
                failure(link.publish("", q, encoded(BasicProperties.EMPTY), body("x"))));
        assertEquals(406, e.code());
        assertTrue(e.text().contains("x-warren-forward-to"), e.text());
        AmqpLink consumer = openAsNode(new Recorder());
        assertEquals(403, assertInstanceOf(AmqpLink.LinkException.class,
                failure(consumer.consume(q, "", false, null))).code());
        assertEquals(0, ch.queueDeclarePassive(q).getMessageCount());
        ch.queueDelete(q);
    }

    @Test
    void publishToAnExchangeKeepsExchangeAndRoutingKey() throws Exception {
        String q = queue("link-publish-direct");
        ch.exchangeDeclare("link-direct", "direct");
        ch.queueBind(q, "link-direct", "rk-1");
        LinkedBlockingQueue<Envelope> envelopes = new LinkedBlockingQueue<>();
        LinkedBlockingQueue<String> bodies = new LinkedBlockingQueue<>();
        ch.basicConsume(q, true, new DefaultConsumer(ch) {
            @Override public void handleDelivery(String tag, Envelope envelope, AMQP.BasicProperties properties,
                                                 byte[] body) {
                envelopes.add(envelope);
                bodies.add(text(body));
            }
        });
        AmqpLink link = open(new Recorder());
        await(link.confirmSelect());
        assertTrue(await(link.publish("link-direct", "rk-1", encoded(BasicProperties.EMPTY), body("routed"))));
        // Unroutable (mandatory=false): dropped by the server, still acked, no basic.return trouble.
        assertTrue(await(link.publish("link-direct", "no-binding", encoded(BasicProperties.EMPTY), body("lost"))));
        Envelope e = envelopes.poll(WAIT_S, TimeUnit.SECONDS);
        assertNotNull(e, "no delivery");
        assertEquals("link-direct", e.getExchange());
        assertEquals("rk-1", e.getRoutingKey());
        assertEquals("routed", bodies.poll(WAIT_S, TimeUnit.SECONDS)); // added just after its envelope
        assertTrue(link.isOpen());
        Thread.sleep(50);
        assertTrue(envelopes.isEmpty());
        ch.queueDelete(q);
        ch.exchangeDelete("link-direct");
    }

    @Test
    void outstandingConfirmsFailWhenTheLinkCloses() throws Exception {
        Recorder r = new Recorder();
        AmqpLink link = open(r);
        await(link.confirmSelect());
        // The server closes the channel (404) at the publish method: the link goes before any confirm.
        CompletableFuture<Boolean> lost = link.publish("no-such-exchange", "rk", encoded(BasicProperties.EMPTY),
                body("x"));
        AmqpLink.LinkException e = assertInstanceOf(AmqpLink.LinkException.class, failure(lost));
        assertEquals(404, e.code());
        assertTrue(e.text().contains("no-such-exchange"), e.text());
        assertTrue(r.nextClose().startsWith("404 "));
        assertFalse(link.isOpen());
        // After the close: fails at once, the buffers released.
        ByteBuf props = encoded(BasicProperties.EMPTY);
        ByteBuf body = body("late");
        assertEquals(404, assertInstanceOf(AmqpLink.LinkException.class,
                failure(link.publish("", "q", props, body))).code());
        assertEquals(0, props.refCnt());
        assertEquals(0, body.refCnt());
    }

    /** Confirms outstanding when the server drops the connection fail with the link's cause. */
    @Test
    void outstandingConfirmsFailWhenTheConnectionDrops() throws Exception {
        Server other = Server.start(hmac(KEY));
        try {
            Recorder r = new Recorder();
            AmqpLink link = AmqpLink.open(group, NioSocketChannel.class, other.address(), "/", "guest", "node-b",
                    hmac(KEY), 0, r).get(WAIT_S, TimeUnit.SECONDS);
            links.add(link);
            await(link.confirmSelect());
            io.warren.amqp.connection.AmqpConnection conn = other.context().connections().iterator().next();
            // Stop the server's reads, then publish: nothing is confirmed before the socket goes.
            CompletableFuture<Void> stopped = new CompletableFuture<>();
            conn.ctx().executor().execute(() -> {
                conn.ctx().channel().config().setAutoRead(false);
                stopped.complete(null);
            });
            await(stopped);
            List<CompletableFuture<Boolean>> confirms = new ArrayList<>();
            for (int i = 0; i < 10; i++) {
                confirms.add(link.publish("", "q", encoded(BasicProperties.EMPTY), body("m" + i)));
            }
            Thread.sleep(200);
            assertTrue(confirms.stream().noneMatch(CompletableFuture::isDone), "nothing confirmed while unread");
            conn.ctx().close();
            for (CompletableFuture<Boolean> c : confirms) {
                assertInstanceOf(IOException.class, failure(c));
            }
            assertTrue(r.nextClose().startsWith("0 "));
        } finally {
            other.stop();
        }
    }

    @Test
    void declarePassiveReportsCounts() throws Exception {
        String q = queueWith("link-declare", 3);
        AmqpLink link = open(new Recorder());
        assertEquals(new AmqpLink.DeclareOk(q, 3, 0), await(link.declarePassive(q)));

        // A consumer that takes one and holds it unacked (prefetch 1): 2 ready, 1 consumer.
        LinkedBlockingQueue<Long> tags = new LinkedBlockingQueue<>();
        ch.basicQos(1);
        ch.basicConsume(q, false, new DefaultConsumer(ch) {
            @Override public void handleDelivery(String tag, Envelope envelope, AMQP.BasicProperties properties,
                                                 byte[] body) {
                tags.add(envelope.getDeliveryTag());
            }
        });
        assertNotNull(tags.poll(WAIT_S, TimeUnit.SECONDS));
        assertEquals(new AmqpLink.DeclareOk(q, 2, 1), await(link.declarePassive(q)));

        Recorder r = new Recorder();
        AmqpLink other = open(r);
        AmqpLink.LinkException e = assertInstanceOf(AmqpLink.LinkException.class,
                failure(other.declarePassive("link-no-such-queue")));
        assertEquals(404, e.code());
        assertTrue(r.nextClose().startsWith("404 "));
        assertFalse(other.isOpen());
        assertTrue(link.isOpen());
        ch.queueDelete(q);
    }

    @Test
    void deleteReportsTheCountAndIfEmptyRefuses() throws Exception {
        String q = queueWith("link-delete", 4);
        Recorder r = new Recorder();
        AmqpLink link = open(r);
        AmqpLink.LinkException e = assertInstanceOf(AmqpLink.LinkException.class, failure(link.delete(q, false, true)));
        assertEquals(406, e.code());
        assertTrue(r.nextClose().startsWith("406 "));
        assertFalse(link.isOpen());
        assertEquals(4, ch.queueDeclarePassive(q).getMessageCount(), "refused: still there");

        AmqpLink fresh = open(new Recorder());
        assertEquals(4, await(fresh.delete(q, false, false)));
        assertTrue(fresh.isOpen());
        Channel probe = client.createChannel();
        IOException gone = assertThrows(IOException.class, () -> probe.queueDeclarePassive(q));
        assertTrue(String.valueOf(gone.getCause()).contains("404"), String.valueOf(gone.getCause()));
        assertFalse(probe.isOpen());
    }

    /** The mechanisms a server offers in connection.start, read off a raw socket. */
    private static String mechanisms(InetSocketAddress address) throws IOException {
        try (Socket s = new Socket(address.getAddress(), address.getPort())) {
            s.setSoTimeout(5000);
            OutputStream out = s.getOutputStream();
            out.write(new byte[] {'A', 'M', 'Q', 'P', 0, 0, 9, 1});
            out.flush();
            DataInputStream in = new DataInputStream(s.getInputStream());
            assertEquals(1, in.readUnsignedByte());
            assertEquals(0, in.readUnsignedShort());
            byte[] payload = new byte[in.readInt()];
            in.readFully(payload);
            ByteBuf b = Unpooled.wrappedBuffer(payload);
            assertEquals(ConnectionStart.CLASS_ID, b.readUnsignedShort());
            assertEquals(ConnectionStart.METHOD_ID, b.readUnsignedShort());
            return new String(ConnectionStart.decode(b).mechanisms(), StandardCharsets.UTF_8);
        }
    }
}
