#!/usr/bin/env bash
# Soak (not part of mvn verify): kill -9 of a real broker during confirmed persistent publishing,
# ROUNDS times on one data dir, counting confirmed-but-missing messages (must be 0), then a
# memory flood: COUNT x 1 KB transient messages into one queue with no consumer, then drained
# (bench/backlog.sh against warren only).
#
#   bench/soak.sh [ROUNDS] [COUNT]          defaults: 30 2000000
#
# Needs `mvn -q -B -DskipTests package` first (the crash rounds run CrashTest through bin/warren).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
rounds=${1:-30}
count=${2:-2000000}
cd "$top"
echo "soak: $rounds kill -9 rounds, then a $count-message flood ($(date -u +%F), $(nproc) cores)"
log=$(mktemp)
# The test's 3-minute timeout is for mvn verify's 6 rounds; a soak runs as long as it needs.
if ! mvn -B -o -q -pl integration-tests surefire:test -Dtest=CrashTest -Dcrash.rounds="$rounds" \
    -Djunit.jupiter.execution.timeout.mode=disabled -Dsurefire.failIfNoSpecifiedTests=false > "$log" 2>&1; then
  grep -E "round |check:|final:|FAIL|confirmed lost" "$log" | tail -20
  echo "soak: crash rounds FAILED (log: $log)"
  exit 1
fi
grep -E "CrashTest seed|check:|final:" "$log" | tail -3
echo "soak: $rounds crash rounds passed: 0 confirmed messages lost"
rm -f "$log"
WARREN_ONLY=1 "$here/backlog.sh" "$count" 1000
