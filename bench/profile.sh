#!/usr/bin/env bash
# Where warren's CPU goes in one PerfTest scenario: starts warren through bin/warren with Java
# Flight Recorder on (execution samples every 10 ms per thread), runs PerfTest with the given
# flags, and prints the hottest frames: by self time (the method on top of the stack) and by
# total time (anywhere in the stack), over all threads, then per thread group.
#
#   bench/profile.sh [PERFTEST FLAGS...]         default: -x 1 -y 1 -s 100 -a -z 20
#   TOP=40 bench/profile.sh -x 1 -y 1 -s 1000 -f persistent -c 1000 -q 1000 --multi-ack-every 100 -z 20
#
# Needs `mvn -q -B -DskipTests package` first. Keeps the recording as target/profile.jfr (open
# it in JDK Mission Control for more). JFR samples threads running Java code only: time spent in
# system calls (socket reads and writes, fsync) or blocked is not in it; the broker's CPU seconds
# printed first include it. For the kernel's share use perf (perf record -g -p PID).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
flags=("$@")
[ ${#flags[@]} -gt 0 ] || flags=(-x 1 -y 1 -s 100 -a -z 20)
port=${WARREN_BENCH_PORT:-5699}
work=$(mktemp -d)
out=$top/target/profile.jfr
mkdir -p "$top/target"
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
# A custom settings file: the "profile" preset's execution sampling at 10 ms, little else.
cat > "$work/cpu.jfc" <<'JFC'
<?xml version="1.0" encoding="UTF-8"?>
<configuration version="2.0">
  <event name="jdk.ExecutionSample"><setting name="enabled">true</setting><setting name="period">10 ms</setting></event>
</configuration>
JFC
WARREN_JAVA_OPTS="${WARREN_JAVA_OPTS:-} -XX:StartFlightRecording=settings=$work/cpu.jfc,filename=$work/rec.jfr,dumponexit=true" \
  "$top/bin/warren" start --config "$work/warren.conf" >/dev/null
pid=$(cat "$work/data/warren.pid")
before=$(awk '{print $14+$15}' "/proc/$pid/stat")
java -cp "$(cat "$work/cp.txt")" com.rabbitmq.perf.PerfTest -h "amqp://guest:guest@127.0.0.1:$port" "${flags[@]}" \
  > "$work/perftest.out" 2>&1
after=$(awk '{print $14+$15}' "/proc/$pid/stat")
grep -E "sending rate avg|receiving rate avg" "$work/perftest.out" || tail -5 "$work/perftest.out"
echo "broker CPU during the run: $(( (after - before) / $(getconf CLK_TCK) )) s"
jcmd "$pid" JFR.dump filename="$out" >/dev/null
jfr print --events jdk.ExecutionSample --stack-depth 64 "$out" > "$work/samples.txt"
python3 - "$work/samples.txt" "${TOP:-25}" <<'PY'
import collections, re, sys
path, top = sys.argv[1], int(sys.argv[2])
self_t, total_t, by_thread = collections.Counter(), collections.Counter(), collections.Counter()
n = 0
sample, thread = None, None
def flush():
    global n
    if sample:
        n += 1
        self_t[sample[0]] += 1
        for f in set(sample):
            total_t[f] += 1
        by_thread[re.sub(r"-\d+$", "-N", re.sub(r"-\d+-\d+$", "-N", thread or "?"))] += 1
for line in open(path):
    s = line.strip()
    if s.startswith("jdk.ExecutionSample"):
        flush(); sample, thread = [], None
    elif s.startswith("sampledThread") and sample is not None:
        m = re.search(r'"([^"]*)"', s); thread = m.group(1) if m else s
    elif sample is not None and re.match(r"^[\w$.<>/]+\(.*\)\s+line:", s):
        sample.append(re.sub(r"\s+line:.*", "", s))
flush()
print(f"\n{n} samples")
print("\nthreads:")
for t, c in by_thread.most_common(10):
    print(f"  {100.0 * c / n:5.1f}%  {t}")
print(f"\ntop {top} by self time:")
for f, c in self_t.most_common(top):
    print(f"  {100.0 * c / n:5.1f}%  {f}")
print(f"\ntop {top} by total time:")
for f, c in total_t.most_common(top):
    print(f"  {100.0 * c / n:5.1f}%  {f}")
PY
echo "recording: $out"
