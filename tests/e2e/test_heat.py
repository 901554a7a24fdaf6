"""End to end: a Heat stack of containers on the networked all-in-one.

``openstack stack create --wait`` with the sample template
(examples/heat/two-servers.yaml): two busybox servers on ``private``, each
with its own port in one security group, the second one given the first's
address by ``get_attr``. The containers are then looked at on the engine,
and ``stack delete --wait`` must leave nothing behind: no container, no
Neutron port, no port on br-int, no tap device on the host.
"""

import os
import time
import unittest

from tests.e2e.test_cli import CloudTestCase, ROOT, inspect, osc
from tests.e2e.test_network import (SETTINGS, exec_in, host_link_exists,
                                    switch_ports)

TEMPLATE = os.path.join(ROOT, 'examples', 'heat', 'two-servers.yaml')
TINY_RAM_MB = 512  # the template's default flavor, m1.tiny


class TestHeatStack(CloudTestCase):

    @classmethod
    def setUpClass(cls):
        if SETTINGS.get('network') != 'ovs':
            raise unittest.SkipTest('the sample template needs the '
                                    'networked all-in-one')
        if not SETTINGS.get('heat', True):
            raise unittest.SkipTest('this all-in-one runs without Heat '
                                    '(up --no-heat)')

    def test_two_servers_stack_create_and_delete(self):
        name = self.unique('stack')
        self.addCleanup(osc, 'stack', 'delete', '--yes', '--wait', name,
                        check=False)
        osc('stack', 'create', '--wait', '-t', TEMPLATE, name)
        stack = osc('stack', 'show', name, '-f', 'json')
        self.assertEqual('CREATE_COMPLETE', stack['stack_status'],
                         stack.get('stack_status_reason'))
        outputs = {o['output_key']: o['output_value']
                   for o in stack['outputs']}
        ids = {r['resource_name']: r['physical_resource_id'] for r in osc(
            'stack', 'resource', 'list', name, '-f', 'json')}
        first, second = ids['first'], ids['second']

        for server in (first, second):
            container = inspect(server)
            self.assertIsNotNone(container, 'no container for %s' % server)
            self.assertTrue(container['State']['Running'])
            self.assertEqual(TINY_RAM_MB * 1024 * 1024,
                             container['HostConfig']['Memory'])
        # The second server was given the first one's address...
        shown = osc('server', 'show', second, '-f', 'json')
        peer = shown['properties']['peer_address']
        self.assertEqual(outputs['first_address'], peer)
        port = osc('port', 'show', ids['first_port'], '-f', 'json')
        self.assertEqual(peer, port['fixed_ips'][0]['ip_address'])
        # ... and reaches it through the stack's security group.
        self.assert_pings(second, peer)

        devices = {p: switch_ports(ids[p])
                   for p in ('first_port', 'second_port')}
        for port_name, found in devices.items():
            self.assertEqual(1, len(found), (port_name, found))

        osc('stack', 'delete', '--yes', '--wait', name)
        self.assertNotIn(name, [s['Stack Name'] for s in osc(
            'stack', 'list', '-f', 'json')])
        for server in (first, second):
            self.assertIsNone(inspect(server), 'container left after delete')
            self.assertIsNone(inspect(server + '-infra'),
                              'infra container left after delete')
        for port_name, found in devices.items():
            self.assertNotEqual(0, osc('port', 'show', ids[port_name],
                                       check=False).returncode,
                                '%s left in Neutron' % port_name)
            self.assertEqual([], switch_ports(ids[port_name]))
            self.assertFalse(host_link_exists(found[0]),
                             '%s left on the host' % found[0])

    def assert_pings(self, server_id, address, timeout=60):
        # The agent wires the security group's flows a moment after the
        # port is up: retry within a deadline.
        deadline = time.monotonic() + timeout
        while True:
            proc = exec_in(server_id, 'ping', '-c', '1', '-W', '2', address)
            if proc.returncode == 0:
                return
            if time.monotonic() > deadline:
                self.fail('%s cannot ping %s: %s%s' % (
                    server_id, address, proc.stdout, proc.stderr))
