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

import kombu

from nova_docker.aio import cloud
from nova_docker.aio import layout as layout_mod
from nova_docker.aio import on_demand
from nova_docker.aio import services
from tests.e2e.test_cli import CloudTestCase, ROOT, STATE, inspect, osc
from tests.e2e.test_network import (SETTINGS, exec_in, host_link_exists,
                                    switch_ports)

TEMPLATE = os.path.join(ROOT, 'examples', 'heat', 'two-servers.yaml')
TINY_RAM_MB = 512  # the template's default flavor, m1.tiny


def skip_unless_heat():
    if not SETTINGS.get('heat', True):
        raise unittest.SkipTest('this all-in-one runs without Heat '
                                '(up --no-heat)')


class TestHeatStack(CloudTestCase):

    @classmethod
    def setUpClass(cls):
        skip_unless_heat()
        if SETTINGS.get('network') != 'ovs':
            raise unittest.SkipTest('the sample template needs the '
                                    'networked all-in-one')

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


class TestHeatOnDemand(unittest.TestCase):
    """heat-api and heat-engine start with the first request (this test
    restarts them: run it alone)."""

    def setUp(self):
        skip_unless_heat()
        self.layout = layout_mod.Layout(STATE)

    def test_first_request_starts_heat_engine_and_is_answered(self):
        services.stop(self.layout, cloud.HEAT)
        # As on a fresh broker: RabbitMQ keeps the engine's queue after the
        # engine stops.
        with kombu.Connection(self.layout.broker_url) as broker, \
                broker.channel() as channel:
            channel.queue_delete(on_demand.HEAT_ENGINE_TOPIC)
        cloud.start_heat_api(self.layout)
        deadline = time.monotonic() + 60
        while not cloud.on_demand_listens(self.layout, 'heat-api'):
            self.assertLess(time.monotonic(), deadline, 'nothing listens')
            time.sleep(0.1)
        listener = services.read_pid(self.layout.pidfile('heat-api'))
        self.assertLess(services.group_rss_kib(listener), 40 * 1024)
        self.assertFalse(cloud.heat_engine_runs(self.layout))

        # Answered by the engine (heat-api's RPC to an engine whose queue
        # does not exist yet would be dropped: a 500 after 60 s).
        self.assertIsInstance(osc('stack', 'list', '-f', 'json'), list)
        self.assertTrue(cloud.heat_engine_runs(self.layout))
        self.assertEqual(listener,
                         services.read_pid(self.layout.pidfile('heat-api')))
        with open('/proc/%d/cmdline' % listener) as f:
            self.assertIn('gunicorn', f.read())
        self.assertTrue(cloud.heat_engine_answers(self.layout))
