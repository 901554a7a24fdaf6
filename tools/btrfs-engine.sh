#!/usr/bin/env bash
# A Docker engine whose data-root is a loop-mounted btrfs with quotas, so
# that a container's root disk size (storage_opt size, from a flavor's
# root_gb) is enforced: the test command proves it there. Otherwise a
# second engine (tools/second-engine.sh). Needs btrfs-progs and a kernel
# with btrfs.
# Usage: tools/btrfs-engine.sh start|stop STATE_DIR [SIZE, default 4G]
set -euo pipefail

action=${1:?usage: btrfs-engine.sh start|stop STATE_DIR [SIZE]}
state=$(realpath -m "${2:?usage: btrfs-engine.sh start|stop STATE_DIR [SIZE]}")
size=${3:-4G}
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
    ENGINE_DATA_ROOT=$mnt/docker ENGINE_NAME='btrfs engine' \
      "$(dirname "$0")/second-engine.sh" start "$state" --storage-driver btrfs
    ;;
  stop)
    # Stops the engine and unmounts all below STATE_DIR, the disk too.
    "$(dirname "$0")/second-engine.sh" stop "$state"
    rm -f "$disk"
    ;;
  *) echo "unknown action $action" >&2; exit 2 ;;
esac
