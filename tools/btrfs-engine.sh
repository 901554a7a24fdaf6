#!/usr/bin/env bash
# A Docker engine whose data-root is a loop-mounted btrfs with quotas, so
# that a container's root disk size (storage_opt size, from a flavor's
# root_gb) is enforced: the test command proves it there. Own socket,
# data-root and exec-root; no bridge, no iptables. Needs btrfs-progs and a
# kernel with btrfs.
# Usage: tools/btrfs-engine.sh start|stop STATE_DIR [SIZE, default 4G]
set -euo pipefail

action=${1:?usage: btrfs-engine.sh start|stop STATE_DIR [SIZE]}
state=$(realpath -m "${2:?usage: btrfs-engine.sh start|stop STATE_DIR [SIZE]}")
size=${3:-4G}
sock=$state/docker.sock
disk=$state/btrfs.img
mnt=$state/mnt

case $action in
  start)
    mkdir -p "$state" "$mnt"
    if ! mountpoint -q "$mnt"; then
      rm -f "$disk"
      truncate -s "$size" "$disk"
      mkfs.btrfs -q "$disk"
      mount -o loop "$disk" "$mnt"
    fi
    btrfs quota enable "$mnt"
    dockerd --host "unix://$sock" --data-root "$mnt/docker" \
      --exec-root "$state/exec" --pidfile "$state/docker.pid" \
      --storage-driver btrfs \
      --bridge none --iptables=false --ip-masq=false \
      >"$state/dockerd.log" 2>&1 &
    for _ in $(seq 90); do
      docker -H "unix://$sock" version >/dev/null 2>&1 && break
      sleep 1
    done
    docker -H "unix://$sock" info --format \
      "btrfs engine {{.ServerVersion}} ({{.Driver}}) on unix://$sock" || {
      tail -n 20 "$state/dockerd.log" >&2; exit 1; }
    ;;
  stop)
    if [ -f "$state/docker.pid" ]; then
      pid=$(cat "$state/docker.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    fi
    if mountpoint -q "$mnt"; then umount "$mnt"; fi
    rm -f "$disk"
    ;;
  *) echo "unknown action $action" >&2; exit 2 ;;
esac
