package io.warren.examples;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Tutorial 4, "Routing": publishes one log message on the direct exchange {@code direct_logs}
 * with its severity as the routing key. Usage: {@code EmitLogDirect [severity] [message...]}.
 */
public class EmitLogDirect {

    private static final String EXCHANGE_NAME = "direct_logs";

    public static void main(String[] argv) throws Exception {
        ConnectionFactory factory = Env.connectionFactory();
        try (Connection connection = factory.newConnection();
             Channel channel = connection.createChannel()) {
            channel.exchangeDeclare(EXCHANGE_NAME, "direct");

            String severity = getSeverity(argv);
            String message = getMessage(argv);

            channel.basicPublish(EXCHANGE_NAME, severity, null, message.getBytes(StandardCharsets.UTF_8));
            System.out.println(" [x] Sent '" + severity + "':'" + message + "'");
        }
    }

    private static String getSeverity(String[] strings) {
        return strings.length < 1 ? "info" : strings[0];
    }

    private static String getMessage(String[] strings) {
        return strings.length < 2 ? "Hello World!" : String.join(" ", Arrays.copyOfRange(strings, 1, strings.length));
    }
}
