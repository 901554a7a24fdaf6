"""Network test support: namespaces, bridges and the privsep daemon.

Tests own everything they make: a network namespace is held by a process
the test starts (``unshare --net``) and disappears with it; bridges and
firewall exceptions carry a random name and are removed at cleanup. The
tests (not the driver) may run ``iptables``, ``nsenter`` and busybox.
"""

import os
import subprocess
import sys
import time
import uuid

import fixtures
from oslo_config import cfg
from pyroute2 import IPRoute

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
        helper = os.path.join(os.path.dirname(sys.executable),
                              'privsep-helper')
        cfg.CONF.set_override('helper_command', helper,
                              group='nova_docker_privileged')
        self.addCleanup(cfg.CONF.clear_override, 'helper_command',
                        group='nova_docker_privileged')
        self.addCleanup(privsep.net_admin.stop)


class InProcessPrivsep(fixtures.Fixture):
    """Privileged functions run in the (root) test process itself, as
    Nova's PrivsepFixture does for Nova's own context: Nova's test base
    forbids starting a helper."""

    def __init__(self, *contexts):
        self.contexts = contexts or (privsep.net_admin,)

    def _setUp(self):
        for context in self.contexts:
            self.useFixture(fixtures.MockPatchObject(
                context, 'client_mode', False))


class Namespace(fixtures.Fixture):
    """A network namespace held by a sleeping process of our own."""

    def _setUp(self):
        self.process = subprocess.Popen(
            ['unshare', '--net', '--', BUSYBOX, 'sleep', '3600'])
        self.addCleanup(self._stop)
        self.pid = self.process.pid
        # unshare runs before exec: wait until the process is in its own
        # namespace.
        host = os.stat('/proc/self/ns/net').st_ino
        for _ in range(200):
            if os.stat('/proc/%d/ns/net' % self.pid).st_ino != host:
                break
            time.sleep(0.01)

    def _stop(self):
        self.process.kill()
        self.process.wait()

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


class LinuxBridge(fixtures.Fixture):
    """A Linux bridge of our own, without addresses (nothing routes off
    the machine), and a firewall exception for traffic within it only:
    the engine's FORWARD policy drops bridged IPv4 (br_netfilter)."""

    def __init__(self, name=None):
        self.name = name or unique_name('ndbr')

    def _setUp(self):
        with IPRoute() as ipr:
            ipr.link('add', ifname=self.name, kind='bridge')
            ipr.link('set', index=ipr.link_lookup(ifname=self.name)[0],
                     state='up')
        self.addCleanup(delete_link, self.name)
        rule = ['DOCKER-USER', '-i', self.name, '-o', self.name,
                '-j', 'ACCEPT']
        if subprocess.run(['iptables', '-I'] + rule,
                          capture_output=True).returncode == 0:
            self.addCleanup(subprocess.run, ['iptables', '-D'] + rule,
                            capture_output=True)


def delete_link(name):
    with IPRoute() as ipr:
        for index in ipr.link_lookup(ifname=name):
            ipr.link('del', index=index)


def host_links():
    with IPRoute() as ipr:
        return {link.get('ifname') for link in ipr.get_links()}


def netns_links(pid):
    out = nsexec(pid, 'ip', '-o', 'link').stdout
    return [line.split(':')[1].strip().split('@')[0]
            for line in out.splitlines() if line.strip()]
