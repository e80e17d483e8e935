package io.warren.it.management;

import com.fasterxml.jackson.databind.JsonNode;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Sorting, filtering and pagination of the list endpoints, as RabbitMQ's management API does them
 * (rabbit_mgmt_util: page, page_size, name, use_regex, sort, sort_reverse), and its 400s.
 */
class ManagementListingTest {
    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private static Http http;
    private static Connection conn;

    @BeforeAll
    static void queues() throws Exception {
        http = new Http("127.0.0.1", broker.broker().managementPort(), "guest", "guest");
        conn = broker.connect();
        try (Channel ch = conn.createChannel()) {
            for (int i = 0; i < 12; i++) {
                String q = String.format("pg-%02d", i);
                ch.queueDeclare(q, false, false, false, null);
                for (int k = 0; k < i % 4; k++) {
                    ch.basicPublish("", q, null, new byte[1]);
                }
            }
            // 40 a's and no b: "(.*a){25}b" backtracks for minutes on it (Java 17's regex engine)
            ch.queueDeclare("a".repeat(40), false, false, false, null);
            ch.queueDeclare("PG-upper", false, false, false, null);
        }
        Channel keep = conn.createChannel();
        keep.basicConsume("pg-00", true, (t, d) -> { }, t -> { });
    }

    @AfterAll
    static void close() throws Exception {
        conn.close();
    }

    private static List<String> names(JsonNode items) {
        List<String> out = new ArrayList<>();
        items.forEach(n -> out.add(n.get("name").asText()));
        return out;
    }

    private static void assertError(Http.Response r, String error, String reason) {
        assertEquals(400, r.status(), r.body());
        assertEquals(error, r.json().get("error").asText(), r.body());
        if (reason != null) {
            assertEquals(reason, r.json().get("reason").asText(), r.body());
        }
    }

    @Test
    void pagesFilteredByName() {
        JsonNode p = http.get("/api/queues/%2F?page=1&page_size=5&name=pg-").json();
        assertEquals(13, p.get("filtered_count").asInt(), p.toString()); // substring, case-insensitive: PG-upper too
        assertEquals(5, p.get("item_count").asInt());
        assertEquals(1, p.get("page").asInt());
        assertEquals(5, p.get("page_size").asInt());
        assertEquals(3, p.get("page_count").asInt());
        assertEquals(14, p.get("total_count").asInt());
        assertEquals(List.of("PG-upper", "pg-00", "pg-01", "pg-02", "pg-03"), names(p.get("items")));
        p = http.get("/api/queues/%2F?page=3&page_size=5&name=pg-").json();
        assertEquals(List.of("pg-09", "pg-10", "pg-11"), names(p.get("items")));
        // default page size 100
        p = http.get("/api/queues?page=1").json();
        assertEquals(100, p.get("page_size").asInt());
        assertEquals(14, p.get("item_count").asInt());
        // the name filter applies to paged requests only, as in RabbitMQ
        assertEquals(14, http.get("/api/queues?name=pg-0").json().size());
    }

    @Test
    void regexFilter() {
        JsonNode p = http.get("/api/queues?page=1&use_regex=true&name=" + Http.enc("^pg-0[0-4]$")).json();
        assertEquals(List.of("pg-00", "pg-01", "pg-02", "pg-03", "pg-04"), names(p.get("items")), p.toString());
        p = http.get("/api/queues?page=1&use_regex=true&name=" + Http.enc("^pg-upper$")).json();
        assertEquals(List.of("PG-upper"), names(p.get("items")), "case-insensitive");
        assertError(http.get("/api/queues?page=1&use_regex=true&name=" + Http.enc("pg-(")),
                "invalid_pagination_parameters", null);
        long t0 = System.nanoTime();
        assertError(http.get("/api/queues?page=1&use_regex=true&name=" + Http.enc("(.*a){25}b")),
                "invalid_pagination_parameters", "name filter regex is too expensive to match");
        assertTrue(System.nanoTime() - t0 < 5_000_000_000L, "the bound stops it quickly");
        assertError(http.get("/api/queues?page=1&use_regex=true&name=" + "x".repeat(1025)),
                "invalid_pagination_parameters", "name filter regex is too long");
        // the loop still answers
        assertEquals(200, http.get("/api/overview").status());
    }

    @Test
    void sortByFieldPathAndReverse() {
        JsonNode l = http.get("/api/queues?sort=name&sort_reverse=true").json();
        List<String> n = names(l);
        // ascending: "PG-upper" < "aaa..." < "pg-00" ... "pg-11"; then reversed
        assertEquals("pg-11", n.get(0), n.toString());
        assertEquals("a".repeat(40), n.get(n.size() - 2));
        // by messages, ties by vhost then name (RabbitMQ merges the default sort in)
        JsonNode p = http.get("/api/queues?page=1&page_size=3&name=pg-&sort=messages&sort_reverse=true").json();
        assertEquals(List.of("pg-11", "pg-07", "pg-03"), names(p.get("items")), p.toString());
        p = http.get("/api/queues?page=1&page_size=2&name=pg-&sort=message_stats.publish").json();
        assertEquals(0, p.at("/items/0/message_stats/publish").asInt(), p.toString());
        p = http.get("/api/queues?page=1&page_size=2&name=pg-&sort=message_stats.publish_details.rate"
                + "&sort_reverse=true").json();
        assertEquals(2, p.get("item_count").asInt(), p.toString());
        l = http.get("/api/exchanges/%2F?sort=type").json();
        assertEquals("direct", l.get(0).get("type").asText(), l.toString());
    }

    @Test
    void badPagesAre400() {
        assertError(http.get("/api/queues?page=0"), "invalid_pagination_parameters",
                "Invalid pagination parameters: page number 0, page size undefined");
        assertError(http.get("/api/queues?page=1&page_size=501"), "invalid_pagination_parameters",
                "Invalid pagination parameters: page number 1, page size 501");
        assertError(http.get("/api/queues?page=1&page_size=0"), "invalid_pagination_parameters", null);
        assertError(http.get("/api/queues?page=one"), "bad_request", "Pagination parameters are invalid");
        assertError(http.get("/api/queues?page=9&page_size=5&name=pg-"), "page_out_of_range",
                "Page out of range, page: 9 page size: 5, len: 13");
        assertEquals(200, http.get("/api/queues?page=1&page_size=500").status());
    }

    @Test
    void everyListEndpointPages() {
        for (String path : List.of("/api/queues", "/api/exchanges", "/api/bindings", "/api/connections",
                "/api/channels", "/api/consumers", "/api/vhosts", "/api/queues/%2F", "/api/exchanges/%2F",
                "/api/bindings/%2F", "/api/consumers/%2F", "/api/vhosts/%2F/connections",
                "/api/vhosts/%2F/channels")) {
            Http.Response r = http.get(path + "?page=1&page_size=2");
            assertEquals(200, r.status(), path + ": " + r.body());
            JsonNode p = r.json();
            assertTrue(p.has("items") && p.has("total_count") && p.has("filtered_count") && p.has("page_count"),
                    path + ": " + p);
            assertTrue(p.get("item_count").asInt() <= 2, path);
            assertTrue(p.get("total_count").asInt() >= 1, path + ": " + p);
            assertError(http.get(path + "?page=-1"), "invalid_pagination_parameters", null);
            assertTrue(http.get(path + "?sort=name&sort_reverse=true").json().isArray(), path);
        }
    }
}
