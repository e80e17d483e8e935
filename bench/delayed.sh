#!/usr/bin/env bash
# Delayed-delivery lateness: COUNT persistent messages published (with confirms) to a durable
# x-delayed-message exchange, with random x-delays whose due times spread over SPREAD seconds,
# consumed by one consumer; prints lateness percentiles (arrival - due, by the client's clock,
# delivery included), early deliveries (must be 0), missing messages, the broker's peak RSS and
# the delay store's size on disk at the end of publishing. warren is started through bin/warren
# (its default -Xmx1g).
#
#   bench/delayed.sh [COUNT] [SPREAD_SECONDS] [MIN_DELAY_SECONDS]   defaults: 1000000 600 5
#   bench/delayed.sh 100000 60                                      the short run in the README
#
# The issue's target: p99 lateness <= 10 ms with 1,000,000 messages over >= 10 minutes.
# Needs `mvn -q -B -DskipTests package` first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
count=${1:-1000000}
spread=${2:-600}
min_delay=${3:-5}
port=${WARREN_BENCH_PORT:-5699}
work=$(mktemp -d)
mvn -q -B -o -f "$here/pom.xml" dependency:build-classpath -Dmdep.outputFile="$work/cp.txt" >/dev/null
cat > "$work/warren.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$port
management.tcp.port = $((port + 10000))
prometheus.tcp.port = $((port + 10100))
data_dir = $work/data
log.file = $work/warren.log
log.level = info
CONF
cleanup() {
  [ -n "${sampler:-}" ] && kill "$sampler" 2>/dev/null || true
  "$top/bin/warren" stop --config "$work/warren.conf" >/dev/null 2>&1 || true
  [ -n "${KEEP_LOG:-}" ] && cp "$work/warren.log" "$KEEP_LOG"; rm -rf "$work"
}
trap cleanup EXIT
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
sample_rss() { # PID FILE
  local max=0 kb
  while :; do
    kb=$(rss_kb "$1"); kb=${kb:-0}
    [ "$kb" -gt "$max" ] && max=$kb
    echo "$max" > "$2"
    sleep 0.5
  done
}
echo "delayed: $count messages due over $spread s ($(date -u +%F), $(nproc) cores, $(java -version 2>&1 | head -1))"
"$top/bin/warren" start --config "$work/warren.conf" >/dev/null
pid=$(cat "$work/data/warren.pid")
sample_rss "$pid" "$work/rss" &
sampler=$!
( sleep $((min_delay > 2 ? min_delay - 1 : 1)); du -sh "$work/data/delayed" 2>/dev/null | awk '{print "  delay store on disk after ~'"$((min_delay > 2 ? min_delay - 1 : 1))"' s: " $1}' ) &
java -cp "$(cat "$work/cp.txt")" "$here/src/DelayedLateness.java" 127.0.0.1 "$port" "$count" "$spread" "$min_delay" "${PERSISTENT:-true}"
echo "  broker peak RSS: $(( $(cat "$work/rss") / 1024 )) MiB"
"$top/bin/warren" stop --config "$work/warren.conf" >/dev/null 2>&1 || true # logs the last partial minute
echo "  the broker's own routing lateness (ms past due when routed, per minute; delivery not included):"
grep -o 'routed [0-9]* delayed messages.*' "$work/warren.log" | sed 's/^/    /' || true
