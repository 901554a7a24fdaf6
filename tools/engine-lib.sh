# shellcheck shell=bash
# Shell functions the engine scripts (second-engine.sh, podman-engine.sh)
# share; sourced, not run.

# Stop the process whose id is in pid file $1 and wait (up to 30 s) until
# it is gone; the pid file goes too. Nothing to do without the file.
stop_pid_file() {
  local pid
  [ -f "$1" ] || return 0
  pid=$(cat "$1")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  rm -f "$1"
}

# Unmount whatever is mounted below directory $1, deepest first (engines
# bind-mount their storage on itself and may leave that mount behind).
unmount_below() {
  awk -v dir="$1/" 'index($2, dir) == 1 { print $2 }' /proc/mounts |
    sort -r | while read -r point; do umount "$point" || true; done
}
