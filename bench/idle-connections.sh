#!/usr/bin/env bash
# Memory per idle connection: starts warren through bin/warren, opens COUNT idle connections
# (one channel each, Java client in NIO mode), and prints the broker's RSS and live heap
# (after a full GC) before and after, per connection.
#
#   bench/idle-connections.sh [COUNT]        default 5000
#
# Needs `mvn -q -B -DskipTests package` first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
count=${1:-5000}
port=${WARREN_BENCH_PORT:-5699}
work=$(mktemp -d)
mvn -q -B -f "$here/pom.xml" dependency:build-classpath -Dmdep.outputFile="$work/cp.txt" >/dev/null
cat > "$work/warren.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$port
management.tcp.port = $((port + 10000))
prometheus.tcp.port = $((port + 10100))
data_dir = $work/data
log.file = $work/warren.log
log.level = warning
CONF
cleanup() {
  "$top/bin/warren" stop --config "$work/warren.conf" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || true
"$top/bin/warren" start --config "$work/warren.conf" >/dev/null
pid=$(cat "$work/data/warren.pid")
measure() { # prints "RSS_KB HEAP_KB"
  jcmd "$pid" GC.run >/dev/null
  sleep 1
  local heap
  heap=$(jcmd "$pid" GC.heap_info | awk '/used/ {for (i=1;i<=NF;i++) if ($i=="used") {print $(i+1); exit}}' | tr -d K)
  echo "$(awk '/VmRSS/{print $2}' "/proc/$pid/status") $heap"
}
read -r rss0 heap0 <<< "$(measure)"
mkfifo "$work/in"
java -cp "$(cat "$work/cp.txt")" "$here/src/IdleConnections.java" 127.0.0.1 "$port" "$count" < "$work/in" > "$work/client.out" 2>&1 &
client=$!
exec 3> "$work/in"
for _ in $(seq 1 600); do
  grep -q opened "$work/client.out" 2>/dev/null && break
  kill -0 "$client" 2>/dev/null || { cat "$work/client.out"; exit 1; }
  sleep 1
done
read -r rss1 heap1 <<< "$(measure)"
echo "idle connections: $count ($(date -u +%F), $(nproc) cores, $(java -version 2>&1 | head -1)); client: $(grep opened "$work/client.out")"
echo "broker RSS: $((rss0 / 1024)) MB -> $((rss1 / 1024)) MB: $(( (rss1 - rss0) / count )) KB per connection"
echo "live heap after GC: $((heap0 / 1024)) MB -> $((heap1 / 1024)) MB: $(( (heap1 - heap0) / count )) KB per connection"
echo close >&3
wait "$client" || true
