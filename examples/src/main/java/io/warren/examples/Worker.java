package io.warren.examples;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.DeliverCallback;

import java.nio.charset.StandardCharsets;

/**
 * Tutorial 2, "Work queues": takes tasks from {@code task_queue} one at a time (prefetch 1,
 * manual acks), "working" for one unit per '.' in the task: one second, or
 * {@code WARREN_EXAMPLE_DOT_MS} milliseconds when that is set.
 */
public class Worker {

    private static final String TASK_QUEUE_NAME = "task_queue";

    public static void main(String[] argv) throws Exception {
        ConnectionFactory factory = Env.connectionFactory();
        final Connection connection = factory.newConnection();
        final Channel channel = connection.createChannel();

        channel.queueDeclare(TASK_QUEUE_NAME, true, false, false, null);

        channel.basicQos(1);

        DeliverCallback deliverCallback = (consumerTag, delivery) -> {
            String message = new String(delivery.getBody(), StandardCharsets.UTF_8);

            System.out.println(" [x] Received '" + message + "'");
            System.out.flush();
            try {
                doWork(message);
            } finally {
                System.out.println(" [x] Done");
                System.out.flush();
                channel.basicAck(delivery.getEnvelope().getDeliveryTag(), false);
            }
        };
        channel.basicConsume(TASK_QUEUE_NAME, false, deliverCallback, consumerTag -> { });
        System.out.println(" [*] Waiting for messages. To exit press CTRL+C");
        System.out.flush();
    }

    private static void doWork(String task) {
        long dot = Env.dotMillis();
        for (char ch : task.toCharArray()) {
            if (ch == '.') {
                try {
                    Thread.sleep(dot);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }
}
