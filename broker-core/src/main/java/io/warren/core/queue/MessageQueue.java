package io.warren.core.queue;

import io.netty.util.concurrent.EventExecutor;
import io.warren.core.BrokerException;
import io.warren.core.exchange.Destination;
import io.warren.core.message.Message;
import io.warren.core.message.QueueEntry;
import io.warren.core.store.MessageStore;
import io.warren.core.store.SpillStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.IntConsumer;

/**
 * A classic FIFO queue. Owner: its event loop ({@link #loop()}); every state change runs
 * there, other threads submit tasks with {@link #execute}. Counters read by other threads
 * (declare-ok, delete checks) are volatile copies.
 */
public final class MessageQueue implements Destination {
    /**
     * Deliveries per dispatch pass before the loop yields to other tasks: one hot queue must
     * not starve the connections and queues sharing its loop. 256 keeps the per-task cost
     * small while amortising the scheduling.
     */
    static final int DISPATCH_QUANTUM = 256;
    private static final Logger LOG = LoggerFactory.getLogger(MessageQueue.class);

    private final String name;
    private final String vhost;
    private final boolean durable;
    private final boolean autoDelete;
    private final Object exclusiveOwner;
    /**
     * In a cluster, non-null when this object stands in for a queue held elsewhere: a durable
     * classic queue's home node, or for a quorum queue this node does not lead, the leader as
     * last told (or StoreDurability.ELECTING). A stand-in takes no message of its own and is
     * refused to consumers ({@link #remoteUse}); null when the queue is live here.
     */
    private volatile String remoteHome;
    private final Map<String, Object> arguments;
    private final EventExecutor loop;
    private final QueueListener listener;
    /**
     * Set before the queue is published (durable queues with a store only); volatile, since a
     * cluster's quorum queue gains or loses this node's copy while it runs (add_member,
     * delete_member: {@link #replaceStore} on the queue's loop), read by publishers elsewhere.
     */
    private volatile MessageStore store;
    private long storeId;
    private Paging paging = Paging.OFF;
    /** Where arrivals past the in-memory bound go, one spill per ready lane (null: paging off). Loop only. */
    private LaneSpills spill;
    /** Entries in the spills (all lanes), counting those of a read in flight. Loop only. */
    private long spillCount;
    /** Of those, entries holding a store slot: purge must free their slots. Loop only. */
    private long spillStored;
    private boolean spillReading;
    /** Bumped by purge and delete: a read that was in flight then comes back stale. */
    private int spillGen;
    /** Memory the ready entries hold: content plus {@link Paging#ENTRY_OVERHEAD} each. Loop only. */
    private long inMemoryBytes;

    /** The in-memory ready entries: a deque, or one lane per priority for an x-max-priority queue. */
    private final ReadyList ready;
    /** x-max-priority above 0: entries are taken by priority, one lane (and spill) per priority. */
    private final boolean priorityLanes;
    /** Body bytes of the entries in {@link #ready}. Loop only. */
    private long readyBodyBytes;
    /** Body bytes of the live (not dropped) entries in the spill. Loop only. */
    private long spillBodyBytes;

    // ---- length limits: x-max-length, x-max-length-bytes, x-overflow --------------------------
    // As RabbitMQ: the limits count ready messages (not unacknowledged ones) and their body bytes,
    // paged-out ones included; drop-head drops (or dead-letters, reason maxlen) from the head
    // after a publish or a requeue takes the queue past a limit; reject-publish(-dlx) refuses a
    // publish that would, and tells the publisher through its Admission (a basic.nack).
    // The effective values (x-argument and policy, see setLimits); loop only unless said.
    /** x-max-length, or -1. */
    private long maxLength = -1;
    /** x-max-length-bytes, or -1. */
    private long maxBytes = -1;
    /** A limit is set and x-overflow is drop-head (the default). */
    private boolean dropHead;
    /** A limit is set and x-overflow is reject-publish or reject-publish-dlx. Any thread reads it. */
    private volatile boolean refuses;
    /** x-overflow reject-publish-dlx: a refused publish is dead-lettered too. */
    private boolean refusedToDlx;
    /**
     * Size and expiry of each live paged-out entry, in spill order, after the first
     * {@link #ledgerGap}; null until the queue first has a limit (then kept). Loop only.
     */
    private SpillLedger ledger;
    /**
     * Paged-out entries at the head of the spill that the ledger does not know: those already on
     * disk when a policy gave the queue its first limit. A drop of one counts it out at once; its
     * bytes and expiry are settled when the read-back brings it.
     */
    private long ledgerGap;
    /** The effective x-overflow as set (null: the default, drop-head). */
    private Object overflowSetting;
    /**
     * Entries dropped by drop-head while still on disk, oldest first, in front of the spill's
     * live entries: {@link #DROPPED_EXPIRED} for one that had expired already,
     * {@link #DROPPED_LIVE} for one that had not, {@link #DROPPED_UNKNOWN} for one of the ledger
     * gap. Each is dropped (its journal slot freed) when the read-back brings it. Null until the
     * queue first has a limit. Loop only.
     */
    private ArrayDeque<Integer> spillDropped;
    private static final Integer DROPPED_LIVE = 0;
    private static final Integer DROPPED_EXPIRED = 1;
    private static final Integer DROPPED_UNKNOWN = 2;
    private final List<Consumer> consumers = new ArrayList<>();
    private int nextConsumer;
    /** x-single-active-consumer: only the first consumer (in priority, then arrival order) gets messages. */
    private final boolean singleActive;
    private final long consumerTimeoutMs;
    /** The consumer that gets messages on a single-active-consumer queue; null otherwise. Written on the loop. */
    private volatile Consumer active;
    /** True while the consumers differ in priority: dispatch then goes by priority group. Loop only. */
    private boolean prioritized;
    /** Round-robin cursor per priority group, used while {@link #prioritized}. Loop only. */
    private final java.util.Map<Integer, Integer> groupCursors = new java.util.HashMap<>();
    private long nextSeq;
    private boolean deleted;
    /** Broker shutdown: like deleted, but stored messages stay in the store. */
    private boolean closed;
    /** A load of recovered content is in flight; dispatch and get wait for it. */
    private boolean loading;
    private final ArrayDeque<BiConsumer<QueueEntry, Integer>> waitingGets = new ArrayDeque<>();
    private boolean hadConsumer;
    private boolean dispatchScheduled;
    private volatile int readyCount;
    private volatile int consumerCount;
    private volatile boolean hasExclusiveConsumer;

    // ---- expiry: x-message-ttl, the expiration property, x-expires ----------------------------
    // No timer per message: entries whose expiry comes from the queue's TTL expire in FIFO order,
    // so only the head is watched; entries whose own, shorter TTL decides (ownExpiry) are found by
    // a sweep of the in-memory ready list when the earliest of them is due (the list is bounded by
    // the paging bound, so a sweep is too); paged-out entries are counted per expiry bucket
    // (SpillExpiries), and taken off the disk by a sweep of the spill on the pager thread when
    // they must be dead-lettered or a TTL change re-times them (sweepSpill). One scheduled task
    // per queue, for the earliest deadline.
    /** The effective message TTL in ms (x-message-ttl and policy, see {@link #applyPolicy}), or -1. Loop only. */
    private long messageTtl;
    /** The effective x-expires in ms (argument and policy), or -1. Loop only. */
    private long expiresMs;
    /** x-queue-type quorum: every message is journaled, deliveries carry x-delivery-count. */
    private final boolean quorum;
    /** The effective delivery limit (x-delivery-limit and policy): returns before dead-lettering; -1: none. */
    private volatile long deliveryLimit;
    /** The effective x-dead-letter-exchange (argument, else policy), or null: dead-lettered messages are dropped. */
    private volatile String deadLetterExchange;
    /** The effective x-dead-letter-routing-key, or null: dead-lettered messages keep their routing keys. */
    private volatile String deadLetterRoutingKey;
    /** Where dead letters are republished (set once, before the queue is visible; null: dropped). */
    private io.warren.core.deadletter.DeadLetters deadLetters;

    // ---- at-least-once dead-lettering (quorum queues, x-dead-letter-strategy at-least-once) ---
    // As RabbitMQ 3.10 (rabbit_fifo_dlx): a dead-lettered message stays in this queue, not ready
    // and never delivered, until every queue its copy routes to has taken it safely; what waits
    // is counted apart (messages_dlx, message_bytes_dlx) and toward the length limits, so that
    // reject-publish bounds it. Attempts that fail (no DLX, no route, a target refusing) are
    // retried by one task per queue with backoff, and at once when the vhost's topology grows.
    /** at-least-once is in effect: quorum, the strategy, a DLX and x-overflow reject-publish. Loop only. */
    private boolean atLeastOnce;
    /** The fallback or disabling warning was logged for the current settings. Loop only. */
    private boolean strategyWarned;
    /** Dead-lettered entries waiting for an attempt. Loop only. */
    private final ArrayDeque<DeadLettered> dlxWaiting = new ArrayDeque<>();
    /** Dead-lettered entries whose last attempt failed, waiting for the retry task. Loop only. */
    private final ArrayDeque<DeadLettered> dlxRetry = new ArrayDeque<>();
    /** Attempts (loads and publishes) in flight. Loop only. */
    private int dlxInFlight;
    /** Dead-lettered messages not yet settled and their body bytes (RabbitMQ's messages_dlx). Written on the loop. */
    private volatile long dlxCount;
    private volatile long dlxBytes;
    private java.util.concurrent.ScheduledFuture<?> dlxTimer;
    private long dlxBackoffMs = DLX_RETRY_MIN_MS;
    /** Each kind of stuck attempt is logged once per queue, as RabbitMQ's worker does. Loop only. */
    private boolean dlxNoExchangeLogged;
    private boolean dlxNoRouteLogged;
    private boolean dlxRefusedLogged;
    /** Topology changes seen (retryDeadLettersNow). Loop only. */
    private int dlxKicks;
    /**
     * Attempts in flight per queue: as RabbitMQ's worker prefetch (32), enough to keep the
     * journal's group commit busy without one queue's backlog flooding its targets.
     */
    static final int DLX_IN_FLIGHT = 32;
    /** The retry task's first delay and its cap: it doubles after each failed round. */
    static final long DLX_RETRY_MIN_MS = 500;
    static final long DLX_RETRY_MAX_MS = 5000;
    /**
     * Past this many waiting entries, a failed attempt's content is let go when the journal holds
     * it (it is loaded again for the next attempt): a large backlog stays on disk, as paged-out
     * messages do.
     */
    static final int DLX_KEEP_LOADED = 256; // as LOAD_AHEAD

    /**
     * The exchange field of a journal slot holding a message of the dead-lettered backlog:
     * this prefix, the reason, NUL, the message's own exchange. Recovery puts such a message
     * back in the backlog, not in the ready list. The prefix is 256 bytes long: no exchange name
     * can start with it (AMQP names are short strings, at most 255 bytes), so a message a
     * client published is never taken for one.
     */
    static final String BACKLOG_MARK = "\u0000".repeat(241) + "dead-lettered\u0000\u0000";

    /** A message in the dead-lettered backlog, with why it was dead-lettered. */
    private static final class DeadLettered {
        QueueEntry entry;
        final String reason;
        final int bytes;
        /** Its slot is a backlog slot ({@link #BACKLOG_MARK}): a restart brings it back in the backlog. */
        boolean marked;
        /** A backlog slot is being written ({@link #markRef}); its content must stay loaded meanwhile. */
        boolean marking;
        long markRef = QueueEntry.NOT_STORED;
        boolean settled;
        /** {@link #dlxKicks} when its attempt started: a kick during the attempt retries it at once. */
        int kicks;

        DeadLettered(QueueEntry entry, String reason) {
            this.entry = entry;
            this.reason = reason;
            this.bytes = entry.message().bodySize();
        }
    }
    /** Set once any entry had an expiry: only then do dispatch and get look at the clock. Loop only. */
    private boolean expiring;
    /** No ready entry with an own expiry is due before this (it may be earlier than the truth). */
    private long nextOwnExpiry = QueueEntry.NEVER;
    private final SpillExpiries spillExpiries = new SpillExpiries();
    // Sweeps of the spill (see sweepSpill). Loop only.
    /** A sweep step is in flight. */
    private boolean sweeping;
    /** A length-limited queue's ledger is being re-timed (retimeLedgerStep); sweeps wait. */
    private boolean ledgerRetiming;
    private long ledgerRetimeAt;
    /** The sweep in progress reports its re-timing to the counts (see startSweep). */
    private boolean sweepCountsMoves;
    /** The sweep in progress re-times (a TTL change), and the lane it is in. */
    private boolean sweepRetime;
    private int sweepLane;
    private long sweepRetimeAt;
    /** Another sweep was asked for while one ran (re-timing, if so). */
    private boolean sweepAgain;
    private boolean sweepAgainRetime;
    /** Entries a sweep expired that are still on disk, as placeholders the read-back drops. */
    private long sweptInSpill;
    /** A sweep step waits for the read in flight (see sweepStep), and whether it resumes. */
    private boolean sweepDeferred;
    private boolean sweepDeferredResume;
    private java.util.concurrent.ScheduledFuture<?> expiryTimer;
    private long expiryTimerAt = QueueEntry.NEVER;
    private long lastExpiryRun;
    private java.util.concurrent.ScheduledFuture<?> leaseTimer;
    /** Last use for x-expires (consume, get, declare; System.nanoTime). Any thread. */
    private volatile long lastUsed = System.nanoTime();
    /**
     * Expiry passes run at most this often: entries due close together go in one pass (no task
     * per message), and an entry still leaves the counts well within the promised second. Short
     * enough that a message dead-lettered through two queues with 1 ms TTLs (the Java client's
     * DeadLetterExchange.deadLetterTwice, which looks after 100 ms) is through both well in time
     * even when its siblings arrived a few ms apart: each hop may wait up to one tick.
     */
    static final long EXPIRY_TICK_MS = 10;

    // ---- message statistics (RabbitMQ's message_stats), monotonic counters --------------------
    // Written only on the loop with opaque stores (no fence, no lock, no allocation), read by the
    // management API with opaque loads: a reader sees a recent value, never a torn one. Acks come
    // from the channels' loops, so they go to a LongAdder instead.
    private long publishCount;
    private long deliverGetCount;
    private long redeliverCount;
    private final java.util.concurrent.atomic.LongAdder ackCount = new java.util.concurrent.atomic.LongAdder();
    private static final java.lang.invoke.VarHandle PUBLISH_COUNT;
    private static final java.lang.invoke.VarHandle DELIVER_GET_COUNT;
    private static final java.lang.invoke.VarHandle REDELIVER_COUNT;

    static {
        try {
            java.lang.invoke.MethodHandles.Lookup l = java.lang.invoke.MethodHandles.lookup();
            PUBLISH_COUNT = l.findVarHandle(MessageQueue.class, "publishCount", long.class);
            DELIVER_GET_COUNT = l.findVarHandle(MessageQueue.class, "deliverGetCount", long.class);
            REDELIVER_COUNT = l.findVarHandle(MessageQueue.class, "redeliverCount", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /**
     * Told when the queue should go: an auto-delete queue lost its last consumer, or an x-expires
     * queue was unused for its period.
     */
    public interface QueueListener {
        void lastConsumerGone(MessageQueue queue);
    }

    public MessageQueue(String name, String vhost, boolean durable, boolean autoDelete, Object exclusiveOwner,
                        Map<String, Object> arguments, EventExecutor loop, QueueListener listener) {
        this.name = name;
        this.vhost = vhost;
        this.durable = durable;
        this.autoDelete = autoDelete;
        this.exclusiveOwner = exclusiveOwner;
        this.arguments = arguments == null ? Map.of() : arguments;
        this.singleActive = Boolean.TRUE.equals(this.arguments.get("x-single-active-consumer"));
        this.consumerTimeoutMs = this.arguments.get("x-consumer-timeout") instanceof Number n ? n.longValue() : 0;
        this.loop = loop;
        this.listener = listener;
        this.messageTtl = millis(this.arguments.get("x-message-ttl"));
        this.expiresMs = millis(this.arguments.get("x-expires"));
        // x-max-priority (validated 0..255 at declare); 0 behaves as no priority, as in RabbitMQ
        this.ready = ReadyList.create((int) Math.max(0, Math.min(255, millis(this.arguments.get("x-max-priority")))));
        this.priorityLanes = ready.lanes() > 1;
        Object type = this.arguments.get("x-queue-type");
        this.quorum = type != null && "quorum".equals(type.toString());
        this.deliveryLimit = millis(this.arguments.get("x-delivery-limit"));
        setLimits(millis(this.arguments.get("x-max-length")), millis(this.arguments.get("x-max-length-bytes")),
                this.arguments.get("x-overflow"));
        this.deadLetterExchange = text(this.arguments.get("x-dead-letter-exchange"));
        this.deadLetterRoutingKey = deadLetterExchange == null ? null
                : text(this.arguments.get("x-dead-letter-routing-key"));
        this.atLeastOnce = strategy(this.arguments.get("x-dead-letter-strategy"), deadLetterExchange,
                this.arguments.get("x-overflow"));
        if (expiresMs > 0) {
            loop.execute(this::armLease);
        }
    }

    /** The effective policy definition last applied ({@link #applyPolicy}); empty when none applies. */
    private volatile Map<String, Object> policyDefinition = Map.of();

    /** The effective policy definition last applied on the queue's loop (any thread; a task on the loop sees the latest). */
    public Map<String, Object> policyDefinition() {
        return policyDefinition;
    }

    /**
     * The policy hook: {@code definition} is the effective policy definition that applies to this
     * queue now (RabbitMQ's effective_policy_definition, policy and operator policy merged; empty
     * when none does). The VirtualHost calls it on the loop when the queue is created and whenever
     * policies change. Each key combines with its x-argument as in RabbitMQ (the smaller of the two
     * numbers for message-ttl and expires). Features that take policy keys read them here.
     */
    public void applyPolicy(Map<String, Object> definition) {
        assert loop.inEventLoop();
        if (deleted) {
            return;
        }
        policyDefinition = definition;
        long ttl = io.warren.core.policy.Applied.smaller(arguments.get("x-message-ttl"), definition.get("message-ttl"));
        if (ttl != messageTtl) {
            retime(ttl);
        }
        long expires = io.warren.core.policy.Applied.smaller(arguments.get("x-expires"), definition.get("expires"));
        if (expires != expiresMs) {
            expiresMs = expires;
            if (leaseTimer != null) {
                leaseTimer.cancel(false);
                leaseTimer = null;
            }
            armLease(); // from the last use, as if the new period had always applied (none without one)
        }
        deliveryLimit = io.warren.core.policy.Applied.smaller(arguments.get("x-delivery-limit"),
                definition.get("delivery-limit"));
        // The arguments win over the policy for the dead-letter exchange and its routing key
        // (RabbitMQ's rabbit_queue_type_util / policy_overrides: the argument, else the policy).
        String dlx = text(io.warren.core.policy.Applied.argumentFirst(arguments.get("x-dead-letter-exchange"),
                definition.get("dead-letter-exchange")));
        deadLetterRoutingKey = dlx == null ? null : text(io.warren.core.policy.Applied.argumentFirst(
                arguments.get("x-dead-letter-routing-key"), definition.get("dead-letter-routing-key")));
        deadLetterExchange = dlx;
        long maxLen = io.warren.core.policy.Applied.smaller(arguments.get("x-max-length"), definition.get("max-length"));
        long maxB = io.warren.core.policy.Applied.smaller(arguments.get("x-max-length-bytes"),
                definition.get("max-length-bytes"));
        Object overflow = io.warren.core.policy.Applied.argumentFirst(arguments.get("x-overflow"),
                definition.get("overflow"));
        // The argument wins over the policy, as RabbitMQ's rabbit_quorum_queue reads it.
        boolean alo = strategy(io.warren.core.policy.Applied.argumentFirst(arguments.get("x-dead-letter-strategy"),
                definition.get("dead-letter-strategy")), dlx, overflow);
        if (atLeastOnce && !alo) {
            dropDeadLettered();
        }
        atLeastOnce = alo;
        if (alo) {
            retryDeadLettersNow(); // a new DLX or routing key may route what waited
        }
        if (maxLen != maxLength || maxB != maxBytes || !java.util.Objects.equals(String.valueOf(overflow),
                String.valueOf(overflowSetting))) {
            setLimits(maxLen, maxB, overflow);
            if (dropHead) {
                dropHeadOverLimit(); // at once, the messages already queued too
            }
        }
    }

    /**
     * The queue's message TTL changed: every ready entry in memory gets the expiry the new TTL gives
     * it, counted from when it was enqueued where that is known (its old queue-TTL expiry less the
     * old TTL, or its own-TTL expiry less its own TTL), else from now. One pass over the in-memory
     * ready list, bounded by the paging bound like {@link #sweep}. Paged-out entries are re-timed
     * on disk by a sweep off the loop ({@link #sweepSpill}): those now due leave the counts when its
     * step lands and are dead-lettered then. A length-limited FIFO queue re-times its
     * {@link SpillLedger} first (its counts go by the ledger), then its records on disk; one whose
     * ledger misses entries paged out before it had a limit re-times neither, and those entries
     * get the new TTL when they are read back.
     */
    private void retime(long ttl) {
        long old = messageTtl;
        messageTtl = ttl;
        long now = System.currentTimeMillis();
        long nextOwn = QueueEntry.NEVER;
        for (QueueEntry e : ready) {
            long own = e.message().ttl();
            // (A requeued entry may carry a queue-TTL expiry from before a TTL was cleared: from now.)
            long enqueued = e.enqueuedAt() != QueueEntry.UNKNOWN ? e.enqueuedAt()
                    : e.expiresAt() == QueueEntry.NEVER ? now
                    : e.ownExpiry() ? e.expiresAt() - own : old >= 0 ? e.expiresAt() - old : now;
            if (own >= 0 && (ttl < 0 || own < ttl)) {
                e.expiresAt(enqueued + own, true);
                nextOwn = Math.min(nextOwn, e.expiresAt());
            } else if (ttl >= 0) {
                e.expiresAt(enqueued + ttl, false);
            } else {
                e.expiresAt(QueueEntry.NEVER, false);
            }
        }
        nextOwnExpiry = nextOwn;
        if (ttl >= 0) {
            expiring = true;
        }
        if (expiring) {
            // A sweep, not just the head: entries whose enqueue time was unknown count from now and
            // may sit before entries already due.
            sweep(now);
            updateCount();
            armExpiry();
        }
        if (spill != null && spillCount > 0) {
            if (ledger == null || ledgerGap == 0) {
                sweepSpill(true, now);
            } else if (deadLetterExchange != null) {
                sweepSpill(false, now);
            }
        }
    }

    /**
     * Whether at-least-once dead-lettering applies with the effective {@code strategy},
     * {@code dlx} and {@code overflow}: RabbitMQ 3.10 honours it on quorum queues with a
     * dead-letter exchange and x-overflow reject-publish, and otherwise falls back (at-most-once
     * with another overflow, no dead-lettering without a DLX) with a warning naming the queue,
     * logged once per change of settings. Constructor, then the loop.
     */
    private boolean strategy(Object strategy, String dlx, Object overflow) {
        if (!quorum || !"at-least-once".equals(text(strategy))) {
            strategyWarned = false;
            return false;
        }
        String ov = overflow == null ? "drop-head" : String.valueOf(text(overflow));
        if (dlx != null && ov.equals("reject-publish")) {
            strategyWarned = false;
            return true;
        }
        if (!strategyWarned) {
            strategyWarned = true;
            if (dlx == null) {
                LOG.warn("Disabling dead-lettering for {} despite configured dead-letter-strategy 'at-least-once' "
                        + "because dead-letter-exchange is not configured.", this);
            } else {
                LOG.warn("Falling back to dead-letter-strategy at-most-once for {} because configured "
                        + "dead-letter-strategy at-least-once is incompatible with effective overflow strategy {}. "
                        + "To enable dead-letter-strategy at-least-once, set overflow strategy to reject-publish.",
                        this, ov);
            }
        }
        return false;
    }

    /** A non-negative integer x-argument (validated at declare; ms for the TTLs), or -1 when absent. */
    private static long millis(Object v) {
        if (v instanceof io.warren.core.message.TableValue t) {
            v = t.comparable();
        }
        return v instanceof Number n ? n.longValue() : -1;
    }

    /** A string x-argument (validated at declare), or null when absent. */
    private static String text(Object v) {
        if (v instanceof io.warren.core.message.TableValue t) {
            v = t.comparable();
        }
        return v instanceof CharSequence s ? s.toString() : null;
    }

    /** Makes this queue republish its dead letters through {@code d}. Called once, before the queue is visible. */
    public void attachDeadLetters(io.warren.core.deadletter.DeadLetters d) {
        this.deadLetters = d;
    }

    /** x-dead-letter-exchange, or null. */
    public String deadLetterExchange() {
        return deadLetterExchange;
    }

    /**
     * Makes this durable queue keep its persistent messages in {@code store} under {@code id}.
     * Called once, before the queue is visible to other threads.
     */
    public void attachStore(MessageStore messageStore, long id) {
        this.store = messageStore;
        this.storeId = id;
    }

    /**
     * Cluster: this node's copy of this quorum queue's log was made ({@code s}, add_member) or
     * went (null, delete_member) while the queue is a stand-in (another node leads it): from now
     * on publishes through this node go into {@code s} under {@code id}, or are forwarded to the
     * leader. Loop.
     */
    public void replaceStore(MessageStore s, long id) {
        assert loop.inEventLoop();
        this.storeId = id; // before the volatile write that publishes it
        this.store = s;
    }

    /** Makes this queue page out past the bound of {@code p}. Called once, before the queue is visible. */
    public void attachPaging(Paging p) {
        this.paging = p;
        this.spill = p.enabled() ? new LaneSpills(p, this, ready.lanes()) : null;
    }

    /**
     * Memory the ready messages hold: content plus a fixed per-message overhead (loop; other
     * threads see a recent value).
     */
    public long inMemoryBytes() {
        return inMemoryBytes;
    }

    /**
     * Paged-out messages a length limit dropped that are still on disk: they go (and their journal
     * slots are freed) when the read-back that was started for them completes. Loop.
     */
    public int pagedOutDroppedCount() {
        return spillDropped == null ? 0 : spillDropped.size();
    }

    /** Ready messages paged out to disk (loop; other threads see a recent value). */
    public long pagedOutCount() {
        return spillCount;
    }

    /** The store keeping this queue's persistent messages, or null (not durable, or no store). */
    public MessageStore store() {
        return store;
    }

    /** The queue's id in the store (meaningful when {@link #store()} is not null). */
    public long storeId() {
        return storeId;
    }

    @Override public String name() {
        return name;
    }

    public String vhost() {
        return vhost;
    }

    public boolean durable() {
        return durable;
    }

    /** Cluster: the nodes that hold a copy of this quorum queue (its group's members); null otherwise. */
    private volatile List<String> clusterMembers;

    public List<String> clusterMembers() {
        return clusterMembers;
    }

    public void clusterMembers(List<String> nodes) {
        this.clusterMembers = List.copyOf(nodes);
    }

    /** Cluster: who leads this quorum queue now, asked of its group (null: not set). */
    private volatile java.util.function.Supplier<String> leaderLookup;

    /** The other node that holds this queue (cluster), or null when it is this node's. */
    public String remoteHome() {
        return remoteHome;
    }

    /** Cluster: how to ask a quorum queue's group for its leader's node name (null when none is known). */
    public void leaderLookup(java.util.function.Supplier<String> lookup) {
        this.leaderLookup = lookup;
    }

    /** Cluster: what to do when a use relayed to {@link #holder} failed (null: nothing). */
    private volatile Runnable holderSuspect;

    /**
     * Cluster: sets what runs when a use of this stand-in at its {@link #holder} failed (the link
     * dropped or could not be opened, the node said it is not the leader) or no holder is known:
     * a quorum queue this node is no member of asks its members again at once, rather than at
     * its next periodic refresh. Must not block.
     */
    public void onHolderSuspect(Runnable r) {
        this.holderSuspect = r;
    }

    /** Cluster: a use relayed to the holder failed, or none is known (any thread; see {@link #onHolderSuspect}). */
    public void holderSuspect() {
        Runnable r = holderSuspect;
        if (r != null) {
            r.run();
        }
    }

    /**
     * The node that holds this queue's messages now: null when this node does; a quorum queue's
     * current leader as its group knows it, else {@link #remoteHome}.
     */
    public String holder() {
        String home = remoteHome;
        if (home == null) {
            return null;
        }
        java.util.function.Supplier<String> lookup = leaderLookup;
        String leader = lookup == null ? null : lookup.get();
        return leader != null ? leader : home;
    }

    /** Makes this queue the local stand-in for a queue held by node {@code home} (cluster). */
    public void remoteHome(String home) {
        this.remoteHome = home;
    }

    /** Cluster: how a stand-in reaches its holder for this node's clients (null: it cannot). */
    private volatile RemoteQueues remotes;
    /** Cluster: this stand-in's consumers, each relayed from the holder. Loop. */
    private final Map<Consumer, RemoteQueues.Relay> relays = new java.util.LinkedHashMap<>();

    /** Cluster: lets clients of this node use the queue through whichever node holds it. */
    public void remotes(RemoteQueues r) {
        this.remotes = r;
    }

    /** How this stand-in reaches its holder, or null when it cannot (not clustered). */
    public RemoteQueues remotes() {
        return remotes;
    }

    /** Cluster: where publishes to this classic stand-in go (see {@link RemoteQueues#forwarder}), once asked. */
    private volatile io.warren.core.store.MessageStore forwardStore;

    /**
     * Cluster: whether a publish routed to this queue is forwarded to the node that holds it: a
     * stand-in of a classic queue held elsewhere, or of a quorum queue this node is no member of
     * (it has no copy of its log to put the message in).
     */
    public boolean forwarded() {
        return remoteHome != null && (!quorum() || store == null);
    }

    /**
     * Where a publish routed here writes its copy: the forwarder to the holder for a
     * {@link #forwarded} stand-in, else the queue's store (null: none). One read of the store, so
     * that a copy gained or lost meanwhile ({@link #replaceStore}) gives one or the other.
     */
    public MessageStore publishStore() {
        MessageStore s = store;
        if (remoteHome != null && (!quorum || s == null)) {
            return forwarder();
        }
        return s;
    }

    /**
     * Cluster: the store a publish routed to a {@link #forwarded} stand-in is written to, which
     * forwards it to the holder (a quorum queue's leader); null for any other queue, or when
     * this node cannot forward.
     */
    public io.warren.core.store.MessageStore forwardStore() {
        return forwarded() ? forwarder() : null;
    }

    private MessageStore forwarder() {
        io.warren.core.store.MessageStore f = forwardStore;
        if (f == null) {
            RemoteQueues r = remotes;
            if (r != null) {
                // Two threads may both ask: the forwarders are alike, either is kept.
                f = r.forwarder(this);
                forwardStore = f;
            }
        }
        return f;
    }

    /**
     * What a client gets for using a queue held by another node through this one where warren
     * does not relay it: RabbitMQ's 404 for a queue whose home node it cannot reach, with warren's
     * reason. Consumes, gets and purges are relayed to the holder ({@link #remotes}); a use that
     * another node relayed here is never relayed on, and gets this too.
     */
    public io.warren.core.BrokerException remoteUse() {
        if (quorum()) {
            return io.warren.core.BrokerException.notFound("quorum queue '%s' in vhost '%s' is led by node '%s', "
                    + "not this one", name, vhost, holder());
        }
        return io.warren.core.BrokerException.notFound("home node '%s' of durable queue '%s' in vhost '%s' is "
                + "another node, and this use of it is not forwarded there; connect to that node", remoteHome, name,
                vhost);
    }

    public boolean autoDelete() {
        return autoDelete;
    }

    public boolean exclusive() {
        return exclusiveOwner != null;
    }

    /** The connection owning an exclusive queue, else null. */
    public Object exclusiveOwner() {
        return exclusiveOwner;
    }

    /** x-consumer-timeout in ms (0: none; then consumer_timeout applies). */
    public long consumerTimeoutMs() {
        return consumerTimeoutMs;
    }

    /** True for an x-single-active-consumer queue. */
    /** x-queue-type quorum (on one node: RabbitMQ's quorum-queue semantics without replication). */
    public boolean quorum() {
        return quorum;
    }

    /**
     * Whether deliveries from this queue carry the {@code x-delivery-count} header: quorum queues
     * (as RabbitMQ) and queues with x-delivery-limit (warren honours it on classic queues too).
     */
    public boolean countsDeliveries() {
        return quorum || deliveryLimit >= 0;
    }

    public boolean singleActiveConsumer() {
        return singleActive;
    }

    /** False only for a consumer waiting its turn on a single-active-consumer queue. Any thread. */
    public boolean isActive(Consumer c) {
        return !singleActive || active == c;
    }

    public Map<String, Object> arguments() {
        return arguments;
    }

    public EventExecutor loop() {
        return loop;
    }

    /** Ready messages (not counting unacknowledged ones), as of the last change on the loop. */
    public int messageCount() {
        return readyCount;
    }

    public int consumerCount() {
        return consumerCount;
    }

    /** Messages routed into this queue (RabbitMQ's message_stats.publish). Any thread, a recent value. */
    public long publishCount() {
        return (long) PUBLISH_COUNT.getOpaque(this);
    }

    /** Deliveries to consumers plus basic.gets that took a message (deliver_get). Any thread. */
    public long deliverGetCount() {
        return (long) DELIVER_GET_COUNT.getOpaque(this);
    }

    /** Of those, deliveries of messages marked redelivered (redeliver). Any thread. */
    public long redeliverCount() {
        return (long) REDELIVER_COUNT.getOpaque(this);
    }

    /** Deliveries acknowledged by clients (ack). Any thread. */
    public long ackCount() {
        return ackCount.sum();
    }

    /** Counts {@code n} client acks of this queue's deliveries. Any thread. */
    public void acked(int n) {
        ackCount.add(n);
    }

    /** Counts a delivery or a get of {@code e}. Loop. */
    private void countDelivered(QueueEntry e) {
        DELIVER_GET_COUNT.setOpaque(this, deliverGetCount + 1);
        if (e.redelivered()) {
            REDELIVER_COUNT.setOpaque(this, redeliverCount + 1);
        }
    }

    /** Runs {@code task} on the queue's loop: at once when already there, else queued. */
    public void execute(Runnable task) {
        if (loop.inEventLoop()) {
            task.run();
        } else {
            loop.execute(task);
        }
    }

    // ---- operations: each runs on the loop ----------------------------------------------

    /**
     * True when this queue may refuse a publish (a length limit with x-overflow reject-publish or
     * reject-publish-dlx): a publisher that confirms must then hear from it through
     * {@link #enqueue(Message, long, Admission)}. Any thread.
     */
    public boolean mayRefuse() {
        return refuses;
    }

    /** Told whether a queue took a publish ({@link #mayRefuse()}). Called on the queue's loop. */
    public interface Admission {
        void accepted();

        void refused();
    }

    /** Appends a message held in the store under slot {@code ref} (or {@link QueueEntry#NOT_STORED}). */
    public void enqueue(Message m, long ref) {
        enqueue(m, ref, null);
    }

    /**
     * Appends a message, or refuses it when it would take a reject-publish queue past its limit
     * (RabbitMQ decides before trying a consumer, so a full queue refuses even when a consumer
     * could take the message); {@code admission} (or null) is told which.
     */
    public void enqueue(Message m, long ref, Admission admission) {
        assert loop.inEventLoop();
        if (refuses && !deleted && overLimit(1, m.bodySize())) {
            QueueEntry e = new QueueEntry(m, nextSeq++, false, ref);
            if (refusedToDlx) {
                deadLetter(e, "maxlen");
            } else {
                // discard also frees its journal slot: a refused message must not come back at restart
                discard(e);
            }
            if (admission != null) {
                admission.refused();
            }
            return;
        }
        append(m, ref);
        if (dropHead) {
            dropHeadOverLimit();
        }
        if (admission != null) {
            admission.accepted();
        }
    }

    /**
     * Sets the effective length limits (-1: none) and overflow behaviour (null: drop-head). A
     * queue that gets its first limit starts a ledger of its paged-out entries; those already on
     * disk form the ledger's gap. Constructor, then the loop.
     */
    private void setLimits(long maxLen, long maxB, Object overflow) {
        if (overflow instanceof io.warren.core.message.TableValue t) {
            overflow = t.comparable();
        }
        overflowSetting = overflow;
        String ov = overflow == null ? "drop-head" : overflow.toString();
        boolean limited = maxLen >= 0 || maxB >= 0;
        if (limited && ledger == null && !priorityLanes) {
            ledger = new SpillLedger();
            spillDropped = new ArrayDeque<>();
            ledgerGap = spillCount;
        }
        maxLength = maxLen;
        maxBytes = maxB;
        dropHead = limited && ov.equals("drop-head");
        refusedToDlx = ov.equals("reject-publish-dlx");
        refuses = limited && !dropHead;
    }

    /** True when the ready messages plus {@code messages} and {@code bytes} more pass a limit. */
    private boolean overLimit(int messages, long bytes) {
        // The dead-lettered backlog counts too (RabbitMQ's rabbit_fifo is_over_limit adds its
        // messages_dlx and message_bytes_dlx), so that reject-publish bounds it.
        return (maxLength >= 0 && count() + dlxCount + messages > maxLength)
                || (maxBytes >= 0 && readyBytes() + dlxBytes + bytes > maxBytes);
    }

    /** x-overflow drop-head: drops (dead-letters) from the head until the queue is within its limits. */
    private void dropHeadOverLimit() {
        boolean dropped = false;
        while (!deleted && overLimit(0, 0)) {
            QueueEntry h = pollReady();
            if (h != null) {
                deadLetter(h, "maxlen");
            } else if (ledger != null && spillCount > 0 && (ledgerGap > 0 || !ledger.isEmpty())) {
                dropSpillHead();
            } else {
                break;
            }
            dropped = true;
        }
        if (dropped) {
            updateCount();
            refill();
        }
    }

    /**
     * Drops the oldest live paged-out entry without reading it: the counts change now, the entry
     * itself is dropped (and its journal slot freed) when the read-back brings it.
     */
    private void dropSpillHead() {
        if (ledgerGap > 0) {
            // Not in the ledger: out of the count now, bytes and expiry settled at read-back.
            ledgerGap--;
            spillCount--;
            spillDropped.addLast(DROPPED_UNKNOWN);
            return;
        }
        long bytes = ledger.headBytes();
        boolean expired = spillExpiries.left(ledger.headExpiresAt(), bytes);
        ledger.poll();
        spillCount--;
        spillBodyBytes -= bytes;
        spillDropped.addLast(expired ? DROPPED_EXPIRED : DROPPED_LIVE);
    }

    private boolean hasSpillDropped() {
        return spillDropped != null && !spillDropped.isEmpty();
    }

    private void append(Message m, long ref) {
        QueueEntry e = new QueueEntry(m, nextSeq++, false, ref);
        if (deleted) {
            discard(e);
            return;
        }
        PUBLISH_COUNT.setOpaque(this, publishCount + 1);
        long now = 0;
        if (messageTtl >= 0 || m.ttl() >= 0) {
            now = System.currentTimeMillis();
            stamp(e, now);
        }
        if (spillCount > 0 && spill.count(ready.laneOf(e)) > 0) {
            if (e.expiresAt() <= now) {
                // TTL 0 (RabbitMQ's zero-TTL rule): deliverable only if a consumer takes it at once.
                expire(e);
                return;
            }
            // FIFO: while anything is paged out (in the entry's priority lane), later arrivals
            // queue behind it, on disk too.
            spillOut(e);
            armExpiry();
            return;
        }
        ready.addLast(e);
        joined(e);
        updateCount();
        dispatch();
        if (!ready.isLast(e)) {
            return;
        }
        if (e.expiresAt() <= now) {
            // TTL 0: no consumer took it at once, so it expires now, never to be delivered.
            ready.removeLast(e);
            left(e);
            updateCount();
            expire(e);
            return;
        }
        // Not delivered at once: it waits.
        if (spill != null && inMemoryBytes > paging.bound()) {
            ready.removeLast(e);
            left(e);
            spillOut(e);
            armExpiry();
            return;
        }
        watch(e);
        armExpiry();
        // It parks in memory, so it should stop pinning its read buffer.
        try {
            m.compact();
        } catch (OutOfMemoryError noRoom) {
            // No memory for the copy: the message keeps its slices, nothing is lost (the
            // memory alarm is what stops the publishers).
            LOG.debug("no memory to compact a parked message in {}", this);
        }
    }

    private static long cost(QueueEntry e) {
        return e.message().memoryBytes() + Paging.ENTRY_OVERHEAD;
    }

    /** An entry joined the in-memory ready list. */
    private void joined(QueueEntry e) {
        inMemoryBytes += cost(e);
        readyBodyBytes += e.message().bodySize();
    }

    /** An entry left the in-memory ready list. */
    private void left(QueueEntry e) {
        inMemoryBytes -= cost(e);
        readyBodyBytes -= e.message().bodySize();
    }

    /** Body bytes of the ready messages, paged out ones included (RabbitMQ's message_bytes_ready). */
    private long readyBytes() {
        return readyBodyBytes + spillBodyBytes - spillExpiries.expiredBytes();
    }

    private void updateCount() {
        readyCount = count();
    }

    /** Ready messages: in memory and paged out (less those of the paged out that have expired). */
    private int count() {
        return (int) Math.min(Integer.MAX_VALUE, ready.size() + spillCount - spillExpiries.expired());
    }

    /** Gives a new entry its expiry: the smaller of the queue's TTL and the message's own. */
    private void stamp(QueueEntry e, long now) {
        long own = e.message().ttl();
        if (own >= 0 && (messageTtl < 0 || own < messageTtl)) {
            e.expiresAt(now + own, true);
        } else if (messageTtl >= 0) {
            e.expiresAt(now + messageTtl, false);
        } else {
            return;
        }
        expiring = true;
    }

    /** An entry joined the in-memory ready list: an own expiry may be the next one due. */
    private void watch(QueueEntry e) {
        if (e.ownExpiry() && e.expiresAt() < nextOwnExpiry) {
            nextOwnExpiry = e.expiresAt();
        }
    }

    /** An entry expired: it is never delivered; it goes to the dead-letter exchange, if any. */
    private void expire(QueueEntry e) {
        deadLetter(e, "expired");
    }

    /**
     * A delivery was rejected (basic.reject, basic.nack) without requeue: it is dead-lettered with
     * reason {@code rejected} when the queue has a dead-letter exchange, else discarded. Any thread.
     */
    public void reject(QueueEntry e) {
        if (e.remote() != null) {
            e.remote().reject(); // the holder dead-letters it
            e.message().release();
            return;
        }
        if (deadLetterExchange == null || deadLetters == null) {
            discard(e);
        } else {
            execute(() -> deadLetter(e, "rejected"));
        }
    }

    /**
     * The queue is done with {@code e} (which is no longer in the ready list) for {@code reason}
     * ({@code rejected}, {@code expired}, {@code maxlen}, {@code delivery_limit}): republishes it
     * to the dead-letter exchange, if the queue has one, then discards it. A recovered message
     * whose content is still on disk is loaded first. At most once: whatever fails on the way
     * drops the message, as RabbitMQ's classic queues do. Loop.
     */
    void deadLetter(QueueEntry e, String reason) {
        assert loop.inEventLoop();
        if (deadLetterExchange == null || deadLetters == null || closed || deleted) {
            discard(e);
            return;
        }
        if (atLeastOnce) {
            holdDeadLettered(e, reason);
            return;
        }
        Message m = e.message();
        if (!m.loaded()) {
            if (store == null || e.ref() == QueueEntry.NOT_STORED) {
                discard(e);
                return;
            }
            loadToDeadLetter(e, reason);
            return;
        }
        try {
            deadLetters.publish(this, m, reason, deadLetterExchange, deadLetterRoutingKey);
        } catch (RuntimeException | OutOfMemoryError failed) {
            LOG.warn("could not dead-letter a message of {} ({}): dropped: {}", this, reason, failed.toString());
        }
        discard(e);
    }

    /**
     * at-least-once: {@code e} joins the dead-lettered backlog (counted, never delivered) and is
     * attempted; it leaves only when every target has its copy safely. Loop.
     */
    private void holdDeadLettered(QueueEntry e, String reason) {
        DeadLettered d = new DeadLettered(e, reason);
        counted(d);
        if (dlxWaiting.size() + dlxRetry.size() >= DLX_KEEP_LOADED) {
            unload(d);
        }
        dlxWaiting.addLast(d);
        pumpDeadLetters();
    }

    /** {@code d} joins the backlog's counts; a first one makes the vhost tell this queue of topology changes. */
    private void counted(DeadLettered d) {
        if (dlxCount == 0) {
            deadLetters.backlog(this, true);
        }
        dlxCount = dlxCount + 1;
        dlxBytes = dlxBytes + d.bytes;
    }

    /** Starts attempts for waiting entries, up to {@link #DLX_IN_FLIGHT} at a time. Loop. */
    private void pumpDeadLetters() {
        while (dlxInFlight < DLX_IN_FLIGHT && !dlxWaiting.isEmpty() && !deleted) {
            attempt(dlxWaiting.pollFirst());
        }
    }

    /** One attempt: loads the content if it is on disk, then republishes with confirms. Loop. */
    private void attempt(DeadLettered d) {
        Message m = d.entry.message();
        dlxInFlight++;
        if (!m.loaded()) {
            if (store == null || d.entry.ref() == QueueEntry.NOT_STORED) {
                // cannot happen (only journaled content is let go); nothing to republish
                dlxInFlight--;
                settleDeadLettered(d);
                return;
            }
            store.load(d.entry.ref(), (props, body, failure) -> loop.execute(() -> {
                dlxInFlight--;
                if (deleted) {
                    if (props != null) {
                        props.release();
                    }
                    if (body != null) {
                        body.release();
                    }
                    settleDeadLettered(d);
                    return;
                }
                if (failure != null) {
                    // Its slot stays (a restart may read it); retried with the others.
                    LOG.error("cannot load message {} of {} to dead-letter it; retrying", d.entry.ref(), this, failure);
                    failedAttempt(d);
                    pumpDeadLetters();
                    return;
                }
                d.entry.message().attach(props, body);
                attempt(d);
            }));
            return;
        }
        String dlx = deadLetterExchange;
        d.kicks = dlxKicks;
        try {
            deadLetters.publishSafely(this, m, d.reason, dlx, deadLetterRoutingKey,
                    outcome -> loop.execute(() -> attempted(d, outcome, dlx)));
        } catch (RuntimeException | OutOfMemoryError failed) {
            LOG.warn("could not dead-letter a message of {} ({}): retrying: {}", this, d.reason, failed.toString());
            loop.execute(() -> attempted(d, io.warren.core.deadletter.DeadLetters.Outcome.FAILED, dlx));
        }
    }

    /** An attempt ended. Loop. */
    private void attempted(DeadLettered d, io.warren.core.deadletter.DeadLetters.Outcome outcome, String dlx) {
        dlxInFlight--;
        if (deleted || !atLeastOnce || outcome == io.warren.core.deadletter.DeadLetters.Outcome.SAFE) {
            // Safe, or the queue went, or a policy switched back to at-most-once meanwhile (the
            // backlog is dropped then, as RabbitMQ drops it).
            settleDeadLettered(d);
            if (outcome == io.warren.core.deadletter.DeadLetters.Outcome.SAFE) {
                dlxBackoffMs = DLX_RETRY_MIN_MS;
            }
            pumpDeadLetters();
            return;
        }
        switch (outcome) {
            case NO_EXCHANGE -> {
                if (!dlxNoExchangeLogged) {
                    dlxNoExchangeLogged = true;
                    LOG.warn("Cannot forward any dead-letter messages from source quorum {} because its configured "
                            + "dead-letter-exchange '{}' does not exist. Either create the configured "
                            + "dead-letter-exchange or re-configure the dead-letter-exchange policy for the source "
                            + "quorum queue to prevent dead-lettered messages from piling up in the source quorum "
                            + "queue. This message will not be logged again.", this, dlx);
                }
            }
            case NO_ROUTE -> {
                if (!dlxNoRouteLogged) {
                    dlxNoRouteLogged = true;
                    LOG.warn("Cannot forward any dead-letter messages from source quorum {}: its dead-letter-exchange "
                            + "'{}' routes them to no queue. Bind a queue to it (or fix the dead-letter-routing-key) "
                            + "to prevent dead-lettered messages from piling up in the source quorum queue. This "
                            + "message will not be logged again.", this, dlx);
                }
            }
            case REFUSED -> {
                if (!dlxRefusedLogged) {
                    dlxRefusedLogged = true;
                    LOG.warn("A target queue of dead-letter-exchange '{}' refused a message dead-lettered from {} "
                            + "(its length limit, overflow reject-publish); retrying until it takes it. This message "
                            + "will not be logged again.", dlx, this);
                }
            }
            default -> { }
        }
        failedAttempt(d);
        pumpDeadLetters();
    }

    /** The attempt failed: the entry waits for the retry task, its content on disk if the backlog is large. */
    private void failedAttempt(DeadLettered d) {
        mark(d);
        if (d.kicks != dlxKicks && !deleted) {
            // the topology changed while this attempt was on its way: what it lacked may be there now
            dlxWaiting.addFirst(d);
            return;
        }
        if (dlxWaiting.size() + dlxRetry.size() >= DLX_KEEP_LOADED) {
            unload(d);
        }
        dlxRetry.addLast(d);
        if (dlxTimer == null && !deleted) {
            long delay = dlxBackoffMs;
            dlxBackoffMs = Math.min(DLX_RETRY_MAX_MS, dlxBackoffMs * 2);
            dlxTimer = loop.schedule(() -> {
                dlxTimer = null;
                retryDeadLetters();
            }, delay, java.util.concurrent.TimeUnit.MILLISECONDS);
        }
    }

    /** The entries that failed go again, ahead of newer ones (oldest first, as RabbitMQ retries). Loop. */
    private void retryDeadLetters() {
        if (deleted) {
            return;
        }
        DeadLettered d;
        while ((d = dlxRetry.pollLast()) != null) {
            dlxWaiting.addFirst(d);
        }
        pumpDeadLetters();
    }

    /**
     * Retries the dead-lettered backlog now rather than at the next retry: the vhost calls it
     * when its topology grew (an exchange, a queue or a binding was added), which may be what
     * the backlog waited for. Any thread.
     */
    public void retryDeadLettersNow() {
        loop.execute(() -> {
            dlxKicks++;
            if (dlxRetry.isEmpty() || deleted) {
                return;
            }
            if (dlxTimer != null) {
                dlxTimer.cancel(false);
                dlxTimer = null;
            }
            dlxBackoffMs = DLX_RETRY_MIN_MS;
            retryDeadLetters();
        });
    }

    /**
     * A message that could not be dead-lettered at once gets a backlog slot in the journal: the
     * same content for this queue under {@link #BACKLOG_MARK}, so that a restart (or a kill -9)
     * brings it back in the backlog rather than as a ready message. Once that slot is durable
     * the original slot is freed and the entry moves to the new one; until then both exist (a
     * crash in between brings both back: a duplicate, never a loss). Messages that go through
     * at their first attempt never pay for it. Loop.
     */
    private void mark(DeadLettered d) {
        QueueEntry e = d.entry;
        Message m = e.message();
        if (d.marked || d.marking || store == null || e.ref() == QueueEntry.NOT_STORED || !m.loaded() || closed
                || deleted) {
            return;
        }
        d.marking = true;
        try {
            d.markRef = store.append(BACKLOG_MARK + d.reason + "\u0000" + m.exchange(), m.routingKey(),
                    m.properties(), m.body(), new long[] {storeId}, System.currentTimeMillis(), -1,
                    failure -> loop.execute(() -> marked(d, failure)));
        } catch (RuntimeException failed) {
            d.marking = false;
            LOG.warn("cannot journal a dead-lettered message of {} as such (a restart brings it back as ready): {}",
                    this, failed.toString());
        }
    }

    /** The backlog slot of {@code d} is durable (or failed). Loop. */
    private void marked(DeadLettered d, Throwable failure) {
        d.marking = false;
        long ref = d.markRef;
        d.markRef = QueueEntry.NOT_STORED;
        if (failure != null) {
            LOG.warn("cannot journal a dead-lettered message of {} as such (a restart brings it back as ready): {}",
                    this, failure.toString());
            return;
        }
        if (closed) {
            return; // both slots stay: a restart brings it back (twice at worst)
        }
        if (d.settled || deleted) {
            store.remove(ref); // its copies were safe meanwhile, or the queue went
            return;
        }
        store.remove(d.entry.ref());
        QueueEntry e = d.entry;
        d.entry = new QueueEntry(e.message(), e.seq(), e.redelivered(), ref);
        d.marked = true;
    }

    /**
     * Recovery found a backlog slot ({@link #BACKLOG_MARK}): the message goes back in the
     * backlog, not the ready list; if the queue no longer dead-letters at least once, it is
     * dead-lettered as the queue now does (as after a policy switch). Loop.
     */
    private void recoverDeadLettered(MessageStore.StoredMessage sm) {
        String rest = sm.exchange().substring(BACKLOG_MARK.length());
        int nul = rest.indexOf('\u0000');
        String reason = nul < 0 ? "rejected" : rest.substring(0, nul);
        String exchange = nul < 0 ? "" : rest.substring(nul + 1);
        Message m = Message.recovered(exchange, sm.routingKey(), sm.bodySize());
        m.priority(sm.priority());
        QueueEntry e = new QueueEntry(m, nextSeq++, true, sm.ref());
        if (!atLeastOnce || deadLetters == null) {
            deadLetter(e, reason);
            return;
        }
        DeadLettered d = new DeadLettered(e, reason);
        d.marked = true;
        counted(d);
        dlxWaiting.addLast(d);
        pumpDeadLetters();
    }

    /**
     * Lets go of a waiting entry's content when the journal holds it (every message of a quorum
     * queue with a store): the next attempt loads it again.
     */
    private void unload(DeadLettered d) {
        QueueEntry e = d.entry;
        Message m = e.message();
        if (d.marking || !m.loaded() || store == null || e.ref() == QueueEntry.NOT_STORED) {
            return;
        }
        Message stub = Message.unloaded(m.exchange(), m.routingKey(), m.bodySize(), m.persistent());
        stub.ttl(m.ttl());
        stub.priority(m.priority());
        d.entry = new QueueEntry(stub, e.seq(), e.redelivered(), e.ref());
        m.release();
    }

    /** The entry leaves the backlog: its store slot is freed and its counts go. Loop. */
    private void settleDeadLettered(DeadLettered d) {
        d.settled = true;
        dlxCount = dlxCount - 1;
        dlxBytes = dlxBytes - d.bytes;
        if (dlxCount == 0) {
            deadLetters.backlog(this, false);
        }
        discard(d.entry);
    }

    /**
     * The strategy went from at-least-once to something else: the waiting backlog is dropped, as
     * RabbitMQ's rabbit_fifo_dlx does (with its log line); attempts in flight drop theirs when
     * they end. Loop.
     */
    private void dropDeadLettered() {
        if (dlxTimer != null) {
            dlxTimer.cancel(false);
            dlxTimer = null;
        }
        long n = dlxCount;
        long bytes = dlxBytes;
        DeadLettered d;
        while ((d = dlxWaiting.pollFirst()) != null || (d = dlxRetry.pollFirst()) != null) {
            settleDeadLettered(d);
        }

        dlxBackoffMs = DLX_RETRY_MIN_MS;
        if (n > 0) {
            LOG.info("Deleted {} dead-lettered messages (with total messages size of {} bytes) in {}", n, bytes, this);
        }
    }

    /** Delete, close: the backlog goes (its store slots too unless the broker is closing). Loop. */
    private void releaseDeadLettered() {
        if (dlxTimer != null) {
            dlxTimer.cancel(false);
            dlxTimer = null;
        }
        DeadLettered d;
        while ((d = dlxWaiting.pollFirst()) != null || (d = dlxRetry.pollFirst()) != null) {
            settleDeadLettered(d);
        }

    }

    /** Dead-lettered messages waiting to be taken safely by their targets (RabbitMQ's messages_dlx). Any thread. */
    public long deadLetteredCount() {
        return dlxCount;
    }

    /** Their body bytes (RabbitMQ's message_bytes_dlx). Any thread. */
    public long deadLetteredBytes() {
        return dlxBytes;
    }

    /**
     * Recovered entries (content still on disk) waiting for a load to be dead-lettered, with their
     * reasons, past the {@link #LOAD_AHEAD} loads in flight: a recovered backlog expiring at once
     * holds entries (routing info) here, not contents. Loop only.
     */
    private final ArrayDeque<Object[]> deadLetterLoads = new ArrayDeque<>();
    private int deadLetterLoading;

    private void loadToDeadLetter(QueueEntry e, String reason) {
        if (deadLetterLoading >= LOAD_AHEAD) {
            deadLetterLoads.addLast(new Object[] {e, reason});
            return;
        }
        deadLetterLoading++;
        store.load(e.ref(), (props, body, failure) -> loop.execute(() -> {
            deadLetterLoading--;
            if (failure != null) {
                LOG.error("cannot load message {} of {} to dead-letter it", e.ref(), this, failure);
                e.message().release(); // its slot stays: a restart may read it again
            } else {
                e.message().attach(props, body);
                if (e.message().loaded()) {
                    deadLetter(e, reason);
                } else {
                    discard(e);
                }
            }
            Object[] next;
            if (closed || deleted) {
                while ((next = deadLetterLoads.pollFirst()) != null) {
                    discard((QueueEntry) next[0]);
                }
            } else if ((next = deadLetterLoads.pollFirst()) != null) {
                deadLetter((QueueEntry) next[0], (String) next[1]);
            }
        }));
    }

    /**
     * Drops expired entries at the head of the ready list, of every priority lane in a priority
     * queue (dispatch and get never hand them out).
     */
    private void dropExpiredHead(long now) {
        // Strictly before now: an entry expires after its last millisecond, so a TTL 0 message
        // can still go to a consumer in the millisecond it arrived (RabbitMQ's zero-TTL rule).
        ready.dropExpiredHeads(now, h -> {
            left(h);
            expire(h);
        });
    }

    /** Before taking the head: drops what has expired there (only for queues that have expiries). */
    private void dropExpiredHead() {
        if (expiring) {
            dropExpiredHead(System.currentTimeMillis());
            updateCount();
        }
    }

    /** Schedules the queue's one expiry task for the earliest deadline, unless one runs by then. */
    private void armExpiry() {
        if (!expiring || deleted) {
            return;
        }
        long next = nextOwnExpiry;
        next = Math.min(next, ready.headExpiry()); // each priority lane's head
        next = Math.min(next, spillExpiries.next());
        if (next == QueueEntry.NEVER) {
            return;
        }
        long at = Math.max(next, lastExpiryRun + EXPIRY_TICK_MS);
        if (expiryTimer != null) {
            if (expiryTimerAt <= at) {
                return;
            }
            expiryTimer.cancel(false);
        }
        expiryTimerAt = at;
        expiryTimer = loop.schedule(this::expiryDue, Math.max(0, at - System.currentTimeMillis()),
                java.util.concurrent.TimeUnit.MILLISECONDS);
    }

    private void expiryDue() {
        expiryTimer = null;
        expiryTimerAt = QueueEntry.NEVER;
        if (deleted) {
            return;
        }
        long now = System.currentTimeMillis();
        lastExpiryRun = now;
        dropExpiredHead(now);
        if (nextOwnExpiry <= now) {
            sweep(now);
        }
        spillExpiries.expireUpTo(now);
        if (deadLetterExchange != null && spillExpiries.expired() > sweptInSpill) {
            // paged-out entries expired: dead-letter them now, not when they are read back
            sweepSpill(false, now);
        }
        updateCount();
        refill();
        armExpiry();
    }

    /**
     * Sweeps the spill off the loop (on the page-out store's thread, between reads): entries that
     * have expired are taken out of it and dead-lettered (or dropped, freeing their journal slots)
     * now instead of when they are read back, and with {@code retime} every other paged-out entry
     * gets the expiry the queue's current TTL gives it, counted from its enqueue time (kept in its
     * record). No heap per paged-out entry: the store marks a swept record in place (read back
     * later as a placeholder, dropped) and rewrites a re-timed record's expiry in place; the loop
     * learns the expiry changes per 100 ms bucket ({@link SpillExpiries.Moves}) and applies them
     * before any later read-back lands (the store answers in order), so the counts stay exact.
     * Steps of at most one read batch of expired entries, the next asked for when the loop has
     * dealt with the last: memory stays bounded. Triggers: a TTL change while anything is paged
     * out, and (queues with a dead-letter exchange) paged-out entries counted as expired. A sweep
     * that re-times nothing starts after the prefix already swept, and stops once it found as many
     * as were counted, so a FIFO queue's expired head costs one scan of that head.
     */
    private void sweepSpill(boolean retime, long now) {
        if (spill == null || spillCount == 0 || deleted) {
            return;
        }
        if (sweeping || ledgerRetiming) {
            sweepAgain = true;
            sweepAgainRetime |= retime;
            return;
        }
        if (retime && ledger != null) {
            if (ledgerGap > 0) {
                // The gap's counts go by its records' expiries, the rest by the ledger's: neither
                // is re-timed (see retime), the gap is settled at read-back.
                if (deadLetterExchange == null) {
                    return;
                }
                retime = false;
            } else {
                // The ledger first, the counts with it; then the records on disk.
                ledgerRetiming = true;
                ledgerRetimeAt = now;
                ledger.startRetime();
                retimeLedgerStep();
                return;
            }
        }
        startSweep(retime, now);
    }

    /** Entries of the ledger re-timed per loop task: a few milliseconds at most. */
    private static final int LEDGER_RETIME_STEP = 65_536;

    /**
     * One step of re-timing a length-limited queue's ledger after a TTL change: the counts move
     * with it (entries now due leave them at once). Once done, the records on disk are re-timed
     * too, and the expired ones swept, so that disk and ledger agree; the records' moves are not
     * counted again (the ledger's are the counts').
     */
    private void retimeLedgerStep() {
        if (!ledgerRetiming || deleted) {
            ledgerRetiming = false;
            return;
        }
        SpillExpiries.Moves moves = new SpillExpiries.Moves();
        boolean done = ledger.retime(messageTtl, ledgerRetimeAt, LEDGER_RETIME_STEP, moves);
        spillExpiries.apply(moves);
        spillExpiries.expireUpTo(System.currentTimeMillis());
        updateCount();
        armExpiry();
        if (!done) {
            loop.execute(this::retimeLedgerStep);
            return;
        }
        ledgerRetiming = false;
        if (sweepAgain && sweepAgainRetime) {
            // the TTL changed again during the pass: the ledger again, from the head
            sweepAgain = false;
            sweepAgainRetime = false;
            sweepSpill(true, System.currentTimeMillis());
        } else if (spillCount > 0) {
            // The records too, so that they agree with the ledger (the read-back, a later sweep
            // for expired entries); the expired ones go now.
            startSweep(true, ledgerRetimeAt);
        } else if (sweepAgain) {
            sweepAgain = false;
            sweepSpill(false, System.currentTimeMillis());
        }
    }

    private void startSweep(boolean retime, long now) {
        sweeping = true;
        // A ledger's entries were re-timed, and counted, before their records (retimeLedgerStep);
        // a sweep that began before the queue had a ledger re-times entries the ledger never knew.
        sweepCountsMoves = ledger == null;
        sweepRetime = retime;
        sweepRetimeAt = now;
        sweepLane = spill.lanes() - 1;
        sweepStep(false);
    }

    private void sweepStep(boolean resume) {
        while (sweepLane >= 0 && spill.count(sweepLane) == 0) {
            sweepLane--;
            resume = false;
        }
        long want = sweepRetime ? Long.MAX_VALUE : spillExpiries.expired() - sweptInSpill;
        if (!sweepRetime && want > 0 && sweepLane >= 0 && spillReading) {
            // The read in flight may hold some of the entries counted as expired: a sweep that
            // looked for them would scan the whole spill in vain. It starts once the read landed,
            // before the next read is asked for.
            sweepDeferred = true;
            sweepDeferredResume = resume;
            return;
        }
        if (sweepLane < 0 || want <= 0) {
            sweeping = false;
            if (sweepAgain) {
                boolean retime = sweepAgainRetime;
                sweepAgain = false;
                sweepAgainRetime = false;
                sweepSpill(retime, System.currentTimeMillis());
            }
            return;
        }
        int gen = spillGen;
        int lane = sweepLane;
        SpillExpiries.Moves moves = new SpillExpiries.Moves();
        boolean countMoves = sweepCountsMoves;
        long bytes = Math.max(1, Math.min(paging.bound(), 2L << 20));
        SpillStore.Sweep sw = new SpillStore.Sweep(System.currentTimeMillis(), sweepRetimeAt, messageTtl,
                sweepRetime, want, resume, READ_BATCH, bytes, lane == 0 ? pagedOutDroppedCount() : 0);
        spill.sweep(lane, sw, new SpillStore.SweepSink() {
            @Override
            public void retimed(long oldExpiresAt, long newExpiresAt, int bodySize) {
                if (countMoves) {
                    moves.moved(oldExpiresAt, newExpiresAt, bodySize);
                }
            }

            @Override
            public void swept(List<QueueEntry> expired, boolean more, Throwable failure) {
                loop.execute(() -> sweptStep(gen, lane, moves, expired, more, failure));
            }
        });
    }

    private void sweptStep(int gen, int lane, SpillExpiries.Moves moves, List<QueueEntry> expired, boolean more,
                           Throwable failure) {
        if (gen != spillGen || deleted) {
            // Purged or deleted meanwhile: the clear left these slots to whoever the sweep gave them to.
            expired.forEach(this::discard);
            return;
        }
        spillExpiries.apply(moves);
        if (!expired.isEmpty()) {
            // The in-memory ready entries are ahead of the paged-out ones: those of them that
            // expired go to the dead-letter exchange first, so that dead letters keep the queue's
            // order (a TTL policy on a paged-out backlog: its re-timing sweep can land before the
            // expiry task has dropped the in-memory head).
            dropExpiredHead(System.currentTimeMillis());
        }
        for (QueueEntry e : expired) {
            if (e.ref() != QueueEntry.NOT_STORED) {
                spillStored--; // its placeholder on disk holds none
            }
            sweptInSpill++;
            expire(e);
        }
        updateCount();
        if (!expired.isEmpty()) {
            refill(); // the heads dropped above made room
        }
        armExpiry();
        if (failure != null) {
            LOG.warn("cannot sweep the paged-out messages of {}: {}; expired ones go when they are read back",
                    this, failure.toString());
            sweeping = false;
            sweepAgain = false;
            sweepAgainRetime = false;
            return;
        }
        if (!more) {
            sweepLane--;
        }
        sweepStep(more && lane == sweepLane);
    }

    /** Removes every expired entry from the in-memory ready list, wherever it sits. */
    private void sweep(long now) {
        long[] next = {QueueEntry.NEVER};
        ready.removeIf(e -> {
            if (e.expiresAt() <= now) {
                left(e);
                expire(e);
                return true;
            }
            if (e.ownExpiry() && e.expiresAt() < next[0]) {
                next[0] = e.expiresAt();
            }
            return false;
        });
        nextOwnExpiry = next[0];
    }

    /** Records a use of the queue for x-expires (consume, get, declare). Any thread. */
    public void markUsed() {
        lastUsed = System.nanoTime();
    }

    /** x-expires: the queue goes once it has been unused (no consumer, no get, no declare) that long. */
    private void armLease() {
        if (deleted || expiresMs <= 0) {
            return;
        }
        if (leaseTimer != null) {
            leaseTimer.cancel(false); // one lease task per queue, also when a policy re-arms it
        }
        long left = lastUsed + expiresMs * 1_000_000L - System.nanoTime();
        leaseTimer = loop.schedule(this::leaseDue, Math.max(0, left), java.util.concurrent.TimeUnit.NANOSECONDS);
    }

    private void leaseDue() {
        if (deleted || expiresMs <= 0) {
            return; // a policy took the lease away
        }
        if (!consumers.isEmpty() || remoteHome != null) {
            // In use: the period starts again when the last consumer goes. A cluster's stand-in
            // for a queue another node holds never expires here: the node that holds it decides.
            markUsed();
        } else if (System.nanoTime() - lastUsed >= expiresMs * 1_000_000L) {
            listener.lastConsumerGone(this);
            return;
        }
        armLease();
    }

    /**
     * Pages an arrival out: its content and routing info go to the spill, its store slot (if
     * any) stays in the record, and the queue drops its reference to the message.
     */
    private void spillOut(QueueEntry e) {
        if (e.enqueuedAt() == QueueEntry.UNKNOWN) {
            // kept in the record, so that a sweep can re-time the entry on disk
            long at = e.expiresAt();
            e.enqueuedAt(at == QueueEntry.NEVER ? System.currentTimeMillis()
                    : e.ownExpiry() ? at - e.message().ttl()
                    : messageTtl >= 0 ? at - messageTtl : System.currentTimeMillis());
        }
        try {
            spill.append(ready.laneOf(e), e);
        } catch (RuntimeException | OutOfMemoryError failed) {
            // No memory even for the spill's chunk: keep the message rather than lose it, even
            // though it now comes before messages paged out earlier.
            LOG.warn("cannot page out a message of {}: {}", this, failed.toString());
            ready.addLast(e);
            joined(e);
            watch(e);
            updateCount();
            return;
        }
        spillCount++;
        int size = e.message().bodySize();
        spillBodyBytes += size;
        spillExpiries.add(e.expiresAt(), size);
        if (ledger != null) {
            ledger.add(size, e.enqueuedAt(), e.message().ttl(), e.expiresAt());
        }
        if (e.ref() != QueueEntry.NOT_STORED) {
            spillStored++;
        }
        paging.countOut();
        e.message().release();
        updateCount();
    }

    /**
     * Bytes below which the ready list asks the spill for more: the read-back must land before
     * consumers run dry, but a queue under memory pressure keeps little.
     */
    private long refillBelow() {
        return Math.min(paging.bound() / 2, 1L << 20);
    }

    /**
     * Reads the next batch back from the spill once the ready list runs low, from the highest
     * lane with entries paged out; in a priority queue also when that lane is above every entry
     * in memory (its head is the next to deliver, however full memory is: the read-back adds at
     * most one batch past the bound).
     */
    private void refill() {
        if (spillReading || deleted) {
            return;
        }
        int max = READ_BATCH;
        int lane;
        if (hasSpillDropped()) {
            // A FIFO queue (priority queues keep no ledger): its one lane. Entries a length limit
            // dropped while on disk are read back now, just those when memory is full or nothing
            // live is paged out, so their journal slots are freed (else a restart would bring
            // them back) and the spill shrinks.
            lane = 0;
            if (spillCount == 0 || inMemoryBytes >= refillBelow()) {
                max = Math.min(READ_BATCH, spillDropped.size());
            }
        } else {
            if (spillCount == 0) {
                return;
            }
            lane = spill.top();
            if (lane < 0 || (inMemoryBytes >= refillBelow() && lane <= ready.topLane())) {
                return;
            }
        }
        spillReading = true;
        int gen = spillGen;
        long bytes = Math.max(1, Math.min(paging.bound(), 2L << 20));
        spill.read(lane, max, bytes,
                (entries, failure) -> loop.execute(() -> spillRead(gen, lane, entries, failure)));
    }

    /** Entries per read-back: with 1 KB messages, 2 MiB is the limit that applies. */
    static final int READ_BATCH = 4096;

    private boolean spillFailureLogged;

    private void spillRead(int gen, int lane, List<QueueEntry> entries, Throwable failure) {
        if (gen != spillGen || deleted) {
            // Purged or deleted while the read was in flight: these entries are gone too.
            entries.forEach(this::discard);
            return;
        }
        spillReading = false;
        if (failure != null || (entries.isEmpty() && spill.count(lane) > 0)) {
            if (!spillFailureLogged) {
                spillFailureLogged = true;
                LOG.error("cannot read {} paged-out messages of {} back; retrying every second", spillCount, this,
                        failure);
            }
            if (sweepDeferred) {
                sweepDeferred = false; // nothing is in flight now
                sweepStep(sweepDeferredResume);
            }
            spillReading = true;
            loop.schedule(() -> {
                if (gen == spillGen) {
                    spillReading = false;
                    refill();
                    dispatch();
                }
            }, 1, java.util.concurrent.TimeUnit.SECONDS);
            return;
        }
        long now = expiring ? System.currentTimeMillis() : 0;
        int live = 0;
        for (QueueEntry e : entries) {
            if (e.ref() != QueueEntry.NOT_STORED) {
                spillStored--;
            }
            if (hasSpillDropped()) {
                // dropped by a length limit while on disk (already out of the message count)
                Integer kind = spillDropped.pollFirst();
                boolean expired = kind == DROPPED_EXPIRED;
                if (kind == DROPPED_UNKNOWN) {
                    spillBodyBytes -= e.message().bodySize();
                    expired = spillExpiries.readBack(e, now);
                }
                if (e.swept()) {
                    sweptInSpill--; // a sweep dead-lettered it already
                    e.message().release();
                } else if (expired) {
                    expire(e);
                } else {
                    deadLetter(e, "maxlen");
                }
                continue;
            }
            live++;
            spillBodyBytes -= e.message().bodySize();
            // the expiry the counts went by: the ledger's, where it knows the entry
            long counts = e.expiresAt();
            if (ledgerGap > 0) {
                ledgerGap--;
            } else if (ledger != null) {
                counts = ledger.headExpiresAt();
                ledger.poll();
            }
            if (priorityLanes) {
                // the spill keeps no priority: the lane it came from is its (capped) priority
                e.message().priority(lane);
            }
            if (e.swept()) {
                // a sweep dead-lettered it already: its accounting leaves now, the entry is gone
                spillExpiries.left(counts, e.message().bodySize());
                sweptInSpill--;
                e.message().release();
                continue;
            }
            boolean counted = spillExpiries.left(counts, e.message().bodySize());
            if (e.enqueuedAt() != QueueEntry.UNKNOWN && (messageTtl >= 0 || e.message().ttl() >= 0)) {
                // the TTL in force now (a read that was in flight when it changed, or a length-limited
                // queue, whose paged-out entries are not re-timed on disk)
                long own = e.message().ttl();
                e.expiresAt(QueueEntry.expiry(e.enqueuedAt(), own, messageTtl), QueueEntry.ownDecides(own, messageTtl));
                if (!expiring) {
                    now = System.currentTimeMillis();
                    expiring = true;
                }
            } else if (messageTtl < 0 && e.message().ttl() < 0) {
                e.expiresAt(QueueEntry.NEVER, false);
            }
            if (counted || (e.expiresAt() != QueueEntry.NEVER && e.expiresAt() <= now)) {
                expire(e);
                continue;
            }
            ready.addLast(e);
            joined(e);
            watch(e);
        }
        spillCount -= live;
        spill.readBack(lane, entries.size());
        updateCount();
        if (sweepDeferred) {
            sweepDeferred = false;
            sweepStep(sweepDeferredResume);
        }
        if (dropHead && ledger == null) {
            // A priority queue drops only what is in memory: what was over its limit on disk is
            // dropped as it comes back.
            dropHeadOverLimit();
        }
        armExpiry();
        answerWaitingGets();
        dispatch();
    }

    /** Drops whatever is paged out (purge, delete); frees the store slots it held when {@code fromStore}. */
    private void clearSpill(boolean fromStore) {
        if (spill == null) {
            return;
        }
        if (spillCount > 0 || spillReading) {
            MessageStore s = store;
            spill.clear(fromStore && spillStored > 0 && s != null && !closed ? s::remove : null);
        }
        spillCount = 0;
        spillStored = 0;
        spillBodyBytes = 0;
        spillExpiries.clear();
        if (ledger != null) {
            ledger.clear();
            spillDropped.clear();
        }
        ledgerGap = 0;
        ledgerRetiming = false;
        spillReading = false;
        sweeping = false;
        sweepAgain = false;
        sweepAgainRetime = false;
        sweepDeferred = false;
        sweptInSpill = 0;
        spillGen++;
        updateCount();
    }

    /**
     * Recovery: appends messages found in the store, in their original order, marked redelivered
     * (they may have been delivered before the stop; an exact flag would cost a disk write per
     * delivery). Their content stays on disk until dispatch or get needs it; past the paging
     * bound, even their entries go to the spill (routing info and store slot only), so a backlog
     * larger than the heap recovers. Called in chunks, in order.
     */
    public void recover(List<MessageStore.StoredMessage> stored) {
        assert loop.inEventLoop();
        long now = System.currentTimeMillis();
        for (MessageStore.StoredMessage sm : stored) {
            if (sm.exchange().startsWith(BACKLOG_MARK)) {
                recoverDeadLettered(sm);
                continue;
            }
            Message m = Message.recovered(sm.exchange(), sm.routingKey(), sm.bodySize());
            m.ttl(sm.ttl());
            m.priority(sm.priority());
            QueueEntry e = new QueueEntry(m, nextSeq++, true, sm.ref());
            e.deliveryCount(sm.deliveryCount());
            // TTL counts from the publish, as in RabbitMQ (from the recovery for old journals).
            stamp(e, sm.publishedAt() >= 0 ? Math.min(sm.publishedAt(), now) : now);
            if (e.expiresAt() < now) {
                expire(e);
                continue;
            }
            if (spill != null && (spill.count(ready.laneOf(e)) > 0 || inMemoryBytes + cost(e) > paging.bound())) {
                spillOut(e);
            } else {
                ready.addLast(e);
                joined(e);
                watch(e);
            }
        }
        updateCount();
        armExpiry();
    }

    /**
     * The queue is done with an entry (acked, rejected without requeue, purged, deleted):
     * frees its store slot and releases the message. Any thread.
     */
    public void discard(QueueEntry e) {
        if (e.remote() != null) {
            e.remote().ack(); // a delivery relayed from the holder settles there
            e.message().release();
            return;
        }
        if (e.ref() != QueueEntry.NOT_STORED && store != null && !closed) {
            store.remove(e.ref());
        }
        e.message().release();
    }

    /** Takes the head entry off the ready list, keeping the in-memory count. */
    private QueueEntry pollReady() {
        QueueEntry e = ready.pollFirst();
        if (e != null) {
            left(e);
        }
        return e;
    }

    private static boolean anyRelayed(List<QueueEntry> entries) {
        for (int i = 0, n = entries.size(); i < n; i++) {
            if (entries.get(i).remote() != null) {
                return true;
            }
        }
        return false;
    }

    /**
     * Puts entries back at their original places (ordered by sequence), marked redelivered when
     * {@code delivered}; entries that never reached a client go back unmarked.
     */
    public void requeue(List<QueueEntry> entries, boolean delivered) {
        assert loop.inEventLoop();
        if (anyRelayed(entries)) {
            // A stand-in that led before may hold both kinds (a channel closing requeues all it holds).
            List<QueueEntry> own = new ArrayList<>(entries.size());
            for (QueueEntry e : entries) {
                if (e.remote() != null) {
                    e.remote().requeue(); // back to the queue at the holder, which redelivers it
                    e.message().release();
                } else {
                    own.add(e);
                }
            }
            if (own.isEmpty()) {
                return;
            }
            entries = own;
        }
        if (deleted) {
            entries.forEach(this::discard);
            return;
        }
        if (remoteHome != null) {
            // A quorum queue this node no longer leads: the leader has these messages (its log
            // still holds them, unsettled) and redelivers them.
            entries.forEach(e -> e.message().release());
            return;
        }
        List<QueueEntry> merged = new ArrayList<>(entries.size());
        long now = expiring ? System.currentTimeMillis() : 0;
        for (QueueEntry e : entries) {
            if (expiring && e.expiresAt() <= now) {
                // RabbitMQ drops expired messages after a requeue with Now >= Expiry: a requeued
                // message whose TTL ran out (TTL 0 in the millisecond it arrived too) expires.
                if (delivered) {
                    e.markRedelivered();
                }
                expire(e);
                continue;
            }
            if (delivered) {
                e.markRedelivered();
                e.returned();
                if (e.ref() != QueueEntry.NOT_STORED && store != null && !closed) {
                    store.returned(e.ref(), e.deliveryCount());
                }
                if (deliveryLimit >= 0 && e.deliveryCount() > deliveryLimit) {
                    // RabbitMQ's rabbit_fifo: past the limit the message is dropped or dead-lettered.
                    deadLetter(e, "delivery_limit");
                    continue;
                }
            }
            merged.add(e);
        }
        if (merged.isEmpty()) {
            return;
        }
        for (QueueEntry e : merged) {
            // A requeued entry keeps its expiry (RabbitMQ: expiryWithRequeue).
            joined(e);
            watch(e);
        }
        merged.sort(Comparator.comparingLong(QueueEntry::seq));
        ready.putBack(merged);
        updateCount();
        if (dropHead) {
            // RabbitMQ's requeue_and_run: a requeue past the limit drops from the head, which is
            // where the requeued messages went back
            dropHeadOverLimit();
        }
        dispatch();
        armExpiry();
    }

    /** Adds a consumer after checking exclusivity; throws ACCESS_REFUSED like RabbitMQ. */
    public void addConsumer(Consumer c) {
        assert loop.inEventLoop();
        if (deleted) {
            throw BrokerException.notFound("no queue '%s' in vhost '%s'", name, vhost);
        }
        if (remoteHome != null) {
            RemoteQueues r = remotes;
            if (r == null) {
                throw remoteUse();
            }
            // Exclusivity and priorities are the holder's to apply: it sees the relay's consume.
            if (!relays.containsKey(c)) {
                relays.put(c, r.consume(this, c));
                consumerCount = relays.size();
            }
            return;
        }
        if (hasExclusiveConsumer || (c.exclusive() && !consumers.isEmpty())) {
            throw BrokerException.accessRefused("queue '%s' in vhost '%s' in exclusive use", name, vhost);
        }
        // Highest priority first; a newcomer goes after its equals (stable).
        int at = consumers.size();
        while (at > 0 && consumers.get(at - 1).priority() < c.priority()) {
            at--;
        }
        consumers.add(at, c);
        if (nextConsumer >= at && at < consumers.size() - 1) {
            nextConsumer++; // keep pointing at the consumer it pointed at
        }
        prioritized = consumers.get(0).priority() != consumers.get(consumers.size() - 1).priority();
        active = singleActive ? consumers.get(0) : null;
        markUsed();
        hadConsumer = true;
        hasExclusiveConsumer = c.exclusive();
        consumerCount = consumers.size();
    }

    /**
     * When the consumer of a stand-in was taken by the queue's holder (see
     * {@link RemoteQueues.Relay#started}); done at once for a consumer of this node's queue. Loop.
     */
    public java.util.concurrent.CompletableFuture<Void> consumerStarted(Consumer c) {
        assert loop.inEventLoop();
        RemoteQueues.Relay r = relays.get(c);
        return r == null ? java.util.concurrent.CompletableFuture.completedFuture(null) : r.started();
    }

    public void removeConsumer(Consumer c) {
        assert loop.inEventLoop();
        RemoteQueues.Relay relay = relays.remove(c);
        if (relay != null) {
            relay.cancel();
            consumerCount = relays.size();
            return;
        }
        int i = consumers.indexOf(c);
        if (i < 0) {
            return;
        }
        consumers.remove(i);
        if (nextConsumer > i) {
            nextConsumer--;
        }
        prioritized = !consumers.isEmpty()
                && consumers.get(0).priority() != consumers.get(consumers.size() - 1).priority();
        // Single active consumer: the next one in line takes over (RabbitMQ's failover).
        active = singleActive && !consumers.isEmpty() ? consumers.get(0) : null;
        if (active != null) {
            scheduleDispatch(); // the new active consumer may take what waited
        }
        if (c.exclusive()) {
            hasExclusiveConsumer = false;
        }
        consumerCount = consumers.size();
        if (consumers.isEmpty()) {
            markUsed();
        }
        if (consumers.isEmpty() && autoDelete && hadConsumer && !deleted) {
            listener.lastConsumerGone(this);
        }
    }

    /** Takes the head message for basic.get: {@code sink} gets the entry (or null) and the count left. */
    public void get(BiConsumer<QueueEntry, Integer> sink) {
        assert loop.inEventLoop();
        markUsed();
        if (!deleted) {
            dropExpiredHead();
        }
        if (!deleted && (!waitingGets.isEmpty() || !headLoaded())) {
            waitingGets.addLast(sink);
            return;
        }
        QueueEntry e = deleted ? null : pollReady();
        updateCount();
        refill();
        if (e != null) {
            countDelivered(e);
        }
        sink.accept(e, count());
    }

    /** Drops the ready messages, paged out ones too; reports how many. */
    public void purge(IntConsumer sink) {
        assert loop.inEventLoop();
        int n = count();
        releaseReady(true);
        clearSpill(true);
        sink.accept(n);
    }

    /**
     * Cluster: this node no longer leads this quorum queue, {@code leader} does (null: not known
     * yet). The queue becomes a stand-in: its consumers are cancelled (basic.cancel, as for a
     * deleted queue: the client consumes again through the leader's node), the messages held
     * here are dropped without touching the store (the replicated log keeps them for the
     * leader), and acks of what was delivered before settle through the log.
     */
    public void demote(String leader) {
        assert loop.inEventLoop();
        remoteHome = leader == null ? io.warren.core.store.StoreDurability.ELECTING : leader;
        releaseReady(false);
        clearSpill(false);
        List<Consumer> gone = new ArrayList<>(consumers);
        consumers.clear();
        consumerCount = 0;
        nextConsumer = 0;
        active = null;
        hasExclusiveConsumer = false;
        RemoteQueues r = remotes;
        for (Consumer c : gone) {
            if (r != null) {
                // The consumer stays: from now on the new leader's deliveries are relayed to it.
                relays.put(c, r.consume(this, c));
            } else {
                c.cancelledByQueue(this);
            }
        }
        consumerCount = relays.size();
    }

    /**
     * Cluster: this node now leads this quorum queue; {@code unsettled} is every message its
     * replicated log holds, in order (marked redelivered: the old leader may have delivered them).
     */
    public void promote(List<MessageStore.StoredMessage> unsettled) {
        assert loop.inEventLoop();
        releaseReady(false);
        clearSpill(false);
        remoteHome = null;
        recover(unsettled);
        // The consumers relayed from the old leader consume here now.
        List<Consumer> relayed = new ArrayList<>(relays.keySet());
        relays.values().forEach(RemoteQueues.Relay::cancel);
        relays.clear();
        consumerCount = consumers.size();
        for (Consumer c : relayed) {
            try {
                addConsumer(c);
            } catch (BrokerException e) {
                c.refused(this, e);
            }
        }
        dispatch();
    }

    /** Marks the queue deleted: consumers are cancelled, ready messages released. */
    public void delete() {
        assert loop.inEventLoop();
        if (deleted) {
            return;
        }
        deleted = true;
        cancelTimers();
        releaseReady(true);
        clearSpill(true);
        releaseDeadLettered();
        if (spill != null) {
            spill.delete();
            spill = null;
        }
        List<Consumer> gone = new ArrayList<>(consumers);
        gone.addAll(relays.keySet());
        relays.values().forEach(RemoteQueues.Relay::cancel);
        relays.clear();
        consumers.clear();
        consumerCount = 0;
        for (Consumer c : gone) {
            c.cancelledByQueue(this);
        }
    }

    /**
     * Broker shutdown: releases the ready messages, so no buffer outlives the broker, and
     * releases whatever is enqueued or requeued afterwards. Unlike {@link #delete()} no consumer
     * is told, and the queue's definition (its store entry) is left alone.
     */
    public void close() {
        assert loop.inEventLoop();
        closed = true;
        deleted = true;
        cancelTimers();
        releaseReady(false);
        clearSpill(false);
        releaseDeadLettered(); // discard keeps the store slots once closed: the backlog comes back at restart
        if (spill != null) {
            spill.delete();
            spill = null;
        }
        relays.values().forEach(RemoteQueues.Relay::cancel);
        relays.clear();
        consumers.clear();
        consumerCount = 0;
    }

    /** Delete, close: the expiry and lease tasks hold the queue until they run, which may be weeks. */
    private void cancelTimers() {
        if (expiryTimer != null) {
            expiryTimer.cancel(false);
            expiryTimer = null;
            expiryTimerAt = QueueEntry.NEVER;
        }
        if (leaseTimer != null) {
            leaseTimer.cancel(false);
            leaseTimer = null;
        }
    }

    /** Drops the ready entries; their store slots too when {@code fromStore}. */
    private void releaseReady(boolean fromStore) {
        QueueEntry e;
        while ((e = ready.pollFirst()) != null) {
            if (fromStore) {
                discard(e);
            } else {
                e.message().release();
            }
        }
        inMemoryBytes = 0;
        readyBodyBytes = 0;
        nextOwnExpiry = QueueEntry.NEVER;
        updateCount();
        answerWaitingGets();
    }

    /**
     * How many recovered entries one load fetches ahead of dispatch: they usually sit in the
     * same journal batch, so one read serves them all; 256 bounds the heap a queue pins.
     */
    static final int LOAD_AHEAD = 256;

    /**
     * True when the head entry's content is in memory, or the queue is empty; otherwise starts
     * loading it (a recovered message from the store, or the next batch from the spill).
     */
    private boolean headLoaded() {
        refill();
        QueueEntry head = ready.peekFirst();
        if (head == null) {
            return spillCount == 0;
        }
        if (priorityLanes && spillCount > 0 && spill.top() > ready.topLane()) {
            return false; // a higher priority is paged out: refill has asked for it
        }
        if (head.message().loaded()) {
            return true;
        }
        if (!loading) {
            loadAhead();
        }
        return false;
    }

    private void loadAhead() {
        List<QueueEntry> batch = new ArrayList<>();
        for (QueueEntry e : ready) {
            if (batch.size() == LOAD_AHEAD) {
                break;
            }
            if (!e.message().loaded()) {
                batch.add(e);
            }
        }
        loading = true;
        int[] left = {batch.size()};
        for (QueueEntry e : batch) {
            store.load(e.ref(), (props, body, failure) -> loop.execute(() -> {
                if (failure != null) {
                    // Unreadable: take it out of the queue, loudly, but keep its store slot so a
                    // restart (e.g. after freeing disk or fixing permissions) can try again. A
                    // message its store settled meanwhile is only dropped.
                    if (failure instanceof io.warren.core.store.StoreException.Settled) {
                        LOG.info("{}: message {} was settled meanwhile ({}): dropped", this, e.ref(),
                                failure.getMessage());
                    } else {
                        LOG.error("cannot load message {} of {} from the store", e.ref(), this, failure);
                    }
                    if (ready.remove(e)) {
                        left(e);
                        e.message().release();
                        updateCount();
                    }
                } else {
                    e.message().attach(props, body);
                    // attach drops the content of a message purged or deleted meanwhile (it
                    // then counts 0: purge and delete already zeroed the count)
                    inMemoryBytes += e.message().memoryBytes();
                }
                if (--left[0] == 0) {
                    loading = false;
                    answerWaitingGets();
                    dispatch();
                }
            }));
        }
    }

    private void answerWaitingGets() {
        while (!waitingGets.isEmpty()) {
            if (!deleted) {
                dropExpiredHead();
            }
            if (!deleted && !headLoaded()) {
                break;
            }
            BiConsumer<QueueEntry, Integer> sink = waitingGets.pollFirst();
            QueueEntry e = deleted ? null : pollReady();
            updateCount();
            if (e != null) {
                countDelivered(e);
            }
            sink.accept(e, count());
        }
    }

    /** Asks for a dispatch pass on the loop (after acks, or when a socket became writable). */
    public void scheduleDispatch() {
        if (loop.inEventLoop()) {
            dispatch();
        } else {
            loop.execute(this::dispatch);
        }
    }

    /**
     * Hands ready messages to consumers round-robin, each only while it has room
     * (prefetch, writability), at most {@link #DISPATCH_QUANTUM} per pass.
     */
    void dispatch() {
        assert loop.inEventLoop();
        dispatchScheduled = false;
        if (!relays.isEmpty()) {
            for (RemoteQueues.Relay r : new ArrayList<>(relays.values())) {
                r.pump();
            }
        }
        int delivered = 0;
        while (!consumers.isEmpty() && waitingGets.isEmpty()) {
            dropExpiredHead();
            if (!headLoaded() || ready.isEmpty()) {
                break;
            }
            if (delivered == DISPATCH_QUANTUM) {
                if (!dispatchScheduled) {
                    dispatchScheduled = true;
                    loop.execute(this::dispatch);
                }
                break;
            }
            Consumer c = nextWithRoom();
            if (c == null) {
                break;
            }
            QueueEntry e = pollReady();
            updateCount();
            countDelivered(e);
            c.deliver(this, e);
            delivered++;
        }
        refill();
    }

    private Consumer nextWithRoom() {
        if (singleActive) {
            Consumer c = consumers.get(0);
            return c.tryReserve() ? c : null;
        }
        if (prioritized) {
            return nextByPriority();
        }
        int n = consumers.size();
        for (int i = 0; i < n; i++) {
            int idx = (nextConsumer + i) % n;
            Consumer c = consumers.get(idx);
            if (c.tryReserve()) {
                nextConsumer = (idx + 1) % n;
                return c;
            }
        }
        return null;
    }

    /**
     * With consumers of different priorities ({@code consumers} sorted highest first): the first
     * priority group with a consumer that has room, round-robin inside the group from that
     * group's cursor. Only queues whose consumers differ in priority pay for the scan.
     */
    private Consumer nextByPriority() {
        int n = consumers.size();
        int start = 0;
        while (start < n) {
            int p = consumers.get(start).priority();
            int end = start + 1;
            while (end < n && consumers.get(end).priority() == p) {
                end++;
            }
            int size = end - start;
            int cursor = Math.floorMod(groupCursors.getOrDefault(p, 0), size);
            for (int i = 0; i < size; i++) {
                int idx = start + (cursor + i) % size;
                Consumer c = consumers.get(idx);
                if (c.tryReserve()) {
                    groupCursors.put(p, (cursor + i + 1) % size);
                    return c;
                }
            }
            start = end;
        }
        return null;
    }

    @Override public String toString() {
        return "queue '" + name + "' in vhost '" + vhost + "'";
    }
}
