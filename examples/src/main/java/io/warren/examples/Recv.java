package io.warren.examples;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.DeliverCallback;

import java.nio.charset.StandardCharsets;

/** Tutorial 1, "Hello World!": prints every message from the queue {@code hello} until killed. */
public class Recv {

    private static final String QUEUE_NAME = "hello";

    public static void main(String[] argv) throws Exception {
        ConnectionFactory factory = Env.connectionFactory();
        Connection connection = factory.newConnection();
        Channel channel = connection.createChannel();

        channel.queueDeclare(QUEUE_NAME, false, false, false, null);

        DeliverCallback deliverCallback = (consumerTag, delivery) -> {
            String message = new String(delivery.getBody(), StandardCharsets.UTF_8);
            System.out.println(" [x] Received '" + message + "'");
            System.out.flush();
        };
        channel.basicConsume(QUEUE_NAME, true, deliverCallback, consumerTag -> { });
        // Printed once the consumer is registered, so "Waiting" means ready to receive.
        System.out.println(" [*] Waiting for messages. To exit press CTRL+C");
        System.out.flush();
    }
}
