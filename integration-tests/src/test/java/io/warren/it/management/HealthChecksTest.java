package io.warren.it.management;

import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** RabbitMQ's health-check endpoints that are not about alarms. */
class HealthChecksTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    @Test
    void virtualHostsAreUpWhileTheApplicationRuns() throws Exception {
        Http http = new Http("127.0.0.1", broker.broker().managementPort(), "guest", "guest");
        Http.Response r = http.get("/api/health/checks/virtual-hosts");
        assertEquals(200, r.status(), r.body());
        assertEquals("ok", r.json().get("status").asText());
        broker.broker().stopApp();
        try {
            r = http.get("/api/health/checks/virtual-hosts");
            assertEquals(503, r.status(), r.body());
        } finally {
            broker.broker().startApp();
        }
        assertEquals(200, http.get("/api/health/checks/virtual-hosts").status());
    }
}
