#!/usr/bin/env bash
# Side-by-side PerfTest: warren (started here through bin/warren on its own port) and the
# reference RabbitMQ 3.10 (bench/reference-rabbitmq.sh), same machine, same flags.
#
#   bench/perftest.sh [PERFTEST FLAGS...]      default flags: -x 1 -y 1 -s 100 -a -z 20
#
# Needs `mvn -q -B -DskipTests package` first. Prints PerfTest's summary lines for each broker,
# the broker's CPU time during the run and its data dir's size on disk (peak, sampled every
# second, and at the end). WARREN_JAVA_OPTS reaches warren's JVM (e.g. for JFR). WARREN_ONLY=1
# skips the reference broker (e.g. to compare two warren builds run after each other).
#
# The durable-queue benchmark of the README:
#   bench/perftest.sh -x 1 -y 1 -s 1000 -f persistent -c 1000 -q 1000 --multi-ack-every 100 -z 30 \
#       -u perf-durable -ad false
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
flags=("$@")
[ ${#flags[@]} -gt 0 ] || flags=(-x 1 -y 1 -s 100 -a -z 20)
warren_port=${WARREN_BENCH_PORT:-5699}
rabbit_port=${RABBIT_BENCH_PORT:-5698}
work=$(mktemp -d)
cp_file="$work/cp.txt"
mvn -q -B -f "$here/pom.xml" dependency:build-classpath -Dmdep.outputFile="$cp_file" >/dev/null
cp=$(cat "$cp_file")

cat > "$work/warren.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$warren_port
management.tcp.port = $((warren_port + 10000))
prometheus.tcp.port = $((warren_port + 10100))
data_dir = $work/data
log.file = $work/warren.log
log.level = warning
CONF

cleanup() {
  "$top/bin/warren" stop --config "$work/warren.conf" >/dev/null 2>&1 || true
  [ -n "${keep_rabbit:-}" ] || "$top/bench/reference-rabbitmq.sh" stop "$rabbit_port" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# Samples the size on disk of DIR every second into FILE (max last): the store's peak during
# the run matters more than what is left once the consumers caught up.
sample_du() { # DIR FILE
  local max=0 kb
  while :; do
    kb=$(du -sk "$1" 2>/dev/null | cut -f1) || kb=0
    [ "${kb:-0}" -gt "$max" ] && max=$kb
    echo "$max" > "$2"
    sleep 1
  done
}

run() { # NAME PORT PID DATA_DIR
  local name=$1 port=$2 pid=$3 data=$4 before after sampler
  before=$(awk '{print $14+$15}' "/proc/$pid/stat")
  sample_du "$data" "$work/$name.du" & sampler=$!
  java -cp "$cp" com.rabbitmq.perf.PerfTest -h "amqp://guest:guest@127.0.0.1:$port" "${flags[@]}" \
    > "$work/$name.out" 2>&1 || { kill "$sampler"; tail -20 "$work/$name.out"; return 1; }
  after=$(awk '{print $14+$15}' "/proc/$pid/stat")
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
  echo "== $name: $(grep -E 'sending rate avg' "$work/$name.out" | tail -1)"
  grep -E 'receiving rate avg' "$work/$name.out" | tail -1 | sed "s/^/== $name: /"
  grep -E 'consumer latency min/median/75th/95th/99th' "$work/$name.out" | tail -1 | sed "s/^/== $name: /" || true
  echo "== $name: broker CPU time $(( (after - before) / $(getconf CLK_TCK) )) s"
  echo "== $name: data dir on disk: peak $(cat "$work/$name.du" 2>/dev/null || echo ?) KB, at the end $(du -sk "$data" | cut -f1) KB ($data)"
}

echo "PerfTest flags: ${flags[*]}  ($(date -u +%F), $(nproc) cores, $(java -version 2>&1 | head -1))"
"$top/bin/warren" start --config "$work/warren.conf" >/dev/null
run warren "$warren_port" "$(cat "$work/data/warren.pid")" "$work/data"
"$top/bin/warren" stop --config "$work/warren.conf" >/dev/null

if [ -n "${WARREN_ONLY:-}" ]; then
  keep_rabbit=1
elif "$top/bench/reference-rabbitmq.sh" start "$rabbit_port" >/dev/null; then
  run rabbitmq "$rabbit_port" "$("$top/bench/reference-rabbitmq.sh" pid "$rabbit_port")" \
    "${TMPDIR:-/tmp}/warren-reference-rabbitmq-$rabbit_port/data"
else
  echo "== rabbitmq: reference broker could not be started"
fi
