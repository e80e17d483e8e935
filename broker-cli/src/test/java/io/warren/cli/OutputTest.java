package io.warren.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** rabbitmqctl's table and JSON layouts (as RabbitMQ 3.10.8's rabbitmqctl prints them). */
class OutputTest {
    private static JsonNode json(String s) throws Exception {
        return Api.JSON.readTree(s);
    }

    private static String render(boolean quiet, boolean silent, boolean asJson, List<Map<String, JsonNode>> rows) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Output out = new Output(new PrintStream(bytes, true, StandardCharsets.UTF_8), quiet, silent, asJson);
        out.banner("Listing queues for vhost / ...");
        out.rows(List.of("name", "arguments"), rows);
        return bytes.toString(StandardCharsets.UTF_8);
    }

    private static List<Map<String, JsonNode>> rows() throws Exception {
        Map<String, JsonNode> q1 = new LinkedHashMap<>();
        q1.put("name", json("\"q1\""));
        q1.put("arguments", json("{}"));
        Map<String, JsonNode> q2 = new LinkedHashMap<>();
        q2.put("name", json("\"q2\""));
        q2.put("arguments", json("{\"x-max-length\":10,\"x-dead-letter-exchange\":\"dlx\"}"));
        return List.of(q1, q2);
    }

    @Test
    void tableHasBannerHeaderAndTabSeparatedRows() throws Exception {
        assertEquals("Listing queues for vhost / ...\nname\targuments\nq1\t[]\n"
                + "q2\t[{\"x-max-length\",10},{\"x-dead-letter-exchange\",\"dlx\"}]\n", render(false, false, false, rows()));
    }

    @Test
    void quietDropsTheBannerSilentAlsoTheHeader() throws Exception {
        assertEquals("name\targuments\nq1\t[]\n", render(true, false, false, rows().subList(0, 1)));
        assertEquals("q1\t[]\n", render(false, true, false, rows().subList(0, 1)));
    }

    @Test
    void noRowsNoHeader() {
        assertEquals("Listing queues for vhost / ...\n", render(false, false, false, List.of()));
    }

    @Test
    void jsonIsAnArrayOneObjectPerLineWithoutBanner() throws Exception {
        assertEquals("[\n{\"name\":\"q1\",\"arguments\":{}}\n,{\"name\":\"q2\",\"arguments\":"
                + "{\"x-max-length\":10,\"x-dead-letter-exchange\":\"dlx\"}}\n]\n", render(false, false, true, rows()));
        assertEquals("[\n]\n", render(false, false, true, List.of()));
    }

    @Test
    void nestedTablesAndListsAsRabbitmqctl() throws Exception {
        assertEquals("[{\"capabilities\",[{\"publisher_confirms\",true}]},{\"product\",\"RabbitMQ\"}]",
                Output.cell(json("{\"capabilities\":{\"publisher_confirms\":true},\"product\":\"RabbitMQ\"}")));
        assertEquals("[\"a\",1]", Output.cell(json("[\"a\",1]")));
        assertEquals("", Output.cell(json("null")));
        assertEquals("plain", Output.cell(json("\"plain\"")));
    }
}
