#!/usr/bin/env bash
# Definition writes: declares COUNT durable queues, each bound to amq.direct, one at a time on one
# channel against warren started through bin/warren, and prints the time per thousand (constant
# if a declare's cost does not grow with the number of definitions) and in total; then deletes
# them.
#
#   bench/declare.sh [COUNT]        default 10000
#
# Needs `mvn -q -B -DskipTests package` first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
count=${1:-10000}
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
echo "declare: $count durable queues + bindings ($(date -u +%F), $(nproc) cores, $(java -version 2>&1 | head -1))"
"$top/bin/warren" start --config "$work/warren.conf" >/dev/null
java -cp "$(cat "$work/cp.txt")" "$here/src/DeclareDurable.java" 127.0.0.1 "$port" "$count"
ls -l "$work/data"/definitions.* | awk '{print "  " $NF ": " $5 " bytes"}'
