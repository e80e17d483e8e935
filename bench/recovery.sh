#!/usr/bin/env bash
# Start-up time with many persistent messages: fills a durable queue through PerfTest,
# stops warren gracefully, starts it again and measures; then kills it with kill -9 and
# measures the start after the crash.
#
#   bench/recovery.sh [MESSAGES [BODY_BYTES]]        default: 1000000 messages of 1024 bytes
#
# Needs `mvn -q -B -DskipTests package` first. For each start it prints: the wall time of
# `bin/warren start` (JVM launch to AMQP port open, polled every 0.2 s), the broker's own
# "recovered ... messages in N ms" log line, its RSS and heap right after start, and the
# message count a client sees. Environment: WARREN_JAVA_OPTS, KEEP=1 to keep the temp dir
# (data, log) for a look afterwards.
#
# Filling needs room for every body in memory: warren keeps the bodies of messages it
# received in direct buffers (only recovered messages stay on disk until delivered), so
# 1,000,000 x 1 KB does not fit the default -Xmx1g (direct memory is capped at the heap
# size). The default here is WARREN_JAVA_OPTS="-XX:MaxDirectMemorySize=3g"; the restarts
# then run with the same options.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
messages=${1:-1000000}
size=${2:-1024}
port=${WARREN_BENCH_PORT:-5697}
queue=recovery-bench
work=$(mktemp -d)
conf=$work/warren.conf
mvn -q -B -f "$here/pom.xml" dependency:build-classpath -Dmdep.outputFile="$work/cp.txt" >/dev/null
cp=$(cat "$work/cp.txt")
export WARREN_JAVA_OPTS=${WARREN_JAVA_OPTS--XX:MaxDirectMemorySize=3g}

cat > "$conf" <<CONF
listeners.tcp.default = 127.0.0.1:$port
management.tcp.port = $((port + 10000))
prometheus.tcp.port = $((port + 10100))
data_dir = $work/data
log.file = $work/warren.log
log.level = info
CONF

cleanup() {
  "$top/bin/warren" stop --config "$conf" >/dev/null 2>&1 || true
  if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# A client that reports the queue's message count (passive declare).
cat > "$work/QueueCount.java" <<'JAVA'
import com.rabbitmq.client.*;
public class QueueCount {
    public static void main(String[] a) throws Exception {
        ConnectionFactory f = new ConnectionFactory();
        f.setPort(Integer.parseInt(a[0]));
        try (Connection c = f.newConnection()) {
            System.out.println(c.createChannel().queueDeclarePassive(a[1]).getMessageCount());
        }
    }
}
JAVA
count() { java -cp "$cp" "$work/QueueCount.java" "$port" "$queue" 2>/dev/null | tail -1; }
pid() { cat "$work/data/warren.pid"; }
ms() { date +%s%3N; }

# Starts warren and prints what start-up cost.
measure_start() { # LABEL
  local t0 t1 pid rss heap line
  local skip
  skip=$(wc -l < "$work/warren.log" 2>/dev/null || echo 0)
  t0=$(ms)
  "$top/bin/warren" start --config "$conf" >/dev/null
  t1=$(ms)
  pid=$(pid)
  rss=$(awk '/VmRSS/ {print $2 " " $3}' "/proc/$pid/status")
  heap=$(jcmd "$pid" GC.heap_info 2>/dev/null | awk '/total/ {print; exit}' | sed 's/^ *//') || heap='?'
  line=$(tail -n +"$((skip + 1))" "$work/warren.log" | grep -o 'recovered .* messages in [0-9]* ms.*' | tail -1)
  echo "== $1: bin/warren start returned after $((t1 - t0)) ms (AMQP port open)"
  echo "== $1: log: ${line:-no 'recovered' line}"
  echo "== $1: RSS $rss; heap: $heap"
  echo "== $1: queue '$queue' holds $(count) messages"
}

echo "recovery benchmark: $messages persistent messages of $size bytes ($(date -u +%F), $(nproc) cores, $(java -version 2>&1 | head -1), WARREN_JAVA_OPTS='$WARREN_JAVA_OPTS')"
"$top/bin/warren" start --config "$conf" >/dev/null
t0=$(ms)
timeout 900 java -cp "$cp" com.rabbitmq.perf.PerfTest -h "amqp://guest:guest@127.0.0.1:$port" -x 1 -y 0 -s "$size" \
  -f persistent -c 1000 -C "$messages" -u "$queue" -ad false > "$work/fill.out" 2>&1 \
  || { tail -20 "$work/fill.out"; exit 1; }
t1=$(ms)
echo "== fill: $(count) messages in $((t1 - t0)) ms ($(grep -E 'sending rate avg' "$work/fill.out" | tail -1 | sed 's/.*sending/sending/'))"
echo "== fill: data dir $(du -sh "$work/data" | cut -f1) on disk; broker RSS $(awk '/VmRSS/ {print $2 " " $3}' "/proc/$(pid)/status")"

t0=$(ms)
"$top/bin/warren" stop --config "$conf" >/dev/null
echo "== graceful stop took $(( $(ms) - t0 )) ms"
measure_start "start after a graceful stop"

kill -9 "$(pid)"
while kill -0 "$(pid)" 2>/dev/null; do sleep 0.1; done
echo "== kill -9 sent"
measure_start "start after kill -9"
