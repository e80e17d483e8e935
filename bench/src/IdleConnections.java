import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;

import java.util.ArrayList;
import java.util.List;

/**
 * Opens N idle AMQP connections (one channel each) to HOST:PORT with the Java client's NIO
 * mode, prints "opened N", waits for a line on stdin, then closes them. bench/idle-connections.sh
 * measures the broker's memory around it.
 */
public class IdleConnections {
    public static void main(String[] args) throws Exception {
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        int n = Integer.parseInt(args[2]);
        ConnectionFactory f = new ConnectionFactory();
        f.setHost(host);
        f.setPort(port);
        f.useNio();
        f.setAutomaticRecoveryEnabled(false);
        f.setRequestedHeartbeat(0);
        List<Connection> open = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Connection c = f.newConnection();
            Channel ch = c.createChannel();
            open.add(c);
        }
        // A new client still connects and works with all of them open.
        try (Connection c = f.newConnection()) {
            Channel ch = c.createChannel();
            String q = ch.queueDeclare().getQueue();
            ch.basicPublish("", q, null, "still serving".getBytes());
            if (ch.basicGet(q, true) == null) {
                throw new IllegalStateException("the broker did not serve a new client");
            }
        }
        System.out.println("opened " + open.size());
        System.out.flush();
        System.in.read();
        for (Connection c : open) {
            c.abort();
        }
    }
}
