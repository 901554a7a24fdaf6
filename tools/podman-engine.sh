#!/usr/bin/env bash
# A Podman engine (Debian's podman 4.3) serving the Docker API on a socket
# of its own, with all of its state under STATE_DIR: storage (graph root and
# run root, volumes under the graph root), temporary files, locks, events
# log and network configuration. The host's default Podman storage (/var/lib/containers) is
# never touched. cgroupfs (no systemd here); events to a file (no journald).
# Images come from the locally built test archives (no registry).
# Usage: tools/podman-engine.sh start|stop|stop-service|stop-containers STATE_DIR
# (stop also removes this engine's containers: they outlive the service;
# stop-service stops the service alone, as an engine restart does, and
# start serves them again; stop-containers stops them first, as a host
# reboot leaves them)
set -euo pipefail
# shellcheck source=tools/engine-lib.sh
. "$(dirname "$0")/engine-lib.sh"

action=${1:?usage: podman-engine.sh start|stop|stop-service|stop-containers STATE_DIR}
state=${2:?usage: podman-engine.sh start|stop|stop-service|stop-containers STATE_DIR}
state=$(mkdir -p "$state" && cd "$state" && pwd)
sock=$state/podman.sock
conf=$state/containers.conf
export CONTAINERS_CONF=$conf
export CONTAINERS_REGISTRIES_CONF=$state/registries.conf

podman_() {
  podman --root "$state/root" --runroot "$state/run" --storage-driver overlay "$@"
}

engine() {  # the podman client, asking the service on the socket
  podman --remote --url "unix://$sock" "$@"
}

case $action in
  start)
    mkdir -p "$state/tmp" "$state/net"
    # Only this file is read (CONTAINERS_CONF): nothing of the host's
    # containers.conf, and nothing this engine does lands outside STATE_DIR.
    # Podman 4.3 reads a container's OOM kill from a file "oom" in the
    # container's bundle directory, where its conmon (2.1.6) does not write
    # it: conmon writes it into its own working directory. This wrapper
    # starts conmon in the bundle directory (its -b argument), so that
    # Podman reports State.OOMKilled (README: Podman).
    real_conmon=$(command -v conmon)
    cat >"$state/conmon" <<WRAPPER
#!/bin/sh
bundle= prev=
for arg in "\$@"; do
  case \$prev in -b|--bundle) bundle=\$arg ;; esac
  case \$arg in --bundle=*) bundle=\${arg#--bundle=} ;; esac
  prev=\$arg
done
if [ -n "\$bundle" ]; then cd "\$bundle" || exit 1; fi
exec "$real_conmon" "\$@"
WRAPPER
    chmod 755 "$state/conmon"
    cat >"$conf" <<CONF
[engine]
conmon_path = ["$state/conmon"]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$state/events.log"
tmp_dir = "$state/tmp"
lock_type = "file"
# An exec session's conmon pair waits this long after the exec ends
# before cleaning the session up (Podman's default of 300 s mimics
# Docker's five minutes): the driver reads an exec's exit code at once.
exit_command_delay = 10
[network]
network_backend = "cni"
network_config_dir = "$state/net"
CONF
    # Docker takes a registry on loopback for plain HTTP; Podman only one
    # listed as insecure: the test registry (tools/test-registry.sh), if
    # any. Nothing of the host's registries.conf is read.
    : >"$state/registries.conf"
    if [ -n "${NOVA_DOCKER_TEST_REGISTRY:-}" ]; then
      printf '[[registry]]\nlocation = "%s"\ninsecure = true\n' \
        "$NOVA_DOCKER_TEST_REGISTRY" >"$state/registries.conf"
    fi
    # Not through podman_: the pid file must name podman, not a subshell.
    # Run in STATE_DIR: Podman 4.3's conmon writes a container's OOM
    # marker ("oom") into its working directory, the service's.
    (cd "$state" && exec podman --root "$state/root" --runroot "$state/run" \
      --storage-driver overlay system service --time=0 "unix://$sock" \
      >"$state/podman.log" 2>&1) &
    echo $! >"$state/podman.pid"
    for _ in $(seq 150); do
      engine version >/dev/null 2>&1 && break
      kill -0 "$(cat "$state/podman.pid")" 2>/dev/null || break
      sleep 0.2
    done
    engine version --format "podman engine {{.Server.Version}} on unix://$sock" || {
      tail -n 20 "$state/podman.log" >&2; exit 1; }
    ;;
  stop)
    # Podman is daemonless: containers outlive the service. This engine's
    # containers are the tests' own; none is left running.
    if [ -f "$conf" ]; then
      podman_ rm --all --force --time 0 >/dev/null 2>&1 || true
    fi
    stop_pid_file "$state/podman.pid"
    # An exec session whose container died meanwhile leaves its conmon
    # behind (Podman 4.3): end those of this engine, found by their
    # command line, which names this state directory.
    monitors=()
    for proc in /proc/[0-9]*; do
      [ "$(cat "$proc/comm" 2>/dev/null)" = conmon ] || continue
      if tr '\0' ' ' <"$proc/cmdline" 2>/dev/null | grep -qF " $state/"; then
        monitors+=("${proc#/proc/}")
      fi
    done
    if [ ${#monitors[@]} -gt 0 ]; then
      kill "${monitors[@]}" 2>/dev/null || true
      for _ in $(seq 50); do  # gone before the unmount, which they hold
        alive=0
        for pid in "${monitors[@]}"; do
          kill -0 "$pid" 2>/dev/null && alive=1
        done
        [ $alive = 1 ] || break
        sleep 0.2
      done
    fi
    # The storage keeps its graph root bind-mounted on itself.
    unmount_below "$state"
    ;;
  stop-service)
    stop_pid_file "$state/podman.pid"
    ;;
  stop-containers)
    # Podman stops no paused container: thawed first, as a reboot ends
    # them too.
    podman_ unpause --all >/dev/null 2>&1 || true
    podman_ stop --all --time 0 >/dev/null
    stop_pid_file "$state/podman.pid"
    ;;
  *) echo "unknown action $action" >&2; exit 2 ;;
esac
