#!/usr/bin/env bash
# JMH micro-benchmarks of warren's hot paths (module benchmarks/): the topic trie, the frame decoder and encoder,
# a queue's publish/deliver/ack, the message journal's group commit (on the disk of the working directory).
#
#   bench/jmh.sh [JMH OPTIONS] [BENCHMARK REGEX]     e.g. bench/jmh.sh TopicTrie   bench/jmh.sh -l
#
# Needs `mvn -q -B -DskipTests package` first (which compiles the benchmarks). Not part of
# mvn verify: figures are for the README, with the date, the machine and this command.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
classes=$top/benchmarks/target/classes
[ -f "$classes/META-INF/BenchmarkList" ] || { echo "jmh.sh: run mvn -q -B -DskipTests package first" >&2; exit 1; }
exec java -cp "$classes:$top/benchmarks/target/lib/*" org.openjdk.jmh.Main "$@"
