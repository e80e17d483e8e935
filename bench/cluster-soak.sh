#!/usr/bin/env bash
# The cluster soak (issue 15): three warren nodes on this machine (bin/warren, one process
# each), a quorum queue, 4 confirm-mode publishers over the nodes, an acking consumer on the
# leader, and for MINUTES a fault every 15-30 s on a random node: kill -9 (restarted after
# 5-10 s) or SIGSTOP for 5 s. Prints confirmed, consumed, duplicates and confirmed-but-lost
# (must be 0; the script exits 1 otherwise). Loopback only. Not part of mvn verify.
#
#   bench/cluster-soak.sh [MINUTES]      default 10
#
# Needs `mvn -q -B -DskipTests package` first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
minutes=${1:-10}
base=${WARREN_BENCH_PORT:-5790}
work=$(mktemp -d)
mvn -q -B -f "$here/pom.xml" dependency:build-classpath -Dmdep.outputFile="$work/cp.txt" >/dev/null
cp=$(cat "$work/cp.txt")
head -c 32 /dev/urandom | base64 > "$work/cluster.secret"
chmod 600 "$work/cluster.secret"
for i in 1 2 3; do
  cat > "$work/node$i.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$((base + i))
management.tcp.port = $((base + 10000 + i))
prometheus.tcp.port = $((base + 10100 + i))
data_dir = $work/data$i
log.file = $work/node$i.log
node.name = warren$i@localhost
cluster.listener.port = $((base + 20000 + i))
cluster.secret_file = $work/cluster.secret
cluster_formation.peer_discovery_backend = classic_config
cluster_formation.classic_config.nodes.1 = warren1@localhost:$((base + 20001))
cluster_formation.classic_config.nodes.2 = warren2@localhost:$((base + 20002))
cluster_formation.classic_config.nodes.3 = warren3@localhost:$((base + 20003))
CONF
done
cleanup() {
  for i in 1 2 3; do
    [ -f "$work/data$i/warren.pid" ] && kill -CONT "$(cat "$work/data$i/warren.pid")" 2>/dev/null || true
    "$top/bin/warren" stop --config "$work/node$i.conf" >/dev/null 2>&1 || true
  done
  [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
echo "cluster-soak: $minutes min ($(date -u '+%F %H:%M') UTC, $(nproc) cores, $(java -version 2>&1 | head -1))"
# the Java client logs its thread pools at DEBUG through the bench's logback: not wanted here
java -cp "$cp" "$here/src/ClusterSoak.java" "$work" "$top/bin/warren" "$minutes" 2>&1 | grep -v " DEBUG "
exit "${PIPESTATUS[0]}"
