package io.warren.examples;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Tutorial 6, "RPC": asks {@code rpc_queue} for fib(n) and waits for the answer on a server-named
 * reply queue, matched by {@code correlation_id}. Usage: {@code RPCClient [n...]}; with no
 * arguments it asks for fib(0) to fib(31), as in the tutorial.
 */
public class RPCClient implements AutoCloseable {

    private final Connection connection;
    private final Channel channel;
    private final String requestQueueName = "rpc_queue";

    public RPCClient() throws IOException, TimeoutException {
        ConnectionFactory factory = Env.connectionFactory();
        connection = factory.newConnection();
        channel = connection.createChannel();
    }

    public static void main(String[] argv) throws Exception {
        List<String> requests = new ArrayList<>(List.of(argv));
        if (requests.isEmpty()) {
            for (int i = 0; i < 32; i++) {
                requests.add(Integer.toString(i));
            }
        }
        try (RPCClient fibonacciRpc = new RPCClient()) {
            for (String n : requests) {
                System.out.println(" [x] Requesting fib(" + n + ")");
                String response = fibonacciRpc.call(n);
                System.out.println(" [.] Got '" + response + "'");
            }
        }
    }

    public String call(String message) throws IOException, InterruptedException, ExecutionException, TimeoutException {
        final String corrId = UUID.randomUUID().toString();

        String replyQueueName = channel.queueDeclare().getQueue();
        AMQP.BasicProperties props = new AMQP.BasicProperties
                .Builder()
                .correlationId(corrId)
                .replyTo(replyQueueName)
                .build();

        channel.basicPublish("", requestQueueName, props, message.getBytes(StandardCharsets.UTF_8));

        final CompletableFuture<String> response = new CompletableFuture<>();

        String ctag = channel.basicConsume(replyQueueName, true, (consumerTag, delivery) -> {
            if (corrId.equals(delivery.getProperties().getCorrelationId())) {
                response.complete(new String(delivery.getBody(), StandardCharsets.UTF_8));
            }
        }, consumerTag -> {
        });

        // Bounded, so a lost reply ends the client instead of hanging it forever.
        String result = response.get(60, TimeUnit.SECONDS);
        channel.basicCancel(ctag);
        return result;
    }

    @Override
    public void close() throws IOException {
        connection.close();
    }
}
