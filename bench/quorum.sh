#!/usr/bin/env bash
# The quorum-queue benchmark (issue 15): persistent messages with publisher confirms into a
# 3-member quorum queue on a 3-node warren cluster (three bin/warren processes on this machine),
# beside the reference RabbitMQ 3.10's quorum queue, twice: on one node (bench/reference-rabbitmq.sh,
# so its "quorum" is a group of one member; RabbitMQ writes and fsyncs it the same way), then on
# a 3-node RabbitMQ cluster on this machine (ports RABBIT_BENCH_PORT+1..3), the like-for-like
# run. Every confirm, warren's and the 3-node RabbitMQ's, is sent after a majority of the three
# members has the message on disk.
#
#   bench/quorum.sh [SECONDS] [PERFTEST FLAGS...]     default 30 s, -x 1 -y 1 -s 1000 -c 1000
#
# The queue is declared through node 1; PerfTest then runs against the node its members elected
# leader, then through a follower (its publishes and its consumer are relayed to the leader's
# node, one more hop each way), and a publish-only run (PUBLISH_ONLY_SECONDS, default 40) through
# a follower. The publish-only runs are as long as that so that they have a steady state too: a
# 10 s run is mostly the new PerfTest JVM's warm-up (2026-12-04, 3 nodes of a 2-core VM, through
# a follower: 10 s runs gave 7,000-10,600 msg/s over the whole run, 40 s runs 20,100-20,500 from
# their 15th second on).
# Each broker first gets a warm-up run of WARMUP seconds (default 60: on 2 cores the JIT of
# three JVMs is still compiling after 30 s) with the same flags, not measured; warren one through
# the leader and one through the follower, as its runs take both paths. Prints PerfTest's
# rates, and the CPU time of all three warren JVMs (or RabbitMQ's VMs) per million messages; for
# warren also the Raft log entries each run committed and the messages per entry (from the
# leader node's rabbitmq_raft_log_commit_index on its Prometheus port).
# Each run is also measured over its steady state, from its STEADY_AFTER-th second (default
# 15; 0 turns it off): see run() below. WARREN_ONLY=1 skips RabbitMQ. Needs `mvn -q -B -DskipTests package` first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
seconds=${1:-30}
warmup=${WARMUP:-60}
shift || true
flags=("$@")
[ ${#flags[@]} -gt 0 ] || flags=(-x 1 -y 1 -s 1000 -c 1000)
base=${WARREN_BENCH_PORT:-5890}
rabbit_port=${RABBIT_BENCH_PORT:-5698}
work=$(mktemp -d)
mvn -q -B -f "$here/pom.xml" dependency:build-classpath -Dmdep.outputFile="$work/cp.txt" >/dev/null
cp=$(cat "$work/cp.txt")
# shellcheck source=cluster-configs.sh
. "$here/cluster-configs.sh"
write_cluster_configs "$work" "$base" "$((base + 20000))" "log.level = warning"
cleanup() {
  stop_cluster "$work"
  if [ -z "${WARREN_ONLY:-}" ]; then
    for i in 0 1 2 3; do
      "$top/bench/reference-rabbitmq.sh" stop "$((rabbit_port + i))" >/dev/null 2>&1 || true
    done
  fi
  [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

rabbit_cluster_up() { # three reference nodes on RABBIT_PORT+1..3, one cluster (they share root's Erlang cookie)
  local i
  for i in 1 2 3; do
    "$top/bench/reference-rabbitmq.sh" start "$((rabbit_port + i))" >/dev/null || return 1
  done
  for i in 2 3; do
    "$top/bench/reference-rabbitmq.sh" ctl "$((rabbit_port + i))" -q stop_app >/dev/null \
      && "$top/bench/reference-rabbitmq.sh" ctl "$((rabbit_port + i))" -q join_cluster "warrenref$((rabbit_port + 1))@localhost" >/dev/null \
      && "$top/bench/reference-rabbitmq.sh" ctl "$((rabbit_port + i))" -q start_app >/dev/null || return 1
  done
}

cpu() { # PID... -> their CPU time in clock ticks
  local t=0 p
  for p in "$@"; do
    t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat")))
  done
  echo "$t"
}

# NAME PORT SECONDS PIDS -- PERFTEST FLAGS (queue qq-bench)
# Prints PerfTest's averages over the whole run and the CPU of that run; then the same over the
# run's steady state, from its STEADY_AFTER-th second (default 15) to its end: each run is a new
# PerfTest JVM, still compiling, and on 2 cores its consumer lags for its first 10-15 s (consumer
# latency up to a second, publishers held back, for a classic queue as for a quorum queue), so a
# whole-run average is partly the client's warm-up. Both brokers are measured the same way.
run() {
  local name=$1 port=$2 seconds=$3 pids=$4 before after sent steady=${STEADY_AFTER:-15} pt mid= msgs i0= i1=
  shift 4
  [ -n "${raft_metrics:-}" ] && i0=$(raft_index)
  before=$(cpu $pids)
  java -cp "$cp" com.rabbitmq.perf.PerfTest -h "amqp://guest:guest@127.0.0.1:$port" -u qq-bench -ad false \
    -f persistent --queue-args x-queue-type=quorum -z "$seconds" "$@" > "$work/$name.out" 2>&1 &
  pt=$!
  if [ "$steady" -gt 0 ] && [ "$steady" -lt "$seconds" ]; then
    # the CPU count of the steady state starts when PerfTest reports its STEADY_AFTER-th second
    while kill -0 "$pt" 2>/dev/null; do
      if awk -v s="$steady" '/^id: .*, time [0-9.]+ s, sent:/ {t = $4 + 0; if (t >= s) {found = 1; exit}}
          END {exit !found}' "$work/$name.out"; then
        mid=$(cpu $pids)
        break
      fi
      sleep 0.2
    done
  fi
  wait "$pt" || { tail -20 "$work/$name.out"; return 1; }
  after=$(cpu $pids)
  [ -n "${raft_metrics:-}" ] && i1=$(raft_index)
  echo "== $name: $(grep -E 'sending rate avg' "$work/$name.out" | tail -1)"
  grep -E 'receiving rate avg' "$work/$name.out" | tail -1 | sed "s/^/== $name: /" || true
  grep -E 'confirm latency' "$work/$name.out" | tail -1 | sed "s/^/== $name: /" || true
  sent=$(grep -E 'sending rate avg' "$work/$name.out" | tail -1 | grep -oE '[0-9]+ msg/s' | grep -oE '[0-9]+' || echo 0)
  local ticks=$((after - before)) hz
  hz=$(getconf CLK_TCK)
  if [ "${sent:-0}" -gt 0 ]; then
    echo "== $name: broker CPU $((ticks / hz)) s, $(awk -v t="$ticks" -v hz="$hz" -v r="$sent" -v s="$seconds" \
      'BEGIN {printf "%.1f", t / hz / (r * s / 1e6)}') CPU-s per million messages published"
  fi
  if [ -n "$i0" ] && [ -n "$i1" ] && [ "${sent:-0}" -gt 0 ] && [ "$i1" -gt "$i0" ]; then
    echo "== $name: $((i1 - i0)) Raft log entries committed ($(( (i1 - i0) / seconds )) a second, \
$(awk -v n="$sent" -v s="$seconds" -v e="$((i1 - i0))" 'BEGIN {printf "%.1f", n * s / e}') messages published per entry)"
  fi
  if [ -n "$mid" ]; then
    # confirmed messages of the per-second lines after the first one at or past STEADY_AFTER
    # (each line's rate times the time since the line before), over that time
    msgs=$(awk -v s="$steady" '/^id: .*, time [0-9.]+ s, sent:/ {
          t = $4 + 0; for (i = 1; i <= NF; i++) if ($i == "confirmed:") c = $(i + 1) + 0
          if (started) {n += c * (t - prev); d += t - prev} else if (t >= s) started = 1
          prev = t}
        END {if (d > 0) printf "%d %.3f", n, d; else print "0 0"}' "$work/$name.out")
    set -- $msgs
    if [ "$1" -gt 0 ]; then
      echo "== $name: steady state (second $steady to the end): $(awk -v n="$1" -v d="$2" 'BEGIN {printf "%d", n / d}') msg/s confirmed, $(awk -v t="$((after - mid))" -v hz="$hz" -v n="$1" \
        'BEGIN {printf "%.1f", t / hz / (n / 1e6)}') CPU-s per million"
    fi
  fi
}

echo "quorum queue benchmark: PerfTest ${flags[*]}, ${seconds} s ($(date -u '+%F %H:%M') UTC, $(nproc) cores, $(java -version 2>&1 | head -1))"
start_cluster "$work"
pids="$(cat "$work/data1/warren.pid") $(cat "$work/data2/warren.pid") $(cat "$work/data3/warren.pid")"
# a new cluster makes its default user once a majority runs
for _ in $(seq 1 60); do
  "$top/bin/warrenctl" --config "$work/node1.conf" -q list_queues >/dev/null 2>&1 && break
  sleep 1
done
# declare the queue through node 1 (one message), then find who the members elected to lead it
java -cp "$cp" com.rabbitmq.perf.PerfTest -h "amqp://guest:guest@127.0.0.1:$((base + 1))" -u qq-bench -ad false \
  -f persistent --queue-args x-queue-type=quorum -x 1 -y 0 -C 1 > "$work/declare.out" 2>&1 \
  || { tail -20 "$work/declare.out"; exit 1; }
leader=
for _ in $(seq 1 30); do
  leader=$("$top/bin/warrenctl" --config "$work/node1.conf" -q -s list_queues name leader 2>/dev/null \
    | awk '$1 == "qq-bench" {print $2}' | sed -n 's/^warren\([123]\)@localhost$/\1/p')
  [ -n "$leader" ] && break
  sleep 1
done
[ -n "$leader" ] || { echo "quorum: qq-bench has no leader after 30 s"; exit 1; }
follower=$((leader % 3 + 1))
# the queue's commit index on the leader's node (RabbitMQ's rabbitmq_raft_log_commit_index), for
# the log entries each run makes; empty when the endpoint does not answer
raft_metrics="http://127.0.0.1:$((base + 10100 + leader))/metrics"
raft_index() {
  { curl -s --max-time 5 "$raft_metrics" || true; } | awk '$1 == "rabbitmq_raft_log_commit_index" {printf "%d", $2}'
}
# Warm-up, not measured: a JVM that has just started spends most of its CPU compiling (perf on the
# leader 8 s into a first run: 41% in the JIT compilers), which is not what a broker costs.
run "warren warm-up (not measured)" "$((base + leader))" "$warmup" "$pids" "${flags[@]}" >/dev/null
# and through the follower: its node's client-facing code (the relay, the Ratis client) and the
# leader's side of the link had not run yet, so the follower's runs paid their JIT (2026-12-04,
# 23:48 UTC: the compiler threads took 20% of a core, 19 of the 154 CPU-microseconds a message,
# 15 to 35 s into the run through the follower; 11% and 11 of 97 through the leader)
run "warren warm-up through the follower (not measured)" "$((base + follower))" "$warmup" "$pids" \
  "${flags[@]}" >/dev/null
run "warren (3 nodes), through the leader (node $leader)" "$((base + leader))" "$seconds" "$pids" "${flags[@]}"
# the same through a follower: its publishes and its consumer are relayed to the leader's node
run "warren (3 nodes), through a follower (node $follower)" "$((base + follower))" "$seconds" "$pids" "${flags[@]}"
# publish-only: what is published stays in the queue (on every member: at 20,000 msg/s of 1 kB
# for 40 s, 800 MB each, in their spill files, logs and snapshots)
publish_only=${PUBLISH_ONLY_SECONDS:-40}
run "warren (3 nodes), publish-only through a follower (node $follower)" "$((base + follower))" "$publish_only" "$pids" \
  -x 1 -y 0 -s 1000 -c 1000
"$top/bin/warrenctl" --config "$work/node1.conf" list_queues name type leader members messages

raft_metrics=
if [ -z "${WARREN_ONLY:-}" ]; then
  for i in 1 2 3; do
    "$top/bin/warren" stop --config "$work/node$i.conf" >/dev/null 2>&1 || true
  done
  if "$top/bench/reference-rabbitmq.sh" start "$rabbit_port" >/dev/null; then
    rpid=$("$top/bench/reference-rabbitmq.sh" pid "$rabbit_port")
    run "rabbitmq warm-up (not measured)" "$rabbit_port" "$warmup" "$rpid" "${flags[@]}" >/dev/null
    run "rabbitmq 3.10 (1 node)" "$rabbit_port" "$seconds" "$rpid" "${flags[@]}"
    run "rabbitmq 3.10 (1 node), publish-only" "$rabbit_port" "$publish_only" "$rpid" -x 1 -y 0 -s 1000 -c 1000
  else
    echo "== rabbitmq: reference broker could not be started"
  fi
  "$top/bench/reference-rabbitmq.sh" stop "$rabbit_port" >/dev/null 2>&1 || true
  # The like-for-like run: a 3-node RabbitMQ cluster on this machine (three reference nodes on
  # ports RABBIT_PORT+1..3, the second and third joined to the first), its quorum queue's three
  # members on the three nodes, PerfTest against the node that leads it.
  if rabbit_cluster_up; then
    rpids="$(for i in 1 2 3; do "$top/bench/reference-rabbitmq.sh" pid "$((rabbit_port + i))"; done | xargs)"
    java -cp "$cp" com.rabbitmq.perf.PerfTest -h "amqp://guest:guest@127.0.0.1:$((rabbit_port + 1))" -u qq-bench \
      -ad false -f persistent --queue-args x-queue-type=quorum -x 1 -y 0 -C 1 > "$work/rdeclare.out" 2>&1 || true
    rleader=$("$top/bench/reference-rabbitmq.sh" ctl "$((rabbit_port + 1))" -q -s list_queues name leader \
      | awk '$1 == "qq-bench" {print $2}' | sed -n 's/^warrenref\([0-9]*\)@localhost$/\1/p')
    run "rabbitmq warm-up (3 nodes, not measured)" "${rleader:-$((rabbit_port + 1))}" "$warmup" "$rpids" "${flags[@]}" >/dev/null
    run "rabbitmq 3.10 (3 nodes), through the leader (port ${rleader:-?})" "${rleader:-$((rabbit_port + 1))}" \
      "$seconds" "$rpids" "${flags[@]}"
    "$top/bench/reference-rabbitmq.sh" ctl "$((rabbit_port + 1))" -q list_queues name type leader members messages
  else
    echo "== rabbitmq (3 nodes): the reference cluster could not be formed"
  fi
fi
