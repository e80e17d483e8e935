#!/usr/bin/env bash
# The reference broker for side-by-side checks and benchmarks: a private RabbitMQ node from
# Debian's rabbitmq-server package, on a port of your choice (default 5680), with its own data
# folder. It never touches a system-wide RabbitMQ (its own node name, ports and folders).
#
#   bench/reference-rabbitmq.sh start [PORT]        install the package if missing (apt-get, needs
#                                                    root), start a node (default port 5680), wait
#                                                    until it serves
#   bench/reference-rabbitmq.sh stop  [PORT]        stop that node and delete its folder
#   bench/reference-rabbitmq.sh pid   [PORT]        the pid of its Erlang VM (for CPU and RSS readings)
#   bench/reference-rabbitmq.sh ctl   [PORT] ARGS   rabbitmqctl against that node
#
# The node lives in ${TMPDIR:-/tmp}/warren-reference-rabbitmq-PORT (config, data, logs); it
# listens on 127.0.0.1:PORT for AMQP and PORT+20000 for Erlang distribution; guest/guest may
# log in from anywhere it can reach (loopback only, by the listener).
set -euo pipefail

action=${1:-}
port=${2:-5680}
if [ "$#" -ge 2 ]; then shift 2; else shift "$#"; fi
case "$port" in
  ''|*[!0-9]*) echo "reference-rabbitmq: PORT must be a number, got '$port'" >&2; exit 2 ;;
esac
home="${TMPDIR:-/tmp}/warren-reference-rabbitmq-$port"

node_env() {
  export RABBITMQ_NODENAME="warrenref$port@localhost" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT="$port" RABBITMQ_DIST_PORT=$((port + 20000)) \
    RABBITMQ_MNESIA_BASE="$home/data" RABBITMQ_LOG_BASE="$home/log" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$home/enabled_plugins" RABBITMQ_CONFIG_FILE="$home/rabbitmq"
}

install_if_missing() {
  command -v rabbitmq-server >/dev/null 2>&1 && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "reference-rabbitmq: rabbitmq-server is not installed; run as root (apt-get install rabbitmq-server)" >&2
    exit 1
  fi
  echo "reference-rabbitmq: installing Debian's rabbitmq-server ..." >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
  # The package starts a system-wide node on 5672; the benchmarks need that port for warren.
  if command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now rabbitmq-server >/dev/null 2>&1 || true
  fi
  service rabbitmq-server stop >/dev/null 2>&1 || true
}

case "$action" in
  start)
    install_if_missing
    mkdir -p "$home/data" "$home/log"
    echo '[].' > "$home/enabled_plugins"
    printf 'loopback_users = none\nlisteners.tcp.default = 127.0.0.1:%s\n' "$port" > "$home/rabbitmq.conf"
    chown -R rabbitmq:rabbitmq "$home" 2>/dev/null || true
    node_env
    rabbitmq-server -detached
    for _ in $(seq 1 90); do
      if rabbitmqctl -q await_startup >/dev/null 2>&1; then
        echo "reference RabbitMQ $(rabbitmqctl -q version 2>/dev/null || echo '?') ready on 127.0.0.1:$port"
        exit 0
      fi
      sleep 1
    done
    echo "reference-rabbitmq: the node did not start in 90 s; logs in $home/log" >&2
    exit 1 ;;
  stop)
    node_env
    rabbitmqctl -q stop >/dev/null 2>&1 || true
    rm -rf "$home" ;;
  pid)
    ss -ltnpH "sport = :$port" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 ;;
  ctl)
    node_env
    exec rabbitmqctl "$@" ;;
  *)
    sed -n '2,16p' "$0"
    exit 2 ;;
esac
