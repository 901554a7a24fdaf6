"""End to end on the two-host all-in-one (``up --computes 2``): a server
with a port on ``private`` moves between two compute hosts, each with its
own Docker engine, Open vSwitch and agent, driven by the real CLI; each
host is then looked at as an operator would (its engine, its switch, its
network namespace).
"""

import collections
import os
import subprocess
import unittest

from nova_docker.aio import dockerhost
from nova_docker.aio import layout
from nova_docker import netplan
from tests.e2e import test_console
from tests.e2e.test_cli import STATE, osc
from tests.e2e.test_network import (PrivateNetworkCase, SETTINGS, exec_in,
                                    switch_ports)

# engine: docker -H value (None: the default engine); ovsdb: the switch's
# database (None: the host's Open vSwitch); netns: where its host devices
# live (None: the host's namespace).
Host = collections.namedtuple('Host', 'engine ovsdb netns')


class TwoHostCase(PrivateNetworkCase):

    @classmethod
    def setUpClass(cls):
        if SETTINGS.get('computes', 1) < 2:
            raise unittest.SkipTest('one compute host (up --computes 2 '
                                    'runs two)')
        super().setUpClass()
        second = dockerhost.DockerHost(layout.Layout(STATE))
        cls.hosts = {
            SETTINGS['compute_host']: Host(None, None, None),
            second.name: Host('unix://' + second.docker_sock,
                              second.host.ovsdb, second.host.netns)}

    def server(self, server_id):
        return osc('server', 'show', server_id, '-f', 'json')

    def other(self, host):
        return next(h for h in self.hosts if h != host)

    def assert_lives_on(self, server_id, port_id, host):
        """ACTIVE on host, its port bound and wired there, nothing of it
        left on the other host; returns the port."""
        server = self.wait_status(server_id, 'ACTIVE')
        self.assertEqual(host, server['OS-EXT-SRV-ATTR:host'])
        port = osc('port', 'show', port_id, '-f', 'json')
        self.assertEqual('ACTIVE', port['status'])
        self.assertEqual(host, port['binding_host_id'])
        self.assertEqual(1, len(switch_ports(port_id,
                                             self.hosts[host].ovsdb)))
        inside = exec_in(server_id, 'ip', '-o', 'addr',
                         engine=self.hosts[host].engine).stdout
        for address in self.addresses(port).values():
            self.assertIn(address + '/', inside)
        self.assert_nothing_on(self.other(host), server_id, port_id)
        return port

    def assert_nothing_on(self, host, server_id, port_id):
        where = self.hosts[host]
        docker = ['docker'] + (['-H', where.engine] if where.engine else [])
        containers = subprocess.run(
            docker + ['ps', '-aq', '--filter',
                      'label=org.openstack.nova.instance-uuid=' + server_id],
            capture_output=True, text=True, check=True).stdout.split()
        self.assertEqual([], containers, 'containers left on %s' % host)
        self.assertEqual([], switch_ports(port_id, where.ovsdb),
                         'switch port left on %s' % host)
        ns = ['-n', where.netns] if where.netns else []
        device = netplan.host_dev(port_id)
        link = subprocess.run(['ip'] + ns + ['link', 'show', device],
                              capture_output=True)
        self.assertNotEqual(0, link.returncode,
                            '%s left on %s' % (device, host))

    def assert_reach_each_other(self, a, b, port_a, port_b):
        host_a = self.hosts[self.server(a)['OS-EXT-SRV-ATTR:host']]
        host_b = self.hosts[self.server(b)['OS-EXT-SRV-ATTR:host']]
        for version in (4, 6):
            # The agent may still be wiring a port that just arrived.
            self.assert_pings(a, self.addresses(port_b)[version], within=30,
                              engine=host_a.engine)
            self.assert_pings(b, self.addresses(port_a)[version], within=30,
                              engine=host_b.engine)

    def assert_console_answers(self, server_id):
        """Its serial console, through nova-serialproxy in the machine's
        namespace, whichever host the server is on."""
        url = osc('console', 'url', 'show', '--serial', '-f', 'json',
                  server_id)['url']
        client = test_console.SerialConsoleClient(url)
        try:
            said = client.type_and_read(b'expr 6 \\* 7\n', b'42\r\n')
            self.assertIn(b'42\r\n', said)
        finally:
            if client.socket is not None:  # None: the proxy closed it
                client.close()


class TestTwoHostMigration(TwoHostCase):

    def test_server_with_a_port_migrates_and_a_resize_reverts(self):
        image = self.create_image(os.path.join(self.images, 'busybox.tar'))
        moving = self.boot(image['id'])['id']
        staying = self.boot(image['id'])['id']
        port, port_staying = self.port_of(moving), self.port_of(staying)
        # New servers go to the first host while it has the most free
        # memory (dockerhost reserves some on the second).
        first = SETTINGS['compute_host']
        self.assertEqual(first, self.server(moving)['OS-EXT-SRV-ATTR:host'])
        target = self.other(first)
        addresses = self.server(moving)['addresses']

        osc('server', 'migrate', '--wait', moving)
        self.assertEqual(target, self.wait_status(
            moving, 'VERIFY_RESIZE')['OS-EXT-SRV-ATTR:host'])
        osc('server', 'resize', 'confirm', moving)
        moved = self.assert_lives_on(moving, port['id'], target)
        self.assertEqual(self.addresses(port), self.addresses(moved))
        self.assertEqual(addresses, self.server(moving)['addresses'])
        self.assert_reach_each_other(moving, staying, moved, port_staying)
        self.assert_console_answers(moving)

        # For the same reason a resize from the second host crosses to
        # the first; reverted, the server is back as it was.
        osc('server', 'resize', '--flavor', 'm1.small', '--wait', moving)
        resized = self.wait_status(moving, 'VERIFY_RESIZE')
        self.assertEqual(first, resized['OS-EXT-SRV-ATTR:host'])
        osc('server', 'resize', 'revert', moving)
        self.assert_lives_on(moving, port['id'], target)
        self.assertIn('m1.tiny', str(self.server(moving)['flavor']))
        self.assert_reach_each_other(moving, staying, moved, port_staying)

        for server_id in (moving, staying):
            osc('server', 'delete', '--wait', server_id)
        for host in self.hosts:
            for server_id, port_id in ((moving, port['id']),
                                       (staying, port_staying['id'])):
                self.assert_nothing_on(host, server_id, port_id)
