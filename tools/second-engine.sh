#!/usr/bin/env bash
# A second Docker engine with its own socket, data-root and exec-root, for
# tests with two compute hosts that each have an engine (evacuate). No
# bridge, no iptables: its containers get no network of their own.
# Usage: tools/second-engine.sh start|stop STATE_DIR
set -euo pipefail

action=${1:?usage: second-engine.sh start|stop STATE_DIR}
state=${2:?usage: second-engine.sh start|stop STATE_DIR}
sock=$state/docker.sock

case $action in
  start)
    mkdir -p "$state"
    dockerd --host "unix://$sock" --data-root "$state/data" \
      --exec-root "$state/exec" --pidfile "$state/docker.pid" \
      --bridge none --iptables=false --ip-masq=false \
      >"$state/dockerd.log" 2>&1 &
    for _ in $(seq 60); do
      docker -H "unix://$sock" version >/dev/null 2>&1 && break
      sleep 1
    done
    docker -H "unix://$sock" version --format \
      "second engine {{.Server.Version}} on unix://$sock" || {
      tail -n 20 "$state/dockerd.log" >&2; exit 1; }
    ;;
  stop)
    if [ -f "$state/docker.pid" ]; then
      pid=$(cat "$state/docker.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    fi
    ;;
  *) echo "unknown action $action" >&2; exit 2 ;;
esac
