#!/usr/bin/env bash
# The project's test command (README, .ci/run). On a fresh Debian 12 host
# (as root, or through sudo when run by another user) it installs what the tests need, starts a Docker engine if none
# answers (and stops it again at the end), builds the test images locally,
# makes a venv and runs every suite:
#   unit        pure translators and error branches
#   functional  the driver against the real engine; privileged network
#               functions (privsep + pyroute2) on namespaces it makes
#   api         Nova's REST API and compute manager (Nova's own functional
#               fixtures) in both concurrency modes: eventlet and threading
#   podman      with Podman as the engine (tools/podman-engine.sh): the
#               functional suite, and the API suite with every compute host
#               on Podman, whole in threading mode, its lifecycle classes
#               in eventlet mode
#   devstack    devstack/plugin.sh, each phase, against stand-ins for
#               devstack's functions (no devstack, no engine needed)
#   tempest     tempest 47's tempest.api.compute.servers and its cold
#               migration tests against the all-in-one with two Docker
#               compute hosts and a KVM host (nova-docker-aio up
#               --computes 2 --kvm, once for tempest and e2e; brought
#               down at the end unless it was already running)
#   e2e         the real `openstack` CLI against the all-in-one, after
#               tempest: its last tests restart dockerd and kill
#               nova-compute
#   e2e-podman  after e2e: the all-in-one again with Podman as the first
#               host's engine (up --engine podman): the CLI lifecycle and
#               a networked server's snapshot and delete; then the
#               all-in-one remembers its engine and hosts as before
#   pep8        flake8, shellcheck
# Usage: tools/run-tests.sh [suite ...]   (default: all of them)
set -euo pipefail

# Root throughout (packages, engines, namespaces, Open vSwitch): root runs it
# as it is (a fresh Debian has no sudo), anyone else through sudo.
if [ "$(id -u)" != 0 ]; then
  exec sudo -- "$(cd "$(dirname "$0")" && pwd)/$(basename "$0")" "$@"
fi

cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-$ROOT/.venv}
LOGS=$ROOT/.test-logs
IMAGES=$ROOT/.test-images
SUITES=("$@")
# tempest before e2e: both use one all-in-one, and e2e ends with the tests
# that crash or restart parts of it.
[ ${#SUITES[@]} -gt 0 ] || SUITES=(unit functional api podman devstack pep8 tempest e2e e2e-podman)
mkdir -p "$LOGS"
rm -f "$LOGS/failures"
STARTED=$(date +%s)

step() { printf '\n==> [%4ss] %s\n' "$(( $(date +%s) - STARTED ))" "$*"; }
die() { echo "ERROR: $*" >&2; exit 1; }

# -- Debian packages ---------------------------------------------------------
need_pkgs=()
command -v dockerd >/dev/null || need_pkgs+=(docker.io)
[ -x /bin/busybox ] || need_pkgs+=(busybox-static)
command -v docker-registry >/dev/null || need_pkgs+=(docker-registry)
command -v shellcheck >/dev/null || need_pkgs+=(shellcheck)
# Root disk sizes are proven on an engine whose data-root is btrfs.
command -v mkfs.btrfs >/dev/null || need_pkgs+=(btrfs-progs)
# Networking: the infra (pause) image is built from catatonit; Open vSwitch
# (netdev datapath: no kernel module needed) is the switch the tests plug
# ports into; iproute2/iptables/nsenter serve the tests' own checks only.
[ -x /usr/bin/catatonit ] || need_pkgs+=(catatonit)
# The second engine kind: Podman serving the Docker API (podman suite).
command -v podman >/dev/null || need_pkgs+=(podman)
command -v ovs-vswitchd >/dev/null || need_pkgs+=(openvswitch-switch)
command -v ip >/dev/null || need_pkgs+=(iproute2)
command -v iptables >/dev/null || need_pkgs+=(iptables)
command -v nsenter >/dev/null || need_pkgs+=(util-linux)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_pkgs+=(python3-venv)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  step "installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# -- Docker engine -----------------------------------------------------------
DOCKERD_PID=
stop_engine() {
  if [ -n "$DOCKERD_PID" ]; then
    # The e2e engine-restart test starts it again as another process: stop
    # whichever serves now (dockerd's pid file says which).
    local pid
    pid=$(cat /var/run/docker.pid 2>/dev/null || echo "$DOCKERD_PID")
    echo "stopping the dockerd this run started (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  fi
}
OVS_STARTED=
stop_ovs() {
  if [ -n "$OVS_STARTED" ]; then
    echo "stopping the Open vSwitch this run started"
    /usr/share/openvswitch/scripts/ovs-ctl stop >/dev/null 2>&1 || true
  fi
}
AIO_STATE=${NOVA_DOCKER_AIO_STATE:-/var/lib/nova-docker-aio}
AIO=(python3 -m nova_docker.aio --state-dir "$AIO_STATE")
# Two Docker hosts: migrations and cross-host resizes run too; and the KVM
# host: a container and a virtual machine side by side (tests/e2e/test_kvm.py).
AIO_SHAPE=(--engine docker --computes 2 --kvm)
AIO_UP='' AIO_OURS=''
PODMAN_STATE=''   # set once the podman suite starts its engine
stop_aio() {
  if [ -n "$AIO_OURS" ]; then
    echo "bringing down the all-in-one this run brought up"
    "${AIO[@]}" down || true
  fi
}
AIO_INSTALL_PID=''  # the all-in-one's install in the background
stop_services() {
  # Its own process group (setsid): apt or pip under it stop too.
  [ -z "$AIO_INSTALL_PID" ] || kill -- -"$AIO_INSTALL_PID" 2>/dev/null || true
  stop_aio
  tools/test-registry.sh stop "$LOGS/registry" || true
  tools/second-engine.sh stop "$LOGS/engine2" || true
  tools/btrfs-engine.sh stop "$LOGS/btrfs" || true
  [ -z "$PODMAN_STATE" ] || tools/podman-engine.sh stop "$PODMAN_STATE" || true
  [ -z "$PODMAN_STATE" ] || tools/podman-engine.sh stop "$PODMAN_STATE-second" || true
  stop_ovs
  stop_engine
  # Last, so that the end of the output (all a CI summary may keep) names
  # what failed and why.
  if [ -s "$LOGS/failures" ]; then
    echo "what failed (whole output in $LOGS):"
    cat "$LOGS/failures"
  fi
}
trap stop_services EXIT

if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  step "using the running Docker engine $(docker version --format '{{.Server.Version}}')"
else
  step "starting dockerd (log: $LOGS/dockerd.log)"
  dockerd >"$LOGS/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 60); do
    docker version >/dev/null 2>&1 && break
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    sleep 1
  done
  docker version >/dev/null 2>&1 || {
    tail -n 20 "$LOGS/dockerd.log" >&2
    die "the Docker engine did not start; the tests need a real engine"
  }
fi

# -- Open vSwitch ------------------------------------------------------------
# Started by hand (no systemd here); bridges the tests make use the netdev
# datapath, so the kernel needs no openvswitch module.
if ovs-vsctl --timeout=5 show >/dev/null 2>&1; then
  step "using the running Open vSwitch"
else
  step "starting Open vSwitch (ovs-ctl)"
  /usr/share/openvswitch/scripts/ovs-ctl start --system-id=random \
    >"$LOGS/ovs-ctl.log" 2>&1 || { tail -n 20 "$LOGS/ovs-ctl.log" >&2; die "Open vSwitch did not start"; }
  OVS_STARTED=1
fi

# -- test images -------------------------------------------------------------
step "building test images from busybox-static"
tools/build-test-images.sh "$IMAGES"

step "starting a test registry on loopback"
tools/test-registry.sh start "$LOGS/registry"
export NOVA_DOCKER_TEST_REGISTRY=127.0.0.1:${NOVA_DOCKER_TEST_REGISTRY_PORT:-5111}
step "starting a second engine (a second compute host, for evacuate)"
tools/second-engine.sh start "$LOGS/engine2"
export NOVA_DOCKER_TEST_SECOND_ENGINE=unix://$LOGS/engine2/docker.sock
step "starting an engine on a loop-mounted btrfs (root disk sizes)"
tools/btrfs-engine.sh start "$LOGS/btrfs"
export NOVA_DOCKER_TEST_BTRFS_ENGINE=unix://$LOGS/btrfs/docker.sock

# -- venv --------------------------------------------------------------------
stamp=$VENV/.nova-docker-deps
want=$(cat setup.cfg requirements.txt test-requirements.txt | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  step "creating the venv $VENV (Nova and test dependencies)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q ".[test]"
  echo "$want" > "$stamp"
fi
# Not editable: Nova finds the driver through the nova/virt/novadocker shim,
# which only a real install puts inside the nova package. Tests import
# nova_docker from this tree (stestr's top dir), the same code.
"$VENV/bin/pip" install -q --no-deps --force-reinstall . >/dev/null
export PATH=$VENV/bin:$PATH
export NOVA_DOCKER_TEST_IMAGES=$IMAGES

# -- suites ------------------------------------------------------------------
failed=()
passed_tests=0 failed_tests=0 skipped_tests=0
cpu_ticks() {  # busy and total CPU ticks since boot, from /proc/stat
  awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat
}
run_suite() {  # name, then the command; says its wall time and how busy the CPUs were
  local name=$1 t0 b0 a0 b1 a1 took; shift
  step "suite: $name"
  t0=$(date +%s); read -r b0 a0 < <(cpu_ticks)
  if "$@"; then took=passed; else failed+=("$name"); took=FAILED; fi
  read -r b1 a1 < <(cpu_ticks)
  echo "suite $name: $took in $(( $(date +%s) - t0 )) s, CPUs $(( 100 * (b1 - b0) / (a1 - a0 + 1) ))% busy" \
    | if [ $took = FAILED ]; then tee -a "$LOGS/failures"; else cat; fi
}
count_run() {  # add a stestr run's totals (its output file) to the closing line
  local n
  n=$(sed -n 's/^ - Passed: \([0-9]*\).*/\1/p' "$1" | tail -n 1)
  passed_tests=$((passed_tests + ${n:-0}))
  n=$(sed -n 's/^ - Failed: \([0-9]*\).*/\1/p' "$1" | tail -n 1)
  failed_tests=$((failed_tests + ${n:-0}))
  n=$(sed -n 's/^ - Skipped: \([0-9]*\).*/\1/p' "$1" | tail -n 1)
  skipped_tests=$((skipped_tests + ${n:-0}))
}
stestr_run() {  # test path, then extra stestr arguments
  local path=$1 rc=0 out; shift
  out=$(mktemp)
  stestr --test-path "$path" --top-dir "$ROOT" run "$@" 2>&1 | tee "$out" || rc=$?
  count_run "$out"
  # The failing tests and their errors' last lines, for the closing summary.
  [ "$rc" = 0 ] || grep -E '\.\.\. FAILED|^ *[A-Za-z_.]*(Error|Exception|Failure)\b' "$out" \
    | cut -c 1-300 | tail -n 30 >>"$LOGS/failures" || true
  rm -f "$out"
  return $rc
}

# The all-in-one from this tree (python3 -m: it needs no venv to start),
# brought up once for every suite that needs it (e2e, tempest): a failing
# suite does not keep the next one from running against it. One that
# already runs (a developer's) is used and left running; one this run
# brings up is brought down once, at the end (stop_services).
with_aio() {  # run a command against the all-in-one
  if [ -n "$AIO_INSTALL_PID" ]; then
    step "waiting for the all-in-one's install (log: $LOGS/aio-install.log)"
    # Should it have failed, up installs what is missing and says why.
    wait "$AIO_INSTALL_PID" || tail -n 20 "$LOGS/aio-install.log"
    AIO_INSTALL_PID=''
  fi
  if [ -z "$AIO_UP" ]; then
    "${AIO[@]}" status >/dev/null 2>&1 || AIO_OURS=1
    step "all-in-one up (once for e2e and tempest)"
    if "${AIO[@]}" up "${AIO_SHAPE[@]}"; then AIO_UP=ok; else AIO_UP=failed; fi
  fi
  [ "$AIO_UP" = ok ] || { echo "the all-in-one did not come up"; return 1; }
  NOVA_DOCKER_AIO_STATE=$AIO_STATE "$@"
}

e2e_tests() {  # these disturb the cloud: each alone, after the others
  local alone='test_crash|test_engine_restart|test_evacuate|TestHeatOnDemand'
  local rc=0
  stestr_run tests/e2e --concurrency 2 --exclude-regex "$alone" || rc=$?
  stestr_run tests/e2e --concurrency 1 "$alone" || rc=$?
  return $rc
}

# The all-in-one once more, its first host on Podman (one compute host, as
# proven): brought down and up again (nova-compute keeps the engine it
# started with), whatever ran before. Afterwards it remembers Docker and
# its compute hosts as before; one that was running before this run (a
# developer's) is brought up again as it was.
aio_settings() {  # print, or with arguments set, what the next up remembers
  python3 -c 'import json, sys; from nova_docker.aio import layout
aio = layout.Layout(sys.argv[1])
if len(sys.argv) > 2:
    aio.settings.update(json.loads(sys.argv[2]))
    aio.save_settings()
else:
    print(json.dumps({k: aio.settings[k] for k in ("engine", "computes", "kvm")}))
' "$AIO_STATE" "$@"
}
e2e_podman_tests() {
  local rc=0 was_up='' before
  "${AIO[@]}" status >/dev/null 2>&1 && [ -z "$AIO_OURS" ] && was_up=1
  before=$(aio_settings)
  "${AIO[@]}" down >/dev/null || true
  AIO_UP=''
  step "all-in-one up --engine podman --computes 1 --no-kvm"
  if "${AIO[@]}" up --engine podman --computes 1 --no-kvm; then
    AIO_OURS=1
    NOVA_DOCKER_AIO_STATE=$AIO_STATE stestr_run tests/e2e --concurrency 2 \
      'test_cli\.TestServerLifecycle|test_network\.TestSnapshot' || rc=$?
  else
    echo "the all-in-one did not come up on Podman"; rc=1
  fi
  "${AIO[@]}" down >/dev/null || true
  aio_settings "$before"
  if [ -n "$was_up" ]; then  # the developer's again: left running
    "${AIO[@]}" up >/dev/null || rc=$?
    AIO_OURS=''
  fi
  return $rc
}

# The all-in-one's packages and venvs (tempest's too) are mostly downloads
# and unpacking: installed in the background while the suites before
# tempest run, unless an all-in-one already runs.
for suite in "${SUITES[@]}"; do
  case $suite in
    tempest|e2e)
      if [ -z "$AIO_INSTALL_PID" ] && ! "${AIO[@]}" status >/dev/null 2>&1; then
        step "installing the all-in-one in the background (log: $LOGS/aio-install.log)"
        setsid "${AIO[@]}" install "${AIO_SHAPE[@]}" >"$LOGS/aio-install.log" 2>&1 &
        AIO_INSTALL_PID=$!
      fi ;;
  esac
done

for suite in "${SUITES[@]}"; do
  case $suite in
    unit) run_suite unit stestr_run tests/unit ;;
    functional) run_suite functional stestr_run tests/functional ;;
    devstack) run_suite devstack stestr_run tests/devstack ;;
    api)
      # Nova's two concurrency modes: eventlet (its functional tests'
      # default) and native threads (nova-compute's default in Nova 34).
      # The Podman tests are the podman suite's.
      OS_NOVA_DISABLE_EVENTLET_PATCHING='' run_suite api-eventlet stestr_run tests/api --concurrency 3 --exclude-regex test_podman
      OS_NOVA_DISABLE_EVENTLET_PATCHING=1 run_suite api-threading stestr_run tests/api --concurrency 3 --exclude-regex test_podman
      ;;
    podman)
      PODMAN_STATE=$LOGS/podman
      step "starting a Podman engine (log: $PODMAN_STATE/podman.log)"
      if tools/podman-engine.sh start "$PODMAN_STATE"; then
        export NOVA_DOCKER_TEST_PODMAN=unix://$PODMAN_STATE/podman.sock
        # The privileged functions' tests use no engine: run once, above.
        NOVA_DOCKER_TEST_ENGINE=podman run_suite podman-functional stestr_run tests/functional --exclude-regex test_privsep
        # The whole API suite with every compute host on Podman (a second
        # Podman engine for the second host of migrations and evacuation)
        # in threading mode, nova-compute's default; in eventlet mode the
        # lifecycle, snapshot, network, events, resize and rescue classes
        # (both modes whole would not fit CI's budget: README, Tests).
        if tools/podman-engine.sh start "$PODMAN_STATE-second"; then
          export NOVA_DOCKER_TEST_PODMAN_SECOND=unix://$PODMAN_STATE-second/podman.sock
          NOVA_DOCKER_TEST_ENGINE=podman OS_NOVA_DISABLE_EVENTLET_PATCHING='' run_suite podman-eventlet stestr_run tests/api \
            'test_lifecycle\.LifecycleTest|test_images\.SnapshotTest|test_network\.NetworkTest\.test_(two_servers|namespace_lost)|test_migration\.SameHostResizeTest|test_events\.EngineEventsTest|test_rescue\.RescueTest\.test_rescue_with_own|test_podman'
          NOVA_DOCKER_TEST_ENGINE=podman OS_NOVA_DISABLE_EVENTLET_PATCHING=1 run_suite podman-threading stestr_run tests/api --concurrency 3
        else
          failed+=(podman); echo "suite podman: FAILED (no second Podman engine)" | tee -a "$LOGS/failures"
        fi
      else
        failed+=(podman); echo "suite podman: FAILED (no Podman engine)" | tee -a "$LOGS/failures"
      fi
      ;;
    e2e) run_suite e2e with_aio e2e_tests ;;
    e2e-podman) run_suite e2e-podman e2e_podman_tests ;;
    tempest) run_suite tempest with_aio "${AIO[@]}" tempest ;;
    pep8)
      run_suite pep8 sh -c 'flake8 nova_docker nova tests benchmarks && shellcheck tools/*.sh tools/nova-docker-aio .ci/run && shellcheck -x devstack/*.sh devstack/settings devstack/lib/* tests/devstack/*.sh'
      ;;
    *) die "unknown suite $suite" ;;
  esac
done

step "done"
echo "$passed_tests passed, $failed_tests failed, $skipped_tests skipped"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED suites: ${failed[*]}"
  exit 1
fi
echo "all suites passed: ${SUITES[*]}"
