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
"""

import errno
import os

from oslo_privsep import capabilities as caps
from oslo_privsep import priv_context
from pyroute2 import IPRoute
from pyroute2 import NetlinkError
from pyroute2 import NetNS

net_admin = priv_context.PrivContext(
    'nova_docker',
    cfg_section='nova_docker_privileged',
    pypath=__name__ + '.net_admin',
    capabilities=[caps.CAP_NET_ADMIN, caps.CAP_SYS_ADMIN,
                  caps.CAP_SYS_PTRACE],
)

# IFA_F_NODAD: a container's IPv6 addresses are usable at once instead of
# after duplicate address detection (Neutron hands out unique addresses,
# as it does for VMs whose guests skip DAD on its ports).
IFA_F_NODAD = 0x02


# Host devices of a port: the veth ends (netplan) and, with hybrid plug,
# os-vif's per-port Linux bridge and its veth to Open vSwitch.
PORT_DEVICE_PREFIXES = ('tap', 'nsd', 'qbr', 'qvb', 'qvo')


class NotOurs(ValueError):
    """Refused: the device is not one a port plug makes."""


class HostNamespace(ValueError):
    """Refused: the pid given lives in the host's own network namespace."""


def _netns_path(pid):
    return '/proc/%d/ns/net' % int(pid)


def _check_not_host(pid):
    """Never configure the host's namespace through a container's pid: a
    pid that is not (or no longer) a container's must not widen access.
    The daemon lives in the namespace nova-compute runs in: the host's."""
    target = os.stat(_netns_path(pid))
    host = os.stat('/proc/self/ns/net')
    if (target.st_dev, target.st_ino) == (host.st_dev, host.st_ino):
        raise HostNamespace('pid %d is in the host network namespace' % pid)


def _index(ipr, name):
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


@net_admin.entrypoint
def add_veth(host_dev, peer_dev, mtu=None):
    """Create a veth pair with its host end up. A pair left by an earlier,
    interrupted plug is replaced."""
    with IPRoute() as ipr:
        for stale in (host_dev, peer_dev):
            index = _index(ipr, stale)
            if index is not None:
                ipr.link('del', index=index)
        ipr.link('add', ifname=host_dev, kind='veth',
                 peer={'ifname': peer_dev})
        extra = {'mtu': mtu} if mtu else {}
        ipr.link('set', index=_index(ipr, host_dev), state='up', **extra)


@net_admin.entrypoint
def move_into_netns(dev, pid):
    """Move a host device into the network namespace of process pid."""
    _check_not_host(pid)
    with IPRoute() as ipr:
        index = _index(ipr, dev)
        if index is None:
            raise NetlinkError(errno.ENODEV, 'no device %s' % dev)
        ipr.link('set', index=index, net_ns_pid=int(pid))


@net_admin.entrypoint
def configure_in_netns(pid, dev, name, mac, mtu, addresses, routes):
    """Inside pid's namespace: rename ``dev`` to ``name`` and give it the
    MAC, MTU, addresses ([address, prefixlen]) and routes
    ([destination, gateway or None]); bring it and loopback up."""
    _check_not_host(pid)
    with NetNS(_netns_path(pid)) as ns:
        index = _index(ns, dev)
        if index is None:
            # Already renamed by an earlier call: configure it again.
            index = _index(ns, name)
        if index is None:
            raise NetlinkError(errno.ENODEV, 'no device %s or %s in the '
                               'namespace of pid %s' % (dev, name, pid))
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
def netns_links(pid):
    """[name, MAC] of each device in pid's network namespace."""
    _check_not_host(pid)
    with NetNS(_netns_path(pid)) as ns:
        return [[link.get('ifname'), link.get('address')]
                for link in ns.get_links()]


@net_admin.entrypoint
def delete_in_netns(pid, name):
    """Delete a device inside pid's namespace (a veth takes its host end
    with it). Returns whether it was there."""
    _check_not_host(pid)
    with NetNS(_netns_path(pid)) as ns:
        return _delete(ns, name)


@net_admin.entrypoint
def delete_link(dev):
    """Delete a host device; one that is already gone is fine. Returns
    whether it was there. Only names this driver and os-vif give a port's
    devices are deleted: never the host's own interfaces or bridges."""
    if not dev.startswith(PORT_DEVICE_PREFIXES):
        raise NotOurs('refusing to delete %s: not a port device' % dev)
    with IPRoute() as ipr:
        return _delete(ipr, dev)


@net_admin.entrypoint
def link_exists(dev):
    with IPRoute() as ipr:
        return _index(ipr, dev) is not None


@net_admin.entrypoint
def set_master(dev, bridge):
    """Enslave a host device to a Linux bridge that must exist."""
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
