"""Network test support: namespaces, bridges and the privsep daemon.

Tests own everything they make: a network namespace is held by a process
the test starts (``unshare --net``) and disappears with it; bridges and
firewall exceptions carry a random name and are removed at cleanup. The
tests (not the driver) may run ``iptables``, ``nsenter`` and busybox.
"""

import errno
import os
import subprocess
import sys
import uuid

import docker
import fixtures
from oslo_config import cfg
from oslo_privsep import daemon
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from nova_docker import privsep

BUSYBOX = os.environ.get('BUSYBOX', '/bin/busybox')


def unique_name(prefix):
    """A device name of our own (at most 15 characters)."""
    return (prefix + uuid.uuid4().hex)[:15]


class PrivsepDaemon(fixtures.Fixture):
    """The driver's privsep context served by a real privsep-helper run
    from this venv, so that it starts without sudo when tests run as root.
    """

    def _setUp(self):
        cfg.CONF.set_override('helper_command', _helper_command(),
                              group='nova_docker_privileged')
        self.addCleanup(cfg.CONF.clear_override, 'helper_command',
                        group='nova_docker_privileged')
        self.addCleanup(privsep.net_admin.stop)


# Nova's test base replaces this class to forbid privsep helpers; the API
# tests keep the real one (captured at import, before any test runs).
_REAL_CHANNEL = daemon.RootwrapClientChannel


def _helper_command():
    return os.path.join(os.path.dirname(sys.executable), 'privsep-helper')


class PrivsepHelpers(fixtures.Fixture):
    """Real privsep-helper daemons from this venv (no sudo) for the given
    contexts, started once per test process. They cannot run in the test
    process itself: under eventlet, pyroute2's netlink sockets fail."""

    def __init__(self, *contexts):
        self.contexts = contexts

    def _setUp(self):
        for context in self.contexts:
            # A default, not an override: Nova's config fixture resets
            # overrides between tests, while the daemon outlives them.
            cfg.CONF.set_default('helper_command', _helper_command(),
                                 group=context.cfg_section)
            with context.start_lock:
                if context.channel is None:
                    context.channel = _REAL_CHANNEL(context=context)


class Namespace(fixtures.Fixture):
    """A network namespace held by a container of our own (network none,
    only loopback), as the driver's infra containers hold theirs: the
    privileged functions act only on a container's namespace. ``owner`` is
    what they take: [pid, container id]."""

    def __init__(self, network_mode='none'):
        self.network_mode = network_mode

    def _setUp(self):
        client = docker.DockerClient(version='auto')
        extra = {}
        if self.network_mode == 'none':
            # IPv6 on, as the driver's infra containers have it.
            extra['sysctls'] = {'net.ipv6.conf.all.disable_ipv6': '0',
                                'net.ipv6.conf.default.disable_ipv6': '0'}
        self.container = client.containers.run(
            'ndtest/busybox:latest', ['sleep', '3600'], detach=True,
            network_mode=self.network_mode, name=unique_name('ndns-'),
            **extra)
        self.addCleanup(self.container.remove, force=True)
        self.container.reload()
        self.pid = self.container.attrs['State']['Pid']
        self.owner = [self.pid, self.container.id]

    def run(self, *argv, timeout=20):
        return nsexec(self.pid, *argv, timeout=timeout)


def nsexec(pid, *argv, timeout=20):
    """Run busybox ``argv`` in pid's network namespace."""
    return subprocess.run(
        ['nsenter', '--net=/proc/%d/ns/net' % pid, BUSYBOX] + list(argv),
        capture_output=True, text=True, timeout=timeout)


def ping(pid, address, count=2):
    flag = ['-6'] if ':' in address else []
    return nsexec(pid, 'ping', *flag, '-c', str(count), '-W', '2', address)


class ForwardWithin(fixtures.Fixture):
    """A firewall exception for bridged traffic within one Linux bridge
    only: with br_netfilter loaded, the engine's FORWARD policy (DROP)
    applies to bridged IPv4 too. Removed at cleanup."""

    def __init__(self, bridge):
        self.bridge = bridge

    def _setUp(self):
        rule = ['DOCKER-USER', '-i', self.bridge, '-o', self.bridge,
                '-j', 'ACCEPT']
        if subprocess.run(['iptables', '-I'] + rule,
                          capture_output=True).returncode == 0:
            self.addCleanup(subprocess.run, ['iptables', '-D'] + rule,
                            capture_output=True)


class LinuxBridge(fixtures.Fixture):
    """A Linux bridge of our own, without addresses (nothing routes off
    the machine)."""

    def __init__(self, name=None):
        # A hybrid-plug bridge's name: the driver enslaves only to those.
        self.name = name or unique_name('qbr')[:14]

    def _setUp(self):
        with IPRoute() as ipr:
            ipr.link('add', ifname=self.name, kind='bridge')
            ipr.link('set', index=ipr.link_lookup(ifname=self.name)[0],
                     state='up')
        self.addCleanup(delete_link, self.name)
        self.useFixture(ForwardWithin(self.name))


OVSDB_SOCKET = '/var/run/openvswitch/db.sock'


def ovs_vsctl(*args):
    return subprocess.run(['ovs-vsctl', '--timeout=10'] + list(args),
                          capture_output=True, text=True)


class OvsBridge(fixtures.Fixture):
    """The name of an Open vSwitch bridge of our own. The driver (os-vif)
    creates it with the netdev datapath (this kernel has no OVS module);
    it has no uplink and is deleted at cleanup."""

    def __init__(self):
        # Nova cuts bridge names to 14 characters.
        self.name = unique_name('ndovs')[:14]

    def _setUp(self):
        if ovs_vsctl('show').returncode != 0:
            raise RuntimeError('these tests need Open vSwitch running; '
                               'tools/run-tests.sh starts it')
        self.addCleanup(ovs_vsctl, '--if-exists', 'del-br', self.name)

    def ports(self):
        if ovs_vsctl('br-exists', self.name).returncode != 0:
            return []
        result = ovs_vsctl('list-ports', self.name)
        if result.returncode:
            raise RuntimeError(result.stderr)
        return result.stdout.split()


def delete_link(name):
    """Delete a host link; gone already is fine (a veth goes by itself
    when its peer's namespace dies, maybe between lookup and delete)."""
    with IPRoute() as ipr:
        for index in ipr.link_lookup(ifname=name):
            try:
                ipr.link('del', index=index)
            except NetlinkError as e:
                if e.code != errno.ENODEV:
                    raise


def host_links():
    with IPRoute() as ipr:
        return {link.get('ifname') for link in ipr.get_links()}


def netns_links(pid):
    out = nsexec(pid, 'ip', '-o', 'link').stdout
    return [line.split(':')[1].strip().split('@')[0]
            for line in out.splitlines() if line.strip()]
