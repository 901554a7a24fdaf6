"""The KVM host's test image, built locally in a second: Debian's kernel
and a busybox initramfs, as Glance ``aki``/``ari`` images referenced by a
small ``ami`` machine image.

The kernel is the one Debian's ``linux-image-amd64`` puts in /boot; the
initramfs holds the static busybox, the few modules the guest needs (virtio
network and disk, vfat for the config drive: Debian builds them as
modules) and an init that reads the config drive's ``network_data.json``
(the all-in-one's subnets have no DHCP), configures its NIC, prints
``MARKER`` on the serial console and then idles: the kernel answers ping.
"""

import glob
import gzip
import io
import os

from nova_docker.aio import images
from nova_docker.aio.progress import Failed

MARKER = 'nova-docker-vm: up'
# Glance names; the machine image is what users boot.
IMAGE = 'tiny-vm'
KERNEL = IMAGE + '-kernel'
RAMDISK = IMAGE + '-ramdisk'
# The root disk the machine image stands for: nothing boots from it, the
# guest lives in its initramfs.
ROOT_DISK_BYTES = 1024 * 1024
# What the guest needs beyond the kernel image (modules.dep adds what they
# depend on): virtio network and disks; the config drive, an ISO 9660
# CD-ROM on SATA (q35) or IDE (pc).
MODULES = ('virtio_pci', 'virtio_net', 'virtio_blk', 'ahci', 'ata_piix',
           'sr_mod', 'isofs')
# The kernel's command line (Glance property os_command_line).
COMMAND_LINE = 'console=ttyS0 panic=-1 quiet'

INIT = r'''#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in %(modules)s; do insmod /lib/modules/$m; done
# The config drive: an ISO 9660 CD-ROM (the disk probe is asynchronous).
for i in $(seq 50); do
  mount -t iso9660 -o ro /dev/sr0 /mnt 2>/dev/null && break
  sleep 0.2
done
nd=/mnt/openstack/latest/network_data.json
md=/mnt/openstack/latest/meta_data.json
field() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p"; }
ip link set lo up
ip link set eth0 up
if [ -f "$nd" ]; then
  tr '{' '\n' < "$nd" > /tmp/networks
  v4=$(grep '"type": *"ipv4"' /tmp/networks | head -n 1)
  v6=$(grep '"type": *"ipv6"' /tmp/networks | head -n 1)
  if [ -n "$v4" ]; then
    ifconfig eth0 "$(echo "$v4" | field ip_address)" \
      netmask "$(echo "$v4" | field netmask)"
  fi
  if [ -n "$v6" ]; then
    # A netmask of ffff groups: four bits a digit.
    bits=$(( $(echo "$v6" | field netmask | tr -cd f | wc -c) * 4 ))
    ip -6 addr add "$(echo "$v6" | field ip_address)/$bits" dev eth0
  fi
  hostname "$(field hostname < "$md")"
fi
echo "%(marker)s $(hostname) $(ip -o addr show dev eth0 | \
  sed -n 's/.* inet6\{0,1\} \([^ ]*\).*/\1/p' | tr '\n' ' ')"
exec sleep 2147483647
'''


def find_kernel():
    """Debian's kernel and its modules directory, or None."""
    for vmlinuz in sorted(glob.glob('/boot/vmlinuz-*-amd64'), reverse=True):
        release = os.path.basename(vmlinuz)[len('vmlinuz-'):]
        modules = os.path.join('/lib/modules', release)
        if os.path.exists(os.path.join(modules, 'modules.dep')):
            return vmlinuz, modules
    return None


class _Cpio(object):
    """An initramfs archive (cpio "newc", as the kernel unpacks it)."""

    def __init__(self):
        self.out = io.BytesIO()
        self.ino = 0

    def _entry(self, name, mode, data=b''):
        self.ino += 1
        name = name.encode() + b'\0'
        fields = (self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0,
                  len(name), 0)
        self.out.write(b'070701' + b''.join(b'%08x' % f for f in fields))
        self.out.write(name + b'\0' * (-(110 + len(name)) % 4))
        self.out.write(data + b'\0' * (-len(data) % 4))

    def directory(self, name):
        self._entry(name, 0o40755)

    def file(self, name, data, mode=0o644):
        self._entry(name, 0o100000 | mode, data)

    def close(self):
        self._entry('TRAILER!!!', 0)
        return self.out.getvalue()


def load_order(modules_dir):
    """MODULES and what they need, each after its dependencies, as paths
    under the kernel's modules directory (from its modules.dep)."""
    deps = {}
    with open(os.path.join(modules_dir, 'modules.dep')) as f:
        for line in f:
            path, _, needs = line.partition(':')
            deps[path] = needs.split()
    by_name = {os.path.basename(p).split('.')[0].replace('-', '_'): p
               for p in deps}
    order = []
    for name in MODULES:
        path = by_name[name]
        # modules.dep lists dependencies last-loaded first.
        for needed in list(reversed(deps[path])) + [path]:
            if needed not in order:
                order.append(needed)
    return order


def build_initramfs(busybox, modules_dir):
    cpio = _Cpio()
    for d in ('bin', 'dev', 'proc', 'sys', 'mnt', 'tmp', 'lib',
              'lib/modules'):
        cpio.directory(d)
    with open(busybox, 'rb') as f:
        cpio.file('bin/busybox', f.read(), 0o755)
    names = []
    for path in load_order(modules_dir):
        name = os.path.basename(path)
        with open(os.path.join(modules_dir, path), 'rb') as f:
            cpio.file('lib/modules/' + name, f.read())
        names.append(name)
    init = INIT % {'modules': ' '.join(names), 'marker': MARKER}
    cpio.file('init', init.encode(), 0o755)
    return gzip.compress(cpio.close(), compresslevel=6, mtime=0)


def build(layout, busybox):
    """{'kernel', 'ramdisk', 'disk'}: files in ``<state>/images/vm``,
    rebuilt only when the kernel, busybox or this recipe changed."""
    found = find_kernel()
    if not found:
        raise Failed('no Debian kernel in /boot (package linux-image-amd64)')
    vmlinuz, modules_dir = found
    out = layout.path('images', 'vm')
    os.makedirs(out, exist_ok=True)
    files = {'kernel': vmlinuz,
             'ramdisk': os.path.join(out, 'initramfs.gz'),
             'disk': os.path.join(out, 'root.img')}
    recipe = os.path.join(out, 'recipe')
    key = '%s %s %d\n%s' % (vmlinuz, busybox, os.path.getmtime(busybox),
                            INIT)
    try:
        with open(recipe) as f:
            fresh = f.read() == key
    except FileNotFoundError:
        fresh = False
    if not (fresh and all(map(os.path.exists, files.values()))):
        with open(files['ramdisk'] + '.tmp', 'wb') as f:
            f.write(build_initramfs(busybox, modules_dir))
        os.replace(files['ramdisk'] + '.tmp', files['ramdisk'])
        with open(files['disk'], 'wb') as f:
            f.truncate(ROOT_DISK_BYTES)
        with open(recipe, 'w') as f:
            f.write(key)
    return files


def ensure_glance_images(client, files):
    """The kernel, ramdisk and machine image in Glance; the machine image's
    id."""
    kernel = _upload(client, KERNEL, files['kernel'], 'aki', {})
    ramdisk = _upload(client, RAMDISK, files['ramdisk'], 'ari', {})
    return _upload(client, IMAGE, files['disk'], 'ami', {
        'kernel_id': kernel, 'ramdisk_id': ramdisk,
        'os_command_line': COMMAND_LINE,
        # VM images go to KVM hosts only (ImagePropertiesFilter); ``ami``
        # alone keeps it off Docker hosts too (they report only raw).
        'hypervisor_type': 'qemu',
        # The guest reads its addresses from the config drive.
        'img_config_drive': 'mandatory'})


def _upload(client, name, path, fmt, properties):
    # A machine image naming an older kernel or ramdisk is replaced too.
    return images.upload(client, name, path, dict(
        properties, container_format=fmt, disk_format=fmt))
