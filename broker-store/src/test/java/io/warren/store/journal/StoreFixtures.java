package io.warren.store.journal;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.warren.core.store.MessageStore;
import io.warren.core.store.MessageStore.StoredMessage;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Small helpers shared by the store tests. */
final class StoreFixtures {
    private StoreFixtures() {}

    record Appended(long ref, CompletableFuture<Void> durable) {
        void awaitDurable() throws Exception {
            durable.get(30, TimeUnit.SECONDS);
        }
    }

    record Recovered(long queueId, StoredMessage message) {}

    record Loaded(byte[] properties, byte[] body, String thread) {}

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static Appended append(MessageStore store, String exchange, String routingKey, byte[] props, byte[] body,
                           long... queueIds) {
        CompletableFuture<Void> f = new CompletableFuture<>();
        ByteBuf p = Unpooled.wrappedBuffer(props);
        ByteBuf b = Unpooled.wrappedBuffer(body);
        long ref = store.append(exchange, routingKey, p, b, queueIds, failure -> {
            if (failure == null) {
                f.complete(null);
            } else {
                f.completeExceptionally(failure);
            }
        });
        p.release();
        b.release();
        return new Appended(ref, f);
    }

    static Appended append(MessageStore store, String body, long... queueIds) {
        return append(store, "ex", "rk", bytes("p:" + body), bytes(body), queueIds);
    }

    static List<Recovered> recover(MessageStore store) {
        List<Recovered> out = new ArrayList<>();
        store.recover((q, m) -> out.add(new Recovered(q, m)));
        return out;
    }

    static Loaded load(MessageStore store, long ref) throws Exception {
        CompletableFuture<Loaded> f = new CompletableFuture<>();
        store.load(ref, (props, body, failure) -> {
            if (failure != null) {
                f.completeExceptionally(failure);
                return;
            }
            Loaded l = new Loaded(toBytes(props), toBytes(body), Thread.currentThread().getName());
            props.release();
            body.release();
            f.complete(l);
        });
        return f.get(30, TimeUnit.SECONDS);
    }

    static String loadBody(MessageStore store, long ref) throws Exception {
        return new String(load(store, ref).body(), StandardCharsets.UTF_8);
    }

    private static byte[] toBytes(ByteBuf b) {
        byte[] out = new byte[b.readableBytes()];
        b.getBytes(b.readerIndex(), out);
        return out;
    }

    static void sync(MessageStore store) throws Exception {
        CompletableFuture<Void> f = new CompletableFuture<>();
        store.sync(failure -> {
            if (failure == null) {
                f.complete(null);
            } else {
                f.completeExceptionally(failure);
            }
        });
        f.get(30, TimeUnit.SECONDS);
    }
}
