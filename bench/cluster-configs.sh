# Sourced by bench/cluster-soak.sh and bench/quorum.sh: a secret and the configs of a 3-node
# cluster on this machine, WORK/node1.conf .. node3.conf, node i on ports BASE+i (AMQP),
# BASE+10000+i (management), BASE+10100+i (Prometheus) and BASE+20000+i (inter-node), its data
# in WORK/data$i and its log in WORK/node$i.log; EXTRA lines are added to every config.
#
#   write_cluster_configs WORK BASE LIST_BASE [EXTRA...]
#
# The node list names node i at LIST_BASE+i: BASE+20000 when the nodes reach each other
# directly, another base when a proxy in between forwards LIST_BASE+i to BASE+20000+i.
write_cluster_configs() {
  local work=$1 base=$2 list=$3 i
  shift 3
  head -c 32 /dev/urandom | base64 > "$work/cluster.secret"
  chmod 600 "$work/cluster.secret"
  for i in 1 2 3; do
    {
      echo "listeners.tcp.default = 127.0.0.1:$((base + i))"
      echo "management.tcp.port = $((base + 10000 + i))"
      echo "prometheus.tcp.port = $((base + 10100 + i))"
      echo "data_dir = $work/data$i"
      echo "log.file = $work/node$i.log"
      echo "node.name = warren$i@localhost"
      echo "cluster.listener.port = $((base + 20000 + i))"
      echo "cluster.secret_file = $work/cluster.secret"
      echo "cluster_formation.peer_discovery_backend = classic_config"
      echo "cluster_formation.classic_config.nodes.1 = warren1@localhost:$((list + 1))"
      echo "cluster_formation.classic_config.nodes.2 = warren2@localhost:$((list + 2))"
      echo "cluster_formation.classic_config.nodes.3 = warren3@localhost:$((list + 3))"
      printf '%s\n' "$@"
    } > "$work/node$i.conf"
  done
}

# The three nodes of WORK's configs through bin/warren: started together (returns once each
# start returned), or stopped (a node paused with SIGSTOP is resumed first; errors ignored).
#
#   start_cluster WORK
#   stop_cluster WORK
_cluster_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
start_cluster() {
  local i
  for i in 1 2 3; do
    "$_cluster_top/bin/warren" start --config "$1/node$i.conf" >/dev/null &
  done
  wait
}
stop_cluster() {
  local i
  for i in 1 2 3; do
    [ -f "$1/data$i/warren.pid" ] && kill -CONT "$(cat "$1/data$i/warren.pid")" 2>/dev/null || true
    "$_cluster_top/bin/warren" stop --config "$1/node$i.conf" >/dev/null 2>&1 || true
  done
}
