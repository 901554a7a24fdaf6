"""The driver's only root work: network devices, through oslo.privsep.

One privsep context (``[nova_docker_privileged]`` in nova.conf) keeps just
CAP_NET_ADMIN, for links and addresses; CAP_SYS_ADMIN, which setns()
needs to enter a container's network namespace; and CAP_SYS_PTRACE,
without which the kernel refuses a process with fewer capabilities than
the container's opening /proc/<pid>/ns/net. Everything is done with
pyroute2's netlink sockets: no ``ip`` or ``sudo`` subprocess.

Functions take plain values (privsep serialises the arguments) and are
idempotent where the driver may repeat them: re-plugging after a restart,
cleaning up after a failure, deleting what is already gone.

A second context (``[nova_docker_fs_privileged]``), used only by rescue,
mounts a stopped container's overlay layers: overlayfs does its work in
the layers with the mounting process's credentials, so that one keeps
what the engine itself uses there (CAP_SYS_ADMIN for mount and overlay's
trusted xattrs; file ownership, modes and whiteouts) and no network
capability.
"""

import contextlib
import ctypes
import errno
import os
import re

from oslo_privsep import capabilities as caps
from oslo_privsep import priv_context
from pyroute2 import IPRoute
from pyroute2 import NetlinkError
from pyroute2 import NetNS

from nova_docker import fsmount

net_admin = priv_context.PrivContext(
    'nova_docker',
    cfg_section='nova_docker_privileged',
    pypath=__name__ + '.net_admin',
    capabilities=[caps.CAP_NET_ADMIN, caps.CAP_SYS_ADMIN,
                  caps.CAP_SYS_PTRACE],
)

fs_admin = priv_context.PrivContext(
    'nova_docker',
    cfg_section='nova_docker_fs_privileged',
    pypath=__name__ + '.fs_admin',
    capabilities=[caps.CAP_SYS_ADMIN, caps.CAP_DAC_OVERRIDE,
                  caps.CAP_DAC_READ_SEARCH, caps.CAP_CHOWN, caps.CAP_FOWNER,
                  caps.CAP_FSETID, caps.CAP_MKNOD],
)

# IFA_F_NODAD: a container's IPv6 addresses are usable at once instead of
# after duplicate address detection (Neutron hands out unique addresses,
# as it does for VMs whose guests skip DAD on its ports).
IFA_F_NODAD = 0x02


# The names this driver gives devices (netplan: a prefix and at most 11
# characters of the Neutron port id; os-vif's hybrid-plug bridge): a
# privileged function touches nothing else, whatever it is asked.
_HOST_DEV = re.compile(r'^(tap|nsd)[0-9a-f-]{1,12}$')
_BRIDGE = re.compile(r'^qbr[0-9a-f-]{1,11}$')
# os-vif's veth between a hybrid-plug bridge and Open vSwitch.
_HYBRID_VETH = re.compile(r'^(qvb|qvo)[0-9a-f-]{1,11}$')
_CONTAINER_DEV = re.compile(r'^eth[0-9]{1,4}$')


class NotOurs(ValueError):
    """Refused: what the call names is not something this driver made."""


class TooManyLayers(OSError):
    """A stopped container of more layers than this kernel's overlay can
    put together in one mount."""


class HostNamespace(NotOurs):
    """Refused: the pid given lives in the host's own network namespace."""


def _check_name(name, pattern, what):
    if not isinstance(name, str) or not pattern.match(name):
        raise NotOurs('%r is not a %s this driver makes' % (name, what))


def _check_veth(ipr, index, name, kind='veth'):
    """A host device of ours is a veth (or os-vif's bridge): never delete
    another kind of device that happens to carry such a name (a VM's tap,
    on a mixed host)."""
    link = ipr.get_links(index)[0]
    if link.get_nested('IFLA_LINKINFO', 'IFLA_INFO_KIND') != kind:
        raise NotOurs('%s is not a %s device' % (name, kind))


_CONTAINER_ID = re.compile(r'^[0-9a-f]{64}$')


@contextlib.contextmanager
def _netns(owner):
    """An open descriptor of the network namespace of owner, [pid,
    container id], checked to be that container's: the namespace is
    opened first, then the process at pid is checked to be in the
    container's cgroup. A pid reused by another process in between fails
    the check, and the descriptor keeps the namespace it was opened on,
    so there is no window for acting on anyone else's. The host's own
    namespace is refused whatever the pid."""
    pid, container_id = int(owner[0]), str(owner[1])
    if not _CONTAINER_ID.match(container_id):
        raise NotOurs('%r is not a container id' % container_id)
    fd = os.open('/proc/%d/ns/net' % pid, os.O_RDONLY)
    try:
        with open('/proc/%d/cgroup' % pid) as cgroup:
            if container_id not in cgroup.read():
                raise NotOurs('pid %d is not a process of container %s' % (
                    pid, container_id[:12]))
        target, host = os.fstat(fd), os.stat('/proc/self/ns/net')
        if (target.st_dev, target.st_ino) == (host.st_dev, host.st_ino):
            raise HostNamespace('pid %d is in the host network namespace' %
                                pid)
        yield fd
    finally:
        os.close(fd)


def _netns_handle(fd):
    """A path to the open namespace that works from any process pyroute2
    runs its namespace work in (this daemon keeps the descriptor open)."""
    return '/proc/%d/fd/%d' % (os.getpid(), fd)


def _index(ipr, name):
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


@net_admin.entrypoint
def add_veth(host_dev, peer_dev, mtu=None):
    """Create a veth pair with its host end up. A pair left by an earlier,
    interrupted plug is replaced."""
    _check_name(host_dev, _HOST_DEV, 'host device')
    _check_name(peer_dev, _HOST_DEV, 'host device')
    with IPRoute() as ipr:
        for stale in (host_dev, peer_dev):
            index = _index(ipr, stale)
            if index is not None:
                _check_veth(ipr, index, stale)
                ipr.link('del', index=index)
        ipr.link('add', ifname=host_dev, kind='veth',
                 peer={'ifname': peer_dev})
        extra = {'mtu': mtu} if mtu else {}
        ipr.link('set', index=_index(ipr, host_dev), state='up', **extra)


@net_admin.entrypoint
def move_into_netns(dev, owner):
    """Move a host device into the network namespace of owner ([pid,
    container id])."""
    _check_name(dev, _HOST_DEV, 'host device')
    with _netns(owner) as fd, IPRoute() as ipr:
        index = _index(ipr, dev)
        if index is None:
            raise NetlinkError(errno.ENODEV, 'no device %s' % dev)
        _check_veth(ipr, index, dev)
        ipr.link('set', index=index, net_ns_fd=fd)


@net_admin.entrypoint
def configure_in_netns(owner, dev, name, mac, mtu, addresses, routes):
    """Inside owner's namespace: rename ``dev`` to ``name`` and give it the
    MAC, MTU, addresses ([address, prefixlen]) and routes
    ([destination, gateway or None]); bring it and loopback up."""
    _check_name(dev, _HOST_DEV, 'host device')
    _check_name(name, _CONTAINER_DEV, 'container device')
    with _netns(owner) as fd, NetNS(_netns_handle(fd)) as ns:
        index = _index(ns, dev)
        if index is None:
            # Already renamed by an earlier call: configure it again.
            index = _index(ns, name)
        if index is None:
            raise NetlinkError(errno.ENODEV, 'no device %s or %s in the '
                               'namespace of %s' % (dev, name, owner))
        ns.link('set', index=index, state='down')
        settings = {'ifname': name, 'address': mac}
        if mtu:
            settings['mtu'] = mtu
        ns.link('set', index=index, **settings)
        for address, prefixlen in addresses:
            extra = {'flags': IFA_F_NODAD} if ':' in address else {}
            try:
                ns.addr('add', index=index, address=address,
                        prefixlen=prefixlen, **extra)
            except NetlinkError as e:
                if e.code != errno.EEXIST:
                    raise
        ns.link('set', index=index, state='up')
        lo = _index(ns, 'lo')
        ns.link('set', index=lo, state='up')
        for destination, gateway in routes:
            route = {'dst': destination}
            if gateway:
                route['gateway'] = gateway
            else:
                route['oif'] = index
            ns.route('replace', **route)


@net_admin.entrypoint
def netns_links(owner):
    """[name, MAC] of each device in owner's network namespace."""
    with _netns(owner) as fd, NetNS(_netns_handle(fd)) as ns:
        return [[link.get('ifname'), link.get('address')]
                for link in ns.get_links()]


@net_admin.entrypoint
def delete_in_netns(owner, name):
    """Delete a device inside owner's namespace (a veth takes its host end
    with it). Returns whether it was there."""
    _check_name(name, _CONTAINER_DEV, 'container device')
    with _netns(owner) as fd, NetNS(_netns_handle(fd)) as ns:
        return _delete(ns, name)


@net_admin.entrypoint
def delete_link(dev):
    """Delete a host device of a port (a veth end, or os-vif's hybrid-plug
    bridge and veth); one that is already gone is fine. Returns whether it
    was there."""
    kind = 'veth'
    if isinstance(dev, str) and _BRIDGE.match(dev):
        kind = 'bridge'
    elif not (isinstance(dev, str) and _HYBRID_VETH.match(dev)):
        _check_name(dev, _HOST_DEV, 'host device')
    with IPRoute() as ipr:
        index = _index(ipr, dev)
        if index is not None:
            _check_veth(ipr, index, dev, kind)
        return _delete(ipr, dev)


@net_admin.entrypoint
def link_exists(dev):
    _check_name(dev, _HOST_DEV, 'host device')
    with IPRoute() as ipr:
        return _index(ipr, dev) is not None


@net_admin.entrypoint
def set_master(dev, bridge):
    """Enslave a host device to a Linux bridge that must exist."""
    _check_name(dev, _HOST_DEV, 'host device')
    _check_name(bridge, _BRIDGE, 'bridge')
    with IPRoute() as ipr:
        index, master = _index(ipr, dev), _index(ipr, bridge)
        if index is None or master is None:
            raise NetlinkError(errno.ENODEV, 'no device %s or bridge %s' % (
                dev, bridge))
        ipr.link('set', index=index, master=master)


def _delete(ipr, name):
    index = _index(ipr, name)
    if index is None:
        return False
    try:
        ipr.link('del', index=index)
    except NetlinkError as e:
        # Gone between lookup and delete (its peer went first).
        if e.code != errno.ENODEV:
            raise
        return False
    return True


# -- a rescued server's file system ----------------------------------------

# Where the driver shows a rescued server's files: <instances_path>/<uuid>/
# rescue (see nova_docker/rescue.py).
_RESCUE_TARGET = re.compile(r'^/.*/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}'
                            r'/rescue$')
# The engine's overlay layers (Docker's overlay2, Podman's overlay), after
# links are resolved: <storage>/<layer id>[-init]/diff or .../work. Nothing
# in them may read as a mount option separator.
_LAYER_DIR = re.compile(r'^/[^,:=\\]*/overlay2?/[0-9a-f]{64}(-init)?/'
                        r'(diff|work)$')
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MNT_DETACH = 0x2
_libc = ctypes.CDLL(None, use_errno=True)


def _layer(path, kind):
    real = os.path.realpath(path)
    if not _LAYER_DIR.match(real) or not real.endswith('/' + kind):
        raise NotOurs('%r is not an engine overlay layer %s' % (path, kind))
    return real


def _rescue_target(target):
    if (not isinstance(target, str) or not _RESCUE_TARGET.match(target) or
            os.path.realpath(target) != target or
            not os.path.isdir(target)):
        raise NotOurs('%r is not a rescue directory of this driver' % target)


@fs_admin.entrypoint
def mount_overlay(target, lower_dirs, upper_dir, work_dir):
    """Mount a stopped container's file system (its engine's overlay
    layers: writes land in its own upper layer) at target, nosuid and
    nodev. The engine mounts it this way itself while the container runs,
    so the container must stay stopped while this mount exists."""
    _rescue_target(target)
    upper, work = _layer(upper_dir, 'diff'), _layer(work_dir, 'work')
    if os.path.dirname(upper) != os.path.dirname(work):
        raise NotOurs('%s and %s are not one layer' % (upper_dir, work_dir))
    lowers = [_layer(lower, 'diff') for lower in lower_dirs]
    options = 'lowerdir=%s,upperdir=%s,workdir=%s' % (
        ':'.join(lowers), upper, work)
    if os.path.ismount(target):
        return
    if len(options) < os.sysconf('SC_PAGE_SIZE'):
        _mount('overlay', target, 'overlay', MS_NOSUID | MS_NODEV, options)
        return
    # Too many layers for mount(2)'s one page of options: each one on its
    # own through the mount API (Linux 6.8 and later).
    try:
        fsmount.mount_overlay(
            target, lowers, upper, work,
            fsmount.MOUNT_ATTR_NOSUID | fsmount.MOUNT_ATTR_NODEV)
    except OSError as e:
        if e.errno not in (errno.ENOSYS, errno.EINVAL, errno.E2BIG):
            raise
        # An older kernel, or more than overlay's own limit.
        raise TooManyLayers(e.errno, 'cannot mount an overlay '
                            'of %d layers here: %s' % (len(lowers), e.strerror)
                            ) from None


@fs_admin.entrypoint
def bind_btrfs_container(target, engine_root, container_id):
    """Bind-mount a stopped container's file system on Docker's btrfs
    storage (its own subvolume, found from the engine's layer database
    under engine_root) at target, nosuid and nodev."""
    _rescue_target(target)
    if not _CONTAINER_ID.match(str(container_id)):
        raise NotOurs('%r is not a container id' % container_id)
    root = os.path.realpath(engine_root)
    with open(os.path.join(root, 'image', 'btrfs', 'layerdb', 'mounts',
                           container_id, 'mount-id')) as f:
        mount_id = f.read().strip()
    if not _CONTAINER_ID.match(mount_id):
        raise NotOurs('%r is not a btrfs layer id' % mount_id)
    source = os.path.join(root, 'btrfs', 'subvolumes', mount_id)
    if os.path.realpath(source) != source or not os.path.isdir(source):
        raise NotOurs('%s is not a btrfs subvolume of the engine' % source)
    if os.path.ismount(target):
        return
    _mount(source, target, None, MS_BIND)
    _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV)


def _mount(source, target, fs_type, flags, options=None):
    if _libc.mount(source and source.encode(), target.encode(),
                   fs_type and fs_type.encode(), flags,
                   options and options.encode()) != 0:
        code = ctypes.get_errno()
        raise OSError(code, 'mount %s at %s: %s' % (
            source or fs_type, target, os.strerror(code)))


@fs_admin.entrypoint
def unmount(target):
    """Unmount what mount_overlay or bind_btrfs_container mounted at
    target; not mounted is fine.
    Detached, so that a process still inside cannot keep the original's
    layers busy."""
    _rescue_target(target)
    if not os.path.ismount(target):
        return
    if _libc.umount2(target.encode(), MNT_DETACH) != 0:
        code = ctypes.get_errno()
        raise OSError(code, 'unmount %s: %s' % (target, os.strerror(code)))
