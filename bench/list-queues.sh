#!/usr/bin/env bash
# How long GET /api/queues takes with many queues. Starts warren through bin/warren, declares
# COUNT non-durable queues through the management API (PUT /api/queues/%2F/q-NNNNN, one
# keep-alive HTTP connection), publishes one message to every tenth queue (so message_stats and
# messages are not all zero), then times RUNS requests each of the plain list, the paged list
# (page=1, page_size=100), a paged list sorted by messages (page 50), and a paged name filter
# with a regex; prints each time and the median, and the plain answer's size.
#
#   bench/list-queues.sh [COUNT] [RUNS]        defaults: 10000 7
#
# Needs `mvn -q -B -DskipTests package` first, curl and /usr/bin/python3. Not part of mvn verify.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
count=${1:-10000}
runs=${2:-7}
port=${WARREN_BENCH_PORT:-5698}
mport=$((port + 10000))
work=$(mktemp -d)
cat > "$work/warren.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$port
management.tcp.port = $mport
prometheus.tcp.port = $((port + 10100))
data_dir = $work/data
log.file = $work/warren.log
CONF
cleanup() {
  "$top/bin/warren" stop --config "$work/warren.conf" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
echo "list $count queues ($(date -u +%F), $(nproc) cores, $(java -version 2>&1 | head -1))"
"$top/bin/warren" start --config "$work/warren.conf" >/dev/null
start=$(date +%s.%N)
/usr/bin/python3 - "$mport" "$count" <<'PY'
import base64, http.client, json, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
auth = {'authorization': 'Basic ' + base64.b64encode(b'guest:guest').decode(), 'content-type': 'application/json'}
c = http.client.HTTPConnection('127.0.0.1', port)
def call(method, path, body):
    c.request(method, path, body=json.dumps(body), headers=auth)
    r = c.getresponse()
    r.read()
    if r.status >= 300:
        sys.exit('%s %s: %d' % (method, path, r.status))
for i in range(count):
    call('PUT', '/api/queues/%%2F/q-%05d' % i, {'durable': False})
for i in range(0, count, 10):
    call('POST', '/api/exchanges/%2F/amq.default/publish',
         {'properties': {}, 'routing_key': 'q-%05d' % i, 'payload': 'x' * (i % 100), 'payload_encoding': 'string'})
PY
echo "declared $count queues in $(echo "$(date +%s.%N) - $start" | bc) s"
time_get() {
  local label=$1 path=$2 times=()
  for _ in $(seq 1 "$runs"); do
    times+=("$(curl -s -o "$work/out.json" -w '%{time_total}' -u guest:guest "http://127.0.0.1:$mport$path")")
  done
  local sorted median
  sorted=$(printf '%s\n' "${times[@]}" | sort -n)
  median=$(echo "$sorted" | sed -n "$(( (runs + 1) / 2 ))p")
  printf '%-44s median %6.1f ms   runs: %s   (%s bytes)\n' "$label" "$(echo "$median * 1000" | bc)" \
    "$(printf '%s ' "${times[@]}" | awk '{for (i = 1; i <= NF; i++) printf "%.0f ", $i * 1000}')ms" \
    "$(stat -c %s "$work/out.json")"
}
time_get "GET /api/queues" "/api/queues"
time_get "GET /api/queues/%2F" "/api/queues/%2F"
time_get "GET /api/queues?page=1&page_size=100" "/api/queues?page=1&page_size=100"
time_get "GET /api/queues?page=50&sort=messages" "/api/queues?page=50&page_size=100&sort=messages&sort_reverse=true"
time_get "GET /api/queues?page=1&name=q-0.*5\$ (regex)" "/api/queues?page=1&page_size=500&use_regex=true&name=q-0.*5%24"
time_get "GET /api/overview" "/api/overview"
