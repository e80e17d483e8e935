#!/usr/bin/env bash
# A consumer that never reads its socket and a producer at full speed: the broker's RSS must stay
# flat. Starts warren through bin/warren (default -Xmx1g, send timeout off so the stuck consumer is
# never disconnected), subscribes a pika consumer (auto-ack) to queue "stuck" that then never
# reads, and runs one PerfTest producer of SIZE-byte transient messages into that queue for
# SECONDS; prints the broker's RSS every 10 s and the peak, and the queue's depth at the end.
#
#   bench/stuck-consumer.sh [SECONDS] [SIZE]        defaults: 60 1000
#
# Needs `mvn -q -B -DskipTests package` first and Debian's python3-pika.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
seconds=${1:-60}
size=${2:-1000}
port=${WARREN_BENCH_PORT:-5699}
work=$(mktemp -d)
mvn -q -B -f "$here/pom.xml" dependency:build-classpath -Dmdep.outputFile="$work/cp.txt" >/dev/null
cat > "$work/warren.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$port
management.tcp.port = $((port + 10000))
prometheus.tcp.port = $((port + 10100))
data_dir = $work/data
log.file = $work/warren.log
tcp_listen_options.send_timeout = 0
CONF
cleanup() {
  [ -n "${stuck:-}" ] && kill "$stuck" 2>/dev/null || true
  "$top/bin/warren" stop --config "$work/warren.conf" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
echo "stuck consumer: ${seconds}s of $size B messages ($(date -u +%F), $(nproc) cores, $(java -version 2>&1 | head -1))"
"$top/bin/warren" start --config "$work/warren.conf" >/dev/null
pid=$(cat "$work/data/warren.pid")
/usr/bin/python3 - "$port" > "$work/stuck.out" 2>&1 <<'PY' &
import sys, time, pika
c = pika.BlockingConnection(pika.ConnectionParameters('127.0.0.1', int(sys.argv[1]), heartbeat=0))
ch = c.channel()
ch.queue_declare('stuck')
ch.basic_consume('stuck', lambda *a: None, auto_ack=True)
print('subscribed; never reading again', flush=True)
time.sleep(100000)
PY
stuck=$!
for _ in $(seq 1 50); do grep -q subscribed "$work/stuck.out" 2>/dev/null && break; sleep 0.2; done
java -cp "$(cat "$work/cp.txt")" com.rabbitmq.perf.PerfTest -h "amqp://guest:guest@127.0.0.1:$port" \
  -x 1 -y 0 -s "$size" -u stuck -p -ad false -z "$seconds" > "$work/producer.out" 2>&1 &
producer=$!
peak=0
for i in $(seq 1 "$seconds"); do
  sleep 1
  kb=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
  [ "$kb" -gt "$peak" ] && peak=$kb
  if [ $((i % 10)) -eq 0 ]; then echo "  ${i}s: RSS $((kb / 1024)) MB"; fi
done
wait "$producer" || true
echo "== producer: $(grep -E 'sending rate avg' "$work/producer.out" | tail -1 | sed 's/.*avg: //')"
echo "== peak RSS $((peak / 1024)) MB; consumer still connected: $(kill -0 $stuck 2>/dev/null && echo yes || echo no)"
echo "== queue depth: $(curl -s -u guest:guest "http://127.0.0.1:$((port + 10000))/api/queues/%2F/stuck" | /usr/bin/python3 -c 'import sys,json; d=json.load(sys.stdin); print(d["messages"], "ready", d["messages_ready"], "unacked", d["messages_unacknowledged"])' 2>/dev/null || echo unknown)"
