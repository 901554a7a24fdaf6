#!/usr/bin/env bash
# A second Docker engine with its own socket, data-root and exec-root, for
# tests with two compute hosts that each have an engine (evacuate). No
# bridge, no iptables: its containers get no network of their own.
# Usage: tools/second-engine.sh start|stop STATE_DIR [DOCKERD_OPTION...]
# (extra options go to dockerd, e.g. --live-restore; ENGINE_DATA_ROOT
# replaces STATE_DIR/data, ENGINE_NAME the name it is announced by)
set -euo pipefail
# shellcheck source=tools/engine-lib.sh
. "$(dirname "$0")/engine-lib.sh"

action=${1:?usage: second-engine.sh start|stop STATE_DIR}
state=$(realpath -m "${2:?usage: second-engine.sh start|stop STATE_DIR}")
shift 2
sock=$state/docker.sock
data_root=${ENGINE_DATA_ROOT:-$state/data}
name=${ENGINE_NAME:-second engine}

case $action in
  start)
    mkdir -p "$state"
    dockerd --host "unix://$sock" --data-root "$data_root" \
      --exec-root "$state/exec" --pidfile "$state/docker.pid" \
      --bridge none --iptables=false --ip-masq=false "$@" \
      >"$state/dockerd.log" 2>&1 &
    for _ in $(seq 300); do
      docker -H "unix://$sock" version >/dev/null 2>&1 && break
      sleep 0.2
    done
    docker -H "unix://$sock" info --format \
      "$name {{.ServerVersion}} ({{.Driver}}) on unix://$sock" || {
      tail -n 20 "$state/dockerd.log" >&2; exit 1; }
    ;;
  stop)
    stop_pid_file "$state/docker.pid"
    # dockerd bind-mounts its data-root and may leave that mount behind;
    # whatever else is mounted in STATE_DIR goes too.
    unmount_below "$state"
    ;;
  *) echo "unknown action $action" >&2; exit 2 ;;
esac
