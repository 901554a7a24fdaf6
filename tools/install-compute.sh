#!/usr/bin/env bash
# Make this Debian 12 machine a nova-docker compute host: the Docker engine
# from Debian's packages (started if none answers), a venv with Nova 34 and
# this driver, then the nova.conf lines that turn it on.
# Usage: tools/install-compute.sh [VENV]   (default /opt/nova-docker)
set -euo pipefail
# Root runs it as it is (a fresh Debian has no sudo), anyone else through
# sudo.
if [ "$(id -u)" != 0 ]; then
  exec sudo -- "$(cd "$(dirname "$0")" && pwd)/$(basename "$0")" "$@"
fi
cd "$(dirname "$0")/.."
VENV=${1:-/opt/nova-docker}

# catatonit: the pause binary of the infra containers that own each
# server's network namespace ([docker] infra_binary).
pkgs=()
command -v dockerd >/dev/null || pkgs+=(docker.io)
[ -x /usr/bin/catatonit ] || pkgs+=(catatonit)
if [ ${#pkgs[@]} -gt 0 ]; then
  echo "==> installing ${pkgs[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
if ! docker version >/dev/null 2>&1; then
  echo "==> starting dockerd (log: /var/log/dockerd.log)"
  if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
    systemctl enable --now docker
  else
    nohup dockerd >/var/log/dockerd.log 2>&1 &
  fi
  for _ in $(seq 60); do docker version >/dev/null 2>&1 && break; sleep 1; done
fi
echo "==> Docker engine $(docker version --format '{{.Server.Version}}') answers"

echo "==> installing Nova and nova-docker into $VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q .
echo "==> done. Add to nova.conf on this host and restart nova-compute:"
cat <<CONF

[DEFAULT]
compute_driver = novadocker.DockerDriver

[docker]
api_url = unix:///var/run/docker.sock

# Neutron ports with ML2/OVS (os-vif adds them to br-int):
[os_vif_ovs]
ovsdb_connection = unix:/var/run/openvswitch/db.sock

CONF
echo "Full option list: etc/nova-docker.conf.sample"
