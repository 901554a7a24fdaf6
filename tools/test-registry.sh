#!/usr/bin/env bash
# A throw-away Docker registry on loopback for the registry-image tests
# (Debian's docker-registry), holding ndtest/busybox as
# 127.0.0.1:$PORT/ndtest/busybox:1. The engine trusts 127.0.0.0/8
# registries over plain HTTP by default.
# Usage: tools/test-registry.sh start|stop STATE_DIR
set -euo pipefail

action=${1:?usage: test-registry.sh start|stop STATE_DIR}
state=${2:?usage: test-registry.sh start|stop STATE_DIR}
port=${NOVA_DOCKER_TEST_REGISTRY_PORT:-5111}
pidfile=$state/registry.pid

case $action in
  start)
    mkdir -p "$state/data"
    cat > "$state/config.yml" <<CONF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $state/data
http:
  addr: 127.0.0.1:$port
CONF
    docker-registry serve "$state/config.yml" >"$state/registry.log" 2>&1 &
    echo $! > "$pidfile"
    for _ in $(seq 30); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      sleep 0.5
    done
    # Ours must be the one answering (not a leftover on the same port).
    kill -0 "$(cat "$pidfile")" 2>/dev/null || {
      cat "$state/registry.log" >&2
      echo "the test registry did not start on 127.0.0.1:$port" >&2
      exit 1
    }
    docker tag ndtest/busybox:latest "127.0.0.1:$port/ndtest/busybox:1"
    docker push -q "127.0.0.1:$port/ndtest/busybox:1" >/dev/null
    docker rmi "127.0.0.1:$port/ndtest/busybox:1" >/dev/null
    echo "test registry on 127.0.0.1:$port (log: $state/registry.log)"
    ;;
  stop)
    if [ -f "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
    fi
    ;;
  *) echo "unknown action $action" >&2; exit 2 ;;
esac
