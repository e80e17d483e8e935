package io.warren.it.flow;

import com.rabbitmq.client.BlockedListener;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.SingleThreadEventExecutor;
import io.warren.amqp.connection.AmqpConnection;
import io.warren.core.queue.MessageQueue;
import io.warren.it.support.WarrenBroker;
import io.warren.server.WarrenConfig;
import io.warren.server.flow.Watermark;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Credit flow inside the broker, as RabbitMQ's credit_flow: a publisher whose queue (on another
 * event loop) does not keep up is paused (its socket no longer read; state "flow", no
 * connection.blocked) after 400 messages, and resumes when the queue catches up; nothing is
 * lost or reordered. The queue's loop is held busy by a task of the test, which is what a queue
 * loop swamped by work looks like to the publisher. Alarms and flow combine: either one keeps
 * the socket unread. A deleted queue or a closed connection leaves nothing paused or held.
 */
class CreditFlowTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    static final int CREDIT = io.warren.core.flow.PublisherFlow.INITIAL_CREDIT;

    @BeforeAll
    static void needsItsOwnBroker() {
        assumeFalse(WarrenBroker.external(), "looks at the broker's connections and holds its loops");
    }

    private final List<CountDownLatch> holds = new CopyOnWriteArrayList<>();

    @AfterEach
    void releaseLoopsAndAlarms() {
        holds.forEach(CountDownLatch::countDown);
        broker.broker().setMemoryHighWatermark(WarrenConfig.DEFAULT_MEMORY_HIGH_WATERMARK);
    }

    /** The broker's side of a client connection. */
    private static AmqpConnection serverSide(Connection c) {
        return broker.broker().connections().stream()
                .filter(a -> ((InetSocketAddress) a.ctx().channel().remoteAddress()).getPort()
                        == ((com.rabbitmq.client.impl.NetworkConnection) c).getLocalPort())
                .findFirst().orElseThrow();
    }

    /** A new queue living on another loop than {@code conn}'s (its name picks the loop). */
    private static MessageQueue queueOnAnotherLoop(Channel ch, AmqpConnection conn) throws Exception {
        assumeTrue(Runtime.getRuntime().availableProcessors() > 1, "one event loop: every queue is on the publisher's");
        for (int i = 0; i < 100; i++) {
            String name = "credit-" + UUID.randomUUID();
            ch.queueDeclare(name, false, false, false, null);
            MessageQueue q = broker.broker().vhost("/").queue(name);
            if (q.loop() != conn.loop()) {
                return q;
            }
            ch.queueDelete(name);
        }
        throw new AssertionError("no queue landed on another loop");
    }

    /** Keeps {@code loop} busy (as a swamped queue loop is) until the latch is counted down. */
    private CountDownLatch hold(EventExecutor loop) throws InterruptedException {
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch held = new CountDownLatch(1);
        holds.add(release);
        loop.execute(() -> {
            held.countDown();
            try {
                release.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        assertTrue(held.await(10, TimeUnit.SECONDS));
        return release;
    }

    /** Publishes {@code n} numbered 1 KB messages from a thread of its own (it stalls while paused). */
    private static Thread publisher(Channel ch, String queue, int from, int n, AtomicInteger sent,
                                    AtomicReference<Throwable> failed) {
        Thread t = new Thread(() -> {
            byte[] body = new byte[1024];
            try {
                for (int i = from; i < from + n; i++) {
                    ByteBuffer.wrap(body).putInt(i);
                    ch.basicPublish("", queue, null, body);
                    sent.incrementAndGet();
                }
            } catch (Throwable e) {
                failed.set(e);
            }
        }, "credit-publisher");
        t.setDaemon(true);
        t.start();
        return t;
    }

    private static int pendingTasks(EventExecutor loop) {
        return ((SingleThreadEventExecutor) loop).pendingTasks();
    }

    /** Takes every message of {@code queue} with basic.get and checks they are 0..n-1 in order. */
    private static void assertAllInOrder(Channel ch, String queue, int n) throws Exception {
        for (int i = 0; i < n; i++) {
            GetResponse r = ch.basicGet(queue, true);
            assertNotNull(r, "message " + i + " of " + n + " missing");
            assertEquals(i, ByteBuffer.wrap(r.getBody()).getInt(), "out of order");
        }
        assertNull(ch.basicGet(queue, true));
    }

    @Test
    void aPublisherToABusyQueueLoopIsPausedAndResumedWithNothingLostOrReordered() throws Exception {
        Connection pub = broker.connect();
        List<String> blockedEvents = new CopyOnWriteArrayList<>();
        pub.addBlockedListener(new BlockedListener() {
            @Override public void handleBlocked(String reason) {
                blockedEvents.add("blocked " + reason);
            }

            @Override public void handleUnblocked() {
                blockedEvents.add("unblocked");
            }
        });
        Channel ch = pub.createChannel();
        AmqpConnection conn = serverSide(pub);
        MessageQueue q = queueOnAnotherLoop(ch, conn);
        assertEquals("running", conn.state());

        CountDownLatch release = hold(q.loop());
        int n = 5 * CREDIT;
        AtomicInteger sent = new AtomicInteger();
        AtomicReference<Throwable> failed = new AtomicReference<>();
        Thread t = publisher(ch, q.name(), 0, n, sent, failed);
        await().atMost(Duration.ofSeconds(10)).until(() -> conn.state().equals("flow"));
        assertFalse(conn.ctx().channel().config().isAutoRead());
        // Paused: what the broker took in stays at the credit plus about one socket read (64
        // x 1 KB messages), not the 2,000 the client sends (most wait in the client's socket).
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(5))
                .until(() -> conn.state().equals("flow"));
        int waiting = pendingTasks(q.loop());
        assertTrue(waiting >= CREDIT && waiting < CREDIT + 200, waiting + " enqueues waiting for the queue's loop");
        assertEquals(1, conn.flowPauses());

        release.countDown();
        t.join(30_000);
        assertNull(failed.get());
        assertEquals(n, sent.get());
        await().atMost(Duration.ofSeconds(20)).until(() -> q.messageCount() == n);
        await().atMost(Duration.ofSeconds(10)).until(() -> conn.state().equals("running"));
        assertTrue(conn.ctx().channel().config().isAutoRead());
        assertAllInOrder(ch, q.name(), n);
        // Flow is not an alarm: RabbitMQ sends connection.blocked only for alarms.
        assertEquals(List.of(), blockedEvents);
        assertTrue(pub.isOpen());
    }

    @Test
    void anAlarmAndCreditFlowEachKeepTheSocketUnreadUntilBothAreGone() throws Exception {
        Connection pub = broker.connect();
        Channel ch = pub.createChannel();
        AmqpConnection conn = serverSide(pub);
        MessageQueue q = queueOnAnotherLoop(ch, conn);

        // Round 1: the alarm clears first; the connection must stay paused by flow.
        CountDownLatch release = hold(q.loop());
        outOfCreditAndBlocked(ch, q, conn, 0);
        broker.broker().setMemoryHighWatermark(WarrenConfig.DEFAULT_MEMORY_HIGH_WATERMARK);
        await().atMost(Duration.ofSeconds(10)).until(() -> conn.state().equals("flow"));
        await().during(Duration.ofMillis(200)).atMost(Duration.ofSeconds(2))
                .until(() -> !conn.ctx().channel().config().isAutoRead());
        release.countDown();
        await().atMost(Duration.ofSeconds(10)).until(() -> conn.state().equals("running"));
        assertTrue(conn.ctx().channel().config().isAutoRead());

        // Round 2: credit comes back first; the connection must stay blocked by the alarm.
        release = hold(q.loop());
        outOfCreditAndBlocked(ch, q, conn, CREDIT);
        release.countDown();
        await().atMost(Duration.ofSeconds(10)).until(() -> q.messageCount() == 2 * CREDIT);
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(2))
                .until(() -> conn.state().equals("blocked") && !conn.ctx().channel().config().isAutoRead());
        broker.broker().setMemoryHighWatermark(WarrenConfig.DEFAULT_MEMORY_HIGH_WATERMARK);
        await().atMost(Duration.ofSeconds(10)).until(() -> conn.state().equals("running"));
        assertTrue(conn.ctx().channel().config().isAutoRead());
        ch.exchangeDeclarePassive("amq.direct"); // a round trip: the socket is read again
        assertAllInOrder(ch, q.name(), 2 * CREDIT);
    }

    /**
     * With {@code q}'s loop held: publishes CREDIT - 1 messages (all read: credit is left), sets
     * a memory alarm, then publishes the last one, which both uses up the credit and, being a
     * publish during an alarm, blocks the connection.
     */
    private static void outOfCreditAndBlocked(Channel ch, MessageQueue q, AmqpConnection conn, int from)
            throws Exception {
        byte[] body = new byte[1024];
        for (int i = from; i < from + CREDIT - 1; i++) {
            ByteBuffer.wrap(body).putInt(i);
            ch.basicPublish("", q.name(), null, body);
        }
        ch.exchangeDeclarePassive("amq.direct"); // answered on the connection's loop: all read
        assertEquals("running", conn.state());
        broker.broker().setMemoryHighWatermark(new Watermark.Absolute(0));
        ByteBuffer.wrap(body).putInt(from + CREDIT - 1);
        ch.basicPublish("", q.name(), null, body);
        await().atMost(Duration.ofSeconds(10)).until(() -> conn.state().equals("blocked"));
        assertFalse(conn.ctx().channel().config().isAutoRead());
    }

    @Test
    void aQueueDeletedWhileItsPublisherIsPausedReleasesIt() throws Exception {
        Connection pub = broker.connect();
        Channel ch = pub.createChannel();
        AmqpConnection conn = serverSide(pub);
        MessageQueue q = queueOnAnotherLoop(ch, conn);
        // Opened first: a connection opened while a loop is held may land on it.
        Channel other = broker.connect().createChannel();
        CountDownLatch release = hold(q.loop());
        AtomicInteger sent = new AtomicInteger();
        AtomicReference<Throwable> failed = new AtomicReference<>();
        Thread t = publisher(ch, q.name(), 0, 3 * CREDIT, sent, failed);
        await().atMost(Duration.ofSeconds(10)).until(() -> conn.state().equals("flow"));
        // Deleted by another connection; the delete runs on the held loop after the enqueues.
        Thread deleter = new Thread(() -> {
            try {
                other.queueDelete(q.name());
            } catch (Exception e) {
                failed.set(e);
            }
        });
        deleter.start();
        release.countDown();
        deleter.join(30_000);
        t.join(30_000);
        assertNull(failed.get());
        await().atMost(Duration.ofSeconds(10)).until(() -> conn.state().equals("running"));
        ch.exchangeDeclarePassive("amq.direct");
        assertTrue(pub.isOpen());
    }

    @Test
    void creditStateForShortLivedQueuesStaysBounded() throws Exception {
        Connection pub = broker.connect();
        Channel ch = pub.createChannel();
        AmqpConnection conn = serverSide(pub);
        // RPC style: a reply queue per request, one message each, deleted after.
        for (int i = 0; i < 200; i++) {
            String name = ch.queueDeclare().getQueue();
            ch.basicPublish("", name, null, new byte[] {1});
            ch.queueDelete(name);
        }
        int links = conn.loop().submit(conn::creditLinks).get(10, TimeUnit.SECONDS);
        assertTrue(links <= 32, links + " credit links kept for 200 deleted queues");
        assertEquals("running", conn.state());
    }

    /**
     * The client's socket closes while the broker is not reading it (Java client's abort would
     * wait for close-ok behind the stalled publisher thread, so the socket is closed under it).
     * The broker sees the end of the stream once the queue has caught up and it reads again;
     * what it read before is in the queue, in order, and the connection is gone.
     */
    @Test
    void aPublisherClosedWhilePausedLeavesNothingBehind() throws Exception {
        AtomicReference<java.net.Socket> socket = new AtomicReference<>();
        com.rabbitmq.client.ConnectionFactory f = broker.factory();
        f.setSocketConfigurator(s -> {
            s.setTcpNoDelay(true);
            socket.set(s);
        });
        Connection pub = f.newConnection();
        Channel ch = pub.createChannel();
        AmqpConnection conn = serverSide(pub);
        MessageQueue q = queueOnAnotherLoop(ch, conn);
        CountDownLatch release = hold(q.loop());
        Thread t = publisher(ch, q.name(), 0, 3 * CREDIT, new AtomicInteger(), new AtomicReference<>());
        await().atMost(Duration.ofSeconds(10)).until(() -> conn.state().equals("flow"));
        socket.get().close();
        t.join(30_000);
        release.countDown();
        await().atMost(Duration.ofSeconds(10)).until(() -> !broker.broker().connections().contains(conn));
        assertEquals("closed", conn.state());
        Channel other = broker.connect().createChannel();
        await().atMost(Duration.ofSeconds(10)).until(() -> q.messageCount() >= CREDIT);
        int n = other.queueDeclarePassive(q.name()).getMessageCount();
        assertTrue(n >= CREDIT && n <= 3 * CREDIT, n + " messages");
        assertAllInOrder(other, q.name(), n);
        // The queue and both loops serve a new publisher at once.
        other.basicPublish("", q.name(), null, ByteBuffer.allocate(4).putInt(0).array());
        assertAllInOrder(other, q.name(), 1);
    }
}
