import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;

/**
 * Declares COUNT durable queues, each bound to amq.direct, one at a time on one channel (each
 * declare and bind waits for its -ok, as applications do), and prints the time per thousand
 * and the total. Then deletes them. Used by bench/declare.sh.
 */
public class DeclareDurable {
    public static void main(String[] args) throws Exception {
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        int count = Integer.parseInt(args[2]);
        ConnectionFactory f = new ConnectionFactory();
        f.setHost(host);
        f.setPort(port);
        try (Connection c = f.newConnection(); Channel ch = c.createChannel()) {
            long t0 = System.nanoTime();
            long last = t0;
            for (int i = 0; i < count; i++) {
                String q = "bench-durable-" + i;
                ch.queueDeclare(q, true, false, false, null);
                ch.queueBind(q, "amq.direct", q);
                if ((i + 1) % 1000 == 0) {
                    long now = System.nanoTime();
                    System.out.printf("declared %,d: last 1,000 in %,d ms%n", i + 1, (now - last) / 1_000_000);
                    last = now;
                }
            }
            long total = System.nanoTime() - t0;
            System.out.printf("declared and bound %,d durable queues in %,d ms (%.2f ms per queue + binding)%n",
                    count, total / 1_000_000, total / 1e6 / count);
            long d0 = System.nanoTime();
            for (int i = 0; i < count; i++) {
                ch.queueDelete("bench-durable-" + i);
            }
            System.out.printf("deleted them in %,d ms%n", (System.nanoTime() - d0) / 1_000_000);
        }
    }
}
