import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Arrays;
import java.util.concurrent.locks.LockSupport;

/**
 * The machine's own latency floor for what a broker does in PerfTest's latency scenario, with no
 * broker: a producer thread sends 100-byte messages at a fixed rate over loopback to a relay
 * thread (a second JVM) that copies them to a second connection, read by a consumer thread in
 * the producer's JVM. Two socket hops and three threads woken per message, as in
 * producer -> broker -> consumer.
 *
 * <pre>
 *   java LatencyFloor.java relay PORT              (serves one producer and one consumer, then exits)
 *   java LatencyFloor.java client PORT RATE SECONDS
 * </pre>
 *
 * The client prints one line per second ("second N p50 X p99 Y max Z us") and a last line
 * "all N: p50 X p99 Y p99.9 Z max W us". The producer paces itself with parkNanos, as a rate
 * limiter does, and stamps each message when it sends it.
 */
public class LatencyFloor {
    private static final int SIZE = 100;

    public static void main(String[] args) throws Exception {
        if (args[0].equals("relay")) {
            relay(Integer.parseInt(args[1]));
            return;
        }
        int port = Integer.parseInt(args[1]);
        int rate = Integer.parseInt(args[2]);
        int seconds = Integer.parseInt(args[3]);
        InetAddress lo = InetAddress.getLoopbackAddress();
        Socket producer = new Socket(lo, port);
        producer.setTcpNoDelay(true);
        Socket consumer = new Socket(lo, port);
        consumer.setTcpNoDelay(true);
        long total = (long) rate * seconds;
        long[] latency = new long[(int) total];
        int[] received = {0};
        Thread reader = new Thread(() -> {
            try {
                DataInputStream in = new DataInputStream(new BufferedInputStream(consumer.getInputStream(), 65536));
                byte[] rest = new byte[SIZE - 8];
                while (received[0] < total) {
                    long sent = in.readLong();
                    in.readFully(rest);
                    latency[received[0]++] = System.nanoTime() - sent;
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }, "consumer");
        reader.start();
        OutputStream out = producer.getOutputStream();
        byte[] msg = new byte[SIZE];
        long start = System.nanoTime();
        long interval = 1_000_000_000L / rate;
        for (long i = 0; i < total; i++) {
            long wait = start + i * interval - System.nanoTime();
            if (wait > 0) {
                LockSupport.parkNanos(wait);
            }
            long now = System.nanoTime();
            for (int b = 0; b < 8; b++) {
                msg[b] = (byte) (now >>> (56 - 8 * b));
            }
            out.write(msg);
            out.flush();
        }
        reader.join();
        producer.close();
        consumer.close();
        for (int s = 0; (long) s * rate < total; s++) {
            long[] w = Arrays.copyOfRange(latency, s * rate, (int) Math.min(total, (long) (s + 1) * rate));
            Arrays.sort(w);
            System.out.printf("second %d p50 %d p99 %d max %d us%n", s + 1, w[w.length / 2] / 1000,
                    w[(int) (w.length * 0.99)] / 1000, w[w.length - 1] / 1000);
        }
        long[] all = latency.clone();
        Arrays.sort(all);
        int n = all.length;
        System.out.printf("all %d: p50 %d p99 %d p99.9 %d max %d us%n", n, all[n / 2] / 1000,
                all[(int) (n * 0.99)] / 1000, all[(int) (n * 0.999)] / 1000, all[n - 1] / 1000);
    }

    private static void relay(int port) throws IOException {
        try (ServerSocket server = new ServerSocket(port, 2, InetAddress.getLoopbackAddress())) {
            Socket from = server.accept();
            from.setTcpNoDelay(true);
            Socket to = server.accept();
            to.setTcpNoDelay(true);
            InputStream in = from.getInputStream();
            OutputStream out = to.getOutputStream();
            byte[] buf = new byte[65536];
            int r;
            while ((r = in.read(buf)) > 0) {
                out.write(buf, 0, r);
                out.flush();
            }
            from.close();
            to.close();
        }
    }
}
