#!/usr/bin/env bash
# Backlog benchmark (flow control and bounded memory): COUNT x SIZE transient messages into one
# queue with no consumer, then drained by one consumer, against warren (started through
# bin/warren with its default -Xmx1g) and then the reference RabbitMQ 3.10
# (bench/reference-rabbitmq.sh) on the same machine, with the same PerfTest 2.22.1 flags.
#
#   bench/backlog.sh [COUNT] [SIZE]        defaults: 1000000 1000
#   WARREN_ONLY=1 bench/backlog.sh ...      skip RabbitMQ (bench/soak.sh does)
#
# Needs `mvn -q -B -DskipTests package` first. Prints, per broker: the fill rate, the peak RSS
# while filling, the RSS with the queue full, the drain rate, the peak RSS while draining, the
# whether all COUNT messages came back, and (warren) the alarm and block lines of
# its log and the page-out store's size with the queue full.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
count=${1:-1000000}
size=${2:-1000}
warren_port=${WARREN_BENCH_PORT:-5699}
rabbit_port=${RABBIT_BENCH_PORT:-5698}
work=$(mktemp -d)
mvn -q -B -f "$here/pom.xml" dependency:build-classpath -Dmdep.outputFile="$work/cp.txt" >/dev/null
cp=$(cat "$work/cp.txt")

cat > "$work/warren.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$warren_port
management.tcp.port = $((warren_port + 10000))
prometheus.tcp.port = $((warren_port + 10100))
data_dir = $work/data
log.file = $work/warren.log
log.level = info
CONF

cleanup() {
  [ -n "${sampler:-}" ] && kill "$sampler" 2>/dev/null || true
  "$top/bin/warren" stop --config "$work/warren.conf" >/dev/null 2>&1 || true
  "$top/bench/reference-rabbitmq.sh" stop "$rabbit_port" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# Samples PID's RSS every 200 ms; the peak goes to FILE.
sample_rss() { # PID FILE
  local max=0 kb
  while :; do
    kb=$(rss_kb "$1"); kb=${kb:-0}
    [ "$kb" -gt "$max" ] && max=$kb
    echo "$max" > "$2"
    sleep 0.2
  done
}

perftest() { # PORT OUT FLAGS...
  local port=$1 out=$2; shift 2
  java -cp "$cp" com.rabbitmq.perf.PerfTest -h "amqp://guest:guest@127.0.0.1:$port" "$@" > "$out" 2>&1
}

run() { # NAME PORT PID
  local name=$1 port=$2 pid=$3
  sample_rss "$pid" "$work/$name.fill.rss" & sampler=$!
  local t0=$SECONDS
  perftest "$port" "$work/$name.fill" -x 1 -y 0 -s "$size" -C "$count" -u backlog -ad false
  kill "$sampler"; wait "$sampler" 2>/dev/null || true; sampler=
  echo "== $name: fill: $(grep -E 'sending rate avg' "$work/$name.fill" | tail -1 | sed 's/.*avg: //') ($((SECONDS - t0)) s); peak RSS $(( $(cat "$work/$name.fill.rss") / 1024 )) MB; RSS with the queue full $(( $(rss_kb "$pid") / 1024 )) MB"
  if [ "$name" = warren ]; then
    echo "== warren: page-out store $(du -sh "$work/data/paging" | cut -f1); alarms: $(grep -c 'alarm set' "$work/warren.log" || true); blocked: $(grep -c 'blocked:' "$work/warren.log" || true)"
  fi
  sample_rss "$pid" "$work/$name.drain.rss" & sampler=$!
  t0=$SECONDS
  # The consumer stops after COUNT messages: a lost message shows as a drain that times out.
  local drained=yes
  timeout $(( count / 10000 > 900 ? count / 10000 : 900 )) java -cp "$cp" com.rabbitmq.perf.PerfTest -h "amqp://guest:guest@127.0.0.1:$port" \
    -x 0 -y 1 -u backlog -ad false -q 1000 -D "$count" > "$work/$name.drain" 2>&1 || drained="NO (timed out: messages missing)"
  kill "$sampler"; wait "$sampler" 2>/dev/null || true; sampler=
  echo "== $name: all $count drained: $drained"
  echo "== $name: drain: $(grep -E 'receiving rate avg' "$work/$name.drain" | tail -1 | sed 's/.*avg: //') ($((SECONDS - t0)) s); peak RSS $(( $(cat "$work/$name.drain.rss") / 1024 )) MB"
}

echo "backlog: $count x $size B transient, one queue ($(date -u +%F), $(nproc) cores, $(java -version 2>&1 | head -1))"
"$top/bin/warren" start --config "$work/warren.conf" >/dev/null
run warren "$warren_port" "$(cat "$work/data/warren.pid")"
"$top/bin/warren" stop --config "$work/warren.conf" >/dev/null

if [ -n "${WARREN_ONLY:-}" ]; then
  exit 0
fi
if "$top/bench/reference-rabbitmq.sh" start "$rabbit_port" >/dev/null; then
  run rabbitmq "$rabbit_port" "$("$top/bench/reference-rabbitmq.sh" pid "$rabbit_port")"
else
  echo "== rabbitmq: reference broker could not be started"
fi
