#!/usr/bin/env bash
# The Prometheus endpoint at scale: COUNT queues (default 100,000; every 10th holds a message),
# then the time of full scrapes of /metrics/per-object (plain and gzip, as Prometheus asks) and
# /metrics, then PerfTest's rate (1 producer, 1 consumer, 100 B, auto-ack) with and without a
# scraper taking /metrics/per-object (gzip) every EVERY_MS (for each interval given), alternated
# ROUNDS times; warren through bin/warren.
#
#   bench/prometheus-scale.sh [COUNT] [ROUNDS] [SECONDS] [EVERY_MS,...]   defaults 100000 2 30 15000,1000
#
# Needs `mvn -q -B -DskipTests package` first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
count=${1:-100000}
rounds=${2:-2}
seconds=${3:-30}
intervals=${4:-15000,1000}
port=${WARREN_BENCH_PORT:-5699}
prom=$((port + 10100))
work=$(mktemp -d)
mvn -q -B -f "$here/pom.xml" dependency:build-classpath -Dmdep.outputFile="$work/cp.txt" >/dev/null
cp=$(cat "$work/cp.txt")
cat > "$work/warren.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$port
management.tcp.port = $((port + 10000))
prometheus.tcp.port = $prom
data_dir = $work/data
log.file = $work/warren.log
log.level = warning
CONF
cleanup() {
  "$top/bin/warren" stop --config "$work/warren.conf" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
echo "prometheus-scale: $count queues ($(date -u '+%F %H:%M') UTC, $(nproc) cores, $(java -version 2>&1 | head -1))"
"$top/bin/warren" start --config "$work/warren.conf" >/dev/null
pid=$(cat "$work/data/warren.pid")
java -cp "$cp" "$here/src/ScrapeScale.java" setup 127.0.0.1 "$port" "$prom" "$count"
java -cp "$cp" "$here/src/ScrapeScale.java" time "$prom" 5
echo "rss after the scrapes: $(awk '/VmRSS/{print int($2/1024) " MB"}' /proc/$pid/status)"
perftest() {
  java -cp "$cp" com.rabbitmq.perf.PerfTest -h "amqp://guest:guest@127.0.0.1:$port" -x 1 -y 1 -s 100 -a \
    -z "$seconds" -u "scale-perf" -ad false 2>&1 | grep "receiving rate avg" | grep -o "[0-9]* msg/s" | head -1
}
for every in ${intervals//,/ }; do
  for r in $(seq 1 "$rounds"); do
    echo "round $r without scrapes: $(perftest)"
    java -cp "$cp" "$here/src/ScrapeScale.java" loop "$prom" "$seconds" "$every" > "$work/loop.txt" &
    loop=$!
    rate=$(perftest)
    wait "$loop"
    echo "round $r with a per-object scrape every $every ms: $rate ($(cat "$work/loop.txt"))"
  done
done
