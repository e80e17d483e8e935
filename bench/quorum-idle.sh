#!/usr/bin/env bash
# What idle quorum queues cost (issue 15): three warren nodes on this machine (bin/warren, one
# process each), then QUEUES quorum queues of three members declared through node 1's
# management API, nothing published. Prints, before and after the declares, each node's direct
# memory in use (warren_jvm_memory_direct_used_bytes: Ratis' log write buffers are direct, one
# per member of each queue) and heap in use, and the CPU the three JVMs took over SECONDS while
# idle (Ratis' heartbeats, one per follower of each queue every half election timeout).
#
#   bench/quorum-idle.sh [QUEUES] [SECONDS]     default 100 queues, 30 s
#
# Loopback only. Needs `mvn -q -B -DskipTests package` first. Not part of mvn verify.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
queues=${1:-100}
seconds=${2:-30}
base=${WARREN_BENCH_PORT:-5990}
work=$(mktemp -d)
# shellcheck source=cluster-configs.sh
. "$here/cluster-configs.sh"
write_cluster_configs "$work" "$base" "$((base + 20000))" "log.level = warning"
cleanup() {
  stop_cluster "$work"
  [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
echo "quorum-idle: $queues queues, $seconds s ($(date -u '+%F %H:%M') UTC, $(nproc) cores, $(java -version 2>&1 | head -1))"
start_cluster "$work"
api() { # METHOD PATH [BODY]: node 1's management API
  curl -sf -u guest:guest -X "$1" -H 'content-type: application/json' ${3:+-d "$3"} \
    "http://127.0.0.1:$((base + 10001))/api/$2"
}
for _ in $(seq 1 120); do
  api GET "overview" >/dev/null 2>&1 && break
  sleep 1
done
ticks() { # CPU ticks (1/100 s) of the three JVMs together
  local t=0 i
  for i in 1 2 3; do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$(cat "$work/data$i/warren.pid")/stat")))
  done
  echo "$t"
}
measure() { # LABEL
  local i metrics direct heap t0 t1
  sleep 5 # a new queue's election and first snapshot settle
  for i in 1 2 3; do
    metrics=$(curl -sf "http://127.0.0.1:$((base + 10100 + i))/metrics")
    direct=$(awk '/^warren_jvm_memory_direct_used_bytes/ {print $2}' <<< "$metrics")
    heap=$(awk '/^warren_jvm_memory_heap_used_bytes/ {print $2}' <<< "$metrics")
    awk -v l="$1" -v i="$i" -v d="$direct" -v h="${heap:-0}" \
      'BEGIN {printf "%s: node %d: direct memory %.1f MB, heap in use %.1f MB\n", l, i, d / 1e6, h / 1e6}'
  done
  t0=$(ticks)
  sleep "$seconds"
  t1=$(ticks)
  echo "$1: the three JVMs took $((t1 - t0)) CPU ticks (1/100 s) in $seconds s, idle"
}
measure "no queue"
for q in $(seq 1 "$queues"); do
  api PUT "queues/%2F/idle-$q" '{"durable":true,"arguments":{"x-queue-type":"quorum"}}' >/dev/null
done
echo "declared $queues quorum queues: $(api GET 'queues/%2F?columns=name' | grep -o '"idle-' | wc -l) listed"
measure "$queues queues"
