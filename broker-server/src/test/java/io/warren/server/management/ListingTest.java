package io.warren.server.management;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Sorting, filtering and paging as rabbit_mgmt_util, without a broker. */
class ListingTest {
    private static ApiRequest request(String query) {
        Map<String, List<String>> q = new LinkedHashMap<>();
        for (String kv : query.isEmpty() ? new String[0] : query.split("&")) {
            String[] p = kv.split("=", 2);
            q.computeIfAbsent(p[0], k -> new ArrayList<>()).add(p.length > 1 ? p[1] : "");
        }
        return new ApiRequest("GET", List.of(), Map.of(), q, Map.of(), new byte[0], "guest", null);
    }

    private static Map<String, Object> item(String name, Object messages) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", name);
        m.put("vhost", "/");
        if (messages != null) {
            m.put("messages", messages);
        }
        return m;
    }

    @SuppressWarnings("unchecked")
    private static List<String> names(Object body) {
        List<Object> items = body instanceof Map<?, ?> m ? (List<Object>) m.get("items") : (List<Object>) body;
        List<String> out = new ArrayList<>();
        items.forEach(i -> out.add((String) ((Map<String, Object>) i).get("name")));
        return out;
    }

    @Test
    void erlangTermOrderNumbersThenAtomsThenStrings() {
        assertTrue(Listing.compareTerms(5L, 4.5) > 0);
        assertTrue(Listing.compareTerms(1_000_000L, true) < 0);
        assertTrue(Listing.compareTerms(false, true) < 0);
        assertTrue(Listing.compareTerms(true, "a") < 0);
        assertTrue(Listing.compareTerms(Map.of(), List.of()) < 0);
        assertTrue(Listing.compareTerms("B", "a") < 0, "bytewise, upper case first");
    }

    @Test
    void sortByFieldThenDefaultKeysMissingValuesFirst() {
        List<Object> items = List.of(item("c", 2L), item("a", 2L), item("b", null), item("d", 0.5));
        Object body = Listing.reply(Listing.params(request("sort=messages")), items, Listing.DEFAULT_SORT).body();
        assertEquals(List.of("b", "d", "a", "c"), names(body));
        body = Listing.reply(Listing.params(request("sort=messages&sort_reverse=true")), items, Listing.DEFAULT_SORT)
                .body();
        assertEquals(List.of("c", "a", "d", "b"), names(body));
        assertEquals(List.of("c", "a", "b", "d"),
                names(Listing.reply(Listing.params(request("")), items, Listing.DEFAULT_SORT).body()), "as given");
    }

    @Test
    void pagesAndErrors() {
        List<Object> items = new ArrayList<>();
        for (int i = 0; i < 7; i++) {
            items.add(item("q" + i, (long) i));
        }
        @SuppressWarnings("unchecked") Map<String, Object> p = (Map<String, Object>) Listing.reply(
                Listing.params(request("page=2&page_size=3")), items, Listing.DEFAULT_SORT).body();
        assertEquals(List.of("total_count", "item_count", "filtered_count", "page", "page_size", "page_count", "items"),
                new ArrayList<>(p.keySet()));
        assertEquals(List.of("q3", "q4", "q5"), names(p));
        assertEquals(3, p.get("page_count"));
        // one past the last item is an empty page; further is out of range
        assertEquals(List.of(), names(Listing.reply(Listing.params(request("page=2&page_size=7")), items,
                Listing.DEFAULT_SORT).body()));
        ApiException e = assertThrows(ApiException.class, () -> Listing.reply(
                Listing.params(request("page=3&page_size=7")), items, Listing.DEFAULT_SORT));
        assertEquals("page_out_of_range", e.error);
        e = assertThrows(ApiException.class, () -> Listing.params(request("page=1&page_size=abc")));
        assertEquals("Pagination parameters are invalid", e.getMessage());
        e = assertThrows(ApiException.class, () -> Listing.params(request("page=2&page_size=600")));
        assertEquals("Invalid pagination parameters: page number 2, page size 600", e.getMessage());
    }

    @Test
    void aRunawayRegexIsStoppedByItsBudget() {
        List<Object> items = List.of(item("a".repeat(40), 0L));
        long t0 = System.nanoTime();
        ApiException e = assertThrows(ApiException.class, () -> Listing.reply(
                Listing.params(request("page=1&use_regex=true&name=(.*a){25}b")), items, Listing.DEFAULT_SORT));
        assertEquals("name filter regex is too expensive to match", e.getMessage());
        assertTrue(System.nanoTime() - t0 < 5_000_000_000L);
        assertEquals(List.of("a".repeat(40)), names(Listing.reply(
                Listing.params(request("page=1&use_regex=true&name=^A+$")), items, Listing.DEFAULT_SORT).body()));
    }
}
