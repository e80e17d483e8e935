package io.warren.it.smoke;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.GetResponse;

import java.nio.charset.StandardCharsets;
import java.util.UUID;

/**
 * Round-trips one message through a running broker: {@code SmokeClient HOST PORT}. Used by
 * {@code .ci/run} against a broker started by {@code bin/warren}, so it is a plain main() run
 * on the test classpath with RabbitMQ's own client, not a JUnit test. Exit 0 when the message
 * came back intact, 1 otherwise.
 */
public final class SmokeClient {
    private static final long GET_TIMEOUT_MS = 10_000;

    private SmokeClient() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: SmokeClient HOST PORT");
            System.exit(2);
        }
        ConnectionFactory f = new ConnectionFactory();
        f.setHost(args[0]);
        f.setPort(Integer.parseInt(args[1]));
        f.setAutomaticRecoveryEnabled(false);
        f.setConnectionTimeout(10_000);
        String body = "smoke " + UUID.randomUUID();
        try (Connection c = f.newConnection("warren-smoke"); Channel ch = c.createChannel()) {
            String queue = ch.queueDeclare("", false, true, true, null).getQueue();
            ch.basicPublish("", queue, null, body.getBytes(StandardCharsets.UTF_8));
            // basic.get may run before the publish is enqueued: the two are separate commands.
            long deadline = System.currentTimeMillis() + GET_TIMEOUT_MS;
            GetResponse r;
            while ((r = ch.basicGet(queue, true)) == null && System.currentTimeMillis() < deadline) {
                Thread.sleep(50);
            }
            if (r == null) {
                System.err.println("smoke client: no message came back from " + queue);
                System.exit(1);
            }
            String got = new String(r.getBody(), StandardCharsets.UTF_8);
            if (!got.equals(body)) {
                System.err.println("smoke client: sent '" + body + "' but got '" + got + "'");
                System.exit(1);
            }
        }
        System.out.println("smoke client: round-trip ok via " + args[0] + ":" + args[1]);
    }
}
