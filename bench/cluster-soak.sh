#!/usr/bin/env bash
# The cluster soak (issue 15): three warren nodes on this machine (bin/warren, one process
# each), a quorum queue, 4 confirm-mode publishers over the nodes, an acking consumer on the
# leader, and for MINUTES a fault every 15-30 s on a random node: kill -9 (restarted after
# 5-10 s), SIGSTOP for 5 s, a partition cutting it off (from both others or one) for 5-10 s, or
# its traffic held back 3 s for 5-10 s (the nodes reach each other through TCP proxies in the
# soak's JVM). Prints confirmed, consumed, duplicates, confirmed-but-lost (must be 0) and failed
# restarts (must be 0: a node that does not start again after a kill -9; the
# script exits 1 otherwise). Loopback only. Not part of mvn verify.
#
#   bench/cluster-soak.sh [MINUTES]      default 10
#
# SOAK_LARGE_EVERY=N pads every Nth message of each publisher to SOAK_LARGE_BYTES (default
# 5,000,000): larger than a Raft log entry, so it goes to the quorum queue's log in parts.
#
# Needs `mvn -q -B -DskipTests package` first (it compiles the integration tests' classes too:
# the proxies are integration-tests' NodeProxies).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
minutes=${1:-10}
base=${WARREN_BENCH_PORT:-5790}
work=$(mktemp -d)
mvn -q -B -f "$here/pom.xml" dependency:build-classpath -Dmdep.outputFile="$work/cp.txt" >/dev/null
cp=$(cat "$work/cp.txt")
# shellcheck source=cluster-configs.sh
. "$here/cluster-configs.sh"
write_cluster_configs "$work" "$base" "$((base + 20010))"
cleanup() {
  stop_cluster "$work"
  [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
echo "cluster-soak: $minutes min ($(date -u '+%F %H:%M') UTC, $(nproc) cores, $(java -version 2>&1 | head -1))"
# the Java client logs its thread pools at DEBUG through the bench's logback: not wanted here
tests=$top/integration-tests/target/test-classes
[ -f "$tests/io/warren/it/cluster/NodeProxies.class" ] \
  || { echo "cluster-soak: $tests has no NodeProxies: run mvn -q -B -DskipTests package first" >&2; exit 1; }
java -cp "$cp:$tests" "$here/src/ClusterSoak.java" "$work" "$top/bin/warren" "$minutes" 2>&1 | grep -v " DEBUG "
exit "${PIPESTATUS[0]}"
