package io.warren.server.management;

import io.warren.core.text.MatchBudget;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Sorting, filtering and pagination of list endpoints, as RabbitMQ's rabbit_mgmt_util does:
 * {@code sort} (a dotted field path) and {@code sort_reverse}; with {@code page} (and
 * {@code page_size}, default 100, at most 500) the answer is the paged object, filtered by
 * {@code name} (a case-insensitive substring, or with {@code use_regex=true} a case-insensitive
 * regular expression). As in RabbitMQ the name filter applies only to paged requests.
 */
final class Listing {
    static final int DEFAULT_PAGE_SIZE = 100;
    static final int MAX_PAGE_SIZE = 500;
    /** rabbit_mgmt_util's MAX_FILTER_LENGTH for a regex filter. */
    static final int MAX_FILTER_LENGTH = 1024;
    /**
     * Characters a regex filter may read over one request: a client-supplied pattern with
     * catastrophic backtracking would otherwise hold the management loop for minutes. 5
     * million reads take about half a second; an honest filter over 10,000 names uses a few
     * hundred thousand.
     */
    static final long REGEX_BUDGET = 5_000_000;

    static final List<String> DEFAULT_SORT = List.of("vhost", "name");

    /** A request's listing parameters, validated before any work is done. */
    record Params(Integer page, int pageSize, String name, Pattern regex, String sort, boolean reverse) {
        boolean paged() {
            return page != null;
        }
    }

    private Listing() {
    }

    /** The listing parameters of {@code r}, or 400 with RabbitMQ's error and reason. */
    static Params params(ApiRequest r) {
        String pageText = first(r, "page");
        String sizeText = first(r, "page_size");
        Integer page;
        Integer size;
        try {
            page = pageText == null ? null : Integer.valueOf(pageText.trim());
            size = sizeText == null ? null : Integer.valueOf(sizeText.trim());
        } catch (NumberFormatException e) {
            throw ApiException.badRequest("Pagination parameters are invalid");
        }
        String name = first(r, "name");
        boolean useRegex = "true".equals(first(r, "use_regex"));
        if (name != null && useRegex && name.length() > MAX_FILTER_LENGTH) {
            throw new ApiException(400, "invalid_pagination_parameters", "name filter regex is too long");
        }
        if (page != null && (page <= 0 || (size != null && (size <= 0 || size > MAX_PAGE_SIZE)))) {
            throw new ApiException(400, "invalid_pagination_parameters", "Invalid pagination parameters: page number "
                    + page + ", page size " + (size == null ? "undefined" : size));
        }
        Pattern regex = null;
        if (page != null && name != null && !name.isEmpty() && useRegex) {
            try {
                regex = Pattern.compile(name, Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE);
            } catch (PatternSyntaxException e) {
                // RabbitMQ 3.10 treats a pattern re cannot compile as matching nothing; an error
                // tells the client why its page is empty.
                throw new ApiException(400, "invalid_pagination_parameters", "invalid name filter regex: "
                        + e.getDescription() + " near index " + e.getIndex());
            }
        }
        String sort = first(r, "sort");
        return new Params(page, size == null ? DEFAULT_PAGE_SIZE : size, name == null || name.isEmpty() ? null : name,
                regex, sort == null || sort.isEmpty() ? null : sort, "true".equals(first(r, "sort_reverse")));
    }

    private static String first(ApiRequest r, String key) {
        List<String> v = r.query().get(key);
        return v == null || v.isEmpty() ? null : v.get(0);
    }

    /** {@code items} sorted, filtered and paged as {@code p} asks, with the endpoint's default sort. */
    static ApiResponse reply(Params p, List<?> items, List<String> defaultSort) {
        List<?> sorted = items;
        if (p.sort != null || p.reverse) {
            List<String> keys = new ArrayList<>();
            if (p.sort != null) {
                keys.add(p.sort);
            }
            for (String k : defaultSort) {
                if (!keys.contains(k)) {
                    keys.add(k);
                }
            }
            sorted = sort(items, keys);
            if (p.reverse) {
                Collections.reverse(sorted);
            }
        }
        if (!p.paged()) {
            return ApiResponse.ok(sorted);
        }
        List<Object> filtered = filter(sorted, p);
        int offset = (p.page - 1) * p.pageSize;
        if (offset > filtered.size()) {
            throw new ApiException(400, "page_out_of_range", "Page out of range, page: " + p.page + " page size: "
                    + p.pageSize + ", len: " + filtered.size());
        }
        List<Object> page = filtered.subList(offset, Math.min(filtered.size(), offset + p.pageSize));
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("total_count", items.size());
        m.put("item_count", page.size());
        m.put("filtered_count", filtered.size());
        m.put("page", p.page);
        m.put("page_size", p.pageSize);
        m.put("page_count", (filtered.size() + p.pageSize - 1) / p.pageSize);
        m.put("items", page);
        return ApiResponse.ok(m);
    }

    private static List<Object> filter(List<?> items, Params p) {
        List<Object> out = new ArrayList<>(items.size());
        if (p.name == null) {
            out.addAll(items);
            return out;
        }
        String needle = p.name.toLowerCase(Locale.ROOT);
        MatchBudget budget = p.regex == null ? null : new MatchBudget(REGEX_BUDGET);
        for (Object o : items) {
            Object name = o instanceof Map<?, ?> m ? m.get("name") : null;
            if (!(name instanceof String s)) {
                continue;
            }
            boolean match;
            if (p.regex == null) {
                match = s.toLowerCase(Locale.ROOT).contains(needle);
            } else {
                try {
                    match = budget.find(p.regex, s);
                } catch (MatchBudget.Exceeded e) {
                    throw new ApiException(400, "invalid_pagination_parameters",
                            "name filter regex is too expensive to match");
                }
            }
            if (match) {
                out.add(o);
            }
        }
        return out;
    }

    // ---- sorting in Erlang term order, as RabbitMQ's lists:sort of the keys -------------------

    private record Keyed(Object[] key, Object item) {
    }

    private static List<Object> sort(List<?> items, List<String> keys) {
        List<String[]> paths = new ArrayList<>(keys.size());
        for (String k : keys) {
            paths.add(k.split("\\."));
        }
        List<Keyed> keyed = new ArrayList<>(items.size());
        for (Object o : items) {
            Object[] key = new Object[paths.size()];
            for (int i = 0; i < key.length; i++) {
                key[i] = dotted(o, paths.get(i));
            }
            keyed.add(new Keyed(key, o));
        }
        keyed.sort((a, b) -> {
            for (int i = 0; i < a.key.length; i++) {
                int c = compareTerms(a.key[i], b.key[i]);
                if (c != 0) {
                    return c;
                }
            }
            return 0;
        });
        List<Object> out = new ArrayList<>(keyed.size());
        for (Keyed k : keyed) {
            out.add(k.item);
        }
        return out;
    }

    /** rabbit_mgmt_util:get_dotted_value: a missing leaf is 0 ("nothing" sorts first, as zero). */
    private static Object dotted(Object o, String[] path) {
        Object cur = o;
        for (int i = 0; i < path.length; i++) {
            if (!(cur instanceof Map<?, ?> m)) {
                return i == path.length - 1 ? 0L : List.of();
            }
            Object v = m.get(path[i]);
            if (v == null) {
                return i == path.length - 1 ? 0L : List.of();
            }
            cur = v;
        }
        return cur;
    }

    /** Erlang's order: numbers < atoms (true, false, null) < maps < lists < binaries (strings). */
    private static int rank(Object v) {
        if (v instanceof Number) {
            return 0;
        }
        if (v instanceof Boolean || v == null) {
            return 1;
        }
        if (v instanceof Map) {
            return 2;
        }
        if (v instanceof List) {
            return 3;
        }
        return 4;
    }

    static int compareTerms(Object a, Object b) {
        int ra = rank(a);
        int rb = rank(b);
        if (ra != rb) {
            return Integer.compare(ra, rb);
        }
        return switch (ra) {
            case 0 -> compareNumbers((Number) a, (Number) b);
            case 1 -> String.valueOf(a).compareTo(String.valueOf(b));
            case 4 -> String.valueOf(a).compareTo(String.valueOf(b));
            default -> 0;
        };
    }

    private static int compareNumbers(Number a, Number b) {
        if ((a instanceof Long || a instanceof Integer) && (b instanceof Long || b instanceof Integer)) {
            return Long.compare(a.longValue(), b.longValue());
        }
        return Double.compare(a.doubleValue(), b.doubleValue());
    }
}
