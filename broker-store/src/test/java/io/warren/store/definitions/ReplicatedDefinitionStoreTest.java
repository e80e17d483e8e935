package io.warren.store.definitions;

import io.warren.core.store.DefinitionStore.BindingDef;
import io.warren.core.store.DefinitionStore.ExchangeDef;
import io.warren.core.store.DefinitionStore.QueueDef;
import io.warren.store.definitions.ReplicatedDefinitionStore.HomedQueue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The cluster's definitions: non-durable exchanges and queues (exclusive ones too) travel
 * through the log like durable ones, and the log's own clean-up records (a node's start, a node
 * down) remove what ended runs left, on every node alike. The log here is one in-process list
 * that applies each record to every store in one order, as the metadata Raft group does.
 */
class ReplicatedDefinitionStoreTest {
    private static final byte[] NO_ARGS = null;

    /** Every store applies every record, in submission order. */
    static final class Log {
        final List<ReplicatedDefinitionStore> stores = new ArrayList<>();
        final List<byte[]> records = new ArrayList<>();
        /** Submissions refused before the log takes records (a cluster without a majority). */
        final AtomicInteger refuse = new AtomicInteger();

        synchronized CompletableFuture<?> submit(byte[] record) {
            if (refuse.get() > 0) {
                refuse.decrementAndGet();
                return CompletableFuture.failedFuture(new IllegalStateException("no majority"));
            }
            records.add(record);
            for (ReplicatedDefinitionStore s : stores) {
                s.apply(records.size(), record);
            }
            return CompletableFuture.completedFuture(null);
        }

        /** A store that sends its start record first ({@code alone}: no other node was running). */
        ReplicatedDefinitionStore node(String name, boolean alone) throws Exception {
            return node(name, () -> alone);
        }

        ReplicatedDefinitionStore node(String name, java.util.function.BooleanSupplier alone) throws Exception {
            ReplicatedDefinitionStore s = new ReplicatedDefinitionStore(name, this::submit, alone);
            synchronized (this) {
                // it sees the log from its start, as a node replays it
                for (int i = 0; i < records.size(); i++) {
                    s.apply(i + 1, records.get(i));
                }
                stores.add(s);
            }
            s.ready();
            s.started().get(10, TimeUnit.SECONDS);
            return s;
        }

        synchronized void remove(ReplicatedDefinitionStore s) {
            stores.remove(s);
            s.close();
        }
    }

    /** What a follower was told. */
    static final class Seen implements ReplicatedDefinitionStore.Changes {
        final List<Object> put = new ArrayList<>();
        final List<Object> removed = new ArrayList<>();

        @Override public synchronized void put(Object d) {
            put.add(d);
        }

        @Override public synchronized void removed(Object d) {
            removed.add(d);
        }

        synchronized List<String> removedNames() {
            List<String> names = new ArrayList<>();
            for (Object d : removed) {
                if (d instanceof HomedQueue h) {
                    names.add("queue " + h.queue().name());
                } else if (d instanceof ExchangeDef x) {
                    names.add("exchange " + x.name());
                }
            }
            return names;
        }
    }

    private final List<ReplicatedDefinitionStore> opened = new ArrayList<>();

    @AfterEach
    void close() {
        opened.forEach(ReplicatedDefinitionStore::close);
    }

    private ReplicatedDefinitionStore open(Log log, String node, boolean alone) throws Exception {
        return open(log, node, () -> alone);
    }

    private ReplicatedDefinitionStore open(Log log, String node, java.util.function.BooleanSupplier alone)
            throws Exception {
        ReplicatedDefinitionStore s = log.node(node, alone);
        opened.add(s);
        return s;
    }

    private static void sync(ReplicatedDefinitionStore s) throws Exception {
        CompletableFuture<Throwable> done = new CompletableFuture<>();
        s.sync(done::complete);
        Throwable failure = done.get(10, TimeUnit.SECONDS);
        if (failure != null) {
            throw new AssertionError(failure);
        }
    }

    private static ExchangeDef exchange(String name, boolean durable) {
        return new ExchangeDef("/", name, "fanout", false, false, NO_ARGS, durable);
    }

    private static QueueDef queue(String name, boolean durable, boolean exclusive) {
        return new QueueDef("/", name, durable ? name.hashCode() & 0xffff : 0, false, NO_ARGS, durable, exclusive);
    }

    private static BindingDef binding(String exchange, String queue) {
        return new BindingDef("/", exchange, true, queue, "", NO_ARGS);
    }

    private static ExchangeDef exchangeNamed(ReplicatedDefinitionStore s, String name) {
        return s.load().exchanges().stream().filter(x -> x.name().equals(name)).findFirst().orElse(null);
    }

    private static QueueDef queueNamed(ReplicatedDefinitionStore s, String name) {
        return s.load().queues().stream().filter(q -> q.name().equals(name)).findFirst().orElse(null);
    }

    private static List<String> bindings(ReplicatedDefinitionStore s) {
        return s.load().bindings().stream().map(b -> b.source() + "->" + b.destination()).sorted().toList();
    }

    @Test
    void nonDurableAndExclusiveDefinitionsReachTheOtherNodesWithWhatTheyAre() throws Exception {
        Log log = new Log();
        ReplicatedDefinitionStore a = open(log, "a", true);
        ReplicatedDefinitionStore b = open(log, "b", false);
        Seen seen = new Seen();
        b.follow(seen, () -> { });
        assertTrue(a.keepsTransient());

        a.putExchange(exchange("logs", false));
        a.putExchange(exchange("orders", true));
        a.putQueue(queue("tasks", false, false));
        a.putQueue(queue("amq.gen-1", false, true));
        a.putQueue(queue("audit", true, false));
        a.putBinding(binding("logs", "amq.gen-1"));
        sync(a);

        assertFalse(exchangeNamed(b, "logs").durable());
        assertTrue(exchangeNamed(b, "orders").durable());
        QueueDef tasks = queueNamed(b, "tasks");
        assertFalse(tasks.durable());
        assertFalse(tasks.exclusive());
        QueueDef gen = queueNamed(b, "amq.gen-1");
        assertFalse(gen.durable());
        assertTrue(gen.exclusive());
        assertTrue(queueNamed(b, "audit").durable());
        assertEquals("a", b.remoteHome("/", "amq.gen-1"));
        assertEquals(List.of("logs->amq.gen-1"), bindings(b));
        // the follower got each as a change, with the run of the node that holds the queue
        HomedQueue h = seen.put.stream().filter(d -> d instanceof HomedQueue q && q.queue().name().equals("tasks"))
                .map(d -> (HomedQueue) d).findFirst().orElseThrow();
        assertEquals("a", h.home());
        assertEquals(a.run(), h.run());
        assertEquals(java.util.Set.of(a.run()), b.transientRunsOf("a"));
        assertEquals(java.util.Set.of(), b.transientRunsOf("b"));
    }

    @Test
    void aNodesNewRunRemovesItsEarlierRunsNonDurableQueuesAndTheirBindingsEverywhere() throws Exception {
        Log log = new Log();
        ReplicatedDefinitionStore a = open(log, "a", true);
        ReplicatedDefinitionStore b = open(log, "b", false);
        a.putExchange(exchange("logs", false));
        a.putQueue(queue("tasks", false, false));
        a.putQueue(queue("amq.gen-1", false, true));
        a.putQueue(queue("audit", true, false));
        a.putBinding(binding("logs", "amq.gen-1"));
        a.putBinding(binding("logs", "audit"));
        b.putQueue(queue("b-tasks", false, false));
        sync(a);
        sync(b);
        Seen seen = new Seen();
        b.follow(seen, () -> { });

        // node a restarts: a new run, and its start record comes first
        log.remove(a);
        opened.remove(a);
        ReplicatedDefinitionStore a2 = open(log, "a", false);

        for (ReplicatedDefinitionStore s : List.of(b, a2)) {
            assertEquals(null, queueNamed(s, "tasks"));
            assertEquals(null, queueNamed(s, "amq.gen-1"));
            assertTrue(queueNamed(s, "audit").durable(), "a durable queue stays");
            assertTrue(queueNamed(s, "b-tasks") != null, "another node's run goes on");
            assertFalse(exchangeNamed(s, "logs").durable(), "an exchange outlives its declaring node's run");
            assertEquals(List.of("logs->audit"), bindings(s));
        }
        // every node's broker is told, the restarted one's too (it follows from its start)
        assertEquals(List.of("queue tasks", "queue amq.gen-1"), seen.removedNames().stream().sorted(
                java.util.Comparator.reverseOrder()).toList());
        assertEquals(java.util.Set.of(), b.transientRunsOf("a"));
    }

    @Test
    void aStartWhenNoOtherNodeRanRemovesTheNonDurableExchangesOfEndedRuns() throws Exception {
        Log log = new Log();
        ReplicatedDefinitionStore a = open(log, "a", true);
        ReplicatedDefinitionStore b = open(log, "b", false);
        a.putExchange(exchange("logs", false));
        a.putExchange(exchange("orders", true));
        b.putExchange(exchange("b-logs", false));
        b.putQueue(queue("b-durable", true, false));
        b.putBinding(binding("logs", "b-durable"));
        b.putBinding(binding("orders", "b-durable"));
        sync(a);
        sync(b);

        // a restarts while b runs: nothing of b's or of a's exchanges goes
        log.remove(a);
        opened.remove(a);
        ReplicatedDefinitionStore a2 = open(log, "a", false);
        assertTrue(exchangeNamed(a2, "logs") != null);
        a2.putExchange(exchange("a2-logs", false));
        sync(a2);

        // The whole cluster stops; b comes back first, finding no other node running.
        log.remove(a2);
        opened.remove(a2);
        log.remove(b);
        opened.remove(b);
        ReplicatedDefinitionStore b2 = open(log, "b", true);
        Seen seen = new Seen();
        b2.follow(seen, () -> { });
        for (String gone : List.of("logs", "b-logs", "a2-logs")) {
            assertEquals(null, exchangeNamed(b2, gone), gone);
        }
        assertTrue(exchangeNamed(b2, "orders").durable());
        assertEquals(List.of("orders->b-durable"), bindings(b2));

        b2.putExchange(exchange("fresh", false));
        sync(b2);

        // Stopped again. Node a starts and finds no node running; b starts between a's check
        // and a's start record, and declares: what b's new run declared stays, what its ended
        // run declared goes.
        log.remove(b2);
        opened.remove(b2);
        List<ReplicatedDefinitionStore> b3 = new ArrayList<>();
        ReplicatedDefinitionStore a3 = open(log, "a", () -> {
            try {
                ReplicatedDefinitionStore started = log.node("b", true);
                b3.add(started);
                started.putExchange(exchange("b3-x", false));
                sync(started);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
            return true;
        });
        opened.addAll(b3);
        for (ReplicatedDefinitionStore s : List.of(a3, b3.get(0))) {
            assertEquals(null, exchangeNamed(s, "fresh"));
            assertTrue(exchangeNamed(s, "b3-x") != null, "declared by a run that started after the check");
        }
    }

    @Test
    void aNodeDownRemovesThatRunsNonDurableQueuesOnly() throws Exception {
        Log log = new Log();
        ReplicatedDefinitionStore a = open(log, "a", true);
        ReplicatedDefinitionStore b = open(log, "b", false);
        a.putQueue(queue("tasks", false, false));
        a.putQueue(queue("audit", true, false));
        sync(a);
        Seen seen = new Seen();
        b.follow(seen, () -> { });

        b.nodeDown("a", a.run() + 1).get(10, TimeUnit.SECONDS); // another run: nothing of this one's
        assertTrue(queueNamed(b, "tasks") != null);
        b.nodeDown("a", a.run()).get(10, TimeUnit.SECONDS);
        for (ReplicatedDefinitionStore s : List.of(a, b)) {
            assertEquals(null, queueNamed(s, "tasks"));
            assertTrue(queueNamed(s, "audit") != null);
        }
        assertEquals(List.of("queue tasks"), seen.removedNames(), "the origin's own broker is told too");
    }

    @Test
    void aSnapshotKeepsKindsAndRunsAndTheFirstFormatStillRestores() throws Exception {
        Log log = new Log();
        ReplicatedDefinitionStore a = open(log, "a", true);
        a.putExchange(exchange("logs", false));
        a.putQueue(queue("amq.gen-1", false, true));
        a.putQueue(queue("audit", true, false));
        sync(a);
        a.recordNodeList(List.of("a@h:1", "b@h:2")).get(10, TimeUnit.SECONDS);
        a.recordNodeList(List.of("c@h:3")).get(10, TimeUnit.SECONDS); // the first list stays
        a.recordJoined("d", "h:4").get(10, TimeUnit.SECONDS);
        assertEquals(List.of("a@h:1", "b@h:2"), a.nodeList());
        assertEquals(java.util.Map.of("d", "h:4"), a.joinedNodes());
        byte[] snapshot = a.snapshot();

        ReplicatedDefinitionStore restored = new ReplicatedDefinitionStore("c", new Log()::submit);
        opened.add(restored);
        restored.restore(7, snapshot);
        assertFalse(exchangeNamed(restored, "logs").durable());
        assertTrue(queueNamed(restored, "amq.gen-1").exclusive());
        assertEquals("a", restored.remoteHome("/", "amq.gen-1"));
        assertEquals(snapshot.length, restored.snapshot().length);
        assertTrue(java.util.Arrays.equals(snapshot, restored.snapshot()), "the nodes table came along");
        assertEquals(List.of("a@h:1", "b@h:2"), restored.nodeList());
        assertEquals(java.util.Map.of("d", "h:4"), restored.joinedNodes());

        // The first format: a SnapshotFile of durable definitions, queues as home + queue bytes.
        byte[] legacy = SnapshotFile.encode(new SnapshotFile.Snapshot(0,
                List.of(DefinitionEncoding.exchange(new ExchangeDef("/", "old-x", "direct", false, false, NO_ARGS))),
                List.of(legacyHomed("b",
                        DefinitionEncoding.queue(new QueueDef("/", "old-q", 42, false, NO_ARGS)))),
                List.of(), List.of()));
        ReplicatedDefinitionStore old = new ReplicatedDefinitionStore("c", new Log()::submit);
        opened.add(old);
        old.restore(3, legacy);
        assertTrue(exchangeNamed(old, "old-x").durable());
        QueueDef q = queueNamed(old, "old-q");
        assertTrue(q.durable());
        assertEquals(42, q.id());
        assertEquals("b", old.remoteHome("/", "old-q"));
    }

    @Test
    void aQuorumQueuesMemberChangesReachEveryNodeLiveAndThroughASnapshotAndGoWithTheQueue() throws Exception {
        Log log = new Log();
        ReplicatedDefinitionStore a = open(log, "a", true);
        ReplicatedDefinitionStore b = open(log, "b", false);
        List<String> told = java.util.Collections.synchronizedList(new ArrayList<>());
        b.membersListener((id, names) -> told.add(id + "=" + names));
        QueueDef orders = queue("orders", true, false);
        a.putQueue(orders);
        sync(a);
        assertEquals(null, b.queueMembers(orders.id()), "derived until a record sets them");
        a.recordQueueMember(orders.id(), true, "c", List.of("a", "b")).get(10, TimeUnit.SECONDS);
        assertEquals(List.of("a", "b", "c"), b.queueMembers(orders.id()));
        a.recordQueueMember(orders.id(), true, "c", List.of("a", "b")).get(10, TimeUnit.SECONDS); // no change: not told
        // two changes made from the same view (two nodes at once): both count
        b.recordQueueMember(orders.id(), false, "a", List.of("a", "b", "c")).get(10, TimeUnit.SECONDS);
        a.recordQueueMember(orders.id(), true, "d", List.of("a", "b", "c")).get(10, TimeUnit.SECONDS);
        assertEquals(List.of("b", "c", "d"), a.queueMembers(orders.id()));
        a.recordQueueMember(orders.id(), false, "b", List.of()).get(10, TimeUnit.SECONDS);
        a.recordQueueMember(orders.id(), false, "c", List.of()).get(10, TimeUnit.SECONDS);
        a.recordQueueMember(orders.id(), false, "d", List.of()).get(10, TimeUnit.SECONDS); // the last: dropped
        assertEquals(List.of("d"), b.queueMembers(orders.id()));
        assertEquals(List.of(orders.id() + "=[a, b, c]", orders.id() + "=[b, c]", orders.id() + "=[b, c, d]",
                orders.id() + "=[c, d]", orders.id() + "=[d]"), told);
        a.recordQueueMember(999_999, true, "a", List.of("b")).get(10, TimeUnit.SECONDS); // no such queue: dropped
        assertEquals(null, b.queueMembers(999_999));

        byte[] snapshot = a.snapshot();
        ReplicatedDefinitionStore restored = new ReplicatedDefinitionStore("c", new Log()::submit);
        opened.add(restored);
        List<String> toldRestored = new ArrayList<>();
        restored.membersListener((id, names) -> toldRestored.add(id + "=" + names));
        restored.restore(9, snapshot);
        assertEquals(List.of("d"), restored.queueMembers(orders.id()));
        assertEquals(List.of(orders.id() + "=[d]"), toldRestored);
        assertTrue(java.util.Arrays.equals(snapshot, restored.snapshot()));

        a.removeQueue("/", "orders");
        sync(a);
        assertEquals(null, b.queueMembers(orders.id()), "the record goes with its queue");
        a.putQueue(orders); // declared again (same id here): derived again
        sync(a);
        assertEquals(null, b.queueMembers(orders.id()));
    }

    static byte[] legacyHomed(String home, byte[] queue) throws Exception {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        try (java.io.DataOutputStream out = new java.io.DataOutputStream(bytes)) {
            out.writeUTF(home);
            out.write(queue);
        }
        return bytes.toByteArray();
    }

    @Test
    void theStartRecordIsRetriedUntilTheLogTakesItAndGoesBeforeAnyChangeOfItsRun() throws Exception {
        Log log = new Log();
        open(log, "b", true);
        log.refuse.set(3);
        AtomicBoolean asked = new AtomicBoolean();
        ReplicatedDefinitionStore a = new ReplicatedDefinitionStore("a", log::submit, () -> {
            asked.set(true);
            return false;
        });
        opened.add(a);
        synchronized (log) {
            for (int i = 0; i < log.records.size(); i++) {
                a.apply(i + 1, log.records.get(i));
            }
            log.stores.add(a);
        }
        a.ready();
        a.putQueue(queue("tasks", false, false)); // queued behind the start record
        CompletableFuture<Throwable> done = new CompletableFuture<>();
        a.sync(done::complete);
        assertEquals(null, done.get(20, TimeUnit.SECONDS));
        assertTrue(a.started().isDone());
        assertTrue(asked.get());
        assertEquals(0, log.refuse.get(), "refused three times, then taken");
        synchronized (log) {
            // the start record of a's run comes before its queue
            List<String> ofA = new ArrayList<>();
            for (byte[] r : log.records) {
                java.io.DataInputStream in = new java.io.DataInputStream(new java.io.ByteArrayInputStream(r));
                in.readByte();
                String origin = in.readUTF();
                in.readLong();
                String key = in.readUTF();
                byte type = in.readByte();
                if (origin.equals("a")) {
                    ofA.add(type == ReplicatedDefinitionStore.NODE_STARTED ? "started" : key.substring(0, 1));
                }
            }
            assertEquals(List.of("started", "q"), ofA);
        }
        assertTrue(queueNamed(a, "tasks") != null);
    }
}
