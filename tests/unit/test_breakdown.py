"""The boot benchmark's timeline: milestones found in the services' log
lines (as the all-in-one writes them) and the engine's events."""

import os
import tempfile
import time
import unittest

from benchmarks import breakdown
from nova_docker import netplan

SID = '5f1d0a8e-3c55-4c1e-9f6e-2b7d7f0b9a10'
OTHER = '0b6e1e52-91a4-4c1b-8d7f-3c1f3e5d2a44'
PORT = '8d3c3a43-7f0e-4d1f-a0a5-6c6a7e2f1b9e'


def _local(stamp):
    return time.mktime(time.strptime(stamp[:19], '%Y-%m-%d %H:%M:%S')
                       ) + float('0' + stamp[19:])


class TestTimeline(unittest.TestCase):

    def test_compute_log_gives_milestones_and_the_port(self):
        lines = [
            '2026-12-06 09:01:02.250 77 INFO nova.compute.claims [None '
            'req-1 admin admin] [instance: %s] Claim successful on node '
            'nova-docker-aio' % SID,
            '2026-12-06 09:01:02.900 77 INFO nova.compute.claims [None '
            'req-2 admin admin] [instance: %s] Claim successful on node '
            'nova-docker-aio' % OTHER,
            '2026-12-06 09:01:03.500 77 INFO nova_docker.network [None '
            'req-1 admin admin] [instance: %s] Plugged port %s as eth0 '
            '(host device tap8d3c3a43-7f)' % (SID, PORT),
            '2026-12-06 09:01:05.125 77 INFO nova.compute.manager [None '
            'req-1 admin admin] [instance: %s] Took 2.61 seconds to spawn '
            'the instance on the hypervisor.' % SID,
        ]
        found, ports = {}, {}
        breakdown.from_compute_log(lines, [SID], found, ports)
        self.assertEqual({SID: PORT}, ports)
        self.assertEqual(
            {'claim': _local('2026-12-06 09:01:02.250'),
             'plugged': _local('2026-12-06 09:01:03.500'),
             'spawned': _local('2026-12-06 09:01:05.125')}, found[SID])
        self.assertNotIn(OTHER, found)

    def test_agent_switch_api_and_engine_milestones(self):
        found, ports = {}, {SID: PORT}
        breakdown.from_agent_log([
            '2026-12-06 09:01:04.000 88 INFO neutron.plugins.ml2.drivers.'
            'openvswitch.agent.ovs_neutron_agent [None req-9 - - - - - -] '
            'Port %s updated. Details: {\'device\': \'%s\'}' % (PORT, PORT),
            '2026-12-06 09:01:04.400 88 INFO neutron.plugins.ml2.drivers.'
            'openvswitch.agent.ovs_neutron_agent [None req-9 - - - - - -] '
            "Configuration for devices up ['%s'] and devices down [] "
            'completed.' % PORT], ports, found)
        breakdown.from_switch_log([
            '2026-12-06T09:01:03.300Z|00048|bridge|INFO|bridge br-int: '
            'added interface %s on port 7' % netplan.host_dev(PORT)],
            ports, found, netplan.host_dev)
        breakdown.from_api_log([
            '2026-12-06 09:01:04.600 99 INFO nova.api.openstack.compute.'
            'server_external_events [req-5 neutron service] Creating event '
            'network-vif-plugged:%s for instance %s on nova-docker-aio'
            % (PORT, SID)], [SID], found)
        infra_start = 1796547663.125
        breakdown.from_engine_events([
            {'Type': 'container', 'Action': 'start', 'timeNano':
             int(infra_start * 1e9),
             'Actor': {'Attributes': {'name': 'nova-%s-infra' % SID}}},
            {'Type': 'container', 'Action': 'create', 'timeNano': 1,
             'Actor': {'Attributes': {'name': 'nova-' + OTHER}}},
            {'Type': 'network', 'Action': 'connect', 'timeNano': 2,
             'Actor': {'Attributes': {'name': 'nova-' + SID}}},
            {'Type': 'container', 'Action': 'exec_die', 'timeNano':
             int((infra_start + 1) * 1e9),
             'Actor': {'Attributes': {'name': 'nova-' + SID}}},
        ], [SID], found)
        self.assertEqual(_local('2026-12-06 09:01:04.000'),
                         found[SID]['agent_port'])
        self.assertEqual(_local('2026-12-06 09:01:04.400'),
                         found[SID]['agent_wired'])
        self.assertEqual(_local('2026-12-06 09:01:04.600'),
                         found[SID]['event'])
        self.assertAlmostEqual(1796547663.3, found[SID]['switch_port'],
                               places=3)
        self.assertAlmostEqual(infra_start, found[SID]['infra_started'],
                               places=3)
        self.assertAlmostEqual(infra_start + 1, found[SID]['exec_done'],
                               places=3)
        self.assertEqual({'agent_port', 'agent_wired', 'event',
                          'switch_port', 'infra_started', 'exec_done'},
                         set(found[SID]))

    def test_medians_are_seconds_since_post_of_the_servers_that_had_it(self):
        found = {'a': {'claim': 101.0}, 'b': {'claim': 203.0},
                 'c': {'claim': 302.0}}
        boots = [('a', 100.0, 104.0), ('b', 200.0, 206.0),
                 ('c', 300.0, 305.0), ('d', 400.0, 401.0)]
        self.assertEqual({'claim': (2.0, 3), 'active': (4.5, 4)},
                         breakdown.medians(found, boots))

    def test_logs_are_read_from_where_they_ended(self):
        fd, path = tempfile.mkstemp()
        self.addCleanup(os.unlink, path)
        os.write(fd, b'before\n')
        logs = breakdown.Logs([path, path + '.missing'])
        os.write(fd, b'after\n')
        os.close(fd)
        self.assertEqual(['after'], logs.lines(path))
        self.assertEqual([], logs.lines(path + '.missing'))
