package io.warren.core.queue;

import io.netty.buffer.Unpooled;
import io.netty.util.concurrent.DefaultEventExecutor;
import io.warren.core.BrokerException;
import io.warren.core.message.Message;
import io.warren.core.message.QueueEntry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import java.util.function.IntConsumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A cluster stand-in (a queue another node holds) on its own loop, with a recording
 * {@link RemoteQueues}: consumers become relays, relayed deliveries settle at the holder however
 * the client settles them, and leadership moving turns consumers into relays and back.
 */
class StandInRelayTest {
    private final DefaultEventExecutor loop = new DefaultEventExecutor();
    private final MessageQueue q = new MessageQueue("q", "/", true, false, null, null, loop, x -> { });
    private final List<String> calls = new ArrayList<>();

    private final RemoteQueues remotes = new RemoteQueues() {
        @Override public Relay consume(MessageQueue queue, Consumer c) {
            calls.add("consume " + c.tag());
            return new Relay() {
                @Override public CompletableFuture<Void> started() {
                    return CompletableFuture.completedFuture(null);
                }

                @Override public void pump() {
                    calls.add("pump " + c.tag());
                }

                @Override public void cancel() {
                    calls.add("cancel " + c.tag());
                }
            };
        }

        @Override public void get(MessageQueue queue, String user, BiConsumer<QueueEntry, Integer> sink,
                                  java.util.function.Consumer<BrokerException> failed) {
            throw new UnsupportedOperationException();
        }

        @Override public void purge(MessageQueue queue, String user, IntConsumer sink,
                                    java.util.function.Consumer<BrokerException> failed) {
            throw new UnsupportedOperationException();
        }
    };

    /** A consumer with room for everything that records what reaches it. */
    private final class Recording implements Consumer {
        final String tag;
        final List<String> got = new ArrayList<>();

        Recording(String tag) {
            this.tag = tag;
        }

        @Override public String tag() {
            return tag;
        }

        @Override public boolean exclusive() {
            return false;
        }

        @Override public boolean tryReserve() {
            return true;
        }

        @Override public void deliver(MessageQueue queue, QueueEntry entry) {
            got.add(entry.message().routingKey());
            queue.discard(entry);
        }

        @Override public void cancelledByQueue(MessageQueue queue) {
            calls.add("cancelled " + tag);
        }
    }

    @AfterEach
    void stop() {
        loop.shutdownGracefully(0, 0, TimeUnit.SECONDS);
    }

    private <T> T on(Callable<T> task) throws Exception {
        return loop.submit(task).get(10, TimeUnit.SECONDS);
    }

    private static Message message(String key) {
        return new Message("", key, Unpooled.buffer(2).writeShort(0), Unpooled.wrappedBuffer(new byte[] {1}), false,
                b -> null);
    }

    /** A relayed delivery whose settlement at the holder is recorded as "ack key", "requeue key"... */
    private QueueEntry relayed(String key) {
        return new QueueEntry(message(key), 0, false, new QueueEntry.Remote() {
            @Override public void ack() {
                calls.add("ack " + key);
            }

            @Override public void requeue() {
                calls.add("requeue " + key);
            }

            @Override public void reject() {
                calls.add("reject " + key);
            }
        });
    }

    @Test
    void consumersOfAStandInAreRelayedAndItsDeliveriesSettleAtTheHolder() throws Exception {
        q.remoteHome("warren2@localhost");
        q.remotes(remotes);
        Recording c = new Recording("c1");
        on(() -> {
            q.addConsumer(c);
            q.scheduleDispatch();
            return null;
        });
        assertEquals(1, q.consumerCount());
        QueueEntry a = relayed("a");
        QueueEntry b = relayed("b");
        QueueEntry d = relayed("d");
        q.discard(a);
        q.reject(b);
        // A channel closing requeues what it holds of the queue; the first may be a local entry
        // from when this node led, the relayed ones must still go back to the holder.
        Message local = message("local");
        on(() -> {
            q.requeue(List.of(new QueueEntry(local, 0, true, QueueEntry.NOT_STORED), d), true);
            q.removeConsumer(c);
            return null;
        });
        assertEquals(List.of("consume c1", "pump c1", "ack a", "reject b", "requeue d", "cancel c1"), calls);
        for (QueueEntry e : List.of(a, b, d)) {
            assertEquals(0, e.message().body().refCnt(), "released here once settled at the holder");
        }
        assertEquals(0, local.body().refCnt(), "a stand-in keeps no message of its own");
        assertEquals(0, q.consumerCount());
    }

    @Test
    void aDemotedLeadersConsumersAreRelayedAndComeBackWhenItLeadsAgain() throws Exception {
        q.remotes(remotes);
        Recording c = new Recording("c1");
        on(() -> {
            q.addConsumer(c);
            q.demote("warren2@localhost");
            return null;
        });
        assertEquals(List.of("consume c1"), calls, "relayed, never cancelled");
        assertEquals("warren2@localhost", q.remoteHome());
        on(() -> {
            q.promote(List.of());
            q.enqueue(message("after"), QueueEntry.NOT_STORED);
            return null;
        });
        assertEquals(List.of("consume c1", "cancel c1"), calls);
        assertEquals(List.of("after"), c.got, "a local consumer again");
        assertTrue(q.remoteHome() == null);
    }

    @Test
    void withoutRemotesAStandInRefusesAndADemotedLeaderCancels() throws Exception {
        q.remoteHome("warren2@localhost");
        Recording c = new Recording("c1");
        BrokerException refused = on(() -> {
            try {
                q.addConsumer(c);
                return null;
            } catch (BrokerException e) {
                return e;
            }
        });
        assertEquals(BrokerException.Reason.NOT_FOUND, refused.reason());
        MessageQueue leader = new MessageQueue("q2", "/", true, false, null, null, loop, x -> { });
        on(() -> {
            leader.addConsumer(c);
            leader.demote(null);
            return null;
        });
        assertEquals(List.of("cancelled c1"), calls);
    }
}
