#!/usr/bin/env bash
# Build the test images locally from Debian's busybox-static (no registry
# is reachable) and save each as a docker archive, the form Glance holds.
#   ndtest/busybox  prints a greeting, then sleeps: the ordinary workload
#   ndtest/nocmd    the same files with no ENTRYPOINT/CMD: a bad image
#   ndtest/nosh     only a static pause binary (catatonit): no shell, no
#                   /etc/passwd, as in distroless images
set -euo pipefail

out=${1:?usage: build-test-images.sh OUTPUT_DIR}
busybox=${BUSYBOX:-/bin/busybox}
mkdir -p "$out"
rootfs=$(mktemp -d)
nosh=$(mktemp -d)
trap 'rm -rf "$rootfs" "$nosh"' EXIT

mkdir -p "$rootfs"/{bin,etc,tmp,proc,sys,dev,root}
cp "$busybox" "$rootfs/bin/busybox"
for applet in sh ash cat echo env hostname id ip ls mkdir ping ps rm \
              sleep tail true false uname wc grep top kill dd; do
  ln -s busybox "$rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
echo 'root:x:0:' > "$rootfs/etc/group"

import_image() {  # name, then docker import --change arguments
  local name=$1; shift
  tar -C "$rootfs" -c . | docker import "$@" - "$name" >/dev/null
}
# $(hostname) is for the container's shell, not this one.
# shellcheck disable=SC2016
import_image ndtest/busybox:latest \
  --change 'ENV PATH=/bin' \
  --change 'CMD ["/bin/sh", "-c", "echo nova-docker says hello from $(hostname); exec sleep 2147483647"]'
import_image ndtest/nocmd:latest --change 'ENV PATH=/bin'

cp "${CATATONIT:-/usr/bin/catatonit}" "$nosh/pause"
tar -C "$nosh" -c . | docker import --change 'CMD ["/pause", "-P"]' - \
  ndtest/nosh:latest >/dev/null

docker save ndtest/busybox:latest -o "$out/busybox.tar"
docker save ndtest/nocmd:latest -o "$out/nocmd.tar"
docker save ndtest/nosh:latest -o "$out/nosh.tar"
echo "test images saved in $out: busybox.tar nocmd.tar nosh.tar"
