package io.warren.server;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;

class WarrenMainTest {
    @Test
    void probeHostReachesWildcardListenersOnLoopback() {
        assertEquals("127.0.0.1", WarrenMain.probeHost(null));
        assertEquals("127.0.0.1", WarrenMain.probeHost("0.0.0.0"));
        assertEquals("::1", WarrenMain.probeHost("::"));
        assertEquals("10.1.2.3", WarrenMain.probeHost("10.1.2.3"));
    }

    @Test
    void addressBracketsIpv6() {
        assertEquals("0.0.0.0:5672", WarrenMain.address(null, 5672));
        assertEquals("127.0.0.1:1", WarrenMain.address("127.0.0.1", 1));
        assertEquals("[::1]:5672", WarrenMain.address("::1", 5672));
    }

    @Test
    void launchInfoIsWhatBinWarrenReads() {
        Path install = Path.of("/opt/warren");
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        WarrenMain.printLaunchInfo(WarrenConfig.defaults(install), new PrintStream(bytes, true, StandardCharsets.UTF_8));
        assertEquals("""
                data_dir=/opt/warren/data
                pid_file=/opt/warren/data/warren.pid
                log_file=/opt/warren/log/warren.log
                amqp_host=127.0.0.1
                amqp_port=5672
                clustered=false
                """, bytes.toString(StandardCharsets.UTF_8));
    }
}
