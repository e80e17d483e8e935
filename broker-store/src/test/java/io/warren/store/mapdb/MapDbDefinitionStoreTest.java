package io.warren.store.mapdb;

import io.warren.core.store.DefinitionStore.BindingDef;
import io.warren.core.store.DefinitionStore.Definitions;
import io.warren.core.store.DefinitionStore.ExchangeDef;
import io.warren.core.store.DefinitionStore.QueueDef;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MapDbDefinitionStoreTest {
    @TempDir
    Path dir;

    @Test
    void definitionsSurviveReopenAndRemovalsStick() {
        byte[] args = {1, 2, 3};
        long id1;
        long id2;
        try (MapDbDefinitionStore s = MapDbDefinitionStore.open(dir)) {
            id1 = s.nextQueueId();
            id2 = s.nextQueueId();
            assertTrue(id2 > id1);
            s.putExchange(new ExchangeDef("/", "logs", "fanout", false, false, null));
            s.putExchange(new ExchangeDef("/", "tmp", "direct", true, false, args));
            s.putExchange(new ExchangeDef("v2", "logs", "topic", false, true, args));
            s.putQueue(new QueueDef("/", "b-queue", id2, false, args));
            s.putQueue(new QueueDef("/", "a-queue", id1, true, null));
            s.putBinding(new BindingDef("/", "logs", true, "a-queue", "", null));
            s.putBinding(new BindingDef("/", "logs", true, "b-queue", "k", args));
            s.putBinding(new BindingDef("/", "logs", true, "b-queue", "k", new byte[]{9}));
            s.removeExchange("/", "tmp");
            s.removeBinding(new BindingDef("/", "logs", true, "b-queue", "k", new byte[]{9}));
        }
        try (MapDbDefinitionStore s = MapDbDefinitionStore.open(dir)) {
            Definitions d = s.load();
            assertEquals(List.of("/:logs", "v2:logs"), d.exchanges().stream().map(e -> e.vhost() + ":" + e.name()).toList());
            ExchangeDef v2 = d.exchanges().get(1);
            assertEquals("topic", v2.type());
            assertTrue(v2.internal());
            assertArrayEquals(args, v2.arguments());
            assertNull(d.exchanges().get(0).arguments());
            assertEquals(List.of("a-queue", "b-queue"), d.queues().stream().map(QueueDef::name).toList());
            assertEquals(id1, d.queues().get(0).id());
            assertTrue(d.queues().get(0).autoDelete());
            assertEquals(2, d.bindings().size());
            assertTrue(d.bindings().stream().anyMatch(b -> b.destination().equals("b-queue")
                    && java.util.Arrays.equals(args, b.arguments())));
            assertTrue(s.nextQueueId() > id2, "queue ids are never handed out twice, even across restarts");
            s.removeQueue("/", "a-queue");
            s.removeBinding(new BindingDef("/", "logs", true, "a-queue", "", null));
        }
        try (MapDbDefinitionStore s = MapDbDefinitionStore.open(dir)) {
            Definitions d = s.load();
            assertEquals(List.of("b-queue"), d.queues().stream().map(QueueDef::name).toList());
            assertEquals(1, d.bindings().size());
        }
    }

    @Test
    void namesWithSeparatorsDoNotCollide() {
        try (MapDbDefinitionStore s = MapDbDefinitionStore.open(dir)) {
            s.putQueue(new QueueDef("a/b", "c", 1, false, null));
            s.putQueue(new QueueDef("a", "b/c", 2, false, null));
            s.putQueue(new QueueDef("", "", 3, false, new byte[0]));
            assertEquals(3, s.load().queues().size());
            s.putQueue(new QueueDef("a", "b/c", 2, true, null)); // redeclare replaces
            assertEquals(3, s.load().queues().size());
        }
    }
}
