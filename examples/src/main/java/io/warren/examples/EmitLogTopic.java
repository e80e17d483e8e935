package io.warren.examples;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Tutorial 5, "Topics": publishes one log message on the topic exchange {@code topic_logs}.
 * Usage: {@code EmitLogTopic [routing.key] [message...]}, e.g. {@code EmitLogTopic kern.critical "A critical kernel error"}.
 */
public class EmitLogTopic {

    private static final String EXCHANGE_NAME = "topic_logs";

    public static void main(String[] argv) throws Exception {
        ConnectionFactory factory = Env.connectionFactory();
        try (Connection connection = factory.newConnection();
             Channel channel = connection.createChannel()) {
            channel.exchangeDeclare(EXCHANGE_NAME, "topic");

            String routingKey = getRouting(argv);
            String message = getMessage(argv);

            channel.basicPublish(EXCHANGE_NAME, routingKey, null, message.getBytes(StandardCharsets.UTF_8));
            System.out.println(" [x] Sent '" + routingKey + "':'" + message + "'");
        }
    }

    private static String getRouting(String[] strings) {
        return strings.length < 1 ? "anonymous.info" : strings[0];
    }

    private static String getMessage(String[] strings) {
        return strings.length < 2 ? "Hello World!" : String.join(" ", Arrays.copyOfRange(strings, 1, strings.length));
    }
}
