package io.warren.cluster;

import org.apache.ratis.server.RaftServer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.reflect.Field;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Turns off, for one quorum queue's leader, the commit markers Ratis writes to its log: by default
 * (raft.server.log.log-metadata.enabled) a leader appends a metadata entry holding the new commit
 * index each time the commit index moves, and replicates it like any other entry, so that a
 * member restarted from its log alone can apply up to that index before it hears from a leader.
 * Under load that is one more entry for every entry, each written, sent to every follower and
 * synced on every member: {@code bench/quorum.sh} (2026-12-05, 3 nodes on 2 cores) committed 331
 * entries a second through the leader, half of them markers; without them 169, and the steady
 * state went from 17,700-23,700 msg/s at 58-75 CPU-s per million to 23,543 at 54.1 through the
 * leader, and from 13,600-16,900 at 91-108 to 20,076 at 68.8 through a follower.
 *
 * <p>A quorum queue does not need them: its messages are the broker's only once its member leads
 * and is ready (its term's first entry applied, so everything committed before it too), and a
 * follower learns the commit index from the leader's next append or heartbeat, as Ratis sends
 * one to a follower whose commit index is behind. The metadata group keeps them: at start the
 * broker recovers its classic queues' messages against the definitions applied from that log,
 * and drops a message whose queue it does not know (see StoreDurability), so the node must apply
 * up to the last commit it knew before any other node answers.
 *
 * <p>Ratis 3.2.2 reads the setting once per leadership, for all groups of a server alike (a
 * division has no properties of its own), into {@code LeaderStateImpl.logMetadataEnabled};
 * this clears that field on the new leader of a queue group (reflection, as there is no other
 * way). Should a later Ratis not have the field, nothing changes but the cost: it says so once.
 */
final class CommitMarkers {
    private static final Logger log = LoggerFactory.getLogger(CommitMarkers.class);
    private static final AtomicBoolean WARNED = new AtomicBoolean();

    private CommitMarkers() {
    }

    /** Stops {@code d}'s leadership from writing commit markers, if it leads now; false if it could not. */
    static boolean off(RaftServer.Division d) {
        try {
            Object leader = leaderState(d);
            if (leader == null) {
                return false; // stepped down meanwhile: the next leadership turns them off again
            }
            field(leader.getClass(), "logMetadataEnabled").setBoolean(leader, false);
            return true;
        } catch (ReflectiveOperationException | RuntimeException e) {
            if (WARNED.compareAndSet(false, true)) {
                log.warn("cannot turn off Ratis' commit markers for quorum queue leaders ({}): each commit "
                        + "costs them a log entry more", e.toString());
            }
            return false;
        }
    }

    /** Whether {@code d}'s current leadership writes commit markers (tests); null when it does not lead. */
    static Boolean on(RaftServer.Division d) throws ReflectiveOperationException {
        Object leader = leaderState(d);
        return leader == null ? null : field(leader.getClass(), "logMetadataEnabled").getBoolean(leader);
    }

    /** {@code d}'s LeaderStateImpl (RaftServerImpl.role's RoleInfo.leaderState), null when it does not lead. */
    private static Object leaderState(RaftServer.Division d) throws ReflectiveOperationException {
        Object role = field(d.getClass(), "role").get(d);
        return ((AtomicReference<?>) field(role.getClass(), "leaderState").get(role)).get();
    }

    private static Field field(Class<?> c, String name) throws NoSuchFieldException {
        for (Class<?> k = c; k != null; k = k.getSuperclass()) {
            try {
                Field f = k.getDeclaredField(name);
                f.setAccessible(true);
                return f;
            } catch (NoSuchFieldException e) {
                // look in the superclass
            }
        }
        throw new NoSuchFieldException(c.getName() + "." + name);
    }
}
