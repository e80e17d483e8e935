package io.warren.it.durability;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import io.warren.core.store.StoreException;
import io.warren.it.support.WarrenBroker;
import io.warren.server.Broker;
import io.warren.store.DataDirLock;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static io.warren.it.durability.Durable.PERSISTENT;
import static io.warren.it.durability.Durable.getAll;
import static io.warren.it.durability.Durable.publishConfirmed;
import static io.warren.it.durability.Durable.texts;
import static io.warren.it.durability.Durable.unique;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/** One broker per data dir: a second one is refused, and the refusal costs the first one nothing. */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class DataDirInUseTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    @Test
    void aSecondBrokerOnTheSameDataDirIsRefusedAndTheFirstKeepsServing() throws Exception {
        assumeFalse(WarrenBroker.external(), "starts brokers in-process");
        Connection c = broker.connect();
        String q = unique("q-first");
        Channel ch = c.createChannel();
        ch.queueDeclare(q, true, false, false, null);
        publishConfirmed(c, "", q, PERSISTENT, List.of("before"));
        Path dataDir = broker.config().dataDir();

        // Same data dir, another port.
        Broker second = new Broker(broker.config().withListener("127.0.0.1", 0, dataDir));
        StoreException e = assertThrows(StoreException.class, second::start);
        second.close();
        assertEquals("data directory " + dataDir + " is in use by another warren process (lock file "
                + dataDir.resolve(DataDirLock.FILE_NAME) + ")", e.getMessage());

        // The first broker still serves, on the connection it had and on new ones.
        publishConfirmed(c, "", q, PERSISTENT, List.of("after"));
        Connection fresh = broker.connect();
        assertEquals(2, fresh.createChannel().queueDeclarePassive(q).getMessageCount());
        // And still holds the data dir against other processes: POSIX locks belong to the
        // process, so the refused broker must not have released it by closing the lock file.
        assertEquals("refused", lockFromAnotherProcess(dataDir));
        assertThrows(StoreException.class, () -> new Broker(broker.config()).start(), "a third try is refused too");

        broker.restart();

        assertEquals(List.of("before", "after"), texts(getAll(broker.connect().createChannel(), q)));
    }

    /** Runs {@link LockProbe} in a new JVM; returns what it printed. */
    private static String lockFromAnotherProcess(Path dataDir) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(Paths.get(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx64m", "-cp", System.getProperty("java.class.path"), LockProbe.class.getName(), dataDir.toString())
                .redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        return out.lines().reduce((a, b) -> b).orElse("");
    }

    /** The other process: tries the data dir lock, says "refused" or "acquired". */
    public static final class LockProbe {
        public static void main(String[] args) {
            try {
                DataDirLock.acquire(Paths.get(args[0])).close();
                System.out.println("acquired");
            } catch (StoreException e) {
                System.out.println("refused");
            }
        }
    }
}
