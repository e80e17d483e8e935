package io.warren.server.management;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The merging of other nodes' answers: a node that gives none, or one that is no listing, leaves only itself out. */
class ClusterViewsTest {
    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void viewsOfEveryReadableAnswerAreMerged() {
        List<Map<String, Object>> views = ClusterViews.views(List.of(
                utf8("[{\"name\":\"a\",\"node\":\"warren2@localhost\"}]"),
                new byte[0], // a node whose application is stopped
                utf8("127.0.0.1:5672\nstarted"), // a node that does not know the question
                utf8("[{\"name\":\"b\",\"node\":\"warren3@localhost\"},{\"name\":\"c\",\"node\":\"warren3@localhost\"}]")));
        assertEquals(List.of("a", "b", "c"), views.stream().map(m -> m.get("name")).toList());
        assertEquals("warren3@localhost", views.get(2).get("node"));
    }

    @Test
    void aVhostListingKeepsTheViewsOfThatVhost() {
        List<byte[]> answers = List.of(utf8("[{\"consumer_tag\":\"a\",\"queue\":{\"vhost\":\"shop\"}},"
                + "{\"consumer_tag\":\"b\",\"queue\":{\"vhost\":\"/\"}},{\"consumer_tag\":\"c\"}]"));
        assertEquals(List.of("a"), ClusterViews.views(answers, "shop", "queue", "vhost").stream()
                .map(m -> m.get("consumer_tag")).toList());
        assertEquals(3, ClusterViews.views(answers, null, "queue", "vhost").size());
        assertEquals(List.of(), ClusterViews.views(answers, "shop", "vhost"));
    }

    @Test
    void totalsAddTheOtherNodesToThisOnes() {
        assertArrayEquals(new int[] {6, 9, 4}, ClusterViews.totals(List.of(utf8("[2,3,1]"), new byte[0], utf8("oops"),
                utf8("[3,4,2]")), new int[] {1, 2, 1}));
    }

    @Test
    void aCloseIsDoneWhenOneNodeSaysSo() {
        assertTrue(ClusterViews.closed(List.of(new byte[0], utf8("closed"))));
        assertFalse(ClusterViews.closed(List.of(new byte[0], utf8("127.0.0.1:5672"))));
        assertEquals("close n 1\nwhy", ClusterViews.close("n 1", "why"));
    }
}
